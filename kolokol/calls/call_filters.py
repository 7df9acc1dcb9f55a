"""The call log's filters: read from the query string (400 for anything malformed), turned into SQL.

One reading for /api/calls (JSON) and /api/calls.csv, so the CSV a manager downloads holds exactly the
calls the page listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import ColumnElement, and_, exists, func, or_, select

from kolokol.app_keys import PHONES
from kolokol.http import query
from kolokol.http.errors import ApiError
from kolokol.storage.tables import Call, Recording

DIRECTIONS = ("inbound", "outbound", "internal")
STATUSES = ("answered", "missed", "unanswered")
# Talk time is worked out from two stored times; a thousandth of a second of rounding must not move a
# call in or out of "at least 30 s" (the record shows talk_seconds rounded to the millisecond).
_ROUNDING = 0.001
_MAX_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class CallFilters:
    since: datetime | None = None
    until: datetime | None = None
    direction: str | None = None
    status: str | None = None
    operator: str | None = None
    pbx: str | None = None
    pbx_call_id: str | None = None
    number: str | None = None
    branch: str | None = None
    source: str | None = None
    has_recording: bool | None = None
    min_duration: int | None = None
    max_duration: int | None = None


def _yes_no(request: web.Request, name: str) -> bool | None:
    value = query.choice(request, name, ("true", "false", "1", "0"))
    return None if value is None else value in ("true", "1")


def _seconds(request: web.Request, name: str) -> int | None:
    if not request.query.get(name):
        return None
    return query.integer(request, name, 0, 0, _MAX_SECONDS)


def parse(request: web.Request) -> CallFilters:
    """The filters of a call-log request; ApiError 400 (the JSON error shape) for a malformed one."""
    number = query.text(request, "number", 60)
    filters = CallFilters(
        since=query.moment(request, "from"),
        until=query.moment(request, "to"),
        direction=query.choice(request, "direction", DIRECTIONS),
        status=query.choice(request, "status", STATUSES),
        operator=query.text(request, "operator", 40),
        pbx=query.text(request, "pbx", 20),
        pbx_call_id=query.text(request, "pbx_call_id"),
        # As dialled or written anywhere ("8 (916) 123-45-67"): stored numbers are E.164.
        number=(request.app[PHONES].key(number) or number) if number else None,
        branch=query.text(request, "branch", 100),
        source=query.text(request, "source", 200),
        has_recording=_yes_no(request, "has_recording"),
        min_duration=_seconds(request, "min_duration"),
        max_duration=_seconds(request, "max_duration"),
    )
    if (
        filters.min_duration is not None
        and filters.max_duration is not None
        and filters.min_duration > filters.max_duration
    ):
        raise ApiError(
            400,
            "invalid-parameter",
            "min_duration must not be more than max_duration",
            {"parameter": "min_duration"},
        )
    return filters


def talk_seconds(dialect: str) -> ColumnElement[Any]:
    """Seconds from the answer to the end, in SQL (null for a call nobody answered)."""
    if dialect == "sqlite":
        return (func.julianday(Call.ended_at) - func.julianday(Call.answered_at)) * 86400.0
    return func.extract("epoch", Call.ended_at - Call.answered_at)


def playable_recording() -> ColumnElement[bool]:
    """The call has a recording a manager can play now (ready; pending, failed or purged ones cannot)."""
    return exists(select(Recording.id).where(Recording.call_id == Call.id, Recording.status == "ready"))


def conditions(filters: CallFilters, dialect: str) -> list[ColumnElement[bool]]:
    """WHERE clauses for the filters (all must hold)."""
    where: list[ColumnElement[bool]] = []
    if filters.since is not None:
        where.append(Call.started_at >= filters.since)
    if filters.until is not None:
        where.append(Call.started_at < filters.until)
    for column, value in (
        (Call.direction, filters.direction),
        (Call.status, filters.status),
        (Call.operator, filters.operator),
        (Call.pbx, filters.pbx),
        (Call.pbx_call_id, filters.pbx_call_id),
        (Call.branch, filters.branch),
    ):
        if value is not None:
            where.append(column == value)
    if filters.number is not None:
        where.append(or_(Call.caller == filters.number, Call.called == filters.number))
    if filters.source is not None:
        # "yandex" (where from) or "paid" (what kind): a manager thinks of either as the call's source.
        wanted = filters.source.lower()
        where.append(or_(func.lower(Call.attr_source) == wanted, func.lower(Call.attr_channel) == wanted))
    if filters.has_recording is not None:
        where.append(playable_recording() if filters.has_recording else ~playable_recording())
    talk = talk_seconds(dialect)
    if filters.min_duration is not None and filters.min_duration > 0:
        where.append(and_(Call.answered_at.is_not(None), talk >= filters.min_duration - _ROUNDING))
    if filters.max_duration is not None:
        # Unanswered calls talked for 0 seconds: they are within any maximum.
        where.append(or_(Call.answered_at.is_(None), talk <= filters.max_duration + _ROUNDING))
    return where
