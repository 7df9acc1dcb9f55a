"""Live call and task changes -> operator feed messages with caller cards, in the order they happened.

The PBX side hands changes over synchronously (`calls_changed`, `tasks_changed`; never blocking the AMI
event loop or a commit); one worker builds cards (the only I/O) and publishes, so messages about a call
never overtake each other. The worker also keeps what is live right now, for `/api/live`: the console's
starting point and what it reloads after `resync`; and which patients are on the line (`in_call`), so every
screen shows their callback tasks as in conversation, whoever's phone took the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.calls.click_to_call import OriginateFailed
from kolokol.feed.caller_cards import Card, CardBuilder
from kolokol.feed.in_call import InCallBook
from kolokol.feed.live_json import live_call_json
from kolokol.phones import format_for_reading
from kolokol.storage.tables import CallbackTask
from kolokol.tasks.events import TaskChange
from kolokol.tasks.views import InCallLookup, task_json, task_views
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

    def watched(self, extensions: frozenset[str], queues: frozenset[str]) -> bool: ...


@dataclass(slots=True)
class LiveEntry:
    message_id: str
    call: LiveCall
    # None while nobody has watched the call: built when a console asks for it (`card_of`).
    card: Card | None


@dataclass(slots=True)
class _CallItem:
    change: LiveChange
    # The card this message carries, being built since the change was handed over; None for the end,
    # and when no console would receive the message (nobody watches those phones now).
    card: asyncio.Task[Card] | None


@dataclass(slots=True)
class _CardJob:
    task: asyncio.Task[Card]
    started: float


@dataclass(frozen=True, slots=True)
class _Release:
    """A call that ended after talking leaves the in-call book now."""

    number: str
    call_id: str
    at: datetime


_Item = _CallItem | list[TaskChange] | OriginateFailed | _Release
# A number's open tasks as the feed shows them, with the in-call state from the lookup.
OpenTaskViews = Callable[[str, InCallLookup], Awaitable[Sequence[Mapping[str, Any]]]]


class LiveFeed:
    def __init__(
        self,
        publisher: Publisher,
        cards: CardBuilder,
        sessions: async_sessionmaker[AsyncSession],
        *,
        card_ttl_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        in_call_hold_seconds: float = 10.0,
        open_task_views: OpenTaskViews | None = None,
    ) -> None:
        self._publisher = publisher
        self._cards = cards
        self._sessions = sessions
        # A card is rebuilt when a call rings another phone, unless it is this fresh: a ring-all to ten
        # phones is one burst of ten ring events and needs one card, not ten.
        self._card_ttl = card_ttl_seconds
        self._clock = clock
        # Our own queue rather than asyncio.Queue: the worker looks ahead in it (see _superseded).
        self._items: deque[_Item] = deque()
        self._arrived = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._worker: asyncio.Task[None] | None = None
        self._card_jobs: dict[str, _CardJob] = {}
        self._live: dict[str, LiveEntry] = {}
        self._in_call = InCallBook()
        # How long a call that ended after talking still shows its task as in conversation: longer than
        # the call's record takes to be stored (calls.settle_seconds), which closes the task.
        self._in_call_hold = in_call_hold_seconds
        self._open_task_views = open_task_views or self._stored_open_task_views
        self._releases: set[asyncio.TimerHandle] = set()

    # -- handed over by the PBX side and the database (sync, cheap) ---------------------------------

    def calls_changed(self, changes: Sequence[LiveChange]) -> None:
        for change in changes:
            self._put(_CallItem(change, self._card_for(change)))

    def tasks_changed(self, changes: Sequence[TaskChange]) -> None:
        if changes:
            self._put(list(changes))

    def originate_failed(self, failure: OriginateFailed) -> None:
        self._put(failure)

    def _put(self, item: _Item) -> None:
        self._items.append(item)
        self._idle.clear()
        self._arrived.set()

    def _card_for(self, change: LiveChange) -> asyncio.Task[Card] | None:
        """Start building the card now, so rings never wait in line behind each other's queries.

        No card when no console watches the call's phones: its queries would be work nobody sees (phones
        without a console, nights, a cloud PBX's traffic with the consoles closed). A console that opens
        meanwhile gets it from /api/live, or with the call's next message.
        """
        call = change.call
        if change.kind == "call.ended":
            self._card_jobs.pop(call.id, None)
            return None
        queues = frozenset([call.queue] if call.queue else [])
        if not self._publisher.watched(call.extensions, queues):
            return None
        job = self._card_jobs.get(call.id)
        now = self._clock()
        if job is None or (change.kind == "call.ringing" and now - job.started > self._card_ttl):
            previous = job.task if job is not None else None
            job = _CardJob(asyncio.create_task(self._card(call, previous)), now)
            self._card_jobs[call.id] = job
        return job.task

    # -- what is live now ---------------------------------------------------------------------------

    def in_call(self, number: str) -> dict[str, Any] | None:
        """Whether the patient with this number is on the line now, as task views carry it (`in_call`)."""
        return self._in_call.json_of(number)

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
                await asyncio.wait_for(self._idle.wait(), 5)
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        for handle in self._releases:
            handle.cancel()
        self._releases.clear()
        for job in self._card_jobs.values():
            job.task.cancel()
        self._card_jobs.clear()

    async def drain(self) -> None:
        """Wait until everything handed over so far is published."""
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            if not self._items:
                self._idle.set()
                self._arrived.clear()
                await self._arrived.wait()
                continue
            item = self._items.popleft()
            try:
                if isinstance(item, _CallItem):
                    if not self._superseded(item.change):
                        await self._publish_call(item)
                elif isinstance(item, OriginateFailed):
                    self._publish_originate_failure(item)
                elif isinstance(item, _Release):
                    if self._in_call.release(item.number, item.call_id):
                        await self._publish_in_call(item.number, item.at)
                else:
                    await self._publish_tasks(item)
            except Exception:
                # One bad message must not silence the feed for everyone after it.
                log.exception("live feed message not published")

    def _superseded(self, change: LiveChange) -> bool:
        """An update whose call's end is already waiting behind it tells the screens nothing new.

        Every hang-up is two: the phone's leg, then the caller's, a moment apart. Under load both are
        queued together, and every console would get a frame it discards at once.
        """
        if change.kind != "call.updated":
            return False
        return any(
            isinstance(later, _CallItem)
            and later.change.kind == "call.ended"
            and later.change.call.id == change.call.id
            for later in self._items
        )

    async def _publish_call(self, item: _CallItem) -> None:
        change = item.change
        call = change.call
        payload: dict[str, Any] = {"call": live_call_json(call)}
        card: Card | None = None
        if item.card is not None:
            # Every message but the last carries the card: a phone that joins later (a transfer, a
            # pickup) must be able to show it without asking.
            card = payload["card"] = await item.card
        message = self._publisher.publish(
            change.kind, change.at, call.extensions, [call.queue] if call.queue else [], payload
        )
        if change.kind == "call.ended":
            self._live.pop(call.id, None)
        else:
            previous = self._live.get(call.id)
            kept = card if card is not None else previous.card if previous is not None else None
            self._live[call.id] = LiveEntry(message.id, call, kept)
        booked = self._in_call.update(call if change.kind != "call.ended" else _ended(call))
        if booked.hold is not None:
            self._hold(booked.hold, call.id, change.at)
        if booked.changed is not None:
            await self._publish_in_call(booked.changed, change.at)

    def _hold(self, number: str, call_id: str, at: datetime) -> None:
        loop = asyncio.get_running_loop()

        def release() -> None:
            self._releases.discard(handle)
            self._put(_Release(number, call_id, at))

        handle = loop.call_later(self._in_call_hold, release)
        self._releases.add(handle)

    async def _publish_in_call(self, number: str, at: datetime) -> None:
        """The number's open tasks again, now that its patient went on or off the line."""
        for view in await self._open_task_views(number, self.in_call):
            self._publisher.publish("task.updated", at, (), (), {"task": view}, everyone=True)

    async def _stored_open_task_views(self, number: str, in_call: InCallLookup) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            tasks = (
                await session.scalars(
                    select(CallbackTask).where(CallbackTask.number == number, CallbackTask.status == "open")
                )
            ).all()
            return await task_views(session, [task_json(t) for t in tasks], in_call)

    async def card_of(self, entry: LiveEntry) -> Card:
        """The entry's card, built now if nobody was watching when the call rang."""
        if entry.card is None:
            entry.card = await self._card(entry.call, None)
        return entry.card

    async def _card(self, call: LiveCall, previous: asyncio.Task[Card] | None) -> Card:
        try:
            return await self._cards.build(call)
        except Exception:
            # The database is away: the ring must still pop, with what the PBX told us.
            log.exception("caller card not built", extra={"call": call.id})
            if previous is not None and previous.done() and not previous.cancelled():
                return previous.result()
            return {
                "number": call.number,
                "number_display": format_for_reading(call.number) if call.number else call.caller,
                "contacts": [],
                "contacts_total": 0,
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
            views = await task_views(session, [c.task for c in changes], self.in_call)
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


def _ended(call: LiveCall) -> LiveCall:
    # A call.ended change may carry the call's last state before the hang-up.
    return call if call.state == "ended" else replace(call, state="ended")


def utc_now() -> datetime:
    return datetime.now(UTC)
