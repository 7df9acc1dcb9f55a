"""Replaying a recorded AMI capture through the live ingest with kolokol restarted part-way, as a shutdown
or a crash would: the first process takes the events up to the cut, the second restores from the journal,
reads the live channels Asterisk would list then, and takes the rest."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Literal

from kolokol.calls.asterisk_ingest import AsteriskIngest
from pbx.ami_framing import AmiMessage
from tests.support.ami_snapshots import live_channels

Restart = Literal["stop", "crash"]


async def through(ingest: AsteriskIngest, events: Sequence[AmiMessage]) -> None:
    for event in events:
        await ingest.on_event(event)


async def time_passes(ingest: AsteriskIngest, events: Sequence[AmiMessage]) -> None:
    """A minute on the PBX's clock after the last event (an event nobody handles says so): every call
    that ended has settled and is recorded."""
    last = max(float(e["Timestamp"]) for e in events if e.get("Timestamp"))
    await ingest.on_event({"Event": "FullyBooted", "Timestamp": f"{last + 60:.6f}"})


async def crash(ingest: AsteriskIngest) -> None:
    """The process dies: no stop, nothing flushed; what the writer had written is all that is left."""
    await ingest.drain()
    # A crash is exactly what no public method does.
    for task in ingest._tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def replay_with_restart(
    make_ingest: Callable[[], AsteriskIngest], events: Sequence[AmiMessage], cut: int, how: Restart
) -> None:
    first = make_ingest()
    first.start()
    await through(first, events[:cut])
    if how == "stop":
        await first.stop()
    else:
        await crash(first)
    second = make_ingest()
    second.start()
    await second.restore()
    await second.on_resync(live_channels(events[:cut]))
    await through(second, events[cut:])
    await time_passes(second, events)
    await second.stop()


async def replay(make_ingest: Callable[[], AsteriskIngest], events: Sequence[AmiMessage]) -> None:
    ingest = make_ingest()
    ingest.start()
    await through(ingest, events)
    await time_passes(ingest, events)
    await ingest.stop()
