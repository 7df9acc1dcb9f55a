"""A logged-in operator's console opens the live feed for their own phones; supervisors see everything."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from kolokol.app_keys import FEED, FEED_SECRET
from softphone_ws.feed_tokens import verify
from tests.support.logins import Client, ClientMaker, Clock, add_user, log_in, start_app


async def feed_grant(client: Client, csrf: str, **headers: str) -> tuple[int, dict[str, str]]:
    async with client.post("/api/feed/token", headers={"X-CSRF-Token": csrf, **headers}) as resp:
        return resp.status, await resp.json()


async def test_an_operator_gets_a_feed_for_their_own_phones(db_url: str, aiohttp_client: ClientMaker) -> None:
    # The feed checks expiry with the real clock, so the app's clock starts at the real now.
    clock = Clock(datetime.now(UTC))
    app, client = await start_app(db_url, aiohttp_client, clock)
    await add_user(app, "anna", "operator", extensions=("101", "102"))
    csrf = await log_in(client, "anna")

    async with client.post("/api/feed/token") as resp:
        assert (resp.status, (await resp.json())["error"]) == (403, "csrf-failed")
    status, grant = await feed_grant(client, csrf)
    assert status == 200
    claims = verify(app[FEED_SECRET], grant["token"], now=clock())
    assert (claims.subject, claims.role, claims.extensions) == ("anna", "operator", ("101", "102"))
    assert grant["url"] == f"ws://127.0.0.1:{app[FEED].port}/?token={grant['token']}"

    async with connect(grant["url"]) as feed:
        await feed.send(json.dumps({"type": "subscribe", "extensions": ["101", "102"]}))
        assert json.loads(await feed.recv())["type"] == "subscribed"
    _, grant = await feed_grant(client, csrf)
    async with connect(grant["url"]) as feed:
        await feed.send(json.dumps({"type": "subscribe", "extensions": ["103"]}))
        with pytest.raises(ConnectionClosed) as closed:
            await feed.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403, "not someone else's phone"


async def test_supervisors_see_everything_and_marketers_get_no_feed(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    clock = Clock(datetime.now(UTC))
    app, client = await start_app(db_url, aiohttp_client, clock)
    await add_user(app, "olga", "manager")
    await add_user(app, "mark", "marketer")

    csrf = await log_in(client, "mark")
    status, body = await feed_grant(client, csrf)
    assert (status, body["error"]) == (403, "forbidden")

    client.session.cookie_jar.clear()
    csrf = await log_in(client, "olga")
    status, grant = await feed_grant(client, csrf)
    assert status == 200 and verify(app[FEED_SECRET], grant["token"], now=clock()).role == "manager"
    async with connect(grant["url"]) as feed:
        await feed.send(json.dumps({"type": "subscribe", "all": True}))
        assert json.loads(await feed.recv())["type"] == "subscribed"


async def test_the_feed_address_is_the_one_the_browser_can_reach(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    clock = Clock(datetime.now(UTC))
    app, client = await start_app(db_url, aiohttp_client, clock)
    await add_user(app, "olga", "manager")
    csrf = await log_in(client, "olga")
    port = app[FEED].port
    for host, expected in (
        ("kolokol.clinic:8080", f"ws://kolokol.clinic:{port}/"),
        ("[fd00::5]:8080", f"ws://[fd00::5]:{port}/"),
        ("evil.example/<x>", f"ws://127.0.0.1:{port}/"),
    ):
        _, grant = await feed_grant(client, csrf, Host=host)
        assert grant["url"] == f"{expected}?token={grant['token']}"


async def test_a_configured_public_feed_address_wins(db_url: str, aiohttp_client: ClientMaker) -> None:
    app, client = await start_app(
        db_url, aiohttp_client, Clock(datetime.now(UTC)), feed={"public_url": "wss://kolokol.clinic/feed"}
    )
    await add_user(app, "olga", "manager")
    _, grant = await feed_grant(client, await log_in(client, "olga"))
    assert grant["url"] == f"wss://kolokol.clinic/feed?token={grant['token']}"
