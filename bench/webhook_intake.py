"""Webhook intake benchmark: signed Mango Office traffic against a real ``kolokol serve`` process.

The server runs in its own process (as deployed); this process is the load: N calls, each as Mango sends
them (``/events/call`` per leg change, then ``/events/summary``), shuffled within a window so events of
one call arrive out of order and concurrently, and a share of requests delivered twice at the same moment.
Bodies are signed before the clock starts. Per database, and --repeat times:
- flat out: each of --concurrency senders sends its next request as soon as the last is answered (the
  most the server takes at that many connections); the best of these is the machine's capacity;
- paced: requests leave on a fixed schedule at --share of that capacity (half by default), whatever the
  answers, latency counted from when each was due (so stalls show in full). Pacing follows the machine:
  a slower machine is loaded as hard, relative to what it can take, as a faster one.
- the floor: each paced run again, at its rate, against a server in its own process that reads each
  webhook and answers 200 at once (--no-floor skips it): what the client, aiohttp and the two shared
  cores cost, measured in the same run, so kolokol's own share of the latency can be read off.
The load keeps its own collector out of the measured runs (the requests signed in advance are frozen).
Prints requests/s and p50/p99 latency on SQLite (and on PostgreSQL when --pg-url or KOLOKOL_TEST_PG_URL
is given), the capacity, the paced rate and their ratio, the medians over the repeats, and checks the
stored calls: every call once, none lost, none duplicated, each with the status its events describe.
Targets: paced at half the flat-out rate, p99 < 50 ms on SQLite and PostgreSQL (issue 9); no lost or
duplicated call.

    .venv/bin/python bench/webhook_intake.py [--calls 3000] [--share 0.5] [--concurrency 16 32]
                                             [--repeat 3] [--pg-url URL] [--no-floor]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from http_load import (  # noqa: E402
    client_out_of_the_way,
    free_port,
    percentile,
    start_kolokol,
    start_reference,
    wait_ready,
)

from kolokol.storage.engine import make_engine, make_sessionmaker  # noqa: E402
from kolokol.storage.tables import Call  # noqa: E402

KEY = "bench-vpbx-key"
SALT = "bench-vpbx-salt"
T0 = 1795420800  # 2026-11-23 08:00 UTC
LINE = "74951110001"
# A clinic's day: mostly answered calls, a share of misses, callbacks going out.
MIX = {"answered": 6, "missed": 3, "outbound": 2}
Request = tuple[str, bytes]


def _signed(path: str, payload: dict[str, object]) -> Request:
    text = json.dumps(payload, separators=(",", ":"))
    sign = hashlib.sha256(f"{KEY}{text}{SALT}".encode()).hexdigest()
    return path, urlencode({"vpbx_api_key": KEY, "sign": sign, "json": text}).encode()


def _leg(
    entry: str, leg: str, seq: int, at: int, state: str, frm: dict[str, str], to: dict[str, str]
) -> Request:
    # Mango's leg ids are unique across calls (its dedupe key for leg events does not include the
    # entry): reusing "A"/"B" for every call would make most leg events duplicates of the first call's.
    event = {
        "entry_id": entry,
        "call_id": leg,
        "timestamp": at,
        "seq": seq,
        "call_state": state,
        "location": "abonent",
        "from": frm,
        "to": to,
    }
    if state == "Disconnected":
        event["disconnect_reason"] = 1110
    return _signed("/events/call", event)


def call_requests(n: int, kind: str, prefix: str) -> list[Request]:
    entry = f"{prefix}-{n:07d}"
    start = T0 + n
    caller = {"number": f"7916{n % 10_000_000:07d}"}
    ext = {"extension": str(101 + n % 4), "number": f"sip:{101 + n % 4}@clinic.mangosip.ru"}
    line = {"number": LINE, "line_number": LINE}
    summary: dict[str, object] = {
        "entry_id": entry,
        "line_number": LINE,
        "create_time": start,
        "end_time": start + 70,
        "disconnect_reason": 1110,
    }
    if kind == "answered":
        legs = [
            _leg(entry, f"{entry}-A", 1, start, "Appeared", caller, line),
            _leg(entry, f"{entry}-B", 1, start + 5, "Appeared", caller, ext),
            _leg(entry, f"{entry}-B", 2, start + 10, "Connected", caller, ext),
            _leg(entry, f"{entry}-B", 3, start + 70, "Disconnected", caller, ext),
        ]
        summary |= {
            "call_direction": 1,
            "from": caller,
            "to": ext,
            "talk_time": start + 10,
            "entry_result": 1,
        }
    elif kind == "missed":
        legs = [
            _leg(entry, f"{entry}-A", 1, start, "Appeared", caller, line),
            _leg(entry, f"{entry}-B", 1, start + 5, "Appeared", caller, ext),
            _leg(entry, f"{entry}-B", 2, start + 30, "Disconnected", caller, ext),
        ]
        summary |= {
            "call_direction": 1,
            "from": caller,
            "to": ext,
            "talk_time": 0,
            "entry_result": 0,
            "end_time": start + 30,
        }
    else:
        legs = [
            _leg(entry, f"{entry}-X", 1, start, "Appeared", ext, caller),
            _leg(entry, f"{entry}-X", 2, start + 8, "Connected", ext, caller),
            _leg(entry, f"{entry}-X", 3, start + 70, "Disconnected", ext, caller),
        ]
        summary |= {"call_direction": 2, "from": ext, "to": caller, "talk_time": start + 8, "entry_result": 1}
    return [*legs, _signed("/events/summary", summary)]


def build_traffic(
    calls: int, duplicate_share: float, prefix: str = "bench", seed: int = 7
) -> tuple[list[list[Request]], Counter[str]]:
    """Rounds of requests: everything in a round is in flight at once (a duplicate next to its original)."""
    rng = random.Random(seed)
    kinds = [k for k, weight in MIX.items() for _ in range(weight)]
    expected: Counter[str] = Counter()
    stream: list[Request] = []
    window: list[Request] = []
    for n in range(calls):
        kind = kinds[n % len(kinds)]
        expected[kind] += 1
        window.extend(call_requests(n, kind, prefix))
        if len(window) >= 64:
            rng.shuffle(window)
            stream.extend(window)
            window = []
    rng.shuffle(window)
    stream.extend(window)
    rounds: list[list[Request]] = []
    for request in stream:
        group = [request, request] if rng.random() < duplicate_share else [request]
        rounds.append(group)
    return rounds, expected


def start_server(db_url: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    settings = {
        "KOLOKOL_PBX__MANGO_OFFICE__VPBX_API_KEY": KEY,
        "KOLOKOL_PBX__MANGO_OFFICE__VPBX_API_SALT": SALT,
    }
    return start_kolokol(db_url, port, log_path, settings)


def start_floor_server(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """The bench's floor: a server in its own process that reads each webhook and answers 200 at once,
    storing nothing. The same paced run against it is what the client, aiohttp and the shared cores cost."""
    return start_reference(__file__, port, log_path)


def answer_only(port: int) -> None:
    from aiohttp import web

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/readyz", ok)
    app.router.add_post("/webhooks/mango_office/{tail:.*}", ok)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


Results = tuple[float, list[float], Counter[int]]
HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


async def _send(
    session: aiohttp.ClientSession,
    base: str,
    request: Request,
    since: float,
    latencies: list[float],
    statuses: Counter[int],
) -> None:
    path, body = request
    async with session.post(f"{base}/webhooks/mango_office{path}", data=body, headers=HEADERS) as resp:
        await resp.read()
        statuses[resp.status] += 1
    latencies.append(time.perf_counter() - since)


async def saturate(base: str, rounds: list[list[Request]], concurrency: int) -> Results:
    """Closed loop: ``concurrency`` senders, each sending its next request as soon as the last is answered."""
    client_out_of_the_way()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    queue = iter(rounds)

    async def sender(session: aiohttp.ClientSession) -> None:
        for group in queue:
            began = time.perf_counter()
            await asyncio.gather(*(_send(session, base, r, began, latencies, statuses) for r in group))

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency * 2)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, statuses


async def paced(base: str, rounds: list[list[Request]], rate: float) -> Results:
    """Open loop: requests leave on a fixed schedule whatever the answers; latency counts from the moment
    a request was due, so a server that falls behind cannot hide it (no coordinated omission)."""
    client_out_of_the_way()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    tasks: list[asyncio.Task[None]] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        started = time.perf_counter()
        sent = 0
        for group in rounds:
            due = started + sent / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            for request in group:
                tasks.append(asyncio.create_task(_send(session, base, request, due, latencies, statuses)))
            sent += len(group)
        await asyncio.gather(*tasks)
        return time.perf_counter() - started, latencies, statuses


async def stored_calls(db_url: str, prefix: str) -> tuple[int, int, Counter[str]]:
    """The measured calls as stored: rows, distinct provider ids, and how many of each kind."""
    from sqlalchemy import select

    engine = make_engine(db_url)
    measured = Call.pbx_call_id.like(f"{prefix}-%")
    async with make_sessionmaker(engine)() as session:
        rows = (
            await session.execute(select(Call.pbx_call_id, Call.direction, Call.status).where(measured))
        ).all()
    await engine.dispose()
    distinct = len({pbx_call_id for pbx_call_id, _, _ in rows})
    kinds = Counter("outbound" if direction == "outbound" else status for _, direction, status in rows)
    return len(rows), distinct, kinds


def report(label: str, requests: int, results: Results) -> None:
    elapsed, latencies, statuses = results
    p50 = 1000 * statistics.median(latencies)
    print(
        f"  {label:28} {requests / elapsed:6.0f} requests/s   p50 {p50:5.1f} ms"
        f"   p99 {1000 * percentile(latencies, 0.99):5.1f} ms   max {1000 * max(latencies):6.1f} ms"
        f"   ({requests} requests, HTTP {dict(statuses)})"
    )


async def check(db_url: str, prefix: str, calls: int, expected: Counter[str]) -> None:
    # Records are built just after the events are stored; give the last ones a moment, and say how long.
    began = time.perf_counter()
    total, distinct, kinds = await stored_calls(db_url, prefix)
    while distinct < calls and time.perf_counter() - began < 30:
        await asyncio.sleep(0.05)
        total, distinct, kinds = await stored_calls(db_url, prefix)
    lag = time.perf_counter() - began
    verdict = "OK" if total == distinct == calls and kinds == expected else "MISMATCH"
    print(
        f"  {'':28} calls stored {distinct} of {calls}: lost {calls - distinct},"
        f" duplicated {total - distinct}; by kind {dict(sorted(kinds.items()))}"
        f" vs sent {dict(sorted(expected.items()))}: {verdict}"
        f" (all built {1000 * lag:.0f} ms after the last answer)"
    )


@dataclass
class Round:
    capacity: float
    paced_rate: float
    paced: Results
    floor: Results | None = None


async def measure_floor(rounds: list[Round], args: argparse.Namespace, tmp: Path) -> None:
    """Each round's paced run again, at its rate, against the floor server."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_floor_server(port, tmp / "floor.log")
    try:
        await wait_ready(base, server)
        warm, _ = build_traffic(200, 0.0, prefix="warm")
        await saturate(base, warm, 16)
        for number, done in enumerate(rounds):
            traffic, _ = build_traffic(args.calls, args.duplicates, prefix=f"floor{number}")
            done.floor = await paced(base, traffic, done.paced_rate)
            report(f"floor, paced at {done.paced_rate:.0f}", sum(map(len, traffic)), done.floor)
    finally:
        server.terminate()
        server.wait(timeout=30)


