"""The marketers' REST API for tracking numbers and sites (roles in kolokol.auth.roles: MANAGE_TRACKING
changes, READ_TRACKING reads).

PUT  /api/tracking/numbers/{e164}         a static number (201 created, 200 updated)
GET  /api/tracking/numbers                every static number
DELETE /api/tracking/numbers/{e164}       no longer tracked (calls keep the source they were given)
PUT  /api/tracking/sites/{site}           a website, its pools and source numbers (201 / 200)
GET  /api/tracking/sites                  every site as GET /api/tracking/sites/{site} shows it
GET  /api/tracking/sites/{site}           its settings, each pool number's state and whether it is leased
POST /api/tracking/pool-numbers/{e164}/quarantine   {"reason"}: out of rotation
POST /api/tracking/pool-numbers/{e164}/release      back in rotation
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from calltracking import tracking_store as store
from calltracking.site_settings import Invalid, e164, site_id_problem, site_settings, static_number
from kolokol.app_keys import CLOCK, PHONES, SESSIONS
from kolokol.auth.api_guard import requires
from kolokol.auth.roles import MANAGE_TRACKING, READ_TRACKING
from kolokol.http.errors import ApiError, json_body
from kolokol.http.json_response import json_response
from kolokol.storage.tables import TrackingNumber
from kolokol.storage.write_lock import write_transaction

routes = web.RouteTableDef()
READERS = READ_TRACKING | MANAGE_TRACKING
MAX_REASON_CHARS = 200


def _number_in_path(request: web.Request, name: str = "e164") -> str:
    try:
        return e164(request.match_info[name], "number", request.app[PHONES])
    except Invalid as exc:
        raise ApiError(400, "invalid-field", exc.message, {"field": exc.field}) from None


def _site_in_path(request: web.Request) -> str:
    site_id = request.match_info["site"]
    problem = site_id_problem(site_id)
    if problem is not None:
        raise ApiError(400, "invalid-field", problem, {"field": "site"})
    return site_id


def _invalid(exc: Invalid) -> ApiError:
    return ApiError(400, "invalid-field", exc.message, {"field": exc.field})


def _conflict(exc: store.Conflict) -> ApiError:
    return ApiError(409, exc.slug, exc.message, exc.details)


# ---- static numbers -------------------------------------------------------------------------------


@routes.put("/api/tracking/numbers/{e164}")
@requires(MANAGE_TRACKING)
async def put_number(request: web.Request) -> web.Response:
    number = _number_in_path(request)
    body = await json_body(request)
    try:
        wanted = static_number(body)
    except Invalid as exc:
        raise _invalid(exc) from None
    now = request.app[CLOCK]()

    async def save(db: AsyncSession) -> tuple[dict[str, Any], bool]:
        row, created = await store.upsert_number(db, number, wanted, now)
        return store.number_json(row), created

    try:
        item, created = await write_transaction(request.app[SESSIONS], save)
    except store.Conflict as exc:
        raise _conflict(exc) from None
    return json_response(item, status=201 if created else 200)


@routes.get("/api/tracking/numbers")
@requires(READERS)
async def list_numbers(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as db:
        rows = await db.scalars(select(TrackingNumber).order_by(TrackingNumber.number))
        return json_response({"items": [store.number_json(row) for row in rows]})


@routes.delete("/api/tracking/numbers/{e164}")
@requires(MANAGE_TRACKING)
async def delete_number(request: web.Request) -> web.Response:
    number = _number_in_path(request)

    async def delete(db: AsyncSession) -> bool:
        return await store.delete_number(db, number)

    if not await write_transaction(request.app[SESSIONS], delete):
        raise ApiError(404, "no-such-number", f"{number} is not a static tracking number", {"number": number})
    return web.Response(status=204)


# ---- sites ----------------------------------------------------------------------------------------


@routes.put("/api/tracking/sites/{site}")
@requires(MANAGE_TRACKING)
async def put_site(request: web.Request) -> web.Response:
    site_id = _site_in_path(request)
    body = await json_body(request)
    try:
        settings = site_settings(body, request.app[PHONES])
    except Invalid as exc:
        raise _invalid(exc) from None
    now = request.app[CLOCK]()

    async def save(db: AsyncSession) -> tuple[dict[str, Any] | None, bool]:
        created = await store.upsert_site(db, site_id, settings, now)
        return await store.site_json(db, site_id, now), created

    try:
        item, created = await write_transaction(request.app[SESSIONS], save)
    except store.Conflict as exc:
        raise _conflict(exc) from None
    return json_response(item, status=201 if created else 200)


@routes.get("/api/tracking/sites")
@requires(READERS)
async def list_sites(request: web.Request) -> web.Response:
    now = request.app[CLOCK]()
    async with request.app[SESSIONS]() as db:
        items = [await store.site_json(db, site_id, now) for site_id in await store.site_ids(db)]
        return json_response({"items": [item for item in items if item is not None]})


@routes.get("/api/tracking/sites/{site}")
@requires(READERS)
async def get_site(request: web.Request) -> web.Response:
    site_id = _site_in_path(request)
    async with request.app[SESSIONS]() as db:
        item = await store.site_json(db, site_id, request.app[CLOCK]())
    if item is None:
        raise ApiError(404, "no-such-site", f"no site {site_id!r}", {"site": site_id})
    return json_response(item)


# ---- quarantine -----------------------------------------------------------------------------------


@routes.post("/api/tracking/pool-numbers/{e164}/quarantine")
@requires(MANAGE_TRACKING)
async def quarantine(request: web.Request) -> web.Response:
    body = await json_body(request) if request.body_exists else {}
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON_CHARS):
        raise ApiError(
            400,
            "invalid-field",
            f"reason must be a string of at most {MAX_REASON_CHARS} characters",
            {"field": "reason"},
        )
    return await _set_state(request, "quarantined", (reason or "").strip() or None)


@routes.post("/api/tracking/pool-numbers/{e164}/release")
@requires(MANAGE_TRACKING)
async def release(request: web.Request) -> web.Response:
    return await _set_state(request, "active", None)


async def _set_state(request: web.Request, state: str, reason: str | None) -> web.Response:
    number = _number_in_path(request)
    now = request.app[CLOCK]()

    async def change(db: AsyncSession) -> dict[str, Any]:
        row = await store.set_pool_number_state(db, number, state, reason, now)
        return store.pool_number_json(row, now)

    try:
        item = await write_transaction(request.app[SESSIONS], change)
    except store.NotFound:
        raise ApiError(404, "no-such-pool-number", f"{number} is in no pool", {"number": number}) from None
    except store.Conflict as exc:
        raise _conflict(exc) from None
    return json_response(item)
