"""The console pages over HTTP: who may open them, what they carry, their static files."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kolokol.web.i18n import MESSAGES
from tests.support.logins import ClientMaker, Clock, add_user, log_in, start_app

PAGE_DATA = re.compile(r'<script type="application/json" id="page-data">(.*?)</script>', re.S)


def comes_back_to(location: str) -> str:
    url = urlsplit(location)
    assert url.path == "/login"
    return parse_qs(url.query)["next"][0]


def page_data(body: str) -> dict[str, Any]:
    match = PAGE_DATA.search(body)
    assert match is not None, "the page carries its data block"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


async def test_the_console_needs_a_login(db_url: str, aiohttp_client: ClientMaker) -> None:
    _, client = await start_app(db_url, aiohttp_client, Clock())
    async with client.get("/console", allow_redirects=False) as resp:
        assert resp.status == 303
        assert comes_back_to(resp.headers["Location"]) == "/console"
    async with client.get("/console/supervisor?lang=en", allow_redirects=False) as resp:
        assert resp.status == 303
        assert comes_back_to(resp.headers["Location"]) == "/console/supervisor?lang=en"


async def test_an_operator_console_carries_its_user_words_and_settings(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    app, client = await start_app(
        db_url,
        aiohttp_client,
        Clock(),
        console={"task_warning_minutes": 7},
        tasks={"sla_minutes": 20},
    )
    await add_user(app, "anna", "operator", extensions=("101", "105"), display_name="<Анна> & Co")
    csrf = await log_in(client, "anna")
    async with client.get("/console") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["Cache-Control"] == "no-store"
        body = await resp.text()
    assert '<html lang="ru">' in body
    assert f'<meta name="csrf-token" content="{csrf}">' in body
    assert f'<input type="hidden" name="csrf" value="{csrf}">' in body, "the logout form posts the token"
    assert "&lt;Анна&gt; &amp; Co" in body and "<Анна>" not in body
    assert "доб. 101, 105" in body
    assert "<script>" not in body.replace('<script type="module"', "").replace(
        '<script type="application/json"', ""
    ), "no inline scripts"
    assert " style=" not in body, "no inline styles (the CSP forbids them)"
    data = page_data(body)
    assert data["page"] == "console" and data["lang"] == "ru"
    assert data["user"] == {
        "username": "anna",
        "display_name": "<Анна> & Co",
        "role": "operator",
        "extensions": ["101", "105"],
        "supervises": False,
    }
    assert data["console"] == {
        "task_warning_minutes": 7,
        "sla_minutes": 20,
        "max_attempts": 3,
        "undo_seconds": 10,
        "click_to_call": False,
    }
    assert data["messages"] == MESSAGES["ru"]
    # Operators have the console and their calls' log: two tabs.
    assert '<a class="topnav-link" href="/console" aria-current="page">' in body
    assert '<a class="topnav-link" href="/calls">' in body and 'href="/console/supervisor"' not in body


async def test_the_language_is_picked_and_remembered(db_url: str, aiohttp_client: ClientMaker) -> None:
    app, client = await start_app(db_url, aiohttp_client, Clock())
    await add_user(app, "anna", "operator", extensions=("101",))
    await log_in(client, "anna")
    async with client.get("/console?lang=en") as resp:
        body = await resp.text()
        assert "kolokol_lang" in resp.cookies
    assert '<html lang="en">' in body and page_data(body)["messages"] == MESSAGES["en"]
    assert html.escape(MESSAGES["en"]["console.logout"]) in body
    async with client.get("/console") as resp:
        assert '<html lang="en">' in await resp.text()
    async with client.get("/console?lang=ru") as resp:
        assert '<html lang="ru">' in await resp.text()


async def test_the_supervisor_view_is_for_managers_and_admins(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    app, client = await start_app(db_url, aiohttp_client, Clock())
    await add_user(app, "anna", "operator", extensions=("101",))
    await add_user(app, "olga", "manager")
    await log_in(client, "anna")
    async with client.get("/console/supervisor") as resp:
        assert resp.status == 403
        assert resp.content_type == "text/html"
    client.session.cookie_jar.clear()
    await log_in(client, "olga")
    async with client.get("/console/supervisor") as resp:
        assert resp.status == 200
        body = await resp.text()
    data = page_data(body)
    assert data["page"] == "supervisor" and data["user"]["supervises"] is True
    assert '<a class="topnav-link" href="/console/supervisor" aria-current="page">' in body
    assert "без телефона" in body
    async with client.get("/console") as resp:
        assert resp.status == 200, "a manager may open the operator console too"


async def test_static_files_are_served_fresh_and_nothing_else(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    _, client = await start_app(db_url, aiohttp_client, Clock())
    async with client.get("/static/console.js") as resp:
        assert resp.status == 200
        assert "javascript" in resp.content_type
        assert resp.headers["Cache-Control"] == "no-cache"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    async with client.get("/static/console.css") as resp:
        assert resp.status == 200 and resp.content_type == "text/css"
    async with client.get("/static/phone.svg") as resp:
        assert resp.status == 200 and resp.content_type == "image/svg+xml"
    async with client.get("/static/%2e%2e/pages.py") as resp:
        assert resp.status in (403, 404)
    async with client.get("/static/nothing.js") as resp:
        assert resp.status == 404
    async with client.get("/favicon.ico") as resp:
        assert resp.status == 200 and resp.content_type == "image/svg+xml"
