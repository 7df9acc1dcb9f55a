"""What the login tests share: an app on a movable clock, users, and a browser-like login."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from kolokol.app import make_app
from kolokol.app_keys import CLOCK, SESSIONS
from kolokol.auth.users import create_user
from kolokol.settings import Settings
from kolokol.storage.tables import User
from tests.support.clock import T0, Clock
from tests.support.databases import reset_if_postgres

PASSWORD = "correct horse battery"
Client = TestClient[web.Request, web.Application]
ClientMaker = Callable[[web.Application], Awaitable[Client]]
_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


async def start_app(
    db_url: str,
    aiohttp_client: ClientMaker,
    clock: Clock,
    setup: Callable[[web.Application], None] | None = None,
    **sections: dict[str, Any],
) -> tuple[web.Application, Client]:
    await reset_if_postgres(db_url)
    config: dict[str, Any] = {"database": {"url": db_url}, "feed": {"port": 0}, **sections}
    if "feed" in sections:
        config["feed"] = {"port": 0, **sections["feed"]}
    app = make_app(Settings.model_validate(config))
    app[CLOCK] = clock
    if setup is not None:
        setup(app)
    return app, await aiohttp_client(app)


async def add_user(
    app: web.Application, username: str, role: str, *, extensions: tuple[str, ...] = (), **kw: Any
) -> User:
    return await create_user(
        app[SESSIONS],
        username=username,
        role=role,
        password=kw.pop("password", PASSWORD),
        now=T0,
        extensions=extensions,
        **kw,
    )


def form_csrf(page: str) -> str:
    match = _CSRF_FIELD.search(page)
    assert match is not None, "the login form carries a CSRF field"
    return match.group(1)


def set_cookies(headers: Any) -> dict[str, Any]:
    """Set-Cookie headers by cookie name, as parsed morsels."""
    found: dict[str, Any] = {}
    for header in headers.getall("Set-Cookie", []):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            found[name] = morsel
    return found


async def post_login(
    client: Client, username: str, password: str = PASSWORD, *, next_path: str | None = None
) -> tuple[int, str, Any]:
    """Open the login page, then submit it like a browser; returns (status, body, headers)."""
    async with client.get("/login") as page:
        csrf = form_csrf(await page.text())
    form = {"username": username, "password": password, "csrf": csrf}
    if next_path is not None:
        form["next"] = next_path
    # Sent by hand: behind an https public_url the cookie is Secure and the test client speaks plain HTTP.
    cookies = {"kolokol_login_csrf": csrf}
    async with client.post("/login", data=form, cookies=cookies, allow_redirects=False) as resp:
        return resp.status, await resp.text(), resp.headers


async def log_in(client: Client, username: str, password: str = PASSWORD) -> str:
    """Log in and return the session's CSRF token (from GET /api/me)."""
    status, _, _ = await post_login(client, username, password)
    assert status == 303
    async with client.get("/api/me") as resp:
        assert resp.status == 200
        token: str = (await resp.json())["csrf_token"]
    return token
