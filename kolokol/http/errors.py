"""Errors as JSON with a stable slug: {"error": "no-such-call", "message": ..., "details": {...}}."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("kolokol.http")


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
    return web.json_response(body, status=status)


_HTTP_SLUGS = {404: "not-found", 405: "method-not-allowed", 413: "body-too-large", 400: "bad-request"}


@web.middleware
async def errors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.slug, exc.message, exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        slug = _HTTP_SLUGS.get(exc.status, "http-error")
        return error_response(exc.status, slug, exc.reason)
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(500, "internal-error", "internal error")


async def json_body(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported-media-type", "send application/json")
    try:
        body = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid-json", f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "invalid-json", "body must be a JSON object")
    return body
