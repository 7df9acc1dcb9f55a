"""Live Asterisk: AMI events -> assembler -> call pipeline.

The assembler runs inline with each event (it is pure and fast); finished calls go through a queue to one
writer that stores whatever has accumulated in one transaction (group commit), so a burst of finished
calls costs one commit, not one each. A ticker settles calls whose events have gone quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from kolokol.calls.pipeline import CallPipeline
from kolokol.storage.batches import each_alone_on_failure
from pbx.ami_framing import AmiMessage
from pbx.assembler import CallAssembler
from pbx.call_record import PbxCallRecord
from pbx.live import LiveChange

log = logging.getLogger("kolokol.ingest")


class AsteriskIngest:
    def __init__(
        self,
        assembler: CallAssembler,
        pipeline: CallPipeline,
        *,
        tick_seconds: float = 1.0,
        max_batch: int = 500,
        on_live: Callable[[Sequence[LiveChange]], None] | None = None,
    ) -> None:
        self._assembler = assembler
        # Live changes go out with every event, before the call's record exists: the screens must
        # not wait for a call to end (or for the database) to show who is ringing.
        self._on_live = on_live
        self._pipeline = pipeline
        self._tick_seconds = tick_seconds
        self._max_batch = max_batch
        self._finished: asyncio.Queue[PbxCallRecord] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.events_seen = 0
        self.calls_recorded = 0
        self.calls_failed = 0

    @property
    def handled_events(self) -> frozenset[str]:
        """The AMI events the assembler uses (the AMI client registers these)."""
        return self._assembler.handled_events

    async def on_event(self, event: AmiMessage) -> None:
        self.events_seen += 1
        self._enqueue(self._assembler.feed(event, datetime.now(UTC)))

    async def on_resync(self, channels: list[AmiMessage]) -> None:
        log.info(
            "ami resync", extra={"live_channels": len(channels), "open_calls": self._assembler.open_calls}
        )
        self._enqueue(self._assembler.resync(channels, datetime.now(UTC)))

    def _enqueue(self, records: list[PbxCallRecord]) -> None:
        if self._on_live is not None:
            changes = self._assembler.take_live()
            if changes:
                self._on_live(changes)
        for record in records:
            self._finished.put_nowait(record)

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._finished.get()]
            while len(batch) < self._max_batch and not self._finished.empty():
                batch.append(self._finished.get_nowait())
            try:
                await self._store(batch)
            finally:
                for _ in batch:
                    self._finished.task_done()

    async def _store(self, batch: list[PbxCallRecord]) -> None:
        async def store(records: Sequence[PbxCallRecord]) -> None:
            await self._pipeline.record_many(records)
            self.calls_recorded += len(records)
            for record in records:
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
            # The database may be away for a moment; the call is logged whole so nothing is lost.
            self.calls_failed += 1
            log.error("call not stored", exc_info=exc, extra={"record": repr(record)})

        await each_alone_on_failure(batch, store, lose)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_seconds)
            self._enqueue(self._assembler.tick(datetime.now(UTC)))

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._write_forever()), asyncio.create_task(self._tick_forever())]

    async def drain(self) -> None:
        """Wait until every finished call handed over so far is stored."""
        await self._finished.join()

    async def stop(self) -> None:
        """Store what is finished, and the calls still open as they stand, then stop."""
        ticker = self._tasks[1] if len(self._tasks) > 1 else None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        self._enqueue(self._assembler.flush(datetime.now(UTC)))
        if self._tasks:
            try:
                await asyncio.wait_for(self.drain(), 15)
            except TimeoutError:
                # The database is away: shutting down must not hang on it. The calls are lost to the
                # database but each is in the log ("call not stored") once the writer gives up on it.
                log.warning("stopping with calls not stored", extra={"calls": self._finished.qsize()})
            writer = self._tasks[0]
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        self._tasks = []
