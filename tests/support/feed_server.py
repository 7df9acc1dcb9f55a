"""A FeedServer on 127.0.0.1 port 0 with real websocket clients: what the feed's protocol tests share."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from softphone_ws.feed_tokens import issue
from softphone_ws.hub import FeedMessage, Hub
from softphone_ws.server import FeedServer

SECRET = b"feed-server-test-secret"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CONSOLE_ORIGIN = "https://clinic.example"
WAIT = 10  # seconds: only a bound for a broken run, never a timing assertion

Connect = Callable[..., AbstractAsyncContextManager[ClientConnection]]


def token(
    role: str = "operator",
    extensions: tuple[str, ...] = ("101",),
    now: datetime = NOW,
    credential: str | None = None,
) -> str:
    return issue(
        SECRET,
        subject=f"{role}:1",
        role=role,
        extensions=extensions,
        now=now,
        every_call=role != "operator",
        credential=credential,
    )


async def make_server(**options: Any) -> FeedServer:
    options.setdefault("hub", Hub(id_base=0))
    server = FeedServer(
        secret=SECRET,
        host="127.0.0.1",
        port=0,
        allowed_origins=[CONSOLE_ORIGIN],
        clock=lambda: NOW + timedelta(seconds=5),
        **options,
    )
    await server.start()
    return server


def client_factory(server: FeedServer) -> Connect:
    def open_client(query: str = "", **options: Any) -> AbstractAsyncContextManager[ClientConnection]:
        return connect(f"ws://127.0.0.1:{server.port}/feed{query}", open_timeout=WAIT, **options)

    return open_client


async def receive(client: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        frame = await client.recv()
    result: dict[str, Any] = json.loads(frame)
    return result


async def subscribe(client: ClientConnection, **command: Any) -> str:
    await client.send(json.dumps({"type": "subscribe", **command}))
    ack = await receive(client)
    assert ack["type"] == "subscribed"
    last_id: str = ack["last_id"]
    return last_id


async def assert_nothing_queued(client: ClientConnection) -> None:
    # Frames arrive in the order the server queued them: a pong right after means nothing else was due.
    await client.send('{"type":"ping"}')
    assert await receive(client) == {"type": "pong"}


async def read_until_closed(client: ClientConnection) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            await client.recv()


async def close_code(client: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        await read_until_closed(client)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def ring(server: FeedServer, extension: str, queues: tuple[str, ...] = ()) -> FeedMessage:
    return server.publish("call.ringing", NOW, [extension], queues, {"call": {"rang": [extension]}})
