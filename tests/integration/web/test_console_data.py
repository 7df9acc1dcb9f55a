"""What the console reads to name people and to offer click-to-call: /api/live's directory of phones for
every console user (not only supervisors), and `click_to_call` in /api/live, /api/me and the page, true
only while kolokol is logged in to Asterisk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kolokol.app_keys import AMI
from tests.support.fake_ami import TEST_SECRET, FakeAmi
from tests.support.logins import Client, ClientMaker, Clock, add_user, log_in, start_app

WAIT = 10  # seconds: only a bound for a broken run


async def get(client: Client, path: str) -> Any:
    async with client.get(path) as resp:
        assert resp.status == 200
        return await resp.json()


async def test_every_console_user_gets_the_phones_with_their_people(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    app, client = await start_app(db_url, aiohttp_client, Clock())
    await add_user(app, "anna", "operator", extensions=("101",), display_name="Анна Смирнова")
    await add_user(app, "boris", "operator", extensions=("102", "101"), display_name="Борис Орлов")
    await add_user(app, "olga", "manager", display_name="Ольга Петровна")
    await log_in(client, "anna")
    live = await get(client, "/api/live")
    assert live["extensions"] == [
        {"extension": "101", "users": ["Анна Смирнова", "Борис Орлов"]},
        {"extension": "102", "users": ["Борис Орлов"]},
    ]
    assert live["click_to_call"] is False, "no Asterisk configured"
    assert (await get(client, "/api/me"))["click_to_call"] is False


@pytest.fixture
async def ami() -> AsyncIterator[FakeAmi]:
    server = FakeAmi()
    await server.start()
    yield server
    await server.stop()


async def test_click_to_call_is_offered_while_asterisk_is_connected(
    db_url: str, aiohttp_client: ClientMaker, ami: FakeAmi
) -> None:
    asterisk = {"port": ami.port, "username": "kolokol", "secret": TEST_SECRET}
    app, client = await start_app(db_url, aiohttp_client, Clock(), pbx={"asterisk": asterisk})
    await add_user(app, "anna", "operator", extensions=("101",))
    await log_in(client, "anna")

    async def offered() -> bool:
        me, live = await get(client, "/api/me"), await get(client, "/api/live")
        assert me["click_to_call"] == live["click_to_call"]
        return bool(me["click_to_call"])

    connection = app[AMI]
    assert connection is not None
    async with asyncio.timeout(WAIT):
        while not connection.logged_in:  # noqa: ASYNC110 - the client has no "logged in" event to wait on
            await asyncio.sleep(0.01)
    assert await offered()
    async with client.get("/console") as resp:
        assert '"click_to_call":true' in await resp.text()
    await ami.stop()
    async with asyncio.timeout(WAIT):
        while connection.logged_in:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert not await offered()
