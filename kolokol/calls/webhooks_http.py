"""``/webhooks/<provider>/...``: the thin HTTP side of the cloud PBX adapters.

The body is read raw (signatures cover the exact bytes) and capped before it is read; the adapter
verifies and parses it; the events are committed before the PBX gets its 2xx.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiohttp import web

from kolokol.app_keys import INTAKE, SESSIONS, SETTINGS, WEBHOOKS
from kolokol.calls.cloud_intake import IntakeUnavailable
from kolokol.contacts.store import contacts_by_number
from kolokol.http.errors import error_response
from pbx.webhooks.base import Rejected, WebhookRequest

log = logging.getLogger("kolokol.webhooks")


class _TooLarge(Exception):
    pass


async def _read_capped(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


async def receive(request: web.Request) -> web.StreamResponse:
    provider = request.match_info["provider"]
    adapter = request.app[WEBHOOKS].get(provider)
    if adapter is None:
        return error_response(404, "not-configured", f"no [pbx.{provider}] webhook is configured")
    limit = request.app[SETTINGS].http.webhook_max_body_bytes
    try:
        body = await _read_capped(request, limit)
    except _TooLarge:
        return error_response(413, "body-too-large", f"webhook bodies are limited to {limit} bytes")
    received_at = datetime.now(UTC)
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
    except Rejected as exc:
        log.warning(
            "webhook refused",
            extra={"provider": provider, "status": exc.status, "reason": exc.slug, "remote": request.remote},
        )
        return error_response(exc.status, exc.slug, exc.message)
    if accepted.events:
        try:
            await request.app[INTAKE].submit(provider, accepted.events, received_at)
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
