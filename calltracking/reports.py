"""The marketers' report: inbound calls by channel, source, campaign… over days in the clinic's time zone.

The queries group on the call's attribution columns (``calls.attr_*``, copies of its ``source``) and count
in the database; what SQL cannot do the same way on SQLite and PostgreSQL (medians, costs spread over the
days of a month) is finished in ``report_rows``, which is pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, Interval, and_, case, cast, distinct, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.sql.elements import ColumnElement

from calltracking.local_dates import DayRange, offset_spans
from calltracking.report_rows import COST_GROUPS, CallCounts, CostEntry, Reached
from kolokol.storage.tables import Call, CallbackTask, TrackingCost

GROUPS: dict[str, InstrumentedAttribute[Any]] = {
    "channel": Call.attr_channel,
    "source": Call.attr_source,
    "medium": Call.attr_medium,
    "campaign": Call.attr_campaign,
    "term": Call.attr_term,
    "landing_page": Call.attr_landing_page,
    "tracking_number": Call.attr_tracking_number,
    "pool": Call.attr_pool,
    "branch": Call.attr_branch,
}
# A task closed by a call that reached the patient, or by a person saying it is done.
_REACHED_RESOLUTIONS = ("reached", "done")


@dataclass(frozen=True, slots=True)
class ReportQuery:
    group: str
    days: DayRange
    target_call_seconds: int


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def _in_range(days: DayRange) -> ColumnElement[bool]:
    return and_(Call.direction == "inbound", Call.started_at >= days.start, Call.started_at < days.end)


def _talked_at_least(seconds: int, dialect: str) -> ColumnElement[bool]:
    if dialect == "sqlite":
        # julianday keeps milliseconds; a call of exactly the threshold must count.
        talk = (func.julianday(Call.ended_at) - func.julianday(Call.answered_at)) * 86400.0
        return talk >= seconds - 0.001
    return (Call.ended_at - Call.answered_at) >= literal(timedelta(seconds=seconds), Interval())


def _counts(query: ReportQuery, dialect: str) -> list[Any]:
    answered = Call.status == "answered"
    target = and_(
        answered, Call.answered_at.is_not(None), _talked_at_least(query.target_call_seconds, dialect)
    )
    return [
        func.count(),
        func.count(distinct(func.coalesce(Call.outside_number, Call.caller))),
        func.sum(case((Call.first_time_caller, 1), else_=0)),
        func.sum(case((answered, 1), else_=0)),
        func.sum(case((Call.status == "missed", 1), else_=0)),
        func.sum(case((target, 1), else_=0)),
    ]


def _call_counts(row: Sequence[Any]) -> CallCounts:
    return CallCounts(*(int(v or 0) for v in row))


async def call_counts(
    session: AsyncSession, query: ReportQuery
) -> tuple[dict[str | None, CallCounts], CallCounts]:
    """Per group and in total (unique callers are counted over the whole range, not added up)."""
    dialect = _dialect(session)
    key = GROUPS[query.group]
    where = _in_range(query.days)
    grouped = await session.execute(select(key, *_counts(query, dialect)).where(where).group_by(key))
    per_group = {row[0]: _call_counts(row[1:]) for row in grouped}
    total = (await session.execute(select(*_counts(query, dialect)).where(where))).one()
    return per_group, _call_counts(total)


async def reached(session: AsyncSession, query: ReportQuery) -> list[Reached]:
    """Each missed call of the range with when its number was reached afterwards (or None): its callback
    task closed as reached (or done), else the first later answered call with the number, either way."""
    later = aliased(Call)
    later_answer = (
        select(func.min(func.coalesce(later.answered_at, later.started_at)))
        .where(
            later.outside_number == Call.outside_number,
            later.started_at > Call.started_at,
            later.status == "answered",
            later.direction.in_(("inbound", "outbound")),
        )
        .scalar_subquery()
    )
    by_task = case(
        (
            and_(
                CallbackTask.resolution.in_(_REACHED_RESOLUTIONS),
                CallbackTask.closed_at >= Call.started_at,
            ),
            CallbackTask.closed_at,
        )
    )
    # COALESCE stops at its first value on both databases: the later-call search runs only for misses
    # whose task says nothing.
    reached_at = func.coalesce(by_task, later_answer)
    stmt = (
        select(GROUPS[query.group], Call.started_at, reached_at)
        .outerjoin(CallbackTask, CallbackTask.id == Call.callback_task_id)
        .where(_in_range(query.days), Call.status == "missed")
    )
    rows = await session.execute(stmt)
    return [Reached(key, started, _moment(at)) for key, started, at in rows]


def _moment(value: Any) -> datetime | None:
    """A value of a COALESCE of timestamps: SQLite gives it back as text."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


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


def _local_day(column: Any, days: DayRange, dialect: str) -> ColumnElement[Any]:
    """The local day a UTC instant falls on, in SQL: PostgreSQL knows the zone; SQLite adds the offset of
    the stretch (between clock changes) the instant falls in."""
    if dialect == "postgresql":
        return cast(func.timezone(days.zone.key, column), Date)
    spans = offset_spans(days.start, days.end, days.zone)
    if len(spans) == 1:
        return func.date(column, f"{int(spans[0].offset.total_seconds()):+d} seconds")
    return case(
        *(
            (column < span.end, func.date(column, f"{int(span.offset.total_seconds()):+d} seconds"))
            for span in spans[:-1]
        ),
        else_=func.date(column, f"{int(spans[-1].offset.total_seconds()):+d} seconds"),
    )


async def calls_by_day(session: AsyncSession, query: ReportQuery) -> dict[tuple[str | None, date], int]:
    """Inbound calls per group and local day."""
    day = _local_day(Call.started_at, query.days, _dialect(session))
    key = GROUPS[query.group]
    rows = await session.execute(
        select(key, day, func.count()).where(_in_range(query.days)).group_by(key, day)
    )
    counts: dict[tuple[str | None, date], int] = defaultdict(int)
    for group, local, n in rows:
        counts[(group, local if isinstance(local, date) else date.fromisoformat(str(local)))] += int(n)
    return dict(counts)


__all__ = [
    "COST_GROUPS",
    "GROUPS",
    "ReportQuery",
    "call_counts",
    "calls_by_day",
    "costs",
    "reached",
]
