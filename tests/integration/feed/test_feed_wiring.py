"""The operator feed runs with the app: a supervisor's API token buys a feed token that opens it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from kolokol.app import make_app
from kolokol.app_keys import FEED, SESSIONS
from kolokol.auth.tokens import create_token
from kolokol.settings import Settings

ClientMaker = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


async def test_a_supervisor_opens_the_feed_with_a_token_from_the_api(
    tmp_path: Path, aiohttp_client: ClientMaker
) -> None:
    settings = Settings.model_validate(
        {"database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'k.sqlite3'}"}, "feed": {"port": 0}}
    )
    app = make_app(settings)
    client = await aiohttp_client(app)
    async with app[SESSIONS].begin() as session:
        manager = await create_token(session, name="Ольга", role="manager")
        operator = await create_token(session, name="Анна", role="operator")

    async with client.post("/api/feed/token", headers={"Authorization": f"Bearer {operator}"}) as resp:
        assert resp.status == 403, "an operator's feed comes with the console, scoped to their phones"
    async with client.post("/api/feed/token", headers={"Authorization": f"Bearer {manager}"}) as resp:
        assert resp.status == 200
        grant = await resp.json()
    assert grant["url"].startswith(f"ws://127.0.0.1:{app[FEED].port}/?token=")

    async with connect(grant["url"]) as feed:
        await feed.send(json.dumps({"type": "subscribe", "all": True}))
        assert json.loads(await feed.recv())["type"] == "subscribed"
    async with connect(f"ws://127.0.0.1:{app[FEED].port}/?token=forged") as feed:
        with pytest.raises(ConnectionClosed) as closed:
            await feed.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
