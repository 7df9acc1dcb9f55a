"""Errors as JSON with a stable slug: {"error": "no-such-call", "message": ..., "details": {...}}."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from kolokol.http.body import BodyRefused, ClientGone, read_body
from kolokol.http.json_response import json_response
from pbx.untrusted import Unusable, load_json

log = logging.getLogger("kolokol.http")
# REST bodies (a contact with its fields is the largest) are small; bigger ones get 413 unread.
MAX_JSON_BODY_BYTES = 1024 * 1024


class ApiError(Exception):
    def __init__(self, status: int, slug: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.slug = slug
        self.message = message
        self.details = details or {}


def error_response(
    status: int, slug: str, message: str, details: dict[str, Any] | None = None
) -> web.Response:
    body = {"error": slug, "message": message, "details": details or {}}
    return json_response(body, status=status)


_HTTP_SLUGS = {404: "not-found", 405: "method-not-allowed", 413: "body-too-large", 400: "bad-request"}


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.slug, exc.message, exc.details)
    except BodyRefused as exc:
        response = error_response(exc.status, exc.slug, exc.message)
        # The rest of that body may still be trickling in: the connection cannot carry another request.
        response.force_close()
        return response
    except ClientGone:
        # Routine on the Internet (an upload given up, a closed tab): one line, nobody to answer.
        log.info("client went away mid-request", extra={"path": request.path, "remote": request.remote})
        return error_response(400, "client-gone", "the connection was closed before the request was read")
    except HttpProcessingError as exc:
        return error_response(400, "malformed-request", f"the request cannot be read: {exc.message}")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        slug = _HTTP_SLUGS.get(exc.status, "http-error")
        return error_response(exc.status, slug, exc.reason)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(500, "internal-error", "internal error")


async def json_body(
    request: web.Request,
    *,
    content_types: tuple[str, ...] = ("application/json",),
    max_bytes: int = MAX_JSON_BODY_BYTES,
) -> dict[str, Any]:
    """The body as a JSON object: sent as one of ``content_types``, at most ``max_bytes``, nesting and
    numbers bounded, every string valid text (400 naming the field otherwise: ``details.field``)."""
    if request.content_type not in content_types:
        named = " or ".join(t for t in content_types if t)
        raise ApiError(415, "unsupported-media-type", f"send {named}")
    raw = await read_body(request, max_bytes)
    try:
        body = load_json(raw)
    except Unusable as exc:
        if exc.field is not None:
            raise ApiError(400, "invalid-field", exc.message, {"field": exc.field}) from None
        raise ApiError(400, "invalid-json", f"body is not usable JSON: {exc.message}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid-json", "body must be a JSON object")
    return body
