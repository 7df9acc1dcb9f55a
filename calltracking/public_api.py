"""The public endpoints a clinic's website calls (no login; on the Internet):

POST /t/v1/session    {"site", "session", "url", "referrer", "ga", "ym", "consent"}
                      -> 200 {"session", "heartbeat_seconds", "numbers": {replaced: shown}}
POST /t/v1/heartbeat  {"site", "session"} -> 200 {"session", "heartbeat_seconds", "numbers"}

Bodies are JSON sent as ``application/json`` or ``text/plain`` (a browser sends the latter without a
preflight). CORS answers only the site's ``origins``: another page's request gets 403 and no CORS
headers; preflights (OPTIONS) are answered for any site's origin. Every refusal is JSON with a slug and
never a 500: 400 for unusable bodies and fields, 404 ``no-such-site`` / ``no-such-session``, 413 for
bodies over 16 KB, 429 with Retry-After per address, 503 when the database cannot answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from calltracking.lease_book import LeaseBook
from calltracking.lease_engine import (
    Answer,
    EngineLimits,
    NoSuchSession,
    NoSuchSite,
    OriginNotAllowed,
    SessionRequest,
    TooManySessions,
)
from calltracking.rate_limit import ClientAddress, RateLimiter, retry_after_header
from calltracking.site_settings import normalized_origin, site_id_problem
from calltracking.visit_source import classify, ga_client_id, ym_client_id
from kolokol.app_keys import CLOCK, SESSIONS, SETTINGS
from kolokol.http.errors import ApiError, json_body
from kolokol.http.json_response import json_response
from kolokol.storage.tables import TrackingSite

log = logging.getLogger("kolokol.tracking")
routes = web.RouteTableDef()
LEASES = web.AppKey("tracking_leases", LeaseBook)
LIMITER = web.AppKey("tracking_limiter", RateLimiter)
ADDRESSES = web.AppKey("tracking_addresses", ClientAddress)

MAX_BODY_BYTES = 16 * 1024
MAX_URL_CHARS = 8192
MAX_REFERRER_CHARS = 4096
MAX_SESSION_CHARS = 64
MAX_SITE_CHARS = 64
MAX_COOKIE_CHARS = 200
_CONTENT_TYPES = ("application/json", "text/plain", "application/octet-stream", "")
# Origin headers as sent -> as normalized ("invalid": no origin), at most this many.
MAX_KNOWN_ORIGINS = 1024
_ORIGINS: dict[str, str] = {}
_PREFLIGHT_SECONDS = "600"


class _Refused(Exception):
    def __init__(self, status: int, slug: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.slug = slug
        self.message = message
        self.details = details or {}
        self.retry_after: float | None = None
        # The site let this page ask (the refusal came after the check): the page may read the answer.
        self.page_allowed = False


@routes.post("/t/v1/session")
async def open_session(request: web.Request) -> web.Response:
    return await _answer(request, heartbeat=False)


@routes.post("/t/v1/heartbeat")
async def heartbeat(request: web.Request) -> web.Response:
    return await _answer(request, heartbeat=True)


@routes.route("OPTIONS", "/t/v1/session")
@routes.route("OPTIONS", "/t/v1/heartbeat")
async def preflight(request: web.Request) -> web.Response:
    origin = _origin(request)
    wait = _wait(request)
    if wait > 0:
        return _error(
            429, "rate-limited", "too many requests from this address; try again later", None, None, wait
        )
    if origin is None or not await _any_site_allows(request, origin):
        return _error(403, "origin-not-allowed", "this page may not ask for tracking numbers", None)
    return web.Response(
        status=204,
        headers={
            **_cors(origin),
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": _PREFLIGHT_SECONDS,
        },
    )


async def _answer(request: web.Request, *, heartbeat: bool) -> web.Response:
    origin = _origin(request)
    try:
        address = _address(request)
        wait = _wait(request, address)
        if wait > 0:
            refused = _Refused(429, "rate-limited", "too many requests from this address; try again later")
            refused.retry_after = wait
            raise refused
        body = await _body(request)
        site_id = _site(body)
        session_id = _optional_text(body, "session", MAX_SESSION_CHARS)
        now = request.app[CLOCK]()
        if heartbeat:
            answer = await _run(request.app[LEASES].heartbeat(site_id, session_id, now, origin))
        else:
            url = _optional_text(body, "url", MAX_URL_CHARS)
            referrer = _optional_text(body, "referrer", MAX_REFERRER_CHARS)
            ga = _optional_text(body, "ga", MAX_COOKIE_CHARS)
            ym = _optional_text(body, "ym", MAX_COOKIE_CHARS)
            consent = body.get("consent", True)
            if consent is None:
                consent = True
            if not isinstance(consent, bool):
                raise _Refused(400, "invalid-field", "consent must be true or false", {"field": "consent"})
            consented = consent
            visit = SessionRequest(
                site_id=site_id,
                session_id=session_id,
                # The site's origins are checked in the transaction; the page's own host is what counts here.
                visit=classify(url, referrer),
                ga_client_id=ga_client_id(ga) if consented else None,
                ym_client_id=ym_client_id(ym) if consented else None,
                consent=consented,
                address=address if consented else None,
                origin=origin,
            )
            answer = await _run(request.app[LEASES].open(visit, now))
        return _ok(answer, origin)
    except _Refused as exc:
        allowed = origin if exc.page_allowed else None
        return _error(exc.status, exc.slug, exc.message, allowed, exc.details, exc.retry_after)


def _address(request: web.Request) -> str:
    return request.app[ADDRESSES].of(request.remote, request.headers.get("X-Forwarded-For"))


def _wait(request: web.Request, address: str | None = None) -> float:
    """0 when the address may send this request, else the seconds until it may (429)."""
    now = asyncio.get_running_loop().time()
    return request.app[LIMITER].take(address or _address(request), now)


async def _run(work: Any) -> Answer:
    """The engine's answer, its refusals as HTTP ones (with CORS for an allowed page that can act on
    them: a heartbeat's 404 tells the snippet to open a new session)."""
    try:
        result: Answer = await work
        return result
    except NoSuchSite:
        raise _Refused(404, "no-such-site", "no such site; check data-site on the page") from None
    except OriginNotAllowed:
        raise _Refused(403, "origin-not-allowed", "this page is not one of the site's origins") from None
    except NoSuchSession:
        refused = _Refused(404, "no-such-session", "unknown or expired session: open a new one")
        refused.page_allowed = True
        raise refused from None
    except TooManySessions as exc:
        refused = _Refused(
            429, "too-many-sessions", "too many sessions from this address that never heartbeat"
        )
        refused.retry_after, refused.page_allowed = exc.retry_after, True
        raise refused from None
    except SQLAlchemyError:
        log.exception("tracking numbers could not be leased")
        refused = _Refused(503, "unavailable", "numbers cannot be given out just now; the page keeps its own")
        refused.retry_after = 5
        raise refused from None


