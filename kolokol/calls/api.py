"""GET /api/calls (the call log, JSON or CSV) and /api/calls/{id}; filters in kolokol.calls.call_filters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import ColumnElement, Select, and_, func, or_, select

from calltracking.csv_safe import csv_text
from kolokol.app_keys import SESSIONS, SETTINGS
from kolokol.auth.api_guard import PRINCIPAL, requires
from kolokol.auth.roles import READ_CALLS
from kolokol.calls import call_csv, call_filters
from kolokol.calls.call_scope import visible_to
from kolokol.calls.record_json import calls_json
from kolokol.http import query
from kolokol.http.errors import ApiError
from kolokol.http.json_response import json_response
from kolokol.storage.tables import Call
from kolokol.storage.thread_sessions import bound_dialect

routes = web.RouteTableDef()

# Rows per database round trip of a CSV download: memory stays flat whatever the period.
CSV_PAGE = 500


def _dialect(request: web.Request) -> str:
    return bound_dialect(request.app[SESSIONS])


def _where(request: web.Request) -> list[ColumnElement[bool]]:
    """The request's filters and, for an operator, the limit to their own phones' calls."""
    dialect = _dialect(request)
    where = call_filters.conditions(call_filters.parse(request), dialect)
    scope = visible_to(request[PRINCIPAL], dialect)
    if scope is not None:
        where.append(scope)
    return where


def _newest_first(stmt: Select[Call]) -> Select[Call]:
    return stmt.order_by(Call.started_at.desc(), Call.id)


@routes.get("/api/calls")
@requires(READ_CALLS)
async def list_calls(request: web.Request) -> web.StreamResponse:
    if query.choice(request, "format", ("json", "csv")) == "csv":
        return await _csv(request)
    stmt = select(Call).where(*_where(request))
    limit, offset = query.page(request)
    async with request.app[SESSIONS]() as session:
        total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = (await session.scalars(_newest_first(stmt).limit(limit).offset(offset))).all()
        items = await calls_json(session, rows)
    return json_response({"items": items, "total": total, "limit": limit, "offset": offset})


@routes.get("/api/calls.csv")
@requires(READ_CALLS)
async def calls_csv(request: web.Request) -> web.StreamResponse:
    return await _csv(request)


async def _csv(request: web.Request) -> web.StreamResponse:
    where = _where(request)
    lang = query.choice(request, "lang", ("en", "ru")) or "en"
    zone = ZoneInfo(request.app[SETTINGS].tracking.timezone)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="kolokol-calls.csv"',
        }
    )
    await response.prepare(request)
    # The BOM makes Excel read the file as UTF-8 (names and campaigns in Cyrillic), as the
    # call-tracking reports do.
    await response.write(("\ufeff" + csv_text([call_csv.header(lang, zone)])).encode("utf-8"))
    async for records in _pages(request, where):
        await response.write(csv_text(call_csv.row(r, lang, zone) for r in records).encode("utf-8"))
    await response.write_eof()
    return response


async def _pages(
    request: web.Request, where: list[ColumnElement[bool]]
) -> AsyncIterator[list[dict[str, Any]]]:
    """The matching call records newest first, CSV_PAGE at a time: each page starts after the last row
    of the one before (keyset), so a year of calls is never held at once and no page is skipped or
    repeated when new calls arrive meanwhile."""
    after: tuple[datetime, str] | None = None
    while True:
        stmt = select(Call).where(*where)
        if after is not None:
            started, call_id = after
            stmt = stmt.where(
                or_(Call.started_at < started, and_(Call.started_at == started, Call.id > call_id))
            )
        async with request.app[SESSIONS]() as session:
            rows = (await session.scalars(_newest_first(stmt).limit(CSV_PAGE))).all()
            if not rows:
                return
            records = await calls_json(session, rows)
        yield records
        if len(rows) < CSV_PAGE:
            return
        after = (rows[-1].started_at, rows[-1].id)


@routes.get("/api/calls/{call_id}")
@requires(READ_CALLS)
async def get_call(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    scope = visible_to(request[PRINCIPAL], _dialect(request))
    async with request.app[SESSIONS]() as session:
        call = None
        if len(call_id) <= 32:
            stmt = select(Call).where(Call.id == call_id)
            if scope is not None:
                stmt = stmt.where(scope)
            call = await session.scalar(stmt)
        if call is None:
            # The same answer for another operator's call as for no call: its existence is not told.
            raise ApiError(404, "no-such-call", "no call with this id", {"id": call_id[:64]})
        [item] = await calls_json(session, [call])
    return json_response(item)
