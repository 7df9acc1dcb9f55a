"""What the HTTP load benchmarks (webhook_intake.py, lease_engine.py) share: a real ``kolokol serve`` in its
own process, a bare reference server in another (the same script run with ``--answer-only PORT``), waiting
for either to be ready, and the load process's own hygiene and arithmetic. Loopback only."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_kolokol(
    db_url: str, port: int, log_path: Path, settings: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    """``kolokol serve`` on loopback with the database and ``settings`` (``KOLOKOL_…`` variables) given,
    whatever configuration the environment names."""
    env = {
        **os.environ,
        "KOLOKOL_DATABASE__URL": db_url,
        "KOLOKOL_HTTP__HOST": "127.0.0.1",
        "KOLOKOL_HTTP__PORT": str(port),
        "KOLOKOL_FEED__HOST": "127.0.0.1",
        "KOLOKOL_FEED__PORT": str(free_port()),
        "KOLOKOL_LOG__FORMAT": "json",
        **settings,
    }
    env.pop("KOLOKOL_CONFIG", None)
    log = log_path.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "kolokol", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
    )


def start_reference(script: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """The benchmark's bare reference server: ``script --answer-only PORT`` in its own process."""
    log = log_path.open("wb")
    command = [sys.executable, str(Path(script).resolve()), "--answer-only", str(port)]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


async def wait_ready(base: str, server: subprocess.Popen[bytes], seconds: float = 60) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(seconds * 10)):
            if server.poll() is not None:
                raise SystemExit("the server exited during start-up")
            try:
                async with session.get(f"{base}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not become ready")


def cpu_seconds(process: subprocess.Popen[bytes]) -> float | None:
    """The CPU time (user and system, all its threads) a server process has used so far; None where
    /proc cannot tell. Per request, it is the server's own cost, which other load on the machine
    changes far less than the requests/s it reaches."""
    try:
        with open(f"/proc/{process.pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def client_out_of_the_way() -> None:
    # The load's own heap (every request built in advance) must not be walked by its collector in the
    # middle of a run: a full collection of it stalls the sender for up to ~100 ms, which reads as the
    # server's latency. Frozen, the collector skips it (it is freed as usual once the run drops it).
    gc.collect()
    gc.freeze()


async def sleep_until(due: float) -> None:
    delay = due - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
