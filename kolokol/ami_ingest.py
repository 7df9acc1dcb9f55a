"""Live Asterisk: AMI events -> assembler -> call pipeline, with a ticker that settles quiet calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from kolokol.call_pipeline import CallPipeline
from pbx.ami_framing import AmiMessage
from pbx.assembler import CallAssembler
from pbx.call_record import PbxCallRecord

log = logging.getLogger("kolokol.ingest")


class AsteriskIngest:
    def __init__(self, assembler: CallAssembler, pipeline: CallPipeline, tick_seconds: float = 1.0) -> None:
        self._assembler = assembler
        self._pipeline = pipeline
        self._tick_seconds = tick_seconds
        self._ticker: asyncio.Task[None] | None = None
        self.events_seen = 0
        self.calls_recorded = 0

    async def on_event(self, event: AmiMessage) -> None:
        self.events_seen += 1
        await self._store(self._assembler.feed(event, datetime.now(UTC)))

    async def on_resync(self, channels: list[AmiMessage]) -> None:
        log.info(
            "ami resync", extra={"live_channels": len(channels), "open_calls": self._assembler.open_calls}
        )
        await self._store(self._assembler.resync(channels, datetime.now(UTC)))

    async def _store(self, records: list[PbxCallRecord]) -> None:
        for record in records:
            try:
                call = await self._pipeline.record(record)
            except Exception:
                # The database may be away for a moment; the call is logged whole so nothing is lost.
                log.exception("call not stored", extra={"record": repr(record)})
                continue
            self.calls_recorded += 1
            log.info(
                "call finished",
                extra={
                    "call_id": call.id,
                    "linkedid": record.pbx_call_id,
                    "direction": record.direction,
                    "status": record.status,
                    "operator": record.operator,
                },
            )

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_seconds)
            await self._store(self._assembler.tick(datetime.now(UTC)))

    def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self._store(self._assembler.flush(datetime.now(UTC)))