def _ok(answer: Answer, origin: str | None) -> web.Response:
    # Both answers carry the same fields (a heartbeat's: the contract's "numbers" and more).
    body: dict[str, Any] = {
        "session": answer.session,
        "heartbeat_seconds": answer.heartbeat_seconds,
        "numbers": answer.numbers,
    }
    headers = {"Cache-Control": "no-store", **(_cors(origin) if origin else {})}
    return json_response(body, headers=headers)


def _error(
    status: int,
    slug: str,
    message: str,
    origin: str | None,
    details: Mapping[str, Any] | None = None,
    retry_after: float | None = None,
) -> web.Response:
    headers = {"Cache-Control": "no-store", **(_cors(origin) if origin else {})}
    if retry_after is not None:
        headers["Retry-After"] = retry_after_header(retry_after)
    body = {"error": slug, "message": message, "details": dict(details or {})}
    return json_response(body, status=status, headers=headers)


def _cors(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _origin(request: web.Request) -> str | None:
    raw = request.headers.get("Origin")
    if raw is None or raw == "null":
        return None if raw is None else "null"
    known = _ORIGINS.get(raw)
    if known is None:
        # A site's pages send a handful of origins, each in every request: each is worked out once.
        known = normalized_origin(raw) or "invalid"
        if len(_ORIGINS) >= MAX_KNOWN_ORIGINS:
            _ORIGINS.clear()
        _ORIGINS[raw] = known
    return known


async def _any_site_allows(request: web.Request, origin: str) -> bool:
    try:
        async with request.app[SESSIONS]() as db:
            for origins in await db.scalars(select(TrackingSite.origins)):
                if origin in (origins or ()):
                    return True
    except SQLAlchemyError:
        log.exception("sites could not be read for a preflight")
    return False


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        return await json_body(request, content_types=_CONTENT_TYPES, max_bytes=MAX_BODY_BYTES)
    except ApiError as exc:
        raise _Refused(exc.status, exc.slug, exc.message, exc.details) from None


def _site(body: Mapping[str, Any]) -> str:
    site = body.get("site")
    if not isinstance(site, str) or not site or len(site) > MAX_SITE_CHARS:
        raise _Refused(400, "invalid-field", "site must be the site's key (a string)", {"field": "site"})
    if site_id_problem(site) is not None:
        raise _Refused(404, "no-such-site", "no such site; check data-site on the page")
    return site


def _optional_text(body: Mapping[str, Any], key: str, most: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Refused(400, "invalid-field", f"{key} must be a string or null", {"field": key})
    if len(value) > most:
        raise _Refused(400, "invalid-field", f"{key} is longer than {most} characters", {"field": key})
    return value


async def _leases(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS].tracking
    limits = EngineLimits(
        session_idle_seconds=settings.session_idle_minutes * 60,
        unconfirmed_per_address=settings.unconfirmed_per_address,
    )
    book = LeaseBook(app[SESSIONS], limits)
    app[LEASES] = book
    yield
    await book.close()


def setup(app: web.Application) -> None:
    settings = app[SETTINGS].tracking
    app[LIMITER] = RateLimiter(settings.public_requests_per_minute)
    app[ADDRESSES] = ClientAddress(settings.trusted_proxies)
    app.cleanup_ctx.append(_leases)
    app.router.add_routes(routes)
