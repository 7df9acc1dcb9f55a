"""Contacts: PUT/GET /api/contacts/{external_id} (upsert, read) and GET /api/contacts?phone=."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.app_keys import PHONES, SESSIONS
from kolokol.auth.api_guard import requires
from kolokol.auth.roles import READ_CALLS, WRITE_CONTACTS
from kolokol.contacts.store import ContactRejected, UpsertResult, contacts_by_number, upsert_contact
from kolokol.contacts.views import contact_json
from kolokol.http import query
from kolokol.http.errors import ApiError, json_body
from kolokol.http.json_response import json_response
from kolokol.storage.tables import Contact
from kolokol.storage.write_lock import write_transaction

routes = web.RouteTableDef()
# External ids of contacts created in kolokol itself; the CRM can adopt them with PUT.
LOCAL_ID_PREFIX = "kk-"


@routes.put("/api/contacts/{external_id}")
@requires(WRITE_CONTACTS)
async def put_contact(request: web.Request) -> web.Response:
    return await _upsert(request, request.match_info["external_id"])


@routes.post("/api/contacts")
@requires(WRITE_CONTACTS)
async def create_contact(request: web.Request) -> web.Response:
    """A new contact made in kolokol (an unknown caller on the console), not imported from a CRM."""
    return await _upsert(request, f"{LOCAL_ID_PREFIX}{uuid.uuid4().hex[:16]}")


async def _upsert(request: web.Request, external_id: str) -> web.Response:
    body = await json_body(request)
    name = body.get("name")
    phones = body.get("phones", [])
    fields = body.get("fields", {})
    if not isinstance(name, str):
        raise ApiError(400, "invalid-field", "name must be a string", {"field": "name"})
    if not isinstance(phones, list) or not all(isinstance(p, str) for p in phones):
        raise ApiError(400, "invalid-field", "phones must be a list of strings", {"field": "phones"})
    if not isinstance(fields, dict) or not all(
        isinstance(v, str | int | float | None) and not isinstance(v, bool) for v in fields.values()
    ):
        raise ApiError(
            400, "invalid-field", "fields must be an object of strings, numbers or nulls", {"field": "fields"}
        )

    async def upsert(session: AsyncSession) -> tuple[dict[str, Any], UpsertResult]:
        result = await upsert_contact(
            session,
            request.app[PHONES],
            external_id=external_id,
            name=name,
            phones=phones,
            fields={str(k): "" if v is None else str(v) for k, v in fields.items()},
        )
        return contact_json(result.contact), result

    try:
        # 20 clients creating the same contact at once: one creates it, the others update it.
        item, result = await write_transaction(request.app[SESSIONS], upsert)
    except ContactRejected as exc:
        details = {"field": exc.field} if exc.field else {}
        raise ApiError(400, "invalid-field", exc.message, details) from exc
    return json_response(
        {"contact": item, "created": result.created, "rejected_phones": list(result.rejected_phones)},
        status=201 if result.created else 200,
    )


@routes.get("/api/contacts/{external_id}")
@requires(READ_CALLS)
async def get_contact(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        contact = await session.scalar(
            select(Contact).where(Contact.external_id == request.match_info["external_id"])
        )
        if contact is None:
            raise ApiError(404, "no-such-contact", "no contact with this external id")
        return json_response(contact_json(contact))


@routes.get("/api/contacts")
@requires(READ_CALLS)
async def find_contacts(request: web.Request) -> web.Response:
    phone = query.text(request, "phone", 60)
    if not phone:
        raise ApiError(400, "invalid-parameter", "give ?phone= to search by number", {"parameter": "phone"})
    number = request.app[PHONES].e164(phone)
    if number is None:
        raise ApiError(400, "invalid-parameter", "phone is not a phone number", {"parameter": "phone"})
    async with request.app[SESSIONS]() as session:
        found = await contacts_by_number(session, number)
        return json_response({"items": [contact_json(c) for c in found]})
