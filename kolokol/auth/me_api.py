"""``GET /api/me``: who the caller is, and for a console login the CSRF token its changes must carry."""

from __future__ import annotations

from aiohttp import web

from kolokol.auth.api_guard import PRINCIPAL, requires
from kolokol.auth.roles import EVERYONE
from kolokol.auth.session_cookie import resolved_session
from kolokol.calls.availability import click_to_call_ready
from kolokol.http.json_response import json_response

routes = web.RouteTableDef()


@routes.get("/api/me")
@requires(EVERYONE)
async def me(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    live = resolved_session(request) if principal.via == "session" else None
    return json_response(
        {
            "username": principal.name,
            "display_name": principal.display_name,
            "role": principal.role,
            "extensions": list(principal.extensions),
            "language": live.user.language if live is not None else None,
            "via": principal.via,
            "csrf_token": live.csrf_token if live is not None else None,
            # Click-to-call can work now (Asterisk configured and connected): the console offers it.
            "click_to_call": click_to_call_ready(request.app),
        },
        # Carries the CSRF token: no cache may keep it.
        headers={"Cache-Control": "no-store"},
    )
