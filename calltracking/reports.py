"""The marketers' report: inbound calls by channel, source, campaign… over days in the clinic's time zone.

The figures come from the daily roll-up (``report_days``: each finished day counted once from the calls'
attribution columns, ``calls.attr_*``), added up over the range here; what is left (medians, costs spread
over the days of a month, per-call costs) is finished in ``report_rows``, which is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calltracking.local_dates import DayRange
from calltracking.report_days import (
    GROUPINGS,
    Figures,
    Settings,
    all_reached,
    count_callers,
    ensure_rolled_up,
    figures_by_day,
    figures_over,
)
from calltracking.report_rows import COST_GROUPS, CallCounts, CostEntry, Reached
from kolokol.storage.tables import TrackingCost

GROUPS = GROUPINGS


@dataclass(frozen=True, slots=True)
class ReportQuery:
    group: str
    days: DayRange
    target_call_seconds: int


async def report_figures(
    sessions: async_sessionmaker[AsyncSession], query: ReportQuery, now: datetime
) -> tuple[dict[str | None, CallCounts], CallCounts, list[Reached]]:
    """Per group and in total (unique callers counted over the whole range, not added up), and the
    missed calls reached afterwards by how long it took."""
    settings = Settings(query.days.zone, query.target_call_seconds)
    await ensure_rolled_up(sessions, settings, query.days, now)
    async with sessions() as session:
        merged = await figures_over(session, settings, query.group, query.days)
    unique, everyone = count_callers(merged)
    per_group = {key: _counts(f, unique[key]) for key, f in merged.items()}
    total = CallCounts(
        calls=sum(c.calls for c in per_group.values()),
        unique_callers=everyone,
        first_time_callers=sum(c.first_time_callers for c in per_group.values()),
        answered=sum(c.answered for c in per_group.values()),
        missed=sum(c.missed for c in per_group.values()),
        target_calls=sum(c.target_calls for c in per_group.values()),
    )
    reached = [Reached(key, minutes, n) for key, f in merged.items() for minutes, n in all_reached(f).items()]
    return per_group, total, reached


def _counts(f: Figures, unique: int) -> CallCounts:
    return CallCounts(f.calls, unique, f.first_time_callers, f.answered, f.missed, f.target_calls)


async def calls_by_day(
    sessions: async_sessionmaker[AsyncSession], query: ReportQuery, now: datetime
) -> dict[tuple[str | None, date], int]:
    """Inbound calls per group and local day."""
    settings = Settings(query.days.zone, query.target_call_seconds)
    await ensure_rolled_up(sessions, settings, query.days, now)
    async with sessions() as session:
        by_day = await figures_by_day(session, settings, query.group, query.days)
    return {(key, day): f.calls for day, groups in by_day.items() for key, f in groups.items()}


async def costs(session: AsyncSession, days: DayRange) -> list[CostEntry]:
    months = (days.first.strftime("%Y-%m"), days.last.strftime("%Y-%m"))
    rows = await session.scalars(
        select(TrackingCost).where(TrackingCost.month >= months[0], TrackingCost.month <= months[1])
    )
    return [
        CostEntry(
            month=row.month,
            channel=row.channel,
            source=row.source,
            medium=row.medium,
            campaign=row.campaign,
            amount=Decimal(row.amount),
            currency=row.currency,
        )
        for row in rows
    ]


__all__ = ["COST_GROUPS", "GROUPS", "ReportQuery", "calls_by_day", "costs", "report_figures"]
