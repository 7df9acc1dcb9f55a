"""The call log and call pages over HTTP: who may open them, what they carry, and the way to them."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kolokol.app_keys import SESSIONS, SETTINGS
from tests.support.call_log import LogCall, store_calls
from tests.support.clock import Clock
from tests.support.logins import ClientMaker, add_user, log_in, start_app

PAGE_DATA = re.compile(r'<script type="application/json" id="page-data">(.*?)</script>', re.S)


def page_data(body: str) -> dict[str, Any]:
    match = PAGE_DATA.search(body)
    assert match is not None, "the page carries its data block"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


async def test_the_call_log_needs_a_login(db_url: str, aiohttp_client: ClientMaker) -> None:
    _, client = await start_app(db_url, aiohttp_client, Clock())
    for path in ("/calls?branch=north", "/calls/abc"):
        async with client.get(path, allow_redirects=False) as resp:
            assert resp.status == 303
            location = urlsplit(resp.headers["Location"])
            assert location.path == "/login" and parse_qs(location.query)["next"] == [path]


async def test_a_manager_opens_the_log_with_the_branches_to_pick(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    app, client = await start_app(
        db_url, aiohttp_client, Clock(), calls={"branch_by_extension": {"101": "Центр"}}
    )
    await store_calls(app[SETTINGS], app[SESSIONS], [LogCall("a", branch="Север <1>")])
    await add_user(app, "olga", "manager")
    await log_in(client, "olga")
    async with client.get("/calls") as resp:
        assert resp.status == 200
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        body = await resp.text()
    assert "<script>" not in body and " style=" not in body
    assert '<a class="topnav-link" href="/calls" aria-current="page">' in body
    data = page_data(body)
    assert data["page"] == "calls"
    assert data["calllog"]["branches"] == ["Север <1>", "Центр"]
    assert data["calllog"]["timezone"] == "Europe/Moscow"
    assert data["calllog"]["listen"] == "all", "managers hear every recording"
    assert data["messages"]["calls.title"] == "Журнал звонков"
    async with client.get("/console/supervisor") as resp:
        assert '<a class="topnav-link" href="/calls">' in await resp.text(), (
            "reached from the supervisor page"
        )
    async with client.get("/calls/" + "x" * 300) as resp:
        assert resp.status == 200, "the shell is the same for any id: the API says whether the call exists"
        assert page_data(await resp.text())["call_id"] == "x" * 221


async def test_an_operator_opens_it_and_a_marketer_is_shown_their_own_page(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    app, client = await start_app(db_url, aiohttp_client, Clock())
    await add_user(app, "anna", "operator", extensions=("101",))
    await add_user(app, "mark", "marketer")
    await log_in(client, "anna")
    async with client.get("/calls/abc") as resp:
        assert resp.status == 200
        data = page_data(await resp.text())
    assert data["page"] == "call" and data["call_id"] == "abc" and data["user"]["extensions"] == ["101"]
    assert data["calllog"]["listen"] == "own", "recordings.operators_listen, for the player to offer"
    client.session.cookie_jar.clear()
    await log_in(client, "mark")
    for path in ("/calls", "/calls/abc"):
        async with client.get(path) as resp:
            assert resp.status == 403 and resp.content_type == "text/html"
            assert 'href="/marketer"' in await resp.text()
