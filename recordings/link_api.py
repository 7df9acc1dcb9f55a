"""Signed links for the CRM: POST /api/recordings/{id}/link makes one, GET /r/{id}/{expires}/{sig} plays it.

A link needs no login until it expires; each use is audited as ``via: "link"``, and making one is
audited too (``action: "link"``, who made it), so admins see both who shared a recording and when the
shared link was listened to.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.app_keys import CLOCK, SESSIONS, SETTINGS
from kolokol.auth.api_guard import PRINCIPAL, requires
from kolokol.http.errors import ApiError, json_body
from kolokol.http.json_response import json_response
from kolokol.settings import Settings
from kolokol.times import iso
from recordings import audit, links, serving
from recordings.shared_secret import shared_secret

routes = web.RouteTableDef()
MAKE_LINKS = frozenset({"admin", "manager", "integration"})
SECRET_NAME = "recording_links"  # noqa: S105 (the row's name, not a secret)


class LinkKey:
    """The signing key: ``recordings.link_secret``, else the shared database secret (read once)."""

    def __init__(self, settings: Settings) -> None:
        configured = settings.recordings.link_secret
        self._key = configured.get_secret_value().encode() if configured is not None else None
        self._lock = asyncio.Lock()

    async def get(self, sessions: async_sessionmaker[AsyncSession], now: datetime) -> bytes:
        if self._key is None:
            async with self._lock:
                if self._key is None:
                    self._key = (await shared_secret(sessions, SECRET_NAME, now=now)).encode()
        return self._key


LINK_KEY = web.AppKey("recording_link_key", LinkKey)


async def _requested_ttl(request: web.Request) -> int | None:
    if not request.body_exists:
        return None
    body = await json_body(request)
    ttl = body.get("ttl_seconds")
    if ttl is None:
        return None
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1:
        raise ApiError(
            400,
            "invalid-field",
            "ttl_seconds must be a whole number of seconds, at least 1",
            {"field": "ttl_seconds"},
        )
    return ttl


@routes.post("/api/recordings/{recording_id}/link")
@requires(MAKE_LINKS)
async def make_link(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    settings = request.app[SETTINGS]
    ttl = links.effective_ttl(await _requested_ttl(request), settings.recordings.link_ttl_seconds)
    async with request.app[SESSIONS]() as session:
        recording = await serving.find(session, request.match_info["recording_id"])
    if recording.status != "pending":
        # A pending recording may be linked: the link plays once it is ready (a CRM links it at once).
        serving.require_playable(recording)
    now = request.app[CLOCK]()
    link = links.sign(
        await request.app[LINK_KEY].get(request.app[SESSIONS], now), recording.id, now=now, ttl_seconds=ttl
    )
    access = audit.describe(
        request,
        recording_id=recording.id,
        call_id=recording.call_id,
        who=principal.name,
        role=principal.role,
        via=principal.via,
        action="link",
    )
    await audit.record(request.app, access, range_start=None, now=now)
    public = settings.http.public_url
    url = public.rstrip("/") + link.path if public else link.path
    return json_response({"url": url, "expires_at": iso(link.expires_at)}, status=201)


@routes.get(links.PREFIX + "{recording_id}/{expires}/{signature}")
async def follow_link(request: web.Request) -> web.StreamResponse:
    now = request.app[CLOCK]()
    info = request.match_info
    key = await request.app[LINK_KEY].get(request.app[SESSIONS], now)
    state = links.check(key, info["recording_id"], info["expires"], info["signature"], now=now)
    if state is links.LinkState.EXPIRED:
        raise ApiError(403, "link-expired", "this link has expired; ask for a new one")
    if state is links.LinkState.INVALID:
        raise ApiError(403, "link-invalid", "this is not a valid recording link")
    async with request.app[SESSIONS]() as session:
        recording = await serving.find(session, info["recording_id"])
    download = serving.wants_download(request)
    listener = serving.Listener(who="link", role=None, via="link")
    return await serving.serve(request, recording, listener, download=download)
