"""The process under test: ``kolokol serve``'s settings, its database (contacts import, PostgreSQL reset),
starting, readiness and stopping, and the CPU accounting of the bench's processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil
from feed_latency_common import AMI_USERNAME, ROOT, BrokenRun

DID = "74951110001"  # the clinic line the capture's caller dialled


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_file_limit() -> None:
    """The server and the client process are children of this one: give them room for every socket
    (1,000 sockets plus the interpreter's own files may be above a default soft limit of 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def server_env(
    db_url: str, http_port: int, feed_port: int, ami_port: int, ami_secret: str, feed_secret: str
) -> dict[str, str]:
    # Only this run's settings: a KOLOKOL_* variable from the caller's shell must not change what is measured.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOLOKOL_")}
    env.update(
        {
            "KOLOKOL_DATABASE__URL": db_url,
            "KOLOKOL_HTTP__HOST": "127.0.0.1",
            "KOLOKOL_HTTP__PORT": str(http_port),
            "KOLOKOL_FEED__HOST": "127.0.0.1",
            "KOLOKOL_FEED__PORT": str(feed_port),
            "KOLOKOL_FEED__TOKEN_SECRET": feed_secret,
            "KOLOKOL_PBX__ASTERISK__HOST": "127.0.0.1",
            "KOLOKOL_PBX__ASTERISK__PORT": str(ami_port),
            "KOLOKOL_PBX__ASTERISK__USERNAME": AMI_USERNAME,
            "KOLOKOL_PBX__ASTERISK__SECRET": ami_secret,
            f"KOLOKOL_LINES__{DID}__NAME": "Клиника на Тверской",
            f"KOLOKOL_LINES__{DID}__BRANCH": "Тверская, 12",
            "KOLOKOL_LOG__FORMAT": "json",
        }
    )
    return env


def _kolokol(*args: str) -> list[str]:
    return [sys.executable, "-m", "kolokol", *args]


async def reset_postgres(url: str) -> None:
    from sqlalchemy import text

    from kolokol.storage.engine import make_engine

    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def import_contacts(env: dict[str, str], csv_path: Path, log_path: Path) -> str:
    with log_path.open("ab") as log:
        done = subprocess.run(
            _kolokol("contacts", "import", str(csv_path)),
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            timeout=600,
            check=False,
        )
    if done.returncode != 0:
        raise BrokenRun(f"kolokol contacts import failed (exit {done.returncode}), see {log_path}")
    return done.stdout.decode().strip()


def start_server(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(_kolokol("serve"), env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


async def wait_ready(base: str, server: subprocess.Popen[bytes], within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise BrokenRun(f"kolokol serve exited during start-up (status {server.returncode})")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{base}/readyz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise BrokenRun("kolokol serve did not become ready (database and AMI login)")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core, every process)."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def cpu_seconds(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.Error:
        return float("nan")
    return float(times.user + times.system)
