"""What is recorded of Asterisk calls does not depend on a restart: every recorded capture, with kolokol
stopped or crashed part-way and started again, gives exactly the records it gives without the restart,
each call recorded once, and the journal is empty once the calls are recorded.

The ports are fakes in memory (the journal's table and the call pipeline); the database side of the
journal is tested in tests/integration/restart/test_asterisk_journal.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.calls.asterisk_ingest import AsteriskIngest
from kolokol.calls.asterisk_journal import AmiJournal, Entry
from kolokol.calls.pipeline import CallPipeline
from kolokol.phones import PhoneNormalizer
from pbx.ami_framing import AmiMessage, parse_capture
from pbx.assembler import CallAssembler
from pbx.call_record import PbxCallRecord
from pbx.live import LiveChange
from tests.support.ami_restart import Restart, replay, replay_with_restart
from tests.support.paths import AMI_CAPTURES

T = TypeVar("T")
CAPTURES = sorted(AMI_CAPTURES.glob("*.ami"))


class MemoryJournal(AmiJournal):
    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, str], datetime]] = []

    async def load(self) -> list[tuple[dict[str, str], datetime]]:
        return [(dict(event), at) for _, event, at in self.rows]

    async def append(self, entries: Sequence[Entry]) -> None:
        self.rows += [(channel, dict(event), at) for channel, event, at in entries]

    async def forget(self, session: AsyncSession, channels: Collection[str]) -> None:
        self.rows = [row for row in self.rows if row[0] not in channels]


class MemoryPipeline(CallPipeline):
    def __init__(self) -> None:
        self.recorded: list[PbxCallRecord] = []

    async def transaction(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        return await work(cast(AsyncSession, None))

    async def record_in(self, session: AsyncSession, records: Sequence[PbxCallRecord]) -> list[Any]:
        self.recorded += records
        return []


class Kolokol:
    """The ports every process of one run shares: the database (journal, records) and the screens."""

    def __init__(self) -> None:
        self.journal = MemoryJournal()
        self.pipeline = MemoryPipeline()
        self.told: list[LiveChange] = []

    def ingest(self) -> AsteriskIngest:
        assembler = CallAssembler(PhoneNormalizer().e164, live=True)
        return AsteriskIngest(
            assembler, self.pipeline, on_live=self.told.extend, journal=self.journal, tick_seconds=3600
        )


def events_of(capture: Path) -> list[AmiMessage]:
    return parse_capture(capture.read_bytes())


async def without_restart(events: list[AmiMessage]) -> list[PbxCallRecord]:
    run = Kolokol()
    await replay(run.ingest, events)
    return run.pipeline.recorded


def cuts(events: list[AmiMessage]) -> list[int]:
    """A restart after the first ring, at a quarter, half and three quarters of the events."""
    first_ring = next(
        (
            n + 1
            for n, e in enumerate(events)
            if e.get("ChannelState") == "5" or e.get("DialStatus") == "RINGING"
        ),
        1,
    )
    return sorted({first_ring, len(events) // 4, len(events) // 2, 3 * len(events) // 4} - {0})


@pytest.mark.parametrize("how", ["stop", "crash"])
@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
async def test_a_restart_anywhere_in_a_call_changes_nothing_recorded(capture: Path, how: Restart) -> None:
    events = events_of(capture)
    expected = await without_restart(events)
    assert expected, "every capture has calls"
    for cut in cuts(events):
        run = Kolokol()
        await replay_with_restart(run.ingest, events, cut, how)
        assert run.pipeline.recorded == expected, f"restarted after event {cut}"
        assert run.journal.rows == [], f"journal left behind after event {cut}"


async def test_calls_in_progress_at_a_stop_are_not_recorded_and_their_cards_come_back() -> None:
    events = events_of(AMI_CAPTURES / "ringall_answered.ami")
    ringing = next(n for n, e in enumerate(events) if e.get("ChannelState") == "5") + 1
    run = Kolokol()
    first = run.ingest()
    first.start()
    for event in events[:ringing]:
        await first.on_event(event)
    await first.stop()
    assert run.pipeline.recorded == [], "no premature record of a call still ringing"
    assert [c.kind for c in run.told] == ["call.ringing"], "and no call.ended: the call goes on"
    shown = run.told[-1].call

    run.told.clear()
    second = run.ingest()
    second.start()
    await second.restore()
    [restored] = run.told
    assert (restored.kind, restored.call) == ("call.ringing", shown), "the card as it stood, once"
    await second.stop()


async def test_a_call_that_ended_while_kolokol_was_down_is_recorded_once_with_what_was_known() -> None:
    events = events_of(AMI_CAPTURES / "ringall_answered.ami")
    ringing = next(n for n, e in enumerate(events) if e.get("ChannelState") == "5") + 1
    run = Kolokol()
    first = run.ingest()
    first.start()
    for event in events[:ringing]:
        await first.on_event(event)
    await first.stop()

    second = run.ingest()
    second.start()
    await second.restore()
    await second.on_resync([])  # Asterisk lists no channel: the call ended while nobody listened
    await second.on_event({"Event": "FullyBooted", "Timestamp": events[-1]["Timestamp"]})
    await second.stop()
    [record] = run.pipeline.recorded
    assert (record.direction, record.caller, record.called) == ("inbound", "+79161234567", "+74951110001")
    assert record.rang == ("101",), "as far as it was known"
    assert run.told[-1].kind == "call.ended", "and its card closes"
    assert run.journal.rows == []
