"""Security headers on every HTML page, including error pages raised as HTTP exceptions.

Registered inside the JSON errors middleware: an HTML error page raised by a page handler (a 403 for
the wrong role) is turned into an ordinary response here, so it reaches the browser as HTML and not as
the API's JSON error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages carry CSRF tokens and patients' names: never from a shared or back-button cache.
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_html(response: web.StreamResponse) -> bool:
    return response.headers.get("Content-Type", "").startswith("text/html")


def _as_response(exc: web.HTTPException) -> web.Response:
    response = web.Response(status=exc.status, reason=exc.reason, body=exc.body, headers=exc.headers)
    for name, morsel in exc.cookies.items():
        response.cookies[name] = morsel
    return response


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if not _is_html(exc):
            raise
        response = _as_response(exc)
    if _is_html(response) and not response.prepared:
        for name, value in PAGE_HEADERS.items():
            # A page may set its own (stricter) value.
            response.headers.setdefault(name, value)
    return response
