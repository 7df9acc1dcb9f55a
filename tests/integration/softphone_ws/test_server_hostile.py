"""Hostile input against a real feed server: text UTF-8 cannot carry in a message, garbage frames of
every kind, and logins that end while their console is connected (issue 9, part 10)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Collection, Mapping

import pytest

from softphone_ws.close_codes import FeedClose
from softphone_ws.feed_tokens import FeedGrant
from softphone_ws.grant_check import Revocation
from softphone_ws.server import FeedServer
from tests.support.feed_server import (
    NOW,
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

REPLACEMENT = "\ufffd"


@pytest.fixture
async def server() -> AsyncIterator[FeedServer]:
    server = await make_server()
    yield server
    await server.stop()


@pytest.fixture
def feed(server: FeedServer) -> Connect:
    return client_factory(server)


# -- one bad message ---------------------------------------------------------------------------------


async def test_a_message_with_a_lone_surrogate_still_pops_and_a_resume_across_it_works(
    server: FeedServer, feed: Connect
) -> None:
    async with feed(f"?token={token()}") as client:
        await subscribe(client, extensions=["101"])
        before = ring(server, "101")
        assert (await receive(client))["id"] == before.id

    # While the console is away: a card whose stored name holds "\ud800", then an ordinary ring.
    bad = server.publish("call.ringing", NOW, ["101"], [], {"card": {"contacts": [{"name": "Анна\ud800"}]}})
    after = ring(server, "101")
    async with feed(f"?token={token()}") as client:
        await subscribe(client, extensions=["101"])
        await client.send(json.dumps({"type": "resume", "after": before.id}))
        popped = await receive(client)
        assert (popped["id"], popped["card"]["contacts"][0]["name"]) == (bad.id, f"Анна{REPLACEMENT}")
        assert (await receive(client))["id"] == after.id
        # And live: the same text on a connected console.
        live = server.publish("call.updated", NOW, ["101"], [], {"card": {"notes": "\udc00"}})
        assert (await receive(client))["id"] == live.id
        await assert_nothing_queued(client)


# -- garbage from clients ------------------------------------------------------------------------------


GARBAGE: list[tuple[str, str | bytes, bool, int]] = [
    # (what, frame, sent as text, the close code the client gets)
    ("nested 4,000 deep", "[" * 2000 + "]" * 2000, True, FeedClose.PROTOCOL_ERROR),
    # 1,200 levels in 3,600 bytes: the parser gives up on the depth before it reaches the end.
    ("objects nested deep", '{"a":[' * 600, True, FeedClose.PROTOCOL_ERROR),
    ("a 4,000-digit id", '{"type":"resume","after":' + "9" * 4000 + "}", True, FeedClose.PROTOCOL_ERROR),
    ("an infinite id", '{"type":"resume","after":1e999}', True, FeedClose.PROTOCOL_ERROR),
    (
        "a surrogate as a phone",
        '{"type":"subscribe","extensions":["\\ud800"]}',
        True,
        FeedClose.PROTOCOL_ERROR,
    ),
    ("a binary frame", b'{"type":"ping"}', False, FeedClose.PROTOCOL_ERROR),
    ("invalid UTF-8", b'{"type":"ping","x":"\xff\xfe"}', True, FeedClose.INVALID_TEXT),
    ("a surrogate as UTF-8 bytes", b'{"type":"ping","x":"\xed\xa0\x80"}', True, FeedClose.INVALID_TEXT),
    ("oversized", '{"type":"ping","x":"' + "x" * 5000 + '"}', True, FeedClose.MESSAGE_TOO_BIG),
]


@pytest.mark.parametrize(("frame", "as_text", "code"), [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
async def test_garbage_closes_only_its_own_connection_with_the_documented_code(
    server: FeedServer, feed: Connect, frame: str | bytes, as_text: bool, code: int
) -> None:
    async with feed(f"?token={token()}") as watcher, feed(f"?token={token()}") as bad:
        await subscribe(watcher, extensions=["101"])
        await subscribe(bad, extensions=["101"])
        await bad.send(frame, text=as_text)
        assert await close_code(bad) == code
        message = ring(server, "101")
        assert (await receive(watcher))["id"] == message.id
        await assert_nothing_queued(watcher)
        assert server.clients == 1


async def test_an_oversized_message_in_fragments_is_refused_like_one_frame(feed: Connect) -> None:
    async with feed(f"?token={token()}") as client:
        await client.send(['{"type":"ping","x":"', "x" * 3000, "x" * 3000, '"}'])
        assert await close_code(client) == FeedClose.MESSAGE_TOO_BIG


async def test_many_clients_sending_garbage_at_once_leave_a_subscriber_untouched(
    server: FeedServer, feed: Connect
) -> None:
    async def misbehave(frame: str | bytes, as_text: bool) -> int:
        async with feed(f"?token={token()}") as bad:
            await bad.send(frame, text=as_text)
            return await close_code(bad)

    async with feed(f"?token={token()}") as watcher:
        await subscribe(watcher, extensions=["101"])
        codes = await asyncio.gather(*(misbehave(g[1], g[2]) for g in GARBAGE * 5))
        assert codes == [g[3] for g in GARBAGE * 5]
        message = ring(server, "101")
        assert (await receive(watcher))["id"] == message.id
        assert server.clients == 1


# -- logins that end ------------------------------------------------------------------------------------


class GrantsOnFile:
    """The issuer's view of its credentials, as a test sets it: credential -> why it no longer stands."""

    def __init__(self) -> None:
        self.revoked: dict[str, Revocation] = {}
        self.failing = False
        self.asked: list[set[str | None]] = []

    async def __call__(self, grants: Collection[FeedGrant]) -> Mapping[FeedGrant, Revocation]:
        self.asked.append({g.credential for g in grants})
        if self.failing:
            raise ConnectionError("the database is away")
        return {g: self.revoked[g.credential] for g in grants if g.credential in self.revoked}


