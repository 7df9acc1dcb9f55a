"""``POST /api/feed/token``: a short-lived token to open the operator websocket feed.

A logged-in operator's token is scoped to their phones (extensions); managers and admins, logged in or
with an API token, get one for everything. An operator API token gets none: it names no phones. Every
token names the login or API token it was minted from, so the feed ends with it (kolokol.auth.feed_grants).
"""

from __future__ import annotations

import re

from aiohttp import web
from yarl import URL

from kolokol.app_keys import CLOCK, FEED, FEED_SECRET, SETTINGS
from kolokol.auth.api_guard import PRINCIPAL, requires
from kolokol.auth.feed_grants import credential_of
from kolokol.auth.roles import CONSOLE_ROLES
from kolokol.http.errors import ApiError
from kolokol.http.json_response import json_response
from softphone_ws import feed_tokens

routes = web.RouteTableDef()
_HOSTNAME = re.compile(r"[A-Za-z0-9.-]{1,253}")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]{2,45}")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.:\[\]-]{1,300}")


def _page_origin(request: web.Request) -> str | None:
    """The origin of the page asking (browsers send it on every POST), bound into the token.

    The feed then accepts a browser from exactly that page without `feed.allowed_origins`, so a console
    opened at any address of the clinic's (a LAN address, a name behind a proxy) works as installed;
    another site still cannot use a token, and could not obtain one (the request needs the login and
    its CSRF token).
    """
    origin = request.headers.get("Origin", "")
    return origin if _ORIGIN.fullmatch(origin) else None


def _browser_host(request: web.Request) -> str | None:
    """The host name the page was loaded from (its Host header), fit to put in a URL, or None."""
    try:
        host = URL.build(scheme="http", authority=request.host).raw_host
    except (ValueError, TypeError):
        return None
    if host and _HOSTNAME.fullmatch(host):
        return host
    if host and ":" in host and _IPV6.fullmatch(host):
        return f"[{host}]"
    return None


def feed_url(request: web.Request, token: str) -> str:
    """Where the browser opens the feed: the configured public address, else the page's host name."""
    settings = request.app[SETTINGS].feed
    if settings.public_url:
        return f"{settings.public_url}?token={token}"
    host = _browser_host(request) or settings.host
    try:
        port = request.app[FEED].port
    except RuntimeError as exc:
        # Stopping (or not yet started): the console retries, as with any other outage.
        raise ApiError(503, "not-ready", "the operator feed is not running") from exc
    return f"ws://{host}:{port}/?token={token}"


@routes.post("/api/feed/token")
@requires(CONSOLE_ROLES)
async def feed_token(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    if not principal.supervises and principal.via != "session":
        # An API token names no phones; the operator's own login does.
        raise ApiError(403, "forbidden", "operators get a feed token from their console login")
    settings = request.app[SETTINGS].feed
    token = feed_tokens.issue(
        request.app[FEED_SECRET],
        subject=principal.name,
        role=principal.role,
        extensions=principal.extensions,
        now=request.app[CLOCK](),
        ttl_seconds=settings.token_ttl_seconds,
        origin=_page_origin(request),
        every_call=principal.supervises,
        # The feed closes when this login or API token ends, and refuses the token from then on.
        credential=credential_of(principal),
    )
    return json_response(
        {"token": token, "expires_in": settings.token_ttl_seconds, "url": feed_url(request, token)}
    )
