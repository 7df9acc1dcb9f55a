"""The live feed publisher with fakes at its ports: messages in order, one card per ring burst, a ring
that still pops when the database is away, and the snapshot for /api/live."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

from kolokol.feed.caller_cards import Card, CardBuilder
from kolokol.feed.publisher import LiveFeed
from pbx.live import LiveCall, LiveChange
from softphone_ws.hub import FeedMessage, Hub, MessageType
from tests.support.waiting import eventually

AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
RINGING = LiveCall(
    pbx="asterisk",
    pbx_call_id="1.1",
    direction="inbound",
    state="ringing",
    caller="+79161234567",
    caller_name="Иван Петров",
    called="+74951110001",
    number="+79161234567",
    ringing=("101",),
    talking=(),
    rang=("101",),
    queue="reception",
    operator=None,
    answered_by=None,
    started_at=AT,
    answered_at=None,
    ended_at=None,
)


class Published:
    def __init__(self) -> None:
        self.hub = Hub(id_base=0)
        self.messages: list[FeedMessage] = []
        self.watchers: set[str] | None = None  # None: every phone has a console watching it

    def watched(self, extensions: frozenset[str], queues: frozenset[str]) -> bool:
        return self.watchers is None or not self.watchers.isdisjoint(extensions | queues)

    def publish(
        self,
        type: MessageType,
        at: datetime,
        extensions: Iterable[str],
        queues: Iterable[str],
        payload: Mapping[str, Any],
        *,
        everyone: bool = False,
    ) -> FeedMessage:
        message = self.hub.append(type, at, extensions, queues, payload, everyone=everyone)
        self.messages.append(message)
        return message


class Cards:
    def __init__(self, *, fail: bool = False) -> None:
        self.built = 0
        self.fail = fail

    async def build(self, call: LiveCall) -> Card:
        self.built += 1
        if self.fail:
            raise ConnectionError("database is away")
        return {"number": call.number, "contacts": [{"name": "Анна Петрова"}], "built": self.built}


async def no_open_tasks(_number: str, _in_call: Any) -> list[dict[str, Any]]:
    return []


def feed_with(cards: Cards, clock: list[float]) -> tuple[LiveFeed, Published]:
    published = Published()
    live = LiveFeed(
        published,
        cast(CardBuilder, cards),
        sessions=None,  # type: ignore[arg-type]
        clock=lambda: clock[0],
        open_task_views=no_open_tasks,
    )
    return live, published


async def run(live: LiveFeed, *changes: LiveChange) -> None:
    live.start()
    live.calls_changed(changes)
    await live.drain()
    await live.stop()


async def test_a_ring_burst_builds_one_card_and_every_message_but_the_last_carries_it() -> None:
    cards, clock = Cards(), [0.0]
    live, published = feed_with(cards, clock)
    both = replace(RINGING, ringing=("101", "102"), rang=("101", "102"))
    answered = replace(both, state="talking", ringing=(), talking=("102",), answered_by="102", answered_at=AT)
    ended = replace(answered, state="ended", talking=(), ended_at=AT)
    await run(
        live,
        LiveChange("call.ringing", RINGING, AT),
        LiveChange("call.ringing", both, AT),
        LiveChange("call.answered", answered, AT),
        LiveChange("call.ended", ended, AT),
    )
    assert [m.type for m in published.messages] == [
        "call.ringing",
        "call.ringing",
        "call.answered",
        "call.ended",
    ]
    assert cards.built == 1
    assert [("card" in m.payload) for m in published.messages] == [True, True, True, False]
    assert published.messages[1].extensions == {"101", "102"}
    assert published.messages[0].queues == {"reception"}
    assert live.live_calls() == [], "an ended call leaves the snapshot"


async def test_a_later_ring_refreshes_a_stale_card() -> None:
    cards, clock = Cards(), [0.0]
    live, published = feed_with(cards, clock)
    live.start()
    live.calls_changed([LiveChange("call.ringing", RINGING, AT)])
    await live.drain()
    clock[0] = 60.0  # a transfer a minute later rings 103: the patient's card may have changed meanwhile
    transferred = replace(RINGING, ringing=("103",), rang=("101", "103"))
    live.calls_changed([LiveChange("call.ringing", transferred, AT)])
    await live.drain()
    await live.stop()
    assert cards.built == 2
    assert published.messages[-1].payload["card"]["built"] == 2


async def test_the_ring_still_pops_when_the_database_is_away() -> None:
    live, published = feed_with(Cards(fail=True), [0.0])
    await run(live, LiveChange("call.ringing", RINGING, AT))
    [message] = published.messages
    card = message.payload["card"]
    assert card["incomplete"] is True
    assert card["number_display"] == "+7 916 123-45-67"
    assert card["contacts"] == []


async def test_the_snapshot_holds_live_calls_with_their_last_message_id() -> None:
    live, published = feed_with(Cards(), [0.0])
    other = replace(
        RINGING, pbx_call_id="1.2", ringing=("103",), rang=("103",), started_at=AT.replace(minute=31)
    )
    await run(live, LiveChange("call.ringing", RINGING, AT), LiveChange("call.ringing", other, AT))
    assert [e.call.pbx_call_id for e in live.live_calls()] == ["1.1", "1.2"]
    assert [e.call.pbx_call_id for e in live.live_calls(frozenset({"103"}))] == ["1.2"]
    assert live.live_calls(frozenset({"101"}))[0].message_id == published.messages[0].id


async def test_an_update_with_the_end_already_behind_it_is_not_sent() -> None:
    live, published = feed_with(Cards(), [0.0])
    hung_up = replace(RINGING, ringing=())
    await run(
        live,
        LiveChange("call.ringing", RINGING, AT),
        LiveChange("call.updated", hung_up, AT),
        LiveChange("call.ended", replace(hung_up, state="ended", ended_at=AT), AT),
    )
    assert [m.type for m in published.messages] == ["call.ringing", "call.ended"]


async def test_cards_of_different_calls_are_built_side_by_side() -> None:
    """A slow card query for one ring does not hold up the card of the next: both start at hand-over."""
    started: list[str] = []
    release = asyncio.Event()

    class SlowCards(Cards):
        async def build(self, call: LiveCall) -> Card:
            started.append(call.pbx_call_id)
            await release.wait()
            return await super().build(call)

    live, published = feed_with(SlowCards(), [0.0])
    other = replace(RINGING, pbx_call_id="1.2")
    live.start()
    live.calls_changed([LiveChange("call.ringing", RINGING, AT), LiveChange("call.ringing", other, AT)])
    # Both builds are held until release: the second can only start if it does not wait for the first.
    await eventually(lambda: len(started) == 2, "both cards being built at once")
    assert started == ["1.1", "1.2"]
    release.set()
    await live.drain()
    await live.stop()
    assert [m.payload["call"]["pbx_call_id"] for m in published.messages] == ["1.1", "1.2"]


async def test_nobody_watching_means_no_card_queries_until_a_console_asks() -> None:
    cards = Cards()
    live, published = feed_with(cards, [0.0])
    published.watchers = set()  # the consoles are closed (a night, a doctor's phone with no console)
    await run(live, LiveChange("call.ringing", RINGING, AT))
    assert cards.built == 0
    assert "card" not in published.messages[0].payload
    [entry] = live.live_calls()
    card = await live.card_of(entry)  # a console opens and loads /api/live
    assert (cards.built, card["contacts"]) == (1, [{"name": "Анна Петрова"}])
    assert await live.card_of(entry) is card, "built once"


async def test_a_console_watching_the_queue_gets_the_card() -> None:
    cards = Cards()
    live, published = feed_with(cards, [0.0])
    published.watchers = {"reception"}
    await run(live, LiveChange("call.ringing", RINGING, AT))
    assert published.messages[0].payload["card"]["built"] == 1
