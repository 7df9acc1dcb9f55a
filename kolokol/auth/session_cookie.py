"""The login cookie: from a request to its live session (once per request), and setting or clearing it."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from aiohttp import web

from kolokol.app_keys import CLOCK, SESSIONS, SETTINGS
from kolokol.auth.sessions import LiveSession, SessionPolicy, find_session
from kolokol.settings import Settings

SESSION_COOKIE = "kolokol_session"
CSRF_HEADER = "X-CSRF-Token"
# Methods that change nothing; every other one needs the CSRF token when a cookie authenticates it.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class _Lookup:
    live: LiveSession | None


_LOOKUP = web.RequestKey("kolokol_web_session", _Lookup)


def secure_cookies(settings: Settings) -> bool:
    # Behind an HTTPS proxy aiohttp sees plain HTTP, so the configured public address decides.
    return (settings.http.public_url or "").startswith("https://")


def session_policy(app: web.Application) -> SessionPolicy:
    return SessionPolicy.from_settings(app[SETTINGS].web)


async def current_session(request: web.Request) -> LiveSession | None:
    """The request's live session, looked up (and its idle deadline slid) at most once per request."""
    cached: _Lookup | None = request.get(_LOOKUP)
    if cached is not None:
        return cached.live
    secret = request.cookies.get(SESSION_COOKIE)
    live = None
    if secret:
        # A transaction: an expired session is deleted and a live one's last_seen_at may move.
        async with request.app[SESSIONS].begin() as session:
            live = await find_session(
                session, secret, now=request.app[CLOCK](), policy=session_policy(request.app)
            )
    request[_LOOKUP] = _Lookup(live)
    return live


def resolved_session(request: web.Request) -> LiveSession | None:
    """The session `current_session` found for this request; None when it was not looked up or absent."""
    cached = request.get(_LOOKUP)
    return cached.live if cached is not None else None


def forget_session(request: web.Request) -> None:
    """After logout or login in this request: the old lookup no longer holds."""
    request[_LOOKUP] = _Lookup(None)


def csrf_matches(expected: str, given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape"))


def set_session_cookie(response: web.StreamResponse, secret: str, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        # The browser drops it when the server would refuse it anyway (the absolute end).
        max_age=settings.web.session_max_hours * 3600,
        path="/",
        httponly=True,
        secure=secure_cookies(settings),
        samesite="Lax",
    )


def clear_session_cookie(response: web.StreamResponse, settings: Settings) -> None:
    response.del_cookie(
        SESSION_COOKIE, path="/", secure=secure_cookies(settings), httponly=True, samesite="Lax"
    )
