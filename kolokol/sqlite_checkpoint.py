"""WAL checkpoints for a served SQLite database, off the writers' path.

SQLite normally checkpoints inside whichever commit pushes the WAL past 1,000 pages, and that commit
then waits for the checkpoint's fsyncs: tens of milliseconds on ordinary disks, felt by every webhook
queued behind it. The served app turns automatic checkpoints off on its connections and runs passive
checkpoints from this thread instead; passive checkpoints never block readers or writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

log = logging.getLogger("kolokol.db")


async def _checkpoint_once(path: Path) -> None:
    def run() -> None:
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as connection:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    await asyncio.to_thread(run)


@contextlib.asynccontextmanager
async def background_checkpoints(path: Path, every_seconds: float = 1.0) -> AsyncIterator[None]:
    async def loop() -> None:
        while True:
            await asyncio.sleep(every_seconds)
            try:
                await _checkpoint_once(path)
            except sqlite3.Error:
                log.warning("WAL checkpoint failed; retrying", exc_info=True)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # Leave the WAL folded into the database file on a clean stop.
        with contextlib.suppress(sqlite3.Error):
            await _checkpoint_once(path)
