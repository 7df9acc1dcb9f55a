"""The report's rows from what the database counted: medians of how fast missed callers were reached,
costs spread over the report's days and matched to its groups, per-call costs, totals, chart series.

Pure: plain values in, the JSON-ready report out.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from calltracking.local_dates import DayRange

COST_GROUPS = ("channel", "source", "medium", "campaign")
INTERVALS = ("day", "week", "month")
Key = str | None


@dataclass(frozen=True, slots=True)
class CallCounts:
    calls: int = 0
    unique_callers: int = 0
    first_time_callers: int = 0
    answered: int = 0
    missed: int = 0
    target_calls: int = 0


@dataclass(frozen=True, slots=True)
class Reached:
    """How many missed calls of a group were reached after about `minutes` (the database rounds: to a
    tenth of a minute within the first hour, to a minute within a day, to an hour beyond)."""

    key: Key
    minutes: float
    calls: int


def weighted_median(values: Iterable[tuple[float, int]]) -> float | None:
    """The median of values each occurring `count` times (the mean of the middle two for an even count)."""
    ordered = sorted((value, count) for value, count in values if count > 0)
    total = sum(count for _, count in ordered)
    if not total:
        return None
    middle = [(total - 1) // 2, total // 2]
    found: list[float] = []
    seen = 0
    for value, count in ordered:
        while middle and middle[0] < seen + count:
            found.append(value)
            middle.pop(0)
        seen += count
    return (found[0] + found[1]) / 2


@dataclass(frozen=True, slots=True)
class CostEntry:
    month: str  # "2026-11"
    channel: str
    source: str
    medium: str
    campaign: str
    amount: Decimal
    currency: str


Money = dict[str, Decimal]  # currency -> amount


def month_share(month: str, days: DayRange) -> Decimal:
    """The share of `month` the report's days cover: a month's cost is spread evenly over its days."""
    year, number = (int(part) for part in month.split("-"))
    length = calendar.monthrange(year, number)[1]
    first = max(days.first, date(year, number, 1))
    last = min(days.last, date(year, number, length))
    covered = (last - first).days + 1
    return Decimal(max(0, covered)) / Decimal(length)


def spread_costs(
    entries: Iterable[CostEntry], days: DayRange, group: str
) -> tuple[dict[Key, Money], Money, Money]:
    """Costs within the report's days: per group (when costs are entered by that grouping), in total, and
    the part no group takes (entered without that detail: a source's cost in a report by campaign)."""
    per_group: dict[Key, Money] = defaultdict(lambda: defaultdict(Decimal))
    total: Money = defaultdict(Decimal)
    unassigned: Money = defaultdict(Decimal)
    for entry in entries:
        amount = entry.amount * month_share(entry.month, days)
        if not amount:
            continue
        total[entry.currency] += amount
        key = getattr(entry, group) if group in COST_GROUPS else ""
        if key:
            per_group[key][entry.currency] += amount
        else:
            unassigned[entry.currency] += amount
    return {k: dict(v) for k, v in per_group.items()}, dict(total), dict(unassigned)


def _money(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _cost_fields(money: Money | None, counts: CallCounts) -> dict[str, Any]:
    if not money:
        return {"cost": None, "currency": None, "cost_per_call": None, "cost_per_target_call": None}
    if len(money) > 1:
        # Sums of different currencies mean nothing; each is in cost_by_currency.
        return {
            "cost": None,
            "currency": "mixed",
            "cost_by_currency": {c: _money(a) for c, a in sorted(money.items())},
            "cost_per_call": None,
            "cost_per_target_call": None,
        }
    [(currency, amount)] = money.items()
    return {
        "cost": _money(amount),
        "currency": currency,
        "cost_per_call": _money(amount / counts.calls) if counts.calls else None,
        "cost_per_target_call": _money(amount / counts.target_calls) if counts.target_calls else None,
    }


def _reach_fields(reached: list[Reached]) -> dict[str, Any]:
    median = weighted_median((r.minutes, r.calls) for r in reached)
    return {
        "missed_then_reached": sum(r.calls for r in reached),
        "reached_median_minutes": round(median, 1) if median is not None else None,
    }


def _row(counts: CallCounts, reached: list[Reached], money: Money | None) -> dict[str, Any]:
    return {
        "calls": counts.calls,
        "unique_callers": counts.unique_callers,
        "first_time_callers": counts.first_time_callers,
        "answered": counts.answered,
        "missed": counts.missed,
        **_reach_fields(reached),
        "target_calls": counts.target_calls,
        # Filled once the CRM reports leads back (the leads issue); the columns are here already.
        "leads": None,
        "bookings": None,
        "revenue": None,
        **_cost_fields(money, counts),
    }


def build_report(
    group: str,
    per_group: Mapping[Key, CallCounts],
    total: CallCounts,
    reached: Iterable[Reached],
    cost_entries: Iterable[CostEntry],
    days: DayRange,
) -> dict[str, Any]:
    reached_by_key: dict[Key, list[Reached]] = defaultdict(list)
    every_reach: list[Reached] = []
    for r in reached:
        reached_by_key[r.key].append(r)
        every_reach.append(r)
    group_costs, total_cost, unassigned = spread_costs(cost_entries, days, group)
    keys = set(per_group) | set(group_costs)
    rows = [
        {
            "key": key,
            **_row(per_group.get(key, CallCounts()), reached_by_key.get(key, []), group_costs.get(key)),
        }
        for key in keys
    ]
    rows.sort(key=lambda r: (-r["calls"], -(r["cost"] or 0), r["key"] is None, r["key"] or ""))
    totals = _row(total, every_reach, total_cost)
    totals["cost_unassigned"] = {c: _money(a) for c, a in sorted(unassigned.items())} if unassigned else None
    return {"rows": rows, "totals": totals}


def bucket_of(day: date, interval: str) -> str:
    if interval == "day":
        return day.isoformat()
    if interval == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    return day.strftime("%Y-%m")


def buckets(days: DayRange, interval: str) -> list[str]:
    labels: list[str] = []
    day = days.first
    while day <= days.last:
        label = bucket_of(day, interval)
        if not labels or labels[-1] != label:
            labels.append(label)
        day += timedelta(days=1)
    return labels


def build_series(
    day_counts: Mapping[tuple[Key, date], int], days: DayRange, interval: str, top: int
) -> dict[str, Any]:
    """Calls per bucket for the `top` groups with the most calls; the rest added up as one "other"."""
    labels = buckets(days, interval)
    index = {label: i for i, label in enumerate(labels)}
    totals: dict[Key, int] = defaultdict(int)
    for (key, _), n in day_counts.items():
        totals[key] += n
    ranked = sorted(totals, key=lambda k: (-totals[k], k is None, k or ""))
    shown = set(ranked[:top])
    lines: dict[Key, list[int]] = {key: [0] * len(labels) for key in ranked[:top]}
    other = [0] * len(labels)
    for (key, day), n in day_counts.items():
        slot = index.get(bucket_of(day, interval))
        if slot is None:
            continue
        if key in shown:
            lines[key][slot] += n
        else:
            other[slot] += n
    series: list[dict[str, Any]] = [{"key": key, "other": False, "calls": lines[key]} for key in ranked[:top]]
    if len(ranked) > top:
        series.append({"key": None, "other": True, "calls": other})
    return {"buckets": labels, "series": series}
