"""The recordings worker: takes due rows, acquires each recording, transcodes it, stores it.

Nothing lives only in memory: every step's result is written on the row before the next begins, an
original waits in the storage's ``incoming/`` area under the recording's id (a retry overwrites it), and a
row is held by a claim that runs out by itself. A worker stopped in the middle (a restart, a crash, the
node gone) leaves rows that the next worker, here or on another node, takes again once their claims run
out; a clean stop gives its claims back at once.

Acquiring is the origin's business: ``recordings.asterisk_intake.acquire`` (the MixMonitor file) and
``recordings.fetchers.fetch`` (cloud PBXs). Transcoding is ``recordings.processing.process``, run in the
bounded process pool. Tests inject their own ``acquire``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import random
import shutil
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from kolokol.settings import Settings
from recordings import fetchers, jobs, processing
from recordings.job_store import Job, JobStore
from recordings.jobs import ACQUIRE, PROCESS, JobFacts, Next, Policy
from recordings.outcomes import Failed, Outcome, RetryLater
from recordings.planning import ASTERISK
from recordings.pool import PoolBroken
from recordings.retention import cutoffs
from recordings.storage import INCOMING, RecordingStorage, UnsafeKey, audio_key, original_key

log = logging.getLogger("kolokol.recordings")

# What an acquire step returns: the outcome, and (Asterisk) what it saw of the file, to keep on the row.
AcquireResult = tuple[Outcome, dict[str, Any] | None]
Acquire = Callable[[Job, Path, datetime], Awaitable[AcquireResult]]
SUFFIXES = {"opus": ".ogg", "mp3": ".mp3"}
# Without ffmpeg, recordings waiting to be processed look again this often.
FFMPEG_WAIT_SECONDS = 60.0
_ORIGINAL_SUFFIX = ".orig"


class ProcessedAudioLike(Protocol):
    @property
    def duration_seconds(self) -> float: ...
    @property
    def channels(self) -> int: ...
    @property
    def mime(self) -> str: ...
    @property
    def peaks(self) -> Any: ...
    @property
    def figures(self) -> dict[str, Any]: ...


Process = Callable[[Path, Path, str, int], ProcessedAudioLike]


class Pool(Protocol):
    """Where transcoding runs (recordings.pool.ProcessPool)."""

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{random.getrandbits(24):06x}"


@dataclass(frozen=True)
class WorkerTiming:
    # A claim lasts this long and is renewed every third of it while the row is worked on.
    claim_seconds: float = 300.0
    # With nothing due, look again after this long (a poke wakes the worker at once).
    idle_seconds: float = 1.0
    purge_every_seconds: float = 3600.0
    purge_batch: int = 500


class RecordingWorker:
    def __init__(
        self,
        store: JobStore,
        storage: RecordingStorage,
        settings: Settings,
        pool: Pool,
        *,
        acquire: Acquire | None = None,
        process: Process | None = None,
        uploads: object | None = None,
        clock: Callable[[], datetime] = _utc_now,
        timing: WorkerTiming | None = None,
        name: str | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.storage = storage
        self.settings = settings
        self.pool = pool
        self.name = name or worker_name()
        self.timing = timing or WorkerTiming()
        self.uploads = uploads
        self._acquire_fn = acquire
        self._process_fn = process
        self._clock = clock
        self._rand = rand
        config = settings.recordings
        self.policy = Policy(
            asterisk_timeout=timedelta(seconds=config.asterisk_file_timeout_seconds),
            fetch_give_up=timedelta(hours=config.fetch_give_up_hours),
        )
        # Acquiring is mostly waiting on the network or the disk: a few more at once than processes.
        self.capacity = config.workers * 2
        self._wake = asyncio.Event()
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._http: aiohttp.ClientSession | None = None
        self._stopping = False

    # --- running ---------------------------------------------------------------------------------

    def poke(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._loop(), name="recordings-worker"),
            asyncio.create_task(self._renew_loop(), name="recordings-claims"),
            asyncio.create_task(self._purge_loop(), name="recordings-purge"),
        ]

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        held = list(self._in_flight)
        in_flight = list(self._in_flight.values())
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*self._tasks, *in_flight, return_exceptions=True)
        # Rows left half done go back at once (their originals stay in incoming/ for the next worker).
        with contextlib.suppress(Exception):
            await self.store.release(self.name, held)
        self._in_flight.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def run_once(self) -> int:
        """Claim what is due now and work it to the end (tests; the loop does the same continuously)."""
        claimed = await self._claim(self.capacity)
        await asyncio.gather(*(self._work(job) for job in claimed))
        return len(claimed)

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            free = self.capacity - len(self._in_flight)
            if free <= 0:
                # Every slot busy: a finishing row wakes the loop.
                await self._wait(self.timing.idle_seconds)
                continue
            due: datetime | None = None
            try:
                due = await self.store.next_due_at(self._clock())
                if due is not None and due <= self._clock():
                    claimed = await self._claim(free)
                    for job in claimed:
                        task = asyncio.create_task(self._work(job), name=f"recording-{job.id}")
                        self._in_flight[job.id] = task
                        task.add_done_callback(self._done_callback(job.id))
                    if claimed:
                        # More may be due: look again at once.
                        continue
                    # Due rows another worker is taking right now: look again shortly.
                    due = None
            except Exception:
                log.exception("could not look for due recordings; trying again shortly")
            await self._wait(self._idle_for(due))

    def _done_callback(self, job_id: str) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            self._in_flight.pop(job_id, None)
            self._wake.set()

        return done

    def _idle_for(self, due: datetime | None) -> float:
        if due is None:
            return self.timing.idle_seconds
        return max(0.0, min(self.timing.idle_seconds, (due - self._clock()).total_seconds()))

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _claim(self, limit: int) -> list[Job]:
        return await self.store.claim(
            self.name, self._clock(), timedelta(seconds=self.timing.claim_seconds), limit
        )

    async def _renew_loop(self) -> None:
        every = self.timing.claim_seconds / 3
        while True:
            await asyncio.sleep(every)
            try:
                until = self._clock() + timedelta(seconds=self.timing.claim_seconds)
                await self.store.renew(self.name, list(self._in_flight), until)
            except Exception:
                log.exception("could not renew recording claims")

    # --- one row ---------------------------------------------------------------------------------

    async def _work(self, job: Job) -> None:
        try:
            if job.stage == ACQUIRE:
                job = await self._acquire(job) or job
                if job.stage != PROCESS:
                    return
            if job.stage == PROCESS:
                await self._process(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("recording step failed unexpectedly", extra={"recording_id": job.id})
            await self._retry(job, RetryLater(f"unexpected error: {type(exc).__name__}: {exc}"))

    def _facts(self, job: Job) -> JobFacts:
        return JobFacts(job.origin, job.stage, job.attempts, job.created_at, job.call_ended_at)

    async def _retry(self, job: Job, outcome: RetryLater, **values: Any) -> None:
        now = self._clock()
        step = jobs.retry(self._facts(job), outcome, now, self.policy, self._rand())
        if step.status == jobs.FAILED:
            log.warning("recording failed", extra={"recording_id": job.id, "reason": step.failure})
            # Given up: what was acquired goes (or is kept beside the others when originals are kept).
            with contextlib.suppress(UnsafeKey):
                half = self.storage.incoming(job.id, _ORIGINAL_SUFFIX)
                if job.stage == PROCESS and half.exists():
                    values["original_key"] = await self._keep_or_drop_original(job, half)
                else:
                    await asyncio.to_thread(half.unlink, missing_ok=True)
        await self.store.finish(self.name, job.id, step, now, **values)

    async def _fail(self, job: Job, outcome: Failed, **values: Any) -> None:
        now = self._clock()
        step = jobs.failed(self._facts(job), outcome, now)
        log.warning("recording failed", extra={"recording_id": job.id, "reason": step.failure})
        await self.store.finish(self.name, job.id, step, now, **values)

    async def _acquire(self, job: Job) -> Job | None:
        """Returns the job moved on to processing, or None when this step ended its turn."""
        dest = self.storage.incoming(job.id, _ORIGINAL_SUFFIX)
        outcome, observed = await self._acquire_with(job, dest)
        values: dict[str, Any] = {"observed": observed} if job.origin == ASTERISK else {}
        if isinstance(outcome, RetryLater):
            await self._retry(job, outcome, **values)
            return None
        if isinstance(outcome, Failed):
            dest.unlink(missing_ok=True)
            await self._fail(job, outcome, **values)
            return None
        incoming = dest.parent.resolve()
        got = outcome.path.resolve()
        if got.parent != incoming or not got.is_file():
            await self._fail(job, Failed("the acquired file is not where recordings are kept"))
            return None
        key = f"{INCOMING}/{got.name}"
        now = self._clock()
        if not await self.store.finish(
            self.name, job.id, jobs.acquired(now), now, original_key=key, keep_claim=True, **values
        ):
            return None
        return Job(
            id=job.id,
            call_id=job.call_id,
            origin=job.origin,
            ref=job.ref,
            stage=PROCESS,
            attempts=0,
            observed=observed,
            original_key=key,
            created_at=job.created_at,
            call_started_at=job.call_started_at,
            call_ended_at=job.call_ended_at,
        )

    async def _acquire_with(self, job: Job, dest: Path) -> AcquireResult:
        now = self._clock()
        if self._acquire_fn is not None:
            return await self._acquire_fn(job, dest, now)
        if job.origin == ASTERISK:
            intake = _optional("recordings.asterisk_intake")
            if intake is None:
                return RetryLater("kolokol cannot read Asterisk recordings yet (no asterisk_intake)"), None
            outcome, observed = await intake.acquire(
                job.ref,
                dest,
                settings=self.settings,
                observed=job.observed,
                ended_at=job.call_ended_at,
                now=now,
                uploads=self.uploads,
            )
            return outcome, observed
        limits = fetchers.FetchLimits.from_settings(self.settings.recordings)
        outcome = await fetchers.fetch(
            job.ref, dest, settings=self.settings, http=self._client(), now=now, limits=limits
        )
        return outcome, None

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    async def _process(self, job: Job) -> None:
        config = self.settings.recordings
        src = self._incoming_original(job)
        if src is None or not src.is_file():
            # The original went missing (a wiped disk, a node without the shared directory): fetch again.
            now = self._clock()
            await self.store.finish(
                self.name, job.id, Next(jobs.PENDING, ACQUIRE, 0, now), now, original_key=None
            )
            return
        dst = self.storage.incoming(job.id, SUFFIXES[config.format])
        if self._process_fn is None and shutil.which("ffmpeg") is None:
            # Not the recording's fault: it waits, without spending its attempts, until ffmpeg is
            # installed (/readyz and the log say so).
            now = self._clock()
            wait = Next(jobs.PENDING, PROCESS, job.attempts, now + timedelta(seconds=FFMPEG_WAIT_SECONDS))
            await self.store.finish(self.name, job.id, wait, now)
            return
        process = self._process_fn or processing.process
        try:
            audio = await self.pool.run(process, src, dst, config.format, config.bitrate_kbps)
        except PoolBroken as exc:
            await asyncio.to_thread(dst.unlink, missing_ok=True)
            await self._retry(job, RetryLater(str(exc)))
            return
        except Exception as exc:
            dst.unlink(missing_ok=True)
            if isinstance(exc, processing.BadAudio):
                kept = await self._keep_or_drop_original(job, src)
                await self._fail(
                    job, Failed(str(exc) or "the file is not audio kolokol can read"), original_key=kept
                )
                return
            await self._retry(job, RetryLater(f"processing failed: {type(exc).__name__}: {exc}"))
            return
        key = audio_key(job.id, job.call_started_at, SUFFIXES[config.format])
        size = await self.storage.put(key, dst)
        kept = await self._keep_or_drop_original(job, src)
        now = self._clock()
        await self.store.finish(
            self.name,
            job.id,
            jobs.processed(now),
            now,
            audio_key=key,
            original_key=kept,
            mime=audio.mime,
            size_bytes=size,
            duration_seconds=audio.duration_seconds,
            channels=audio.channels,
            peaks=audio.peaks,
            figures=audio.figures,
            ready_at=now,
        )
        log.info("recording ready", extra={"recording_id": job.id, "call_id": job.call_id})

    def _incoming_original(self, job: Job) -> Path | None:
        key = job.original_key or ""
        prefix = f"{INCOMING}/"
        if not key.startswith(prefix):
            return None
        name = key[len(prefix) :]
        stem, dot, suffix = name.rpartition(".")
        if stem != job.id or not dot:
            return None
        try:
            return self.storage.incoming(job.id, f".{suffix}")
        except UnsafeKey:
            return None

    async def _keep_or_drop_original(self, job: Job, src: Path) -> str | None:
        if not self.settings.recordings.keep_originals:
            await asyncio.to_thread(src.unlink, missing_ok=True)
            return None
        key = original_key(job.id, job.call_started_at, _sniffed_suffix(src))
        await self.storage.put(key, src)
        return key

    # --- retention -------------------------------------------------------------------------------

    async def purge_once(self) -> int:
        """Remove the audio of recordings past retention; their rows stay, status purged."""
        config = self.settings.recordings
        done = 0
        while True:
            rules = cutoffs(config.retention_days, config.retention_days_by_branch, self._clock())
            items = await self.store.purgeable(rules, self.timing.purge_batch)
            for item in items:
                for key in (item.audio_key, item.original_key):
                    if key:
                        try:
                            await self.storage.delete(key)
                        except UnsafeKey:
                            log.error("refusing to delete outside storage", extra={"recording_id": item.id})
                await self.store.mark_purged(item, self._clock())
            done += len(items)
            if len(items) < self.timing.purge_batch:
                return done

    async def _purge_loop(self) -> None:
        while True:
            try:
                purged = await self.purge_once()
                if purged:
                    log.info("recordings purged", extra={"count": purged})
            except Exception:
                log.exception("recordings purge failed; trying again later")
            await asyncio.sleep(self.timing.purge_every_seconds)


def _optional(module: str) -> Any:
    # The Asterisk intake is written by its owner; until it exists, its rows wait (RetryLater) instead of
    # failing.
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


_MAGIC = ((b"RIFF", ".wav"), (b"OggS", ".ogg"), (b"fLaC", ".flac"), (b"ID3", ".mp3"), (b"\xff\xfb", ".mp3"))


def _sniffed_suffix(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(4)
    for magic, suffix in _MAGIC:
        if head.startswith(magic):
            return suffix
    return ".bin"
