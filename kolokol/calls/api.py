"""GET /api/calls and /api/calls/{id}."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import func, or_, select

from kolokol.app_keys import PHONES, SESSIONS
from kolokol.auth.api_guard import requires
from kolokol.auth.roles import READ_CALLS
from kolokol.calls.record_json import calls_json
from kolokol.http import query
from kolokol.http.errors import ApiError
from kolokol.http.json_response import json_response
from kolokol.storage.tables import Call

routes = web.RouteTableDef()


@routes.get("/api/calls")
@requires(READ_CALLS)
async def list_calls(request: web.Request) -> web.Response:
    stmt = select(Call)
    since = query.moment(request, "from")
    until = query.moment(request, "to")
    if since is not None:
        stmt = stmt.where(Call.started_at >= since)
    if until is not None:
        stmt = stmt.where(Call.started_at < until)
    direction = query.choice(request, "direction", ("inbound", "outbound", "internal"))
    if direction:
        stmt = stmt.where(Call.direction == direction)
    status = query.choice(request, "status", ("answered", "missed", "unanswered"))
    if status:
        stmt = stmt.where(Call.status == status)
    operator = query.text(request, "operator", 40)
    if operator:
        stmt = stmt.where(Call.operator == operator)
    pbx = query.text(request, "pbx", 20)
    if pbx:
        stmt = stmt.where(Call.pbx == pbx)
    pbx_call_id = query.text(request, "pbx_call_id")
    if pbx_call_id:
        stmt = stmt.where(Call.pbx_call_id == pbx_call_id)
    number = query.text(request, "number", 60)
    if number:
        normalized = request.app[PHONES].key(number) or number
        stmt = stmt.where(or_(Call.caller == normalized, Call.called == normalized))
    limit, offset = query.page(request)
    async with request.app[SESSIONS]() as session:
        total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = (
            await session.scalars(stmt.order_by(Call.started_at.desc(), Call.id).limit(limit).offset(offset))
        ).all()
        items = await calls_json(session, rows)
    return json_response({"items": items, "total": total, "limit": limit, "offset": offset})


@routes.get("/api/calls/{call_id}")
@requires(READ_CALLS)
async def get_call(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    async with request.app[SESSIONS]() as session:
        call = await session.get(Call, call_id) if len(call_id) <= 32 else None
        if call is None:
            raise ApiError(404, "no-such-call", "no call with this id", {"id": call_id[:64]})
        [item] = await calls_json(session, [call])
    return json_response(item)
