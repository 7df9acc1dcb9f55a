"""The publisher tells every screen when a task's patient goes on or off the line: `task.updated` with
`in_call`, to everyone, whoever's phone has the call; held a moment after the call so that its record
can close the task first."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from kolokol.feed.caller_cards import Card, CardBuilder
from kolokol.feed.publisher import LiveFeed
from kolokol.tasks.views import InCallLookup
from pbx.live import LiveCall, LiveChange
from softphone_ws.hub import FeedMessage, Hub, MessageType
from tests.support.task_calls import PATIENT, RINGING, T0, TALKING

TASK = {"id": "t1", "number": PATIENT, "status": "open"}


class Screens:
    """Every message published, and the phones that have a console (all of them)."""

    def __init__(self) -> None:
        self.hub = Hub(id_base=0)
        self.messages: list[FeedMessage] = []

    def watched(self, extensions: frozenset[str], queues: frozenset[str]) -> bool:
        return True

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

    def tasks(self) -> list[tuple[bool, Any]]:
        """(sent to everyone, in_call) of each task message."""
        return [
            (m.everyone, m.payload["task"]["in_call"]) for m in self.messages if m.type.startswith("task.")
        ]


class NoCards:
    async def build(self, call: LiveCall) -> Card:
        return {"number": call.number, "contacts": []}


class Tasks:
    """The open tasks by number, as the database would answer."""

    def __init__(self, open_numbers: set[str]) -> None:
        self.open_numbers = open_numbers
        self.lookups = 0

    async def views(self, number: str, in_call: InCallLookup) -> list[dict[str, Any]]:
        self.lookups += 1
        if number not in self.open_numbers:
            return []
        return [{**TASK, "in_call": in_call(number)}]


def feed(tasks: Tasks, hold: float = 60.0) -> tuple[LiveFeed, Screens]:
    screens = Screens()
    live = LiveFeed(
        screens,
        cast(CardBuilder, NoCards()),
        sessions=None,  # type: ignore[arg-type]
        in_call_hold_seconds=hold,
        open_task_views=tasks.views,
    )
    return live, screens


async def test_answering_shows_the_task_in_conversation_on_every_screen() -> None:
    live, screens = feed(Tasks({PATIENT}))
    live.start()
    live.calls_changed([LiveChange("call.ringing", RINGING, T0), LiveChange("call.answered", TALKING, T0)])
    await live.drain()
    assert screens.tasks() == [
        (
            True,
            {
                "call_id": RINGING.id,
                "state": "talking",
                "extensions": ["102"],
                "since": "2026-11-23T09:00:05.000Z",
            },
        )
    ]
    assert live.in_call(PATIENT) == screens.tasks()[0][1], "what /api/tasks and every task message carry"
    await live.stop()


async def test_the_end_is_held_then_released_when_the_record_has_not_closed_the_task() -> None:
    tasks = Tasks({PATIENT})
    live, screens = feed(tasks, hold=0.0)
    live.start()
    live.calls_changed([LiveChange("call.answered", TALKING, T0)])
    await live.drain()
    live.calls_changed([LiveChange("call.ended", replace(TALKING, state="ended", talking=()), T0)])
    await live.drain()
    # Released on the loop's next turn (hold 0): wait for the message, not for a time.
    async with asyncio.timeout(5):
        while len(screens.tasks()) < 2:
            await asyncio.sleep(0)
            await live.drain()
    await live.stop()
    assert [in_call for _, in_call in screens.tasks()] == [screens.tasks()[0][1], None]
    assert live.in_call(PATIENT) is None


async def test_calls_without_a_task_ask_once_per_change_of_state_and_tell_nobody() -> None:
    tasks = Tasks(set())
    live, screens = feed(tasks)
    live.start()
    live.calls_changed(
        [
            LiveChange("call.ringing", RINGING, T0),
            LiveChange("call.answered", TALKING, T0),
            LiveChange("call.updated", replace(TALKING, caller_name="Иван"), T0),
        ]
    )
    await live.drain()
    await live.stop()
    assert screens.tasks() == []
    assert tasks.lookups == 1, "ringing and an update that changes nobody on the line ask nothing"
