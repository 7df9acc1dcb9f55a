"""Cloud PBX rings become caller cards on the operators' feed: the real app, signed webhooks in, a real
websocket client subscribed to one extension out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from kolokol.app_keys import CLOCK, FEED, FEED_SECRET, INTAKE, LIVE
from softphone_ws import feed_tokens
from tests.support.feed_clients import WAIT, everything_so_far, receive
from tests.support.providers import mango_office as mango
from tests.support.providers import megafon_vats as megafon
from tests.support.providers import zadarma
from tests.support.webhooks import ClientMaker, Hook, make_hook

CALLER = "+79161234567"


@asynccontextmanager
async def operator(hook: Hook, extension: str) -> AsyncIterator[ClientConnection]:
    """An operator's console on the feed, subscribed to its phone."""
    token = feed_tokens.issue(
        hook.app[FEED_SECRET], subject="anna", role="operator", extensions=(extension,), now=hook.app[CLOCK]()
    )
    async with connect(f"ws://127.0.0.1:{hook.app[FEED].port}/?token={token}", open_timeout=WAIT) as client:
        await client.send(json.dumps({"type": "subscribe", "extensions": [extension]}))
        assert (await receive(client))["type"] == "subscribed"
        yield client


async def told(hook: Hook, client: ClientConnection, deliver: Callable[[], Any]) -> list[dict[str, Any]]:
    """Deliver webhooks, then every feed message they caused on this console."""
    await deliver()
    await hook.app[INTAKE].settle()  # records built, their tasks handed to the feed
    await hook.app[LIVE].drain()
    return await everything_so_far(client)


def types(messages: Sequence[dict[str, Any]]) -> list[str]:
    return [m["type"] for m in messages]


async def test_mango_ring_answer_and_end_reach_the_console_of_101(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    hook = await make_hook(
        aiohttp_client, db_url, "mango_office", {"vpbx_api_key": mango.KEY, "vpbx_api_salt": mango.SALT}
    )
    await hook.add_contact("p1", "Анна Петрова", ["+7 916 123-45-67"])
    events = mango.inbound_answered()
    async with operator(hook, "101") as console:
        ring = await told(hook, console, lambda: mango.deliver(hook, events[:2]))
        assert types(ring) == ["call.ringing"]
        call, card = ring[0]["call"], ring[0]["card"]
        assert (call["id"], call["ringing"], call["caller"], call["number"]) == (
            "mango_office:MTAxOjExMQ==",
            ["101"],
            CALLER,
            CALLER,
        )
        assert [c["name"] for c in card["contacts"]] == ["Анна Петрова"]
        answer = await told(hook, console, lambda: mango.deliver(hook, events[2:4]))
        assert types(answer) == ["call.ringing", "call.answered"], "102 rang too, then 101 picked up"
        assert (answer[-1]["call"]["answered_by"], answer[-1]["call"]["talking"]) == ("101", ["101"])
        end = await told(hook, console, lambda: mango.deliver(hook, events[4:]))
        assert types(end)[-1] == "call.ended" and types(end).count("call.ended") == 1
        assert end[-1]["call"]["state"] == "ended"
    [record] = await hook.calls()
    assert record["status"] == "answered", "the record is built as before"
    assert hook.app[LIVE].live_calls() == []


async def test_zadarma_ring_answer_and_end_reach_the_console_of_101(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    hook = await make_hook(
        aiohttp_client, db_url, "zadarma", {"api_key": zadarma.KEY, "api_secret": zadarma.SECRET}
    )
    start, ring_101, ring_102, answer, end, recorded = zadarma.inbound_answered("in_live")
    async with operator(hook, "101") as console:
        assert await told(hook, console, lambda: zadarma.deliver(hook, [start])) == [], "the menu is no ring"
        ring = await told(hook, console, lambda: zadarma.deliver(hook, [ring_101]))
        assert types(ring) == ["call.ringing"]
        assert (ring[0]["call"]["id"], ring[0]["call"]["ringing"]) == ("zadarma:in_live", ["101"])
        assert ring[0]["card"]["number"] == CALLER
        answered = await told(hook, console, lambda: zadarma.deliver(hook, [ring_102, answer]))
        assert types(answered) == ["call.ringing", "call.answered"]
        assert answered[-1]["call"]["answered_by"] == "101"
        ended = await told(hook, console, lambda: zadarma.deliver(hook, [end, recorded]))
        assert types(ended) == ["call.ended"], "NOTIFY_RECORD after the end pops nothing"


async def test_megafon_closes_the_card_on_the_phone_that_lost_the_race(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    hook = await make_hook(aiohttp_client, db_url, "megafon_vats", {"crm_token": megafon.TOKEN})
    events = megafon.inbound_answered("CALL-LIVE")
    async with operator(hook, "102") as console:
        ring = await told(hook, console, lambda: megafon.deliver(hook, events[:2]))
        assert types(ring) == ["call.ringing"], "101's ring alone is not 102's business"
        assert (ring[0]["call"]["ringing"], ring[0]["call"]["queue"]) == (["101", "102"], "Регистратура")
        answered = await told(hook, console, lambda: megafon.deliver(hook, events[2:3]))
        assert types(answered) == ["call.answered"]
        assert (answered[0]["call"]["ringing"], answered[0]["call"]["answered_by"]) == ([], "101")
        rest = await told(hook, console, lambda: megafon.deliver(hook, events[3:]))
        assert types(rest)[-1] == "call.ended"


async def test_a_redelivery_tells_the_screens_nothing_new(db_url: str, aiohttp_client: ClientMaker) -> None:
    hook = await make_hook(
        aiohttp_client, db_url, "mango_office", {"vpbx_api_key": mango.KEY, "vpbx_api_salt": mango.SALT}
    )
    events = mango.inbound_answered("AGAIN")
    async with operator(hook, "101") as console:
        assert types(await told(hook, console, lambda: mango.deliver(hook, events[:2]))) == ["call.ringing"]
        assert await told(hook, console, lambda: mango.deliver(hook, events[:2])) == []


async def test_a_call_whose_final_event_never_comes_closes_at_the_sweep(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    hook = await make_hook(
        aiohttp_client, db_url, "mango_office", {"vpbx_api_key": mango.KEY, "vpbx_api_salt": mango.SALT}
    )
    async with operator(hook, "101") as console:
        ring = await told(hook, console, lambda: mango.deliver(hook, mango.inbound_missed("LOST")[:2]))
        assert types(ring) == ["call.ringing"]
        assert await told(hook, console, lambda: hook.sweep(hook.app[CLOCK]() + timedelta(hours=1))) == []
        closed = await told(hook, console, lambda: hook.sweep(hook.app[CLOCK]() + timedelta(hours=5)))
        calls = [m for m in closed if m["type"].startswith("call.")]
        assert types(calls) == ["call.ended"] and calls[0]["call"]["ringing"] == []
        assert "task.created" in types(closed), "the missed call's callback task, as before"
