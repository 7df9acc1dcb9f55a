"""Live call and task changes -> operator feed messages with caller cards, in the order they happened.

The PBX side hands changes over synchronously (`calls_changed`, `tasks_changed`; never blocking the AMI
event loop or a commit); one worker builds cards (the only I/O) and publishes, so messages about a call
never overtake each other. The worker also keeps what is live right now, for `/api/live`: the console's
starting point and what it reloads after `resync`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.call_json import live_call_json
from kolokol.caller_cards import Card, CardBuilder, task_views
from kolokol.phones import format_for_reading
from pbx.live import LiveCall, LiveChange
from softphone_ws.hub import FeedMessage, MessageType

log = logging.getLogger("kolokol.live")


class Publisher(Protocol):
    def publish(
        self,
        type: MessageType,
        at: datetime,
        extensions: Iterable[str],
        queues: Iterable[str],
        payload: Mapping[str, Any],
        *,
        everyone: bool = False,
    ) -> FeedMessage: ...


@dataclass(frozen=True, slots=True)
class TaskChange:
    """A callback task as committed (`task_json`): `created` for a new one, else an update."""

    task: Mapping[str, Any]
    created: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class OriginateFailed:
    extension: str
    number: str
    reason: str
    at: datetime


@dataclass(slots=True)
class LiveEntry:
    message_id: str
    call: LiveCall
    card: Card
    card_built: float


_Item = LiveChange | list[TaskChange] | OriginateFailed


class LiveFeed:
    def __init__(
        self,
        publisher: Publisher,
        cards: CardBuilder,
        sessions: async_sessionmaker[AsyncSession],
        *,
        card_ttl_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._publisher = publisher
        self._cards = cards
        self._sessions = sessions
        # A card is rebuilt when a call rings another phone, unless it is this fresh: a ring-all to ten
        # phones is one burst of ten ring events and needs one card, not ten.
        self._card_ttl = card_ttl_seconds
        self._clock = clock
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._live: dict[str, LiveEntry] = {}

    # -- handed over by the PBX side and the database (sync, cheap) ---------------------------------

    def calls_changed(self, changes: Sequence[LiveChange]) -> None:
        for change in changes:
            self._queue.put_nowait(change)

    def tasks_changed(self, changes: Sequence[TaskChange]) -> None:
        if changes:
            self._queue.put_nowait(list(changes))

    def originate_failed(self, failure: OriginateFailed) -> None:
        self._queue.put_nowait(failure)

    # -- what is live now ---------------------------------------------------------------------------

    def live_calls(self, extensions: frozenset[str] | None = None) -> list[LiveEntry]:
        """Calls in progress, oldest first; only those involving `extensions` when given."""
        entries = [
            e
            for e in self._live.values()
            if extensions is None or not extensions.isdisjoint(e.call.extensions)
        ]
        return sorted(entries, key=lambda e: (e.call.started_at, e.call.id))

    # -- the worker -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="kolokol-live-feed")

    async def stop(self) -> None:
        if self._worker is not None:
            # Publish what was handed over (the last hang-ups before a shutdown) while the database is
            # still there; cancelling in the middle of a card's query would leave it to a dead loop.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), 5)
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def drain(self) -> None:
        """Wait until everything handed over so far is published."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if isinstance(item, LiveChange):
                    await self._publish_call(item)
                elif isinstance(item, OriginateFailed):
                    self._publish_originate_failure(item)
                else:
                    await self._publish_tasks(item)
            except Exception:
                # One bad message must not silence the feed for everyone after it.
                log.exception("live feed message not published")
            finally:
                self._queue.task_done()

    async def _publish_call(self, change: LiveChange) -> None:
        call = change.call
        entry = self._live.get(call.id)
        payload: dict[str, Any] = {"call": live_call_json(call)}
        card: Card | None = None
        if change.kind != "call.ended":
            stale = entry is None or (
                change.kind == "call.ringing" and self._clock() - entry.card_built > self._card_ttl
            )
            if stale:
                card = await self._card(call, entry)
            else:
                assert entry is not None
                card = entry.card
            # Every message but the last carries the card: a phone that joins later (a transfer, a
            # pickup) must be able to show it without asking.
            payload["card"] = card
        message = self._publisher.publish(
            change.kind, change.at, call.extensions, [call.queue] if call.queue else [], payload
        )
        if card is None:
            self._live.pop(call.id, None)
        elif entry is not None and entry.card is card:
            entry.message_id, entry.call = message.id, call
        else:
            self._live[call.id] = LiveEntry(message.id, call, card, self._clock())

    async def _card(self, call: LiveCall, previous: LiveEntry | None) -> Card:
        try:
            return await self._cards.build(call)
        except Exception:
            # The database is away: the ring must still pop, with what the PBX told us.
            log.exception("caller card not built", extra={"call": call.id})
            if previous is not None:
                return previous.card
            return {
                "number": call.number,
                "number_display": format_for_reading(call.number) if call.number else call.caller,
                "contacts": [],
                "first_time_caller": None,
                "earlier_calls": None,
                "last_call": None,
                "open_tasks": [],
                "line": None,
                "source": None,
                "incomplete": True,
            }

    async def _publish_tasks(self, changes: list[TaskChange]) -> None:
        async with self._sessions() as session:
            views = await task_views(session, [c.task for c in changes])
        for change, view in zip(changes, views, strict=True):
            kind: MessageType = "task.created" if change.created else "task.updated"
            self._publisher.publish(kind, change.at, (), (), {"task": view}, everyone=True)

    def _publish_originate_failure(self, failure: OriginateFailed) -> None:
        payload = {
            "extension": failure.extension,
            "number": failure.number,
            "number_display": format_for_reading(failure.number),
            "reason": failure.reason,
        }
        self._publisher.publish("originate.failed", failure.at, [failure.extension], [], payload)


def utc_now() -> datetime:
    return datetime.now(UTC)
