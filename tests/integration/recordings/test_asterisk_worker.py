"""Asterisk recordings through the worker on a real database and disk (the real intake, real
transcoding): what was seen of the file is kept on the row between rounds, a file unchanged for the
stable time is taken and becomes playable, one that never appears or keeps growing fails after
asterisk_file_timeout_seconds with the reason, and the call record stays as it was."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kolokol.storage.engine import make_sessionmaker
from kolokol.storage.tables import Call
from recordings.job_store import JobStore
from recordings.pool import ProcessPool
from recordings.storage import LocalDiskStorage
from recordings.worker import RecordingWorker, WorkerTiming
from tests.support.clock import Clock
from tests.support.recording_jobs import T0, answered, pipeline, recording_settings, rows, two_channel_wav

MONITOR = "/var/spool/asterisk/monitor"
NAME = f"{MONITOR}/2026/12/03/1764752400.7.wav"
ENDED = T0 + timedelta(seconds=30)  # answered(): the call's end


def worker(sessions: async_sessionmaker[AsyncSession], tmp_path: Path, clock: Clock) -> RecordingWorker:
    settings = recording_settings(
        tmp_path / "store",
        asterisk_monitor_dir=MONITOR,
        asterisk_local_dir=str(tmp_path / "monitor"),
        asterisk_stable_seconds=3,
        asterisk_file_timeout_seconds=600,
    )
    return RecordingWorker(
        JobStore(sessions),
        LocalDiskStorage(tmp_path / "store"),
        settings,
        ProcessPool(1),
        clock=clock,
        timing=WorkerTiming(claim_seconds=60),
        rand=lambda: 0.5,
    )


def monitor_file(tmp_path: Path) -> Path:
    path = tmp_path / "monitor/2026/12/03/1764752400.7.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


async def test_a_file_that_stopped_changing_is_taken_and_becomes_playable(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(ENDED + timedelta(seconds=1))
    call = await pipeline(sessions, clock).record(answered(1, recording_file=NAME))
    source = two_channel_wav(monitor_file(tmp_path))
    work = worker(sessions, tmp_path, clock)

    await work.run_once()
    row = (await rows(sessions))[call.id]
    assert (row.status, row.stage) == ("pending", "acquire")
    assert row.observed is not None and row.observed["size"] == source.stat().st_size
    assert row.next_attempt_at == clock() + timedelta(seconds=3), "looked at again once it could be stable"

    clock.advance(seconds=3)
    await work.run_once()
    row = (await rows(sessions))[call.id]
    assert row.status == "ready", row.failure
    assert row.duration_seconds == pytest.approx(4.0, abs=0.1) and row.channels == 2
    assert source.exists(), "Asterisk's file is copied, not moved"
    await work.stop()


async def test_a_file_that_never_appears_fails_after_the_timeout_with_the_reason(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(ENDED + timedelta(seconds=1))
    call = await pipeline(sessions, clock).record(answered(1, recording_file=NAME))
    work = worker(sessions, tmp_path, clock)
    await work.run_once()
    row = (await rows(sessions))[call.id]
    assert row.status == "pending" and row.next_attempt_at <= clock() + timedelta(seconds=2)

    clock.advance(minutes=10)
    await work.run_once()
    row = (await rows(sessions))[call.id]
    assert row.status == "failed"
    assert row.failure == (
        "Gave up after 10 minutes: the recording's file did not appear (2026/12/03/1764752400.7.wav)"
    )
    async with sessions() as session:
        stored = await session.get(Call, call.id)
    assert stored is not None and stored.recording_file == NAME and stored.status == "answered"
    await work.stop()


async def test_a_file_that_keeps_growing_fails_after_the_timeout(engine: AsyncEngine, tmp_path: Path) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(ENDED + timedelta(seconds=1))
    call = await pipeline(sessions, clock).record(answered(1, recording_file=NAME))
    path = two_channel_wav(monitor_file(tmp_path))
    work = worker(sessions, tmp_path, clock)
    for _ in range(5):  # the last look is past the deadline (10 minutes after the call)
        await work.run_once()
        with path.open("ab") as grow:
            grow.write(b"\0" * 3200)
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        clock.advance(minutes=3)
    row = (await rows(sessions))[call.id]
    assert row.status == "failed"
    assert row.failure is not None and row.failure.startswith(
        "Gave up after 10 minutes: the recording's file kept"
    )
    await work.stop()


async def test_a_name_leading_out_of_the_monitor_directory_fails_at_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(ENDED + timedelta(seconds=1))
    call = await pipeline(sessions, clock).record(
        answered(1, recording_file=f"{MONITOR}/../../../etc/shadow")
    )
    work = worker(sessions, tmp_path, clock)
    await work.run_once()
    row = (await rows(sessions))[call.id]
    assert (row.status, row.failure) == ("failed", "The recording's file name contains '..'")
    await work.stop()
