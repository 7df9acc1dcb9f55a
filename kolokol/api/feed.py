"""``POST /api/feed/token``: a short-lived token to open the operator websocket feed.

Supervisors (manager, admin API tokens) get a token for everything. Operators get theirs from the
operator console once users and their phones exist (issue 4); an API token says nothing about phones.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from kolokol.api.auth import TOKEN, requires
from kolokol.app_keys import FEED, FEED_SECRET, SETTINGS
from softphone_ws import feed_tokens

SUPERVISORS = frozenset({"admin", "manager"})
routes = web.RouteTableDef()


@routes.post("/api/feed/token")
@requires(SUPERVISORS)
async def feed_token(request: web.Request) -> web.Response:
    holder = request[TOKEN]
    settings = request.app[SETTINGS].feed
    token = feed_tokens.issue(
        request.app[FEED_SECRET],
        subject=holder.name,
        role=holder.role,
        extensions=(),
        now=datetime.now(UTC),
        ttl_seconds=settings.token_ttl_seconds,
    )
    return web.json_response(
        {
            "token": token,
            "expires_in": settings.token_ttl_seconds,
            "url": f"ws://{settings.host}:{request.app[FEED].port}/?token={token}",
        }
    )
