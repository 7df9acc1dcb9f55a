"""Bearer tokens and roles. Every /api route says which roles may call it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from kolokol.api.errors import ApiError
from kolokol.app_keys import SESSIONS
from kolokol.db import ApiToken
from kolokol.tokens import find_token

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN = web.RequestKey("token", ApiToken)

READ_CALLS = frozenset({"admin", "manager", "marketer", "operator", "integration"})
WORK_TASKS = frozenset({"admin", "manager", "operator", "integration"})
WRITE_CONTACTS = frozenset({"admin", "manager", "operator", "integration"})


def requires(roles: frozenset[str]) -> Callable[[Handler], Handler]:
    def wrap(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token>")
            async with request.app[SESSIONS]() as session:
                found = await find_token(session, token.strip())
            if found is None:
                raise ApiError(401, "invalid-token", "the token is unknown or revoked")
            if found.role not in roles:
                raise ApiError(403, "forbidden", f"role {found.role} may not do this")
            request[TOKEN] = found
            return await handler(request)

        return guarded

    return wrap
