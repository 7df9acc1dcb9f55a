"""A pool's health from its lease history: how full it ran, how often visitors got the fallback, and how
many numbers it needs for the overflow target — with one plain sentence saying what to do.

Sizing follows telephone traffic engineering. Each lease is a visitor holding a number (an overflow row
is a visitor who wanted one), so a clock hour's offered load is the lease time begun in it divided by the
hour. Website traffic has peaks (weekday mornings, an ad burst), and a pool sized for the average would
overflow in exactly the hours that matter, so the pool is sized for its busy hours: each day's busiest
hour, averaged over the busiest days (after ITU-T E.500's "high load"), through Erlang-B.

Pure: lease intervals in, a JSON-ready dict out.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from calltracking.erlang import servers_for
from calltracking.local_dates import local_day, local_midnight

# Fewer leases than this in the window, or traffic on fewer days, and the busy hours are noise.
MIN_LEASES = 100
MIN_DAYS = 3
# The busy hours sized for: the busiest hour of each of this many busiest days.
BUSY_DAYS = 5
# Up to this long a window is drawn hour by hour; longer ones day by day.
HOURLY_UP_TO = timedelta(days=31)
HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class LeaseSpan:
    started_at: datetime
    ends_at: datetime
    overflow: bool


@dataclass(frozen=True, slots=True)
class PoolFacts:
    id: int
    name: str
    branch: str | None
    channel: str | None
    fallback: str | None
    size: int  # active numbers
    quarantined: int
    leased_now: int


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime
    now: datetime
    zone: ZoneInfo


def pool_health(
    pool: PoolFacts, leases: Sequence[LeaseSpan], window: Window, target: float
) -> dict[str, Any]:
    begun = [lease for lease in leases if window.start <= lease.started_at < window.end]
    overflows = sum(1 for lease in begun if lease.overflow)
    held = [_held_seconds(lease, window.now) for lease in begun]
    mean_lease = sum(held) / len(held) if held else None
    hours = (window.end - window.start) / HOUR
    busy = busy_hours(begun, window)
    sizing_load = sum(h["offered_load"] for h in busy) / len(busy) if busy else 0.0
    days_with_traffic = len({local_day(lease.started_at, window.zone) for lease in begun})
    enough = len(begun) >= MIN_LEASES and days_with_traffic >= MIN_DAYS
    recommended = servers_for(sizing_load, target) if enough else None
    verdict = _verdict(pool.size, recommended, len(begun), days_with_traffic)
    return {
        "pool": pool.name,
        "id": pool.id,
        "branch": pool.branch,
        "channel": pool.channel,
        "fallback": pool.fallback,
        "size": pool.size,
        "quarantined": pool.quarantined,
        "leased_now": pool.leased_now,
        "leases": len(begun),
        "overflows": overflows,
        "overflow_share": round(overflows / len(begun), 4) if begun else None,
        "arrivals_per_hour": round(len(begun) / hours, 3) if hours > 0 else None,
        "mean_lease_seconds": round(mean_lease, 1) if mean_lease is not None else None,
        "peak": {
            "method": f"mean of the busiest hour of each of the {BUSY_DAYS} busiest days",
            "offered_load": round(sizing_load, 3),
            "hours": busy,
        },
        "target_overflow_share": target,
        "recommended_size": recommended,
        "verdict": verdict["code"],
        "add": verdict["add"],
        "advice": {
            "en": _sentence_en(verdict, pool.size, recommended, target, len(begun)),
            "ru": _sentence_ru(verdict, pool.size, recommended, target, len(begun)),
        },
        "occupancy": occupancy(leases, window),
    }


def _held_seconds(lease: LeaseSpan, now: datetime) -> float:
    # A live lease counts up to now; it may be held longer yet.
    return max(0.0, (min(lease.ends_at, now) - lease.started_at).total_seconds())


def busy_hours(begun: Sequence[LeaseSpan], window: Window) -> list[dict[str, Any]]:
    """The busiest clock hour of each of the busiest days, by offered load (lease seconds begun in the
    hour ÷ 3600; overflow rows count: those visitors wanted a number too)."""
    per_hour: dict[datetime, list[float]] = defaultdict(lambda: [0, 0.0])
    for lease in begun:
        hour = lease.started_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        slot = per_hour[hour]
        slot[0] += 1
        slot[1] += _held_seconds(lease, window.now)
    busiest_of_day: dict[date, tuple[float, datetime, int]] = {}
    for hour, (arrivals, seconds) in per_hour.items():
        load = seconds / 3600
        day = local_day(hour, window.zone)
        if day not in busiest_of_day or load > busiest_of_day[day][0]:
            busiest_of_day[day] = (load, hour, int(arrivals))
    top = heapq.nlargest(BUSY_DAYS, busiest_of_day.values(), key=lambda item: (item[0], item[1]))
    return [
        {
            "start": _iso(hour),
            "local_start": hour.astimezone(window.zone).isoformat(timespec="minutes"),
            "arrivals": arrivals,
            "offered_load": round(load, 3),
        }
        for load, hour, arrivals in top
    ]


def occupancy(leases: Sequence[LeaseSpan], window: Window) -> dict[str, Any]:
    """Per bucket (hours, or local days for long windows): the most numbers leased at once and the
    overflows begun in it."""
    starts = _bucket_starts(window)
    if not starts:
        return {"interval": "hour", "points": []}
    interval = "hour" if window.end - window.start <= HOURLY_UP_TO else "day"
    events: list[tuple[datetime, int]] = []
    for lease in leases:
        if not lease.overflow and lease.ends_at > lease.started_at:
            events.append((lease.started_at, 1))
            events.append((lease.ends_at, -1))
    # At one instant a lease ending frees its number before another begins (ends are exclusive).
    events.sort()
    overflow_in: dict[int, int] = defaultdict(int)
    for lease in leases:
        if lease.overflow and window.start <= lease.started_at < window.end:
            overflow_in[_bucket_index(starts, lease.started_at)] += 1
    points: list[dict[str, Any]] = []
    current = 0
    i = 0
    bounds = [*starts[1:], window.end]
    for index, (start, end) in enumerate(zip(starts, bounds, strict=True)):
        while i < len(events) and events[i][0] <= start:
            current += events[i][1]
            i += 1
        peak = current
        while i < len(events) and events[i][0] < end:
            current += events[i][1]
            i += 1
            peak = max(peak, current)
        points.append({"start": _iso(start), "peak_leased": peak, "overflows": overflow_in.get(index, 0)})
    return {"interval": interval, "points": points}


def _bucket_starts(window: Window) -> list[datetime]:
    if window.end <= window.start:
        return []
    if window.end - window.start <= HOURLY_UP_TO:
        first = window.start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        count = int((window.end - first) / HOUR) + 1
        return [s for s in (first + HOUR * n for n in range(count)) if s < window.end]
    day = local_day(window.start, window.zone)
    starts: list[datetime] = []
    while (start := local_midnight(day, window.zone)) < window.end:
        starts.append(start)
        day += timedelta(days=1)
    return starts


def _bucket_index(starts: list[datetime], moment: datetime) -> int:
    low, high = 0, len(starts) - 1
    while low < high:
        middle = (low + high + 1) // 2
        if starts[middle] <= moment:
            low = middle
        else:
            high = middle - 1
    return low


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _verdict(size: int, recommended: int | None, leases: int, days: int) -> dict[str, Any]:
    if recommended is None:
        return {"code": "not-enough-traffic", "add": 0, "days": days}
    if recommended > size:
        return {"code": "add-numbers", "add": recommended - size, "days": days}
    return {"code": "large-enough", "add": 0, "days": days}


def _percent(share: float, decimal_comma: bool) -> str:
    text = f"{share * 100:.2f}".rstrip("0").rstrip(".")
    return (text.replace(".", ",") if decimal_comma else text) + "%"


def _sentence_en(
    verdict: dict[str, Any], size: int, recommended: int | None, target: float, leases: int
) -> str:
    share = _percent(target, decimal_comma=False)
    if verdict["code"] == "not-enough-traffic":
        return (
            f"Not enough traffic yet to size the pool: {leases} {_en(leases, 'visitor')} on "
            f"{verdict['days']} {_en(verdict['days'], 'day')}; it needs at least {MIN_LEASES} over "
            f"{MIN_DAYS} days."
        )
    if verdict["code"] == "add-numbers":
        add = verdict["add"]
        return (
            f"Add {add} {_en(add, 'number')}: at the busiest hours {recommended} numbers keep overflow "
            f"under {share}, and the pool has {size}."
        )
    return (
        f"The pool is large enough: at the busiest hours {recommended} "
        f"{_en(recommended or 0, 'number')} keep overflow under {share}, and it has {size}."
    )


def _sentence_ru(
    verdict: dict[str, Any], size: int, recommended: int | None, target: float, leases: int
) -> str:
    share = _percent(target, decimal_comma=True)
    if verdict["code"] == "not-enough-traffic":
        days = verdict["days"]
        return (
            f"Пока мало трафика, чтобы рассчитать размер пула: {leases} "
            f"{_ru(leases, 'посетитель', 'посетителя', 'посетителей')} за {days} "
            f"{_ru(days, 'день', 'дня', 'дней')}; нужно хотя бы {MIN_LEASES} за {MIN_DAYS} дня."
        )
    if verdict["code"] == "add-numbers":
        add = verdict["add"]
        return (
            f"Добавьте {add} {_ru(add, 'номер', 'номера', 'номеров')}: в часы пик переполнение будет "
            f"ниже {share} при {recommended} {_ru_dative(recommended or 0)}, а в пуле {size}."
        )
    return (
        f"Номеров достаточно: в часы пик для переполнения ниже {share} хватает {recommended} "
        f"{_ru(recommended or 0, 'номера', 'номеров', 'номеров')}, а в пуле {size}."
    )


def _en(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _ru(n: int, one: str, few: str, many: str) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def _ru_dative(n: int) -> str:
    # "при 1 номере", "при 11 номерах"
    return "номере" if n % 10 == 1 and n % 100 != 11 else "номерах"
