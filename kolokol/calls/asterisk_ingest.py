"""Live Asterisk: AMI events -> assembler -> call pipeline.

The assembler runs inline with each event (it is pure and fast); finished calls go through a queue to one
writer that stores whatever has accumulated in one transaction (group commit), so a burst of finished
calls costs one commit, not one each. A ticker settles calls whose events have gone quiet.

With a journal (``kolokol.calls.asterisk_journal``), what happens to a call does not depend on a restart:
the same writer keeps the events of calls in progress in the database as they arrive and drops a call's
events with its record; at shutdown the calls not recorded yet are left to the journal (not recorded as
they stand), and the next start feeds them to the assembler again (``restore``) before AMI connects.
After each (re)connection Asterisk's list of live channels is read as the events that made them
(``pbx.snapshot``), so calls first seen there look as they would have, and calls that ended meanwhile
are settled once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.calls.asterisk_journal import AmiJournal, Entry, channel_ids
from kolokol.calls.pipeline import CallPipeline
from kolokol.storage.batches import each_alone_on_failure
from pbx.ami_framing import AmiMessage
from pbx.assembler import CallAssembler
from pbx.call_record import PbxCallRecord
from pbx.live import LiveCall, LiveChange, change_kind
from pbx.snapshot import snapshot_events

log = logging.getLogger("kolokol.ingest")


@dataclass(frozen=True, slots=True)
class _Finished:
    records: list[PbxCallRecord]
    # Channels of calls that are over (recorded or not): their journal entries go with these records.
    gone: frozenset[str]


class AsteriskIngest:
    def __init__(
        self,
        assembler: CallAssembler,
        pipeline: CallPipeline,
        *,
        tick_seconds: float = 1.0,
        max_batch: int = 500,
        on_live: Callable[[Sequence[LiveChange]], None] | None = None,
        journal: AmiJournal | None = None,
    ) -> None:
        self._assembler = assembler
        # Live changes go out with every event, before the call's record exists: the screens must
        # not wait for a call to end (or for the database) to show who is ringing.
        self._on_live = on_live
        self._pipeline = pipeline
        self._tick_seconds = tick_seconds
        self._max_batch = max_batch
        self._journal = journal
        self._finished: list[_Finished] = []
        self._to_journal: list[Entry] = []
        # Channels with events in the journal (or on their way there), and the open calls last counted.
        self._journaled: set[str] = set()
        self._open_calls = 0
        # What the screens were last told of each call in progress (a snapshot's changes are told as one).
        self._shown: dict[str, LiveCall] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task[None]] = []
        self.events_seen = 0
        self.calls_recorded = 0
        self.calls_failed = 0

    @property
    def handled_events(self) -> frozenset[str]:
        """The AMI events the assembler uses (the AMI client registers these)."""
        return self._assembler.handled_events

    async def restore(self) -> None:
        """Before AMI connects: the calls in progress when kolokol stopped, from the journal."""
        if self._journal is None:
            return
        try:
            kept = await self._journal.load()
        except Exception:
            # The database is away: those calls are seen again in the first snapshot of live channels.
            log.exception("asterisk calls in progress not restored")
            return
        records: list[PbxCallRecord] = []
        for event, received_at in kept:
            records += self._assembler.feed(event, received_at)
            self._journaled.update(channel_ids(event))
        # The stale rule holds across a restart: calls silent for too long are closed as they stand.
        records += self._assembler.tick(datetime.now(UTC))
        if kept:
            log.info(
                "asterisk calls in progress restored",
                extra={"events": len(kept), "open_calls": self._assembler.open_calls},
            )
        self._enqueue(records, at_once=True)

    async def on_event(self, event: AmiMessage) -> None:
        self.events_seen += 1
        now = datetime.now(UTC)
        records = self._assembler.feed(event, now)
        self._keep(event, now)
        self._enqueue(records)

    async def on_resync(self, channels: list[AmiMessage]) -> None:
        log.info(
            "ami resync", extra={"live_channels": len(channels), "open_calls": self._assembler.open_calls}
        )
        now = datetime.now(UTC)
        records: list[PbxCallRecord] = []
        for event, at in snapshot_events(channels, now, known=self._assembler.tracks):
            records += self._assembler.feed(event, at)
            self._keep(event, at)
        records += self._assembler.resync(channels, now)
        self._enqueue(records, at_once=True)

    def _keep(self, event: AmiMessage | dict[str, str], at: datetime) -> None:
        """Journal an event of a call in progress (a straggler of a finished call is nobody's)."""
        if self._journal is None:
            return
        channel = next((c for c in channel_ids(event) if self._assembler.tracks(c)), None)
        if channel is not None:
            self._to_journal.append((channel, event, at))
            self._journaled.add(channel)
            self._wake_writer()

    def _enqueue(self, records: list[PbxCallRecord], *, at_once: bool = False) -> None:
        if self._on_live is not None:
            changes = self._assembler.take_live()
            if at_once:
                changes = self._as_one(changes)
            for change in changes:
                if change.call.state == "ended":
                    self._shown.pop(change.call.id, None)
                else:
                    self._shown[change.call.id] = change.call
            if changes:
                self._on_live(changes)
        gone = self._gone(bool(records))
        if records or gone:
            self._finished.append(_Finished(records, gone))
            self._wake_writer()

    def _as_one(self, changes: list[LiveChange]) -> list[LiveChange]:
        """Many events at once (a snapshot, a restore): each call's screens are told where it ended up,
        once, instead of every step on the way there."""
        last: dict[str, LiveChange] = {}
        for change in changes:
            last.pop(change.call.id, None)
            last[change.call.id] = change
        told = []
        for call_id, change in last.items():
            before = self._shown.get(call_id)
            if before is None and change.call.state == "ended":
                continue  # never shown: nothing to close
            kind = change_kind(before, change.call)
            if kind is not None:
                told.append(LiveChange(kind, change.call, change.at))
        return told

    def _gone(self, finished: bool) -> frozenset[str]:
        """Journaled channels whose calls are over: checked when calls were recorded or let go."""
        if self._journal is None:
            return frozenset()
        open_calls = self._assembler.open_calls
        fewer, self._open_calls = open_calls < self._open_calls, open_calls
        if not (finished or fewer):
            return frozenset()
        gone = frozenset(c for c in self._journaled if not self._assembler.tracks(c))
        self._journaled -= gone
        return gone

    # ---- the writer ---------------------------------------------------------------------------

    def _wake_writer(self) -> None:
        self._idle.clear()
        self._wake.set()

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Journal entries first: a call's entries are in the database before the transaction that
            # stores its record removes them.
            while self._to_journal or self._finished:
                await self._write_journal()
                batch, self._finished = self._finished[: self._max_batch], self._finished[self._max_batch :]
                if batch:
                    await self._store(batch)
            if not self._wake.is_set():
                self._idle.set()

    async def _write_journal(self) -> None:
        assert self._journal is not None or not self._to_journal
        # A call that finished meanwhile needs none of its entries: its record is on its way.
        entries = [e for e in self._to_journal if self._assembler.tracks(e[0])]
        self._to_journal = []
        if not entries or self._journal is None:
            return
        try:
            await self._journal.append(entries)
        except Exception:
            # The calls go on; only a restart before they end would find them incomplete.
            log.exception("asterisk events not journaled", extra={"events": len(entries)})

    async def _store(self, batch: list[_Finished]) -> None:
        records = [record for item in batch for record in item.records]
        gone = frozenset().union(*(item.gone for item in batch))

        async def record_and_forget(session: AsyncSession, some: Sequence[PbxCallRecord]) -> None:
            await self._pipeline.record_in(session, some)
            if gone and self._journal is not None:
                await self._journal.forget(session, gone)

        async def store(some: Sequence[PbxCallRecord]) -> None:
            await self._pipeline.transaction(lambda session: record_and_forget(session, some))
            self.calls_recorded += len(some)
            for record in some:
                log.info(
                    "call finished",
                    extra={
                        "linkedid": record.pbx_call_id,
                        "direction": record.direction,
                        "status": record.status,
                        "disposition": record.disposition,
                        "operator": record.operator,
                    },
                )

        def lose(record: PbxCallRecord, exc: Exception) -> None:
            # The database may be away for a moment; the call is logged whole so nothing is lost (and its
            # journal entries stay, so the next start records it again).
            self.calls_failed += 1
            log.error("call not stored", exc_info=exc, extra={"record": repr(record)})

        if records:
            await each_alone_on_failure(records, store, lose)
            return
        try:
            await store([])
        except Exception:
            log.exception("asterisk journal entries not dropped", extra={"channels": len(gone)})

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_seconds)
            self._enqueue(self._assembler.tick(datetime.now(UTC)))

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._write_forever()), asyncio.create_task(self._tick_forever())]

    async def drain(self) -> None:
        """Wait until every finished call handed over so far is stored (and every event journaled)."""
        await self._idle.wait()

    async def stop(self) -> None:
        """Store what is finished and journal what was received, then stop.

        With a journal, the calls not recorded yet (in progress, or waiting out their settle time for late
        events) stay in it: the next start goes on with them exactly as this process would have, so what
        is recorded does not depend on the restart. Without one, they are recorded as they stand.
        """
        ticker = self._tasks[1] if len(self._tasks) > 1 else None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        if self._journal is None:
            self._enqueue(self._assembler.flush(datetime.now(UTC)))
        if self._tasks:
            try:
                await asyncio.wait_for(self.drain(), 15)
            except TimeoutError:
                # The database is away: shutting down must not hang on it. The calls are lost to the
                # database but each is in the log ("call not stored") once the writer gives up on it.
                log.warning("stopping with calls not stored", extra={"calls": len(self._finished)})
            writer = self._tasks[0]
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        self._tasks = []
