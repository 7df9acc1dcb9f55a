"""The report's daily roll-up: each finished local day's figures per grouping and group, kept so a year's
report reads a few thousand rows instead of a million calls.

A day is rolled up from its calls the first time a report needs it (and again whenever a trigger of
migration 0009 forgot it: a call stored or changed on that day, a miss reached later, a callback task
closed). Unique callers stay exact over any range: each rolled-up group keeps the set of its callers
(64-bit digests of their numbers), and a report unites the sets of its days. Days that ended less than
an hour ago are counted from the calls each time and never kept: calls of a day still come in.
"""

from __future__ import annotations

import hashlib
from array import array
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    and_,
    case,
    delete,
    func,
    insert,
    not_,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from calltracking.local_dates import DayRange, local_day, offset_spans
from kolokol.storage.tables import Call, CallbackTask, ReportBuilt, ReportDay
from kolokol.storage.write_lock import write_transaction

GROUPINGS: dict[str, Any] = {
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
# A day is kept once it ended this long ago; before, its calls may still be arriving.
SETTLE = timedelta(hours=1)
# An answered call makes an earlier miss of its number "reached" within this many days (migration 0009's
# triggers forget the days this far back).
REACH_DAYS = 30
_REACHED_RESOLUTIONS = ("reached", "done")
# Days rolled up in one transaction, which keeps calls and callback tasks from changing meanwhile (SQLite's
# write lock; PostgreSQL's SHARE lock on both tables): two days' calls hold writers back well under a
# second.
_BUILD_CHUNK_DAYS = 2
# Days not rolled up, counted from their calls in one read.
_READ_CHUNK_DAYS = 31

K = TypeVar("K")


@dataclass
class Figures:
    calls: int = 0
    first_time_callers: int = 0
    answered: int = 0
    missed: int = 0
    target_calls: int = 0
    callers: set[int] = field(default_factory=set)
    # Callers of rolled-up days, still packed (see pack): united only once, for the whole range.
    packed: list[bytes] = field(default_factory=list)
    reached: Counter[float] = field(default_factory=Counter)
    # Reach delays of rolled-up days, still packed (see pack_reached).
    reached_packed: list[bytes] = field(default_factory=list)


def all_callers(figures: Figures) -> set[int]:
    found = set(unpack(b"".join(figures.packed))) if figures.packed else set()
    return found | figures.callers if figures.callers else found


def pack_reached(reached: Counter[float]) -> bytes:
    pairs = array("i")
    for minutes, calls in sorted(reached.items()):
        pairs.append(round(minutes * 10))
        pairs.append(calls)
    return pairs.tobytes()


def all_reached(figures: Figures) -> dict[float, int]:
    """Reach delays (minutes) and how many calls took each, from counted and rolled-up days alike."""
    tenths: dict[int, int] = defaultdict(int)
    if figures.reached_packed:
        pairs = array("i")
        pairs.frombytes(b"".join(figures.reached_packed))
        values = iter(pairs)
        for value, calls in zip(values, values, strict=True):
            tenths[value] += calls
    for minutes, calls in figures.reached.items():
        tenths[round(minutes * 10)] += calls
    return {value / 10: calls for value, calls in tenths.items()}


def count_callers(figures: Mapping[K, Figures]) -> tuple[dict[K, int], int]:
    """Unique callers per group, and over all groups together.

    One group's set at a time, the largest first, and that one grows into everyone's: a year holds about
    a million digests, and every set kept alive beside the others costs memory and a garbage-collector
    pass over its entries each time young objects are collected.
    """
    unique: dict[K, int] = {}
    everyone: set[int] = set()
    for key in sorted(figures, key=lambda k: -_callers_size(figures[k])):
        callers = all_callers(figures[key])
        unique[key] = len(callers)
        if everyone:
            everyone |= callers
        else:
            everyone = callers
        del callers
    return unique, len(everyone)


def _callers_size(figures: Figures) -> int:
    return sum(map(len, figures.packed)) // 8 + len(figures.callers)


def add_up(into: Figures, figures: Figures) -> None:
    into.calls += figures.calls
    into.first_time_callers += figures.first_time_callers
    into.answered += figures.answered
    into.missed += figures.missed
    into.target_calls += figures.target_calls
    into.callers |= figures.callers
    into.packed += figures.packed
    into.reached_packed += figures.reached_packed
    into.reached.update(figures.reached)


def caller_digest(number: str) -> int:
    return int.from_bytes(hashlib.blake2b(number.encode(), digest_size=8).digest(), "big", signed=True)


def pack(digests: Iterable[int]) -> bytes:
    return array("q", sorted(digests)).tobytes()


def unpack(data: bytes) -> array[int]:
    values = array("q")
    values.frombytes(data)
    return values


def rounded_minutes(minutes: float) -> float:
    """A delay as the report keeps it: to a tenth of a minute within the first hour, to a minute within a
    day, to an hour beyond."""
    if minutes < 60:
        return round(minutes, 1)
    if minutes < 1440:
        return float(round(minutes))
    return float(round(minutes / 60) * 60)


@dataclass(frozen=True, slots=True)
class CallFacts:
    """An inbound call as the roll-up needs it (times as Unix seconds: a million calls are read faster as
    numbers than as datetimes)."""

    started: float
    caller: str
    status: str
    first_time_caller: bool
    talk_seconds: float | None  # answered calls
    keys: tuple[str | None, ...]  # one per GROUPINGS entry
    reached_minutes: float | None  # missed calls reached afterwards


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def roll_up(
    calls: Iterable[CallFacts], zone: ZoneInfo, target_seconds: int, start: datetime, end: datetime
) -> dict[date, dict[tuple[str, str | None], Figures]]:
    """Pure: each local day's figures per (grouping, key), for calls begun in [start, end)."""
    spans = [(s.end.timestamp(), s.offset.total_seconds()) for s in offset_spans(start, end, zone)]
    last_offset = spans[-1][1] if spans else 0.0
    by_day: dict[int, dict[tuple[str, str | None], Figures]] = defaultdict(dict)
    names = tuple(GROUPINGS)
    threshold = target_seconds - 0.001
    for call in calls:
        offset = last_offset
        for until, span_offset in spans:
            if call.started < until:
                offset = span_offset
                break
        groups = by_day[int((call.started + offset) // 86400)]
        answered = call.status == "answered"
        missed = call.status == "missed"
        target = answered and call.talk_seconds is not None and call.talk_seconds >= threshold
        first = call.first_time_caller
        digest = caller_digest(call.caller)
        delay = rounded_minutes(call.reached_minutes) if call.reached_minutes is not None else None
        for group in zip(names, call.keys, strict=True):
            figures = groups.get(group)
            if figures is None:
                figures = groups[group] = Figures()
            figures.calls += 1
            if first:
                figures.first_time_callers += 1
            if answered:
                figures.answered += 1
                if target:
                    figures.target_calls += 1
            elif missed:
                figures.missed += 1
            figures.callers.add(digest)
            if delay is not None:
                figures.reached[delay] += 1
    return {date.fromordinal(_EPOCH_ORDINAL + day): groups for day, groups in by_day.items()}


def rolled_up_keys(groups: dict[tuple[str, str | None], Figures], grouping: str) -> set[str | None]:
    return {key for name, key in groups if name == grouping}


def _epoch(column: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return (func.julianday(column) - 2440587.5) * 86400.0
    return func.extract("epoch", column)


async def read_calls(session: AsyncSession, start: datetime, end: datetime) -> list[CallFacts]:
    """The inbound calls begun in [start, end) with what the roll-up needs, and for each missed one when its
    number was reached (its callback task closed as reached or done; else a later answered call with the
    number within REACH_DAYS)."""
    dialect = session.get_bind().dialect.name
    later = aliased(Call)
    missed = and_(Call.status == "missed", Call.outside_number.is_not(None))
    task_reached = case(
        (
            and_(
                missed,
                CallbackTask.resolution.in_(_REACHED_RESOLUTIONS),
                CallbackTask.closed_at >= Call.started_at,
            ),
            _epoch(CallbackTask.closed_at, dialect),
        )
    )
    task_says_reached = and_(
        CallbackTask.resolution.in_(_REACHED_RESOLUTIONS), CallbackTask.closed_at >= Call.started_at
    )
    later_answer = case(
        (
            and_(missed, or_(CallbackTask.id.is_(None), not_(task_says_reached))),
            select(_epoch(func.min(func.coalesce(later.answered_at, later.started_at)), dialect))
            .where(
                later.outside_number == Call.outside_number,
                later.started_at > Call.started_at,
                later.status == "answered",
                later.direction.in_(("inbound", "outbound")),
            )
            .scalar_subquery(),
        )
    )
    talk = case(
        (Call.answered_at.is_not(None), _epoch(Call.ended_at, dialect) - _epoch(Call.answered_at, dialect))
    )
    stmt = (
        select(
            _epoch(Call.started_at, dialect),
            func.coalesce(Call.outside_number, Call.caller),
            Call.status,
            Call.first_time_caller,
            talk,
            task_reached,
            later_answer,
            *GROUPINGS.values(),
        )
        .outerjoin(CallbackTask, CallbackTask.id == Call.callback_task_id)
        .where(Call.direction == "inbound", Call.started_at >= start, Call.started_at < end)
    )
    window = REACH_DAYS * 86400
    facts = []
    for row in await session.execute(stmt):
        started = float(row[0])
        by_task = row[5]
        by_call = row[6]
        if by_task is not None:
            reached: float | None = (float(by_task) - started) / 60
        elif by_call is not None and float(by_call) - started <= window:
            reached = (float(by_call) - started) / 60
        else:
            reached = None
        facts.append(
            CallFacts(
                started=started,
                caller=row[1],
                status=row[2],
                first_time_caller=bool(row[3]),
                talk_seconds=float(row[4]) if row[4] is not None else None,
                keys=tuple(row[7:]),
                reached_minutes=reached,
            )
        )
    return facts


@dataclass(frozen=True, slots=True)
class Settings:
    zone: ZoneInfo
    target_seconds: int


def _settled_days(days: DayRange, now: datetime) -> list[date]:
    settled = []
    day = days.first
    while day <= days.last:
        if DayRange(day, day, days.zone).end <= now - SETTLE:
            settled.append(day)
        day += timedelta(days=1)
    return settled


def _runs(days: Sequence[date], longest: int) -> list[list[date]]:
    """Consecutive days, in runs of at most `longest`."""
    runs: list[list[date]] = []
    for day in days:
        if runs and runs[-1][-1] + timedelta(days=1) == day and len(runs[-1]) < longest:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


async def _built_days(session: AsyncSession, settings: Settings, days: DayRange) -> dict[str, int]:
    rows = await session.execute(
        select(ReportBuilt.day, ReportBuilt.id).where(
            ReportBuilt.zone == settings.zone.key,
            ReportBuilt.target_seconds == settings.target_seconds,
            ReportBuilt.day >= days.first.isoformat(),
            ReportBuilt.day <= days.last.isoformat(),
        )
    )
    return {day: built_id for day, built_id in rows}


async def with_calls(session: AsyncSession, days: DayRange) -> DayRange | None:
    """The part of the range from the first call to the last (a range "since 1970" reads no empty days)."""
    # Two statements: SQLite answers a lone min() or max() from the index, both at once by a scan.
    first = await session.scalar(select(func.min(Call.started_at)))
    last = await session.scalar(select(func.max(Call.started_at)))
    if first is None or last is None:
        return None
    begin = max(days.first, local_day(first, days.zone))
    end = min(days.last, local_day(last, days.zone))
    return DayRange(begin, end, days.zone) if begin <= end else None


async def ensure_rolled_up(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, days: DayRange, now: datetime
) -> None:
    """Roll up every settled day of the range that is not rolled up yet."""
    async with sessions() as session:
        found = await with_calls(session, days)
        if found is None:
            return
        days = found
        built = await _built_days(session, settings, days)
    missing = [d for d in _settled_days(days, now) if d.isoformat() not in built]
    for run in _runs(missing, _BUILD_CHUNK_DAYS):

        async def build(session: AsyncSession, run: list[date] = run) -> None:
            await _build(session, settings, run, now)

        await write_transaction(sessions, build)


async def _build(session: AsyncSession, settings: Settings, run: list[date], now: datetime) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # A call stored (or a task closed) while these days are read would fire its trigger before their
        # markers exist, and the markers would keep figures without it. SHARE lets readers on, waits for
        # writers under way and holds new ones until the markers are committed.
        await session.execute(text("LOCK TABLE calls, callback_tasks IN SHARE MODE"))
    span = DayRange(run[0], run[-1], settings.zone)
    # Another report may have rolled some of them up meanwhile.
    built = await _built_days(session, settings, span)
    wanted = [d for d in run if d.isoformat() not in built]
    if not wanted:
        return
    calls = await read_calls(session, span.start, span.end)
    figures = roll_up(calls, settings.zone, settings.target_seconds, span.start, span.end)
    rows: list[dict[str, Any]] = []
    for day in wanted:
        one = DayRange(day, day, settings.zone)
        marker = ReportBuilt(
            zone=settings.zone.key,
            target_seconds=settings.target_seconds,
            day=day.isoformat(),
            starts_at=one.start,
            ends_at=one.end,
            built_at=now,
        )
        session.add(marker)
        await session.flush()
        rows += (
            {
                "built_id": marker.id,
                "grouping": grouping,
                "key": key,
                "calls": f.calls,
                "first_time_callers": f.first_time_callers,
                "answered": f.answered,
                "missed": f.missed,
                "target_calls": f.target_calls,
                "callers": pack(f.callers),
                "reached": pack_reached(f.reached),
            }
            for (grouping, key), f in figures.get(day, {}).items()
        )
    if rows:
        # One statement for all of them (executemany), not one ORM object each.
        await session.execute(insert(ReportDay), rows)


async def figures_by_day(
    session: AsyncSession, settings: Settings, grouping: str, days: DayRange
) -> dict[date, dict[str | None, Figures]]:
    """Each day's figures per group: rolled-up days read back, the others counted from their calls."""
    result: dict[date, dict[str | None, Figures]] = defaultdict(dict)
    found = await with_calls(session, days)
    if found is None:
        return result
    days = found
    built = await _built_days(session, settings, days)
    rows = await session.execute(
        select(ReportBuilt.day, *_DAY_FIGURES)
        .join(ReportBuilt, ReportBuilt.id == ReportDay.built_id)
        .where(ReportBuilt.id.in_(list(built.values())), ReportDay.grouping == grouping)
    )
    for day_text, key, calls, first, answered, missed, target, callers, reached in rows:
        result[date.fromisoformat(day_text)][key] = Figures(
            calls=calls,
            first_time_callers=first,
            answered=answered,
            missed=missed,
            target_calls=target,
            packed=[callers],
            reached_packed=[reached],
        )
    async for one_day, key, figures in _counted_from_calls(session, settings, grouping, days, built):
        result[one_day][key] = figures
    return result


async def figures_over(
    session: AsyncSession, settings: Settings, grouping: str, days: DayRange
) -> dict[str | None, Figures]:
    """Each group's figures added up over the whole range (what the report shows): rolled-up days read back
    (on PostgreSQL added up by the database), the others counted from their calls."""
    result: dict[str | None, Figures] = defaultdict(Figures)
    found = await with_calls(session, days)
    if found is None:
        return result
    days = found
    built = await _built_days(session, settings, days)
    ids = list(built.values())
    if ids and session.get_bind().dialect.name == "postgresql":
        rows: Iterable[Sequence[Any]] = await _added_up_on_postgres(session, grouping, ids)
    else:
        rows = await session.execute(
            select(*_DAY_FIGURES).where(ReportDay.built_id.in_(ids), ReportDay.grouping == grouping)
        )
    for key, calls, first, answered, missed, target, callers, reached in rows:
        into = result[key]
        into.calls += calls
        into.first_time_callers += first
        into.answered += answered
        into.missed += missed
        into.target_calls += target
        into.packed.append(callers)
        into.reached_packed.append(reached)
    async for _, key, figures in _counted_from_calls(session, settings, grouping, days, built):
        add_up(result[key], figures)
    return result


_DAY_FIGURES = (
    ReportDay.key,
    ReportDay.calls,
    ReportDay.first_time_callers,
    ReportDay.answered,
    ReportDay.missed,
    ReportDay.target_calls,
    ReportDay.callers,
    ReportDay.reached,
)
# A year's callers are megabytes of digests: sent as they are (psycopg's binary results), not as hex text,
# and joined per group by the database rather than sent as a few thousand rows.
_ADDED_UP_SQL = """SELECT key, sum(calls), sum(first_time_callers), sum(answered), sum(missed),
       sum(target_calls), string_agg(callers, ''::bytea), string_agg(reached, ''::bytea)
  FROM tracking_report_days
 WHERE built_id = ANY(%s::integer[]) AND grouping = %s
 GROUP BY key"""


async def _added_up_on_postgres(session: AsyncSession, grouping: str, ids: list[int]) -> list[Any]:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    async with raw.driver_connection.cursor(binary=True) as cursor:  # type: ignore[union-attr]
        await cursor.execute(_ADDED_UP_SQL, (ids, grouping))
        return list(await cursor.fetchall())


async def _counted_from_calls(
    session: AsyncSession, settings: Settings, grouping: str, days: DayRange, built: dict[str, int]
) -> AsyncIterator[tuple[date, str | None, Figures]]:
    """The days of the range not rolled up (not settled yet, or forgotten since), counted from their
    calls."""
    pending = []
    day = days.first
    while day <= days.last:
        if day.isoformat() not in built:
            pending.append(day)
        day += timedelta(days=1)
    for run in _runs(pending, _READ_CHUNK_DAYS):
        span = DayRange(run[0], run[-1], settings.zone)
        facts = await read_calls(session, span.start, span.end)
        counted = roll_up(facts, settings.zone, settings.target_seconds, span.start, span.end)
        for one_day, groups in counted.items():
            for (name, key), figures in groups.items():
                if name == grouping:
                    yield one_day, key, figures


async def forget_all(session: AsyncSession) -> None:
    """Drop every rolled-up day (they are rolled up again as reports need them)."""
    await session.execute(delete(ReportBuilt))
