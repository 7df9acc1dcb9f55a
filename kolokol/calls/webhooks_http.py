"""``/webhooks/<provider>/...``: the thin HTTP side of the cloud PBX adapters.

The body is read raw (signatures cover the exact bytes), capped in size and time; the adapter verifies
and parses it; whatever it accepted is checked once more against what the inbox can hold (valid text,
sizes, plausible times: 400 naming the field, nothing stored); the events are committed before the PBX
gets its 2xx.
"""

from __future__ import annotations

import logging

from aiohttp import web

from kolokol.app_keys import CLOCK, INTAKE, SESSIONS, SETTINGS, WEBHOOKS
from kolokol.calls.cloud_intake import IntakeUnavailable
from kolokol.contacts.store import contacts_by_number
from kolokol.http.body import BodyRefused, read_body
from kolokol.http.errors import error_response
from pbx.webhooks.base import Rejected, WebhookRequest, storable

log = logging.getLogger("kolokol.webhooks")


async def receive(request: web.Request) -> web.StreamResponse:
    provider = request.match_info["provider"]
    adapter = request.app[WEBHOOKS].get(provider)
    if adapter is None:
        return error_response(404, "not-configured", f"no [pbx.{provider}] webhook is configured")
    limit = request.app[SETTINGS].http.webhook_max_body_bytes
    try:
        body = await read_body(request, limit)
    except BodyRefused as exc:
        if exc.status == 413:
            return error_response(413, "body-too-large", f"webhook bodies are limited to {limit} bytes")
        raise
    # The app's clock, not the wall clock: signature windows and arrival times move with it in tests.
    received_at = request.app[CLOCK]()
    incoming = WebhookRequest(
        method=request.method,
        path=request.match_info["tail"] or "/",
        raw_query=request.rel_url.raw_query_string,
        headers={name.lower(): value for name, value in request.headers.items()},
        body=body,
        content_type=request.content_type,
        remote=request.remote,
        received_at=received_at,
    )
    try:
        accepted = adapter.handle(incoming)
        events = storable(accepted.events, received_at)
    except Rejected as exc:
        log.warning(
            "webhook refused",
            extra={"provider": provider, "status": exc.status, "reason": exc.slug, "remote": request.remote},
        )
        return error_response(exc.status, exc.slug, exc.message, {"field": exc.field} if exc.field else None)
    if events:
        try:
            await request.app[INTAKE].submit(provider, events, received_at)
        except IntakeUnavailable:
            return error_response(503, "not-stored", "the events could not be stored; deliver them again")
    reply = accepted.reply
    if accepted.lookup_number is not None:
        async with request.app[SESSIONS]() as session:
            names = [c.name for c in await contacts_by_number(session, accepted.lookup_number)]
        reply = adapter.lookup_reply(names)
    return web.Response(status=reply.status, body=reply.body, content_type=reply.content_type)


routes = web.RouteTableDef()
routes.route("*", r"/webhooks/{provider:[a-z_]+}{tail:(/.*)?}")(receive)
