"""The feed protocol over real websockets: a FeedServer on 127.0.0.1 port 0 and real clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime, timedelta
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from softphone_ws.close_codes import FeedClose
from softphone_ws.feed_tokens import issue
from softphone_ws.hub import Hub
from softphone_ws.server import FeedServer
from tests.support.feed_server import (
    CONSOLE_ORIGIN,
    NOW,
    SECRET,
    WAIT,
    Connect,
    assert_nothing_queued,
    client_factory,
    close_code,
    make_server,
    receive,
    ring,
    subscribe,
    token,
)


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    server = await make_server()
    yield server
    await server.stop()


@pytest.fixture
def feed(server: FeedServer) -> Connect:
    return client_factory(server)


# -- authentication and origin ------------------------------------------------------------------------


async def test_no_token_closes_with_4401(feed: Connect) -> None:
    async with feed() as client:
        assert await close_code(client) == FeedClose.NO_TOKEN


@pytest.mark.parametrize(
    "bad", ["garbage", token()[:-3] + "xyz", issue(b"x", subject="s", role="admin", extensions=(), now=NOW)]
)
async def test_a_bad_token_closes_with_4403(feed: Connect, bad: str) -> None:
    async with feed(f"?token={bad}") as client:
        assert await close_code(client) == FeedClose.FORBIDDEN


async def test_an_expired_token_closes_with_4408(feed: Connect) -> None:
    async with feed(f"?token={token(now=NOW - timedelta(minutes=5))}") as client:
        assert await close_code(client) == FeedClose.EXPIRED_TOKEN


async def test_an_unlisted_origin_is_refused_before_the_handshake(feed: Connect) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with feed(f"?token={token()}", origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403


async def test_the_console_origin_and_no_origin_are_accepted(feed: Connect) -> None:
    for origin in [CONSOLE_ORIGIN, None]:
        async with feed(f"?token={token()}", origin=origin) as client:
            await subscribe(client, extensions=["101"])


LAN_CONSOLE = "http://192.168.1.10:8080"


def token_for_page(origin: str, *, secret: bytes = SECRET, now: datetime = NOW) -> str:
    return issue(secret, subject="op", role="operator", extensions=("101",), now=now, origin=origin)


async def test_a_page_connects_with_a_token_issued_to_it_without_configuring_its_origin(
    feed: Connect,
) -> None:
    """A console opened at whatever address the clinic uses works without listing that address."""
    async with feed(f"?token={token_for_page(LAN_CONSOLE)}", origin=LAN_CONSOLE) as client:
        await subscribe(client, extensions=["101"])


@pytest.mark.parametrize(
    "forged",
    [
        # Issued to another page, used from this one.
        token_for_page("https://evil.example"),
        # The right origin, signed with the wrong key.
        token_for_page(LAN_CONSOLE, secret=b"not the feed secret"),
    ],
)
async def test_a_token_does_not_open_the_feed_from_another_page(feed: Connect, forged: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with feed(f"?token={forged}", origin=LAN_CONSOLE):
            pass
    assert refused.value.response.status_code == 403


async def test_an_expired_token_from_its_page_still_gets_4408_so_the_page_renews_it(feed: Connect) -> None:
    old = token_for_page(LAN_CONSOLE, now=NOW - timedelta(minutes=5))
    async with feed(f"?token={old}", origin=LAN_CONSOLE) as client:
        assert await close_code(client) == FeedClose.EXPIRED_TOKEN


# -- protocol errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    ["garbage", b"\x00\x01binary", '{"type":"shout"}', '{"type":"subscribe","extensions":"101"}'],
)
async def test_protocol_errors_close_with_4400(feed: Connect, frame: str | bytes) -> None:
    async with feed(f"?token={token()}") as client:
        await client.send(frame)
        assert await close_code(client) == FeedClose.PROTOCOL_ERROR


async def test_resume_before_subscribe_is_a_protocol_error(feed: Connect) -> None:
    async with feed(f"?token={token()}") as client:
        await client.send('{"type":"resume","after":"0"}')
        assert await close_code(client) == FeedClose.PROTOCOL_ERROR


async def test_an_oversized_message_closes_with_1009(feed: Connect) -> None:
    async with feed(f"?token={token()}") as client:
        await client.send(json.dumps({"type": "ping", "padding": "x" * 5000}))
        assert await close_code(client) == FeedClose.MESSAGE_TOO_BIG


@pytest.mark.parametrize("command", [{"extensions": ["102"]}, {"extensions": ["101", "102"]}, {"all": True}])
async def test_a_forbidden_subscription_closes_with_4403(feed: Connect, command: dict[str, Any]) -> None:
    async with feed(f"?token={token(extensions=('101',))}") as client:
        await client.send(json.dumps({"type": "subscribe", **command}))
        assert await close_code(client) == FeedClose.FORBIDDEN


async def test_ping_gets_pong(feed: Connect) -> None:
    async with feed(f"?token={token()}") as client:
        await assert_nothing_queued(client)


# -- subscriptions -------------------------------------------------------------------------------------


async def test_messages_follow_the_subscription(server: FeedServer, feed: Connect) -> None:
    async with (
        feed(f"?token={token(extensions=('101',))}") as operator,
        feed(f"?token={token(role='manager', extensions=())}") as supervisor,
        feed(f"?token={token(extensions=('103',))}") as queue_member,
    ):
        await subscribe(operator, extensions=["101"])
        await subscribe(supervisor, all=True)
        await subscribe(queue_member, queues=["reception"])

        for_101 = ring(server, "101")
        for_102 = ring(server, "102", queues=("reception",))

        assert await receive(operator) == {
            "id": for_101.id,
            "type": "call.ringing",
            "at": "2026-03-02T09:30:00.000Z",
            "call": {"rang": ["101"]},
        }
        await assert_nothing_queued(operator)
        assert [(await receive(supervisor))["id"] for _ in range(2)] == [for_101.id, for_102.id]
        assert (await receive(queue_member))["id"] == for_102.id
        await assert_nothing_queued(queue_member)


# -- resume --------------------------------------------------------------------------------------------


async def test_resume_after_reconnect_gets_exactly_the_missed_messages(
    server: FeedServer, feed: Connect
) -> None:
    async with feed(f"?token={token()}") as client:
        await subscribe(client, extensions=["101"])
        seen = ring(server, "101")
        assert (await receive(client))["id"] == seen.id

    missed = [ring(server, "101"), ring(server, "102"), ring(server, "101"), ring(server, "104")]
    async with feed(f"?token={token()}") as client:
        await subscribe(client, extensions=["101"])
        await client.send(json.dumps({"type": "resume", "after": seen.id}))
        assert [(await receive(client))["id"] for _ in range(2)] == [missed[0].id, missed[2].id]
        await assert_nothing_queued(client)

        live = ring(server, "101")
        assert (await receive(client))["id"] == live.id


async def test_resume_with_nothing_missed_sends_nothing(server: FeedServer, feed: Connect) -> None:
    ring(server, "101")
    async with feed(f"?token={token()}") as client:
        last_id = await subscribe(client, extensions=["101"])
        await client.send(json.dumps({"type": "resume", "after": last_id}))
        await assert_nothing_queued(client)


@pytest.mark.parametrize("after", ["1", "999", "not-an-id"])
async def test_resume_outside_the_window_gets_resync(after: str) -> None:
    server = await make_server(hub=Hub(window=3, id_base=0))
    try:
        for _ in range(5):
            ring(server, "101")
        async with client_factory(server)(f"?token={token()}") as client:
            await subscribe(client, extensions=["101"])
            await client.send(json.dumps({"type": "resume", "after": after}))
            assert await receive(client) == {"type": "resync"}
            live = ring(server, "101")
            assert (await receive(client))["id"] == live.id
    finally:
        await server.stop()


# -- slow and dead clients, floods ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "limits",
    [
        # Frames wait in its queue once its socket pushes back: the queue overflows.
        {"send_queue": 4},
        # Frames go straight to its socket: the unsent data in the socket passes the limit.
        {"send_queue": 100_000, "max_unsent_bytes": 256 * 1024},
    ],
)
async def test_a_slow_client_is_closed_and_never_delays_the_others(limits: dict[str, int]) -> None:
    server = await make_server(**limits)
    feed = client_factory(server)
    manager = token(role="manager", extensions=())
    big_card = {"card": {"notes": "x" * 65_536}}  # big frames fill the socket buffers quickly
    try:
        # max_queue=1: the slow client's library stops reading the socket once one frame is buffered.
        async with feed(f"?token={manager}", max_queue=1) as slow, feed(f"?token={manager}") as normal:
            await subscribe(slow, all=True)
            await subscribe(normal, all=True)
            published = 0
            while server.clients == 2:
                assert published < 2_000, "the slow client was never dropped"
                message = server.publish("call.ringing", NOW, ["101"], [], big_card)
                published += 1
                assert (await receive(normal))["id"] == message.id

            # The others keep receiving, in order.
            for _ in range(3):
                message = server.publish("call.ended", NOW, ["101"], [], {})
                assert (await receive(normal))["id"] == message.id

            assert await close_code(slow) == FeedClose.TOO_SLOW
    finally:
        await server.stop()


async def test_a_client_that_stops_answering_pings_is_dropped() -> None:
    server = await make_server(ping_interval=0.05, ping_timeout=0.05, close_timeout=0.1)
    try:
        async with client_factory(server)(f"?token={token()}") as client:
            await subscribe(client, extensions=["101"])
            assert server.clients == 1
            client.transport.pause_reading()  # alive TCP, dead application: pings go unanswered
            async with asyncio.timeout(WAIT):
                # The server has no event to await for this; the client cannot observe it while paused.
                while server.clients:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            client.transport.resume_reading()
    finally:
        await server.stop()


async def test_a_flood_of_bad_connections_does_not_affect_a_subscribed_client(
    server: FeedServer, feed: Connect
) -> None:
    async def misbehave(query: str, frame: str | bytes | None) -> int:
        async with feed(query) as bad:
            if frame is not None:
                await bad.send(frame)
            return await close_code(bad)

    attempts: list[Awaitable[int]] = []
    for _ in range(20):
        attempts += [
            misbehave("", None),
            misbehave("?token=forged", None),
            misbehave(f"?token={token()}", "garbage"),
            misbehave(f"?token={token()}", '{"type":"subscribe","all":true}'),
        ]
    async with feed(f"?token={token()}") as client:
        await subscribe(client, extensions=["101"])
        codes = await asyncio.gather(*attempts)
        assert set(codes) == {FeedClose.NO_TOKEN, FeedClose.FORBIDDEN, FeedClose.PROTOCOL_ERROR}
        message = ring(server, "101")
        assert (await receive(client))["id"] == message.id
        assert server.clients == 1


async def test_stop_closes_connected_clients(server: FeedServer, feed: Connect) -> None:
    async with feed(f"?token={token()}") as client:
        await subscribe(client, extensions=["101"])
        await server.stop()
        assert await close_code(client) == 1001