@pytest.fixture
async def checked() -> AsyncIterator[tuple[FeedServer, GrantsOnFile]]:
    grants = GrantsOnFile()
    # A long interval: the tests run the check themselves (check_grants), so nothing depends on time.
    server = await make_server(grant_check=grants, grant_check_seconds=3600)
    yield server, grants
    await server.stop()


async def test_a_token_whose_login_ended_or_changed_does_not_connect(
    checked: tuple[FeedServer, GrantsOnFile],
) -> None:
    server, grants = checked
    feed = client_factory(server)
    grants.revoked = {"anna-logged-out": "ended", "olga-now-operator": "changed"}
    async with feed(f"?token={token(credential='anna-logged-out')}") as client:
        assert await close_code(client) == FeedClose.LOGIN_ENDED
    async with feed(f"?token={token(credential='olga-now-operator')}") as client:
        assert await close_code(client) == FeedClose.GRANT_CHANGED
    async with feed(f"?token={token(credential='still-logged-in')}") as client:
        await subscribe(client, extensions=["101"])
    assert {"anna-logged-out", "olga-now-operator", "still-logged-in"} <= set().union(*grants.asked)


async def test_connected_clients_are_closed_when_their_login_ends_and_only_they(
    checked: tuple[FeedServer, GrantsOnFile],
) -> None:
    server, grants = checked
    feed = client_factory(server)
    async with (
        feed(f"?token={token(credential='anna')}") as anna,
        feed(f"?token={token(credential='anna')}") as anna_second_tab,
        feed(f"?token={token(credential='boris')}") as boris,
        feed(f"?token={token(credential='olga', role='manager', extensions=())}") as olga,
    ):
        for client in (anna, anna_second_tab, boris):
            await subscribe(client, extensions=["101"])
        await subscribe(olga, all=True)
        grants.revoked = {"anna": "ended", "olga": "changed"}
        await server.check_grants()
        assert await close_code(anna) == FeedClose.LOGIN_ENDED
        assert await close_code(anna_second_tab) == FeedClose.LOGIN_ENDED
        assert await close_code(olga) == FeedClose.GRANT_CHANGED
        message = ring(server, "101")
        assert (await receive(boris))["id"] == message.id
        assert server.clients == 1


async def test_when_the_check_fails_nobody_is_closed_or_refused(
    checked: tuple[FeedServer, GrantsOnFile],
) -> None:
    server, grants = checked
    feed = client_factory(server)
    async with feed(f"?token={token(credential='anna')}") as anna:
        await subscribe(anna, extensions=["101"])
        grants.failing = True
        grants.revoked = {"anna": "ended"}
        await server.check_grants()
        # Operators must see rings while the database is away; the next check that works decides.
        async with feed(f"?token={token(credential='boris')}") as boris:
            await subscribe(boris, extensions=["101"])
            message = ring(server, "101")
            assert (await receive(anna))["id"] == message.id
            assert (await receive(boris))["id"] == message.id
        grants.failing = False
        await server.check_grants()
        assert await close_code(anna) == FeedClose.LOGIN_ENDED


async def test_the_server_checks_by_itself_every_few_seconds() -> None:
    grants = GrantsOnFile()
    server = await make_server(grant_check=grants, grant_check_seconds=0.01)
    try:
        async with client_factory(server)(f"?token={token(credential='anna')}") as anna:
            await subscribe(anna, extensions=["101"])
            grants.revoked = {"anna": "ended"}
            # No call from the test: the periodic check alone closes it (WAIT only bounds a broken run).
            assert await close_code(anna) == FeedClose.LOGIN_ENDED
    finally:
        await server.stop()
