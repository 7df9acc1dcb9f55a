"""The marketer page over HTTP: who may open it, what it carries, and its vendored chart library."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.clock import Clock
from tests.support.logins import ClientMaker, add_user, log_in, start_app

PAGE_DATA = re.compile(r'<script type="application/json" id="page-data">(.*?)</script>', re.S)


def page_data(body: str) -> dict[str, Any]:
    match = PAGE_DATA.search(body)
    assert match is not None, "the page carries its data block"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


async def test_the_marketer_page_needs_a_login(db_url: str, aiohttp_client: ClientMaker) -> None:
    _, client = await start_app(db_url, aiohttp_client, Clock())
    async with client.get("/marketer", allow_redirects=False) as resp:
        assert resp.status == 303
        location = urlsplit(resp.headers["Location"])
        assert location.path == "/login" and parse_qs(location.query)["next"] == ["/marketer"]


async def test_a_marketer_lands_on_the_page_and_may_edit(db_url: str, aiohttp_client: ClientMaker) -> None:
    zone = {"timezone": "Asia/Yekaterinburg"}
    app, client = await start_app(db_url, aiohttp_client, Clock(), tracking=zone)
    await add_user(app, "mark", "marketer", display_name="<Марк>")
    csrf = await log_in(client, "mark")
    async with client.get("/console", allow_redirects=False) as resp:
        assert resp.status == 303, "the login's default page is the console: a marketer goes on to theirs"
        assert resp.headers["Location"] == "/marketer"
    async with client.get("/marketer") as resp:
        assert resp.status == 200
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["Cache-Control"] == "no-store"
        body = await resp.text()
    assert f'<meta name="csrf-token" content="{csrf}">' in body
    assert "&lt;Марк&gt;" in body and "<Марк>" not in body
    assert " style=" not in body, "no inline styles (the CSP forbids them)"
    assert "<script>" not in body, "no inline scripts"
    assert '<a class="brand" href="/marketer">' in body
    assert 'class="topnav"' not in body, "a marketer has one page: no tabs"
    data = page_data(body)
    assert data["page"] == "marketer"
    assert data["tracking"] == {
        "can_edit": True,
        "timezone": "Asia/Yekaterinburg",
        "target_call_seconds": 60,
        "overflow_target": 0.01,
    }
    assert data["messages"]["marketer.tab.reports"] == "Отчёты"
    # A link meant for the clinic's staff (the supervisor view) refuses them, and shows the way back.
    async with client.get("/console/supervisor") as resp:
        assert resp.status == 403
        assert 'href="/marketer"' in await resp.text()


async def test_a_manager_reads_and_an_operator_is_refused(db_url: str, aiohttp_client: ClientMaker) -> None:
    app, client = await start_app(db_url, aiohttp_client, Clock())
    await add_user(app, "olga", "manager")
    await add_user(app, "anna", "operator", extensions=("101",))
    await log_in(client, "olga")
    async with client.get("/marketer?lang=en") as resp:
        assert resp.status == 200
        body = await resp.text()
    assert page_data(body)["tracking"]["can_edit"] is False
    assert '<a class="topnav-link" href="/marketer" aria-current="page">Marketing</a>' in body
    assert '<a class="topnav-link" href="/console/supervisor">' in body
    async with client.get("/console/supervisor") as resp:
        body = await resp.text()
    assert '<a class="topnav-link" href="/marketer">' in body, "managers reach it from the console"
    client.session.cookie_jar.clear()
    await log_in(client, "anna")
    async with client.get("/marketer") as resp:
        assert resp.status == 403
        assert resp.content_type == "text/html"
    async with client.get("/console") as resp:
        assert resp.status == 200
        assert '<a class="brand" href="/console">' in await resp.text()


async def test_the_chart_library_is_served_by_kolokol(db_url: str, aiohttp_client: ClientMaker) -> None:
    _, client = await start_app(db_url, aiohttp_client, Clock())
    async with client.get("/static/vendor/uplot/uPlot.esm.js") as resp:
        assert resp.status == 200 and "javascript" in resp.content_type
        assert "export { uPlot as default }" in await resp.text()
    async with client.get("/static/vendor/uplot/uPlot.min.css") as resp:
        assert resp.status == 200 and resp.content_type == "text/css"
    async with client.get("/static/vendor/uplot/LICENSE") as resp:
        assert resp.status == 200 and "MIT License" in await resp.text()
    async with client.get("/static/marketer.js") as resp:
        assert resp.status == 200 and "javascript" in resp.content_type
