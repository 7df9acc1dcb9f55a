"""Cloud PBX events: into the inbox, then into call records.

Two steps, both run by one writer task so the database sees one writer per node:

1. **Store** (on the request's path). A webhook is answered only after its events are committed to the
   inbox (a 2xx means "stored"); the writer commits whatever requests are waiting in one transaction
   (group commit): two statements and a commit, however many requests (the statements are in
   ``kolokol.calls.cloud_inbox``). A duplicate delivery has the same
   dedupe key and changes nothing. The same transaction moves each touched call along (``cloud_calls``)
   and marks it ``pending`` when its record must be (re)built.
2. **Build** (between store batches, never starving them). Each pending call is rebuilt by its adapter
   from all of its stored events, so the record depends on the set of events and never on the order
   they came in, and goes through the call pipeline (contacts, first-time caller, callback tasks) like an
   Asterisk call. Events that arrive after the record was made rebuild it. Pending marks live in the
   database, so a restart picks up what was stored but not built.

Calls whose final event never comes are closed by a sweep after ``calls.stale_after_seconds`` and marked
``closed_by_timeout``; a late final event still corrects them.

With ``on_live``, each committed batch also tells the operators' screens how its calls changed
(``pbx.webhooks.live_calls``: from memory, without a database read on the request's path). After a start,
the calls still in progress are read back from the inbox first (``kolokol.calls.cloud_restore``), before
any new event is stored, so the screens show them as before and their next event updates them; calls
that ended shortly before are remembered as ended, so a late event of one does not show it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from kolokol.calls.cloud_inbox import PendingCall, clear_pending, events_of, pending_calls, store_events
from kolokol.calls.cloud_restore import open_calls_events, recently_ended
from kolokol.calls.pipeline import CallPipeline
from kolokol.storage.batches import each_alone_on_failure
from kolokol.storage.tables import CloudCall
from kolokol.storage.thread_sessions import ThreadSessions, bound_dialect
from kolokol.storage.write_lock import again_if_lost
from pbx.call_record import PbxCallRecord
from pbx.live import LiveChange
from pbx.webhooks.base import CloudEvent, WebhookAdapter
from pbx.webhooks.live_calls import Fresh, LiveCalls

log = logging.getLogger("kolokol.webhooks")
T = TypeVar("T")
# Building runs in the gaps between store batches, but at least this often under a steady stream.
_BUILD_AT_LEAST_EVERY = 0.25
# While webhooks keep coming, a build round that holds the writer (SQLite) should last about this long
# at most: webhooks arriving meanwhile wait for it. The round's size follows how long rounds take.
_BUILD_STALL = 0.010
_TRAFFIC_RECENT = 1.0


class IntakeUnavailable(RuntimeError):
    """The events could not be stored; the PBX should deliver them again."""


@dataclass(slots=True)
class _Submission:
    provider: str
    events: Sequence[CloudEvent]
    received_at: datetime
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass(slots=True)
class _Sweep:
    now: datetime
    done: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class WebhookIntake:
    def __init__(
        self,
        adapters: dict[str, WebhookAdapter],
        sessions: async_sessionmaker[AsyncSession],
        pipeline: CallPipeline,
        *,
        stale_after: timedelta,
        sweep_seconds: float = 30.0,
        max_batch: int = 500,
        build_batch: tuple[int, int] = (1, 200),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_live: Callable[[Sequence[LiveChange]], None] | None = None,
        max_live_calls: int = 10_000,
    ) -> None:
        self._adapters = adapters
        self._sessions = sessions
        self._pipeline = pipeline
        self._stale_after = stale_after
        self._sweep_seconds = sweep_seconds
        self._max_batch = max_batch
        # Builds on SQLite hold the writer, so webhooks wait behind them: while webhooks come, a round is
        # as big as fits in _BUILD_STALL; otherwise (a backlog after a burst, builds beside the stores on
        # PostgreSQL) the size doubles while the backlog lasts, so records catch up, and halves when it
        # is gone.
        self._build_min, self._build_max = build_batch
        self._build_batch = max(self._build_min, min(8, self._build_max))
        self._last_store = 0.0
        self._clock = clock
        self._queue: asyncio.Queue[_Submission | _Sweep] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        # Stores and builds run whole in threads (one hop per transaction) where the database allows:
        # one thread on SQLite (one writer at a time), a thread and connection each on PostgreSQL.
        self._stores: ThreadSessions | None = None
        self._builds: ThreadSessions | None = None
        # Set while calls may be waiting to be built; set at first to pick up work left by a restart.
        self._build_wanted = asyncio.Event()
        self._build_wanted.set()
        self._building = False
        # The writer waits for work (the live calls restored, everything handed over stored).
        self._writer_waiting = False
        self._last_build = 0.0
        self._idle = asyncio.Event()
        # Called (synchronously, so it must be cheap) with the live changes of each committed batch.
        self._on_live = on_live
        self._live = (
            LiveCalls(adapters, stale_after=stale_after, max_calls=max_live_calls) if on_live else None
        )
        self._max_live_calls = max_live_calls
        self.events_stored = 0
        self.duplicates = 0
        self.calls_recorded = 0

    # ---- the public side ----------------------------------------------------------------------

    async def submit(self, provider: str, events: Sequence[CloudEvent], received_at: datetime) -> None:
        """Store the events of one request; returns once they are committed."""
        if not self._tasks:
            raise IntakeUnavailable("the webhook intake is not running")
        submission = _Submission(provider, events, received_at)
        self._enqueue(submission)
        await asyncio.shield(submission.done)

    async def sweep(self, now: datetime | None = None) -> int:
        """Close calls whose final event is overdue; returns how many were closed."""
        job = _Sweep(now or self._clock())
        self._enqueue(job)
        return await asyncio.shield(job.done)

    async def settle(self) -> None:
        """Wait until everything handed over is stored and every pending call is built."""
        await self._idle.wait()

    def start(self) -> None:
        tasks = [self._write_forever(), self._sweep_forever()]
        if bound_dialect(self._sessions) == "postgresql":
            # PostgreSQL takes writers side by side: builds get a connection (and a thread) of their
            # own, so webhooks are never answered late because a build was under way; a store there is
            # one statement (``_store_in_one_statement``), which commits on its own.
            self._stores = ThreadSessions.open(self._sessions, "kolokol-webhook-store", autocommit=True)
            self._builds = ThreadSessions.open(self._sessions, "kolokol-webhook-build")
            tasks.append(self._build_forever())
        else:
            # SQLite has one writer at a time: stores and builds share a thread, builds between stores.
            self._stores = self._builds = ThreadSessions.open(self._sessions, "kolokol-webhook-writer")
        self._tasks = [asyncio.create_task(task) for task in tasks]

    @property
    def _builds_apart(self) -> bool:
        return self._builds is not self._stores

    async def stop(self) -> None:
        """Store and build what was handed over, then stop."""
        if not self._tasks:
            return
        writer, sweeper, *builder = self._tasks
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        try:
            await asyncio.wait_for(self.settle(), timeout=15)
        except TimeoutError:
            # The database is away: what is stored stays pending and is built after the next start.
            log.warning("stopping with webhook work unfinished")
        for task in (writer, *builder):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for threads in {id(t): t for t in (self._stores, self._builds) if t is not None}.values():
            await asyncio.to_thread(threads.close)
        self._stores = self._builds = None

    def _enqueue(self, job: _Submission | _Sweep) -> None:
        self._idle.clear()
        self._queue.put_nowait(job)

    # ---- the writer ---------------------------------------------------------------------------

    async def _write_forever(self) -> None:
        await self._restore_live()
        while True:
            overdue = time.monotonic() - self._last_build > _BUILD_AT_LEAST_EVERY
            wanted = self._build_wanted.is_set() and not self._builds_apart
            if wanted and (self._queue.empty() or overdue):
                await self._build_round()
                continue
            self._writer_waiting = True
            self._check_idle()
            job = await self._queue.get()
            self._writer_waiting = False
            if isinstance(job, _Sweep):
                await self._run_sweep(job)
                continue
            batch = [job]
            sweep: _Sweep | None = None
            while len(batch) < self._max_batch and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if isinstance(nxt, _Sweep):
                    sweep = nxt  # rare: it runs right after this batch, in its own transaction
                    break
                batch.append(nxt)
            await self._store_batch(batch)
            if sweep is not None:
                await self._run_sweep(sweep)

    async def _store_batch(self, batch: list[_Submission]) -> None:
        async def store(submissions: Sequence[_Submission]) -> None:
            fresh = await self._store(submissions)
            for one in submissions:
                _settle(one.done, None)
            self._tell_live(fresh, self._clock())

        def refuse(submission: _Submission, exc: Exception) -> None:
            log.error(
                "webhook events not stored",
                exc_info=exc,
                extra={"provider": submission.provider},
            )
            _settle(submission.done, IntakeUnavailable(str(exc)))

        await each_alone_on_failure(batch, store, refuse)

    async def _store(self, batch: Sequence[_Submission]) -> Fresh:
        stores = self._stores
        if stores is not None:
            fresh, to_build = await stores.run(lambda session: store_events(session, batch))
        else:
            async with self._sessions.begin() as session:
                fresh, to_build = await session.run_sync(store_events, batch)
        self._last_store = time.monotonic()
        stored = sum(len(pairs) for pairs in fresh.values())
        self.events_stored += stored
        self.duplicates += sum(len(s.events) for s in batch) - stored
        if to_build:
            self._want_build()
        return fresh

    def _want_build(self) -> None:
        self._idle.clear()
        self._build_wanted.set()

    def _check_idle(self) -> None:
        waiting = self._writer_waiting and self._queue.empty()
        if waiting and not self._build_wanted.is_set() and not self._building:
            self._idle.set()

    def _tell_live(self, fresh: Fresh, now: datetime) -> None:
        """Hand over how a committed batch changed its calls, and close stale ones; never stops the writer."""
        if self._live is None or self._on_live is None:
            return
        try:
            changes = self._live.add(fresh) + self._live.expire(now)
            if changes:
                self._on_live(changes)
        except Exception:
            log.exception("live call changes not handed over")

    async def _restore_live(self) -> None:
        """The calls in progress when kolokol stopped, back on the screens from their stored events; the
        calls that ended shortly before, remembered as ended (a late event of one pops no card)."""
        if self._live is None or self._on_live is None:
            return
        since = self._clock() - self._stale_after
        try:
            async with self._sessions() as session:
                stored = await open_calls_events(
                    session, self._adapters, heard_since=since, limit=self._max_live_calls
                )
                ended = await recently_ended(
                    session, self._adapters, heard_since=since, limit=self._live.max_ended
                )
            self._live.remember_ended(ended)
            changes = self._live.restore(stored)
        except Exception:
            # The database is away: those calls show again with their next event, as a new call each.
            log.exception("cloud calls in progress not restored")
            return
        if stored:
            log.info("cloud calls in progress restored", extra={"calls": len(stored)})
        if changes:
            self._on_live(changes)

    # ---- building records -----------------------------------------------------------------------

    async def _build_forever(self) -> None:
        """Builds beside the stores (PostgreSQL): round after round while calls wait to be built."""
        while True:
            await self._build_wanted.wait()
            self._building = True
            try:
                await self._build_round()
            finally:
                self._building = False
            self._check_idle()

    async def _build_round(self) -> None:
        """Build the oldest pending calls; asks for another round while more may be waiting."""
        self._build_wanted.clear()
        started = self._last_build = time.monotonic()
        size = self._build_batch
        try:
            try:
                # The usual round: one transaction finds the pending calls and records them.
                pending, records = await self._in_transaction(lambda session: self._build_next(session, size))
                self._recorded(records)
            except Exception:
                # A call that cannot be built, or the database is away: the calls one by one (below).
                providers = list(self._adapters)
                pending = await self._in_transaction(lambda session: pending_calls(session, providers, size))
                await self._build_calls(pending)
        except Exception:
            # The database is away: the calls stay pending and are built on a later round.
            log.exception("cloud calls not built")
            self._build_wanted.set()
            await asyncio.sleep(1.0)
            return
        finished = time.monotonic()
        more = len(pending) >= size
        if more:
            self._build_wanted.set()
        held_up_webhooks = not self._builds_apart and finished - self._last_store < _TRAFFIC_RECENT
        if held_up_webhooks and finished - started > _BUILD_STALL:
            self._build_batch = max(self._build_min, size // 2)
        elif more:
            self._build_batch = min(self._build_max, size * 2)
        else:
            self._build_batch = max(self._build_min, size // 2)

    def _recorded(self, records: Sequence[PbxCallRecord]) -> None:
        self.calls_recorded += len(records)
        for record in records:
            log.info(
                "cloud call recorded",
                extra={
                    "pbx": record.pbx,
                    "pbx_call_id": record.pbx_call_id,
                    "status": record.status,
                    "closed_by_timeout": record.closed_by_timeout,
                },
            )

    async def _build_calls(self, calls: Sequence[PendingCall]) -> None:
        async def build(some: Sequence[PendingCall]) -> None:
            self._recorded(await self._in_transaction(lambda session: self._build(session, some)))

        async def leave(call: PendingCall, exc: Exception) -> None:
            # Its events stay in the inbox; the call is rebuilt when the next event for it arrives.
            log.error(
                "cloud call not built",
                exc_info=exc,
                extra={"pbx": call.provider, "pbx_call_id": call.call_id},
            )
            await self._in_transaction(lambda session: clear_pending(session, [call], built=set()))

        await each_alone_on_failure(calls, build, leave)

    async def _in_transaction(self, work: Callable[[Session], T]) -> T:
        """A build transaction: whole in the build thread (one hop, ``kolokol.storage.thread_sessions``)
        when the database allows one, and run again if another writer (Asterisk, another node) opened a
        callback task for one of its numbers meanwhile (``kolokol.storage.write_lock``)."""
        threads = self._builds
        if threads is not None:
            return await again_if_lost(lambda: threads.run(work))
        return await self._pipeline.transaction(lambda session: session.run_sync(work))

    def _build_next(self, session: Session, size: int) -> tuple[list[PendingCall], list[PbxCallRecord]]:
        pending = pending_calls(session, list(self._adapters), size)
        return pending, self._build(session, pending) if pending else []

    def _build(self, session: Session, calls: Sequence[PendingCall]) -> list[PbxCallRecord]:
        built = self._assemble(session, calls)
        records = sorted(built.values(), key=lambda r: r.ended_at)
        self._pipeline.record_sync(session, records)
        # Last, just before the commit: the marks' rows stay locked only that long, and a webhook for
        # one of these calls (stored beside the build, on PostgreSQL) waits for no more than that.
        clear_pending(session, calls, set(built))
        return records

    def _assemble(
        self, session: Session, calls: Sequence[PendingCall]
    ) -> dict[tuple[str, str], PbxCallRecord]:
        """Each call rebuilt from all of its stored events (a call not complete yet is left out)."""
        events = events_of(session, calls)
        records: dict[tuple[str, str], PbxCallRecord] = {}
        for call in calls:
            record = self._adapters[call.provider].assemble(
                call.call_id, events[(call.provider, call.call_id)], timed_out=call.state == "timed_out"
            )
            if record is not None:
                records[(call.provider, call.call_id)] = record
        return records

    # ---- the timeout sweep --------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            with contextlib.suppress(IntakeUnavailable):
                await self.sweep()

    async def _run_sweep(self, job: _Sweep) -> None:
        try:
            cutoff = job.now - self._stale_after
            async with self._sessions.begin() as session:
                result = await session.execute(
                    update(CloudCall)
                    .where(CloudCall.state.in_(("open", "final")), CloudCall.last_event_at < cutoff)
                    .values(state="timed_out", pending=True, revision=CloudCall.revision + 1)
                    .execution_options(synchronize_session=False)
                )
            closed = int(getattr(result, "rowcount", 0) or 0)
        except Exception as exc:
            log.exception("webhook timeout sweep failed")
            _settle(job.done, IntakeUnavailable(str(exc)))
            return
        if closed:
            log.warning("cloud calls closed without a final event", extra={"calls": closed})
            self._want_build()
        _settle(job.done, closed)
        self._tell_live({}, job.now)


def _settle(future: asyncio.Future[T], outcome: T | BaseException) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