async def run_backend(name: str, db_url: str, args: argparse.Namespace, tmp: Path) -> list[Round]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(db_url, port, tmp / f"{name}.log")
    print(name)
    rounds_done: list[Round] = []
    try:
        await wait_ready(base, server)
        # A warm-up on other calls so the measured requests do not pay for imports and caches.
        warm, _ = build_traffic(200, 0.0, prefix="warm")
        await saturate(base, warm, 16)
        for repeat in range(args.repeat):
            capacity = 0.0
            for concurrency in [] if args.rate else args.concurrency:
                prefix = f"r{repeat}-flat-out-{concurrency}"
                traffic, expected = build_traffic(args.calls, args.duplicates, prefix=prefix)
                requests = sum(map(len, traffic))
                results = await saturate(base, traffic, concurrency)
                report(f"flat out, {concurrency} connections", requests, results)
                await check(db_url, prefix, args.calls, expected)
                capacity = max(capacity, requests / results[0])
            rate = args.rate or args.share * capacity
            capacity = capacity or rate / args.share
            prefix = f"r{repeat}-paced"
            traffic, expected = build_traffic(args.calls, args.duplicates, prefix=prefix)
            results = await paced(base, traffic, rate)
            report(f"paced at {rate:.0f} requests/s", sum(map(len, traffic)), results)
            print(
                f"  {'':28} capacity {capacity:.0f} requests/s, paced at {rate:.0f} ({rate / capacity:.0%})"
            )
            await check(db_url, prefix, args.calls, expected)
            rounds_done.append(Round(capacity, rate, results))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return rounds_done


