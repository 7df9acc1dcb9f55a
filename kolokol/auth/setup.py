"""The login pages, the failed-login limits and /api/me."""

from __future__ import annotations

from aiohttp import web

from kolokol.app_keys import LOGIN_LIMITER, SETTINGS
from kolokol.auth import login, me_api
from kolokol.auth.login_limit import LoginLimiter


def setup(app: web.Application) -> None:
    app[LOGIN_LIMITER] = LoginLimiter(app[SETTINGS].web.login_attempts_per_minute)
    app.router.add_routes(login.routes)
    app.router.add_routes(me_api.routes)
