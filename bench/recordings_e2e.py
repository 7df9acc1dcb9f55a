"""End-to-end recording benchmark (issue 11): from a real call's end to its recording being playable.

Real calls through the harness's Asterisk 22 (the Debian sid chroot of scripts/asterisk-chroot.sh, SIPp
as the trunk and the phones; the answering phone plays G.711 audio, so MixMonitor writes a real file) into
a kolokol running in this process (SQLite, the recordings worker with its process pool, reading the
monitor directory as kolokol on the Asterisk host does). For each call: the call's end (its ``ended_at``,
from AMI's Hangup) to the recording's ``ready_at`` (taken when stable, transcoded, stored), and the audio
endpoint's first byte checked. Prints each call and the median; the floor is
``--stable`` (recordings.asterisk_stable_seconds, the product's default 3 s: the file must stay unchanged
that long after the call).

    .venv/bin/python bench/recordings.py e2e [--calls 5] [--stable 3]

Needs root and the chroot (scripts/asterisk-chroot.sh build); without them it says so loudly and exits 0
without figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The project first: bench/recordings.py (the dispatcher) must not be taken for the recordings package.
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from sqlalchemy import select  # noqa: E402

from kolokol.app import make_app  # noqa: E402
from kolokol.app_keys import AMI, SESSIONS  # noqa: E402
from kolokol.auth.tokens import create_token  # noqa: E402
from kolokol.settings import Settings  # noqa: E402
from kolokol.storage.tables import Call, Recording  # noqa: E402
from tests.support import asterisk_harness as h  # noqa: E402

WAIT = 120.0  # seconds: a bound for a broken run only


def place_call() -> None:
    with h.AmiClient() as ami:
        h.SCENARIOS["ringall_answered"](ami)


async def settled(app: web.Application, count: int) -> list[tuple[Recording, Call]]:
    deadline = time.monotonic() + WAIT
    while True:
        async with app[SESSIONS]() as session:
            rows = [(r, c) for r, c in (await session.execute(select(Recording, Call).join(Call))).all()]
        if len(rows) >= count and all(r.status != "pending" for r, _ in rows):
            return rows
        if time.monotonic() > deadline:
            raise SystemExit(f"e2e: only {len(rows)} of {count} recordings settled in {WAIT:.0f} s")
        await asyncio.sleep(0.05)


async def run(calls: int, stable: float, home: Path) -> None:
    monitor = h.current().directories()["astspooldir"] + "/monitor"
    settings = Settings.model_validate(
        {
            "database": {"url": f"sqlite+aiosqlite:///{home / 'k.sqlite3'}"},
            "feed": {"port": 0},
            "http": {"port": 0},
            "calls": {"settle_seconds": 0.5},
            "pbx": {"asterisk": h.kolokol_ami_settings()},
            "recordings": {
                "storage_dir": str(home / "recordings"),
                "asterisk_monitor_dir": monitor,
                "asterisk_local_dir": str(h.chroot_path() / monitor.lstrip("/")),
                "asterisk_stable_seconds": stable,
            },
        }
    )
    app = make_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        ami = app[AMI]
        assert ami is not None
        deadline = time.monotonic() + 15
        while not ami.logged_in:
            if time.monotonic() > deadline:
                raise SystemExit("e2e: kolokol could not log in to the harness Asterisk")
            await asyncio.sleep(0.05)
        async with app[SESSIONS].begin() as session:
            token = await create_token(session, name="bench", role="admin")
        delays: list[float] = []
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            for n in range(1, calls + 1):
                await asyncio.to_thread(place_call)
                rows = await settled(app, n)
                recording, call = max(rows, key=lambda row: row[1].started_at)
                if recording.status != "ready" or recording.ready_at is None or call.ended_at is None:
                    raise SystemExit(f"e2e: call {n}'s recording is {recording.status}: {recording.failure}")
                url = f"http://127.0.0.1:{port}/api/recordings/{recording.id}/audio"
                async with http.get(url, headers={"Range": "bytes=0-1023"}) as resp:
                    if resp.status != 206:
                        raise SystemExit(f"e2e: the audio endpoint answered {resp.status}")
                delay = (recording.ready_at - call.ended_at).total_seconds()
                delays.append(delay)
                talk = (call.ended_at - call.answered_at).total_seconds() if call.answered_at else 0.0
                print(
                    f"call {n}: talk {talk:.1f} s, recording {recording.duration_seconds or 0:.1f} s, "
                    f"end -> playable {delay:.2f} s",
                    flush=True,
                )
    finally:
        await runner.cleanup()
    print(
        f"\ncall's end (AMI Hangup) -> playable recording, {calls} real calls: "
        f"median {statistics.median(delays):.2f} s (min {min(delays):.2f}, max {max(delays):.2f}); "
        f"of which the stable wait {stable:g} s (recordings.asterisk_stable_seconds)"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="recordings.py e2e", description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--stable", type=float, default=3.0, help="recordings.asterisk_stable_seconds")
    args = parser.parse_args(argv)
    try:
        h.start_asterisk()
    except h.AsteriskUnavailable as exc:
        print(f"\n!!! e2e SKIPPED: no real Asterisk here ({exc}) !!!\n", file=sys.stderr)
        return
    try:
        with tempfile.TemporaryDirectory(prefix="kolokol-e2e-") as home:
            asyncio.run(run(args.calls, args.stable, Path(home)))
    finally:
        h.stop_asterisk()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main(sys.argv[1:])