def summarize(name: str, rounds: list[Round]) -> None:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    p50 = median([1000 * statistics.median(r.paced[1]) for r in rounds])
    p99s = [1000 * percentile(r.paced[1], 0.99) for r in rounds]
    print(
        f"{name}, median of {len(rounds)}: capacity {median([r.capacity for r in rounds]):.0f} requests/s,"
        f" paced at {median([r.paced_rate for r in rounds]):.0f} requests/s: p50 {p50:.1f} ms,"
        f" p99 {median(p99s):.1f} ms (each run: {', '.join(f'{v:.1f}' for v in p99s)}; target < 50 ms)"
    )
    floors = [r.floor for r in rounds if r.floor]
    if floors:
        floor_p99s = [1000 * percentile(f[1], 0.99) for f in floors]
        floor_p50 = median([1000 * statistics.median(f[1]) for f in floors])
        print(
            f"  bench floor (same paced runs, a server answering at once): p50"
            f" {floor_p50:.1f} ms, p99 {median(floor_p99s):.1f}"
            f" ms (each run: {', '.join(f'{v:.1f}' for v in floor_p99s)}); kolokol's p99 over the floor's:"
            f" {median(p99s) - median(floor_p99s):.1f} ms"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 32])
    parser.add_argument(
        "--share", type=float, default=0.5, help="the paced rate as a share of the flat-out rate measured"
    )
    parser.add_argument("--repeat", type=int, default=1, help="measure this many times per database")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="pace at this many requests/s instead (no flat-out runs): to compare two versions alike",
    )
    parser.add_argument(
        "--duplicates", type=float, default=0.1, help="share of requests delivered twice at once"
    )
    parser.add_argument("--pg-url", default=os.environ.get("KOLOKOL_TEST_PG_URL", ""))
    parser.add_argument("--no-sqlite", action="store_true", help="measure PostgreSQL only")
    parser.add_argument(
        "--no-floor", action="store_true", help="skip the paced runs against a server that answers at once"
    )
    args = parser.parse_args()
    print(
        f"{args.calls} Mango calls per run (about 5 requests each), {args.duplicates:.0%} of requests"
        " delivered twice at once, events of a call shuffled; kolokol serve in its own process on loopback;"
        f" load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    summaries: list[tuple[str, list[Round]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_sqlite:
            sqlite_url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
            summaries.append(("SQLite", await run_backend("SQLite", sqlite_url, args, Path(tmp))))
            if not args.no_floor:
                await measure_floor(summaries[-1][1], args, Path(tmp))
        if args.pg_url:
            from sqlalchemy import text

            engine = make_engine(args.pg_url)
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await engine.dispose()
            summaries.append(("PostgreSQL", await run_backend("PostgreSQL", args.pg_url, args, Path(tmp))))
            if not args.no_floor:
                await measure_floor(summaries[-1][1], args, Path(tmp))
    for name, rounds in summaries:
        summarize(name, rounds)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--answer-only"]:
        answer_only(int(sys.argv[2]))
    else:
        asyncio.run(main())
