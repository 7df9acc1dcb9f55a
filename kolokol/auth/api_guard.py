"""Who may call an /api route: an API token (``Authorization: Bearer``) or a console login (the cookie).

Every route says which roles may call it. Requests authenticated by the cookie that change something
must also send the session's CSRF token in ``X-CSRF-Token``: a browser attaches the cookie to requests
other sites make, but only the console's own pages can read the token. Bearer requests need none,
because no browser adds an Authorization header by itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from kolokol.app_keys import CLOCK, SESSIONS
from kolokol.auth.principal import Principal
from kolokol.auth.session_cookie import (
    CSRF_HEADER,
    SAFE_METHODS,
    SESSION_COOKIE,
    csrf_matches,
    current_session,
)
from kolokol.auth.tokens import TokenRefused, find_token
from kolokol.auth.users import principal_of
from kolokol.http.errors import ApiError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PRINCIPAL = web.RequestKey("principal", Principal)


async def _from_token(request: web.Request, header: str) -> Principal:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token>")
    try:
        async with request.app[SESSIONS]() as session:
            found = await find_token(session, token.strip(), now=request.app[CLOCK]())
    except TokenRefused as refused:
        raise ApiError(401, "invalid-token", refused.message) from None
    return Principal(
        name=found.name,
        display_name=found.name,
        role=found.role,
        extensions=(),
        via="token",
        token_id=found.id,
    )


async def _from_session(request: web.Request) -> Principal:
    live = await current_session(request)
    if live is None:
        if SESSION_COOKIE in request.cookies:
            raise ApiError(401, "unauthenticated", "the login has ended; log in again")
        raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token> or log in")
    if request.method not in SAFE_METHODS and not csrf_matches(
        live.csrf_token, request.headers.get(CSRF_HEADER)
    ):
        raise ApiError(
            403, "csrf-failed", f"send the session's CSRF token in {CSRF_HEADER} (see GET /api/me)"
        )
    return principal_of(live.user, live.id)


async def authenticate(request: web.Request) -> Principal:
    """The caller; an Authorization header, when present, is the only credential looked at."""
    header = request.headers.get("Authorization")
    if header is not None:
        return await _from_token(request, header)
    return await _from_session(request)


def requires(roles: frozenset[str]) -> Callable[[Handler], Handler]:
    def wrap(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            principal = await authenticate(request)
            if principal.role not in roles:
                raise ApiError(403, "forbidden", f"role {principal.role} may not do this")
            request[PRINCIPAL] = principal
            return await handler(request)

        return guarded

    return wrap
