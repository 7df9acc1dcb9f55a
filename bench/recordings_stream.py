"""Streaming benchmark (issue 11): --readers concurrent Range readers of an hour-long stored recording.

A real ``kolokol serve`` (its own process, SQLite, the recording stored as the worker leaves it) serves
``GET /api/recordings/{id}/audio``; this process is the listeners. Each reader seeks at random and reads
--span bytes from there (a player buffering after a seek), again and again for --seconds, on its own
keep-alive connection, as a manager of its own (every request checked and audited by the playback rule:
the first request of each listener is a playback written to the audit, their seeks are not).
The same load then runs against the reference: a bare aiohttp server in its own process answering the
same file with ``web.FileResponse`` (sendfile, no auth, no audit, no database) — what this machine, the
client and aiohttp allow. Prints, for each: MB/s in total, MB/s per reader (min/median/max: no reader
starved), requests, and the server's RSS before, at its highest during, and after the load (flat: the
audio goes out with sendfile, never through the server's memory). Loopback only.

    .venv/bin/python bench/recordings.py stream [--readers 50] [--seconds 20] [--span 1048576]
                                                [--audio PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
# The project first: bench/recordings.py (the dispatcher) must not be taken for the recordings package.
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from http_load import client_out_of_the_way, free_port, start_kolokol, wait_ready  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.ext.asyncio import async_sessionmaker  # noqa: E402

from kolokol.auth.tokens import create_token  # noqa: E402
from kolokol.storage.engine import make_engine  # noqa: E402
from kolokol.storage.migrate import upgrade  # noqa: E402
from kolokol.storage.tables import RecordingAccess  # noqa: E402
from recordings.storage import LocalDiskStorage  # noqa: E402
from tests.support.stored_recordings import make_opus, store_recording  # noqa: E402

MB = 1024 * 1024


@dataclass
class Reader:
    bytes_read: int = 0
    requests: int = 0
    wrong: int = 0


@dataclass
class Run:
    name: str
    seconds: float
    readers: list[Reader]
    rss_kb: dict[str, int] = field(default_factory=dict)

    def report(self) -> str:
        total = sum(r.bytes_read for r in self.readers) / MB / self.seconds
        each = sorted(r.bytes_read / MB / self.seconds for r in self.readers)
        requests = sum(r.requests for r in self.readers)
        wrong = sum(r.wrong for r in self.readers)
        rss = self.rss_kb
        return (
            f"{self.name:<20} {total:7.1f} MB/s total; per reader min {each[0]:.1f} / median "
            f"{statistics.median(each):.1f} / max {each[-1]:.1f} MB/s; {requests} requests "
            f"({min(r.requests for r in self.readers)} at least per reader), {wrong} wrong bodies; "
            f"server RSS {rss['before'] // 1024} MB before, {rss['during'] // 1024} MB at most during, "
            f"{rss['after'] // 1024} MB after"
        )


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def read_for(
    url: str, headers: dict[str, str], audio: bytes, span: int, until: float, seed: int
) -> Reader:
    reader = Reader()
    rng = random.Random(seed)
    size = len(audio)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
        while time.perf_counter() < until:
            start = rng.randrange(0, size - span)
            asked = {**headers, "Range": f"bytes={start}-{start + span - 1}"}
            async with session.get(url, headers=asked) as resp:
                body = await resp.read()
            reader.requests += 1
            reader.bytes_read += len(body)
            # Every tenth answer is checked byte for byte: speed must not come from serving the wrong part.
            if resp.status != 206 or (reader.requests % 10 == 1 and body != audio[start : start + span]):
                reader.wrong += 1
    return reader


async def load(
    name: str, url: str, headers: list[dict[str, str]], pid: int, audio: bytes, args: argparse.Namespace
) -> Run:
    # One request first: the server's lazy start-up work (the link key, the first query) is not the load.
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers[0]) as resp:
        assert resp.status == 200, f"{name}: {resp.status} {await resp.text()}"
        await resp.read()
    await asyncio.sleep(1)
    before = rss_kb(pid)
    highest = before
    until = time.perf_counter() + args.seconds
    started = time.perf_counter()
    readers = [
        asyncio.create_task(read_for(url, headers[seed % len(headers)], audio, args.span, until, seed))
        for seed in range(args.readers)
    ]
    while not all(task.done() for task in readers):
        highest = max(highest, rss_kb(pid))
        await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - started
    await asyncio.sleep(1)
    run = Run(name, elapsed, [task.result() for task in readers])
    run.rss_kb = {"before": before, "during": highest, "after": rss_kb(pid)}
    return run


async def prepare(tmp: Path, audio_path: Path, listeners: int) -> tuple[str, list[str], str]:
    """The database (migrated, a manager's token per listener) and the stored recording: (db url, tokens,
    recording id)."""
    db_url = f"sqlite+aiosqlite:///{tmp / 'kolokol.sqlite3'}"
    engine = make_engine(db_url)
    await upgrade(engine)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        tokens = [await create_token(session, name=f"listener-{n}", role="manager") for n in range(listeners)]
    stored = await store_recording(sessions, LocalDiskStorage(tmp / "recordings"), audio_path)
    await engine.dispose()
    return db_url, tokens, stored.recording_id


async def audit_rows(db_url: str) -> int:
    engine = make_engine(db_url)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(RecordingAccess)) or 0)
    finally:
        await engine.dispose()


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="kolokol-stream-") as name:
        tmp = Path(name)
        audio_path = Path(args.audio) if args.audio else None
        if audio_path is None:
            print("making an hour of two-channel call audio (Ogg Opus, 24 kbit/s)...", flush=True)
            audio_path = make_opus(tmp / "hour.ogg", 3600, channels=2)
        audio = audio_path.read_bytes()
        print(f"the recording: {len(audio) / MB:.1f} MB; {args.readers} readers, {args.span // 1024} KB per "
              f"read, {args.seconds:.0f} s each", flush=True)  # fmt: skip
        db_url, tokens, recording_id = await prepare(tmp, audio_path, args.readers)
        client_out_of_the_way()

        port = free_port()
        settings = {"KOLOKOL_RECORDINGS__STORAGE_DIR": str(tmp / "recordings")}
        server = start_kolokol(db_url, port, tmp / "kolokol.log", settings)
        try:
            await wait_ready(f"http://127.0.0.1:{port}", server)
            url = f"http://127.0.0.1:{port}/api/recordings/{recording_id}/audio"
            auth = [{"Authorization": f"Bearer {token}"} for token in tokens]
            kolokol = [await load(f"kolokol, round {n}", url, auth, server.pid, audio, args) for n in (1, 2)]
        finally:
            server.terminate()
            server.wait(timeout=30)

        port = free_port()
        reference = start_reference(port, audio_path, tmp / "reference.log")
        try:
            await wait_ready(f"http://127.0.0.1:{port}", reference)
            url = f"http://127.0.0.1:{port}/audio"
            bare = [
                await load(f"reference, round {n}", url, [{}], reference.pid, audio, args) for n in (1, 2)
            ]
        finally:
            reference.terminate()
            reference.wait(timeout=30)

        for result in (*kolokol, *bare):
            print(result.report())
        served = sum(r.bytes_read for run in kolokol for r in run.readers)
        reference_served = sum(r.bytes_read for run in bare for r in run.readers)
        requests = sum(r.requests for run in kolokol for r in run.readers)
        print(
            f"kolokol streams at {served / max(1, reference_served):.0%} of the reference's rate (the same "
            "client, machine and run); flat memory: round 2 ends where round 1 did; "
            f"{await audit_rows(db_url)} playbacks audited for {requests} requests (one per listener and "
            "start, their seeks not)"
        )


def start_reference(port: int, audio: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """This script with ``--answer-only PORT FILE`` in its own process."""
    log = log_path.open("wb")
    command = [sys.executable, str(Path(__file__).resolve()), "--answer-only", str(port), str(audio)]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def answer_only(port: int, audio: Path) -> None:
    """The reference: the file with aiohttp's FileResponse, nothing else."""
    from aiohttp import web

    async def ready(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def serve_audio(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(audio, headers={"Content-Type": "audio/ogg; codecs=opus"})

    app = web.Application()
    app.router.add_get("/readyz", ready)
    app.router.add_get("/audio", serve_audio)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20, help="per round (two rounds each)")
    parser.add_argument("--span", type=int, default=1024 * 1024, help="bytes per read (default 1 MB)")
    parser.add_argument("--audio", help="an Ogg Opus file to serve instead of making an hour of audio")
    parser.add_argument("--answer-only", nargs=2, metavar=("PORT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.answer_only:
        answer_only(int(args.answer_only[0]), Path(args.answer_only[1]))
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
