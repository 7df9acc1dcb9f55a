"""Recorded calls through the pipeline and a recordings worker with a fake acquire step, for the worker's
integration tests: real database, real storage directory, real transcoding in the process pool."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.calls.branches import BranchRules
from kolokol.calls.pipeline import CallPipeline
from kolokol.phones import PhoneNormalizer
from kolokol.settings import Settings
from kolokol.storage.tables import Recording
from pbx.call_record import PbxCallRecord
from recordings.job_store import Job, JobStore
from recordings.outcomes import Done, Failed, Outcome, RetryLater
from recordings.pool import ProcessPool
from recordings.storage import LocalDiskStorage
from recordings.worker import AcquireResult, RecordingWorker, WorkerTiming
from tests.support.call_audio import Segment, Silence, Tone, write_wav
from tests.support.clock import Clock

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def answered(
    n: int,
    *,
    recording_file: str | None = None,
    recording_ref: dict[str, Any] | None = None,
    started_at: datetime = T0,
    pbx: str = "asterisk",
    called: str = "+74951110001",
) -> PbxCallRecord:
    return PbxCallRecord(
        pbx=pbx,
        pbx_call_id=f"rec.{n}",
        direction="inbound",
        caller="+79161234567",
        caller_name=None,
        called=called,
        status="answered",
        disposition="answered",
        missed_where=None,
        operator="101",
        answered_by="101",
        rang=("101",),
        transfers=(),
        started_at=started_at,
        answered_at=started_at + timedelta(seconds=3),
        ended_at=started_at + timedelta(seconds=30),
        recording_file=recording_file,
        recording_ref=recording_ref,
    )


def pipeline(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, branch_by_number: dict[str, str] | None = None
) -> CallPipeline:
    e164 = PhoneNormalizer().e164
    return CallPipeline(
        sessions,
        sla=timedelta(minutes=15),
        branches=BranchRules.build(branch_by_number or {}, {}, e164),
        e164=e164,
        plan_recordings=True,
        clock=clock,
    )


def two_channel_wav(path: Path) -> Path:
    """Four seconds: the caller talks, then the clinic, a second of both at once."""
    caller: list[Segment] = [Tone(1.5), Silence(1.0), Tone(1.5)]
    clinic: list[Segment] = [Silence(1.5), Tone(2.0, frequency=500), Silence(0.5)]
    return write_wav(path, caller, clinic)


@dataclass
class FakeAcquire:
    """Copies a prepared file into ``dest`` (or answers as told), counting calls per recording."""

    source: Path
    answers: dict[str, Outcome] = field(default_factory=dict)
    # Recording ids whose acquire never returns (a worker killed in the middle).
    hang: set[str] = field(default_factory=set)
    calls: dict[str, int] = field(default_factory=dict)
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, job: Job, dest: Path, now: datetime) -> AcquireResult:
        self.calls[job.id] = self.calls.get(job.id, 0) + 1
        self.entered.set()
        if job.id in self.hang:
            await asyncio.Event().wait()
        answer = self.answers.get(job.id)
        if isinstance(answer, (RetryLater, Failed)):
            return answer, None
        source = answer.path if isinstance(answer, Done) else self.source
        await asyncio.to_thread(shutil.copyfile, source, dest)
        return Done(dest), None


class StuckPool:
    """A process pool whose work never finishes (the node dies while transcoding)."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        self.entered.set()
        await asyncio.Event().wait()


def recording_settings(storage_dir: Path, **recordings: Any) -> Settings:
    return Settings.model_validate(
        {"recordings": {"storage_dir": str(storage_dir), "workers": 1, **recordings}}
    )


def make_worker(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    acquire: FakeAcquire,
    clock: Clock,
    *,
    pool: Any = None,
    name: str = "worker-a",
    claim_seconds: float = 60,
) -> RecordingWorker:
    return RecordingWorker(
        JobStore(sessions),
        LocalDiskStorage(Path(settings.recordings.storage_dir)),
        settings,
        pool if pool is not None else ProcessPool(settings.recordings.workers),
        acquire=acquire,
        clock=clock,
        timing=WorkerTiming(claim_seconds=claim_seconds),
        name=name,
        rand=lambda: 0.5,
    )


async def rows(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Recording]:
    async with sessions() as session:
        return {r.call_id: r for r in (await session.scalars(select(Recording))).all()}


def dying_process(src: Path, dst: Path, fmt: str, bitrate_kbps: int) -> Any:
    """A transcoder killed mid-file (out of memory, a signal): its process ends without a word."""
    os._exit(9)
