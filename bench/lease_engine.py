"""Lease engine benchmark: website visitors opening sessions and heartbeating, through HTTP, against a real
``kolokol serve`` process.

The server runs in its own process (as deployed); this process is the load. A visit is what a page does:
``POST /t/v1/session`` (a landing URL with utm values), then --heartbeats ``POST /t/v1/heartbeat`` with
the session it got, as ``text/plain`` like the snippet. Visits go to --sites sites of --pool numbers each
(fresh sites and numbers for every run, so one run's leases do not fill the next one's pools).
Per database, and --repeat times:
- flat out: each of --concurrency senders runs visits one after another, each request sent as soon as the
  last is answered; the best of these is kolokol's capacity;
- paced: visits start on a fixed schedule, their heartbeats due --gap seconds apart, at --share (half by
  default) of that capacity in requests/s; latency counts from when each request was due (stalls show
  in full);
- the ceiling: the same flat-out and paced runs, in the same run, against a bare aiohttp handler in its
  own process that reads each body and answers a fixed JSON (what the client, aiohttp and the two
  shared cores allow): kolokol's flat-out rate is printed as a share of it.
Prints requests/s and p50/p99 for each, the medians over the repeats, and how many opens overflowed to
the fallback; and each server's CPU time per request (from /proc), which tells kolokol's own cost next to
the bare handler's even when other work on the machine makes the rates wander. Targets (issue 10): flat
out >= 50% of the ceiling; paced at half the flat-out rate, p99 < 50 ms on SQLite. Loopback only.

    .venv/bin/python bench/lease_engine.py [--visits 1500] [--heartbeats 2] [--concurrency 16 32]
                                           [--repeat 3] [--pg URL] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from http_load import (  # noqa: E402
    client_out_of_the_way,
    cpu_seconds,
    free_port,
    percentile,
    sleep_until,
    start_kolokol,
    start_reference,
    wait_ready,
)
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402

from calltracking.site_settings import SiteSettings, site_settings  # noqa: E402
from calltracking.tracking_store import upsert_site  # noqa: E402
from kolokol.phones import PhoneNormalizer  # noqa: E402
from kolokol.storage.engine import make_engine, make_sessionmaker  # noqa: E402
from kolokol.storage.migrate import upgrade  # noqa: E402
from kolokol.storage.write_lock import write_transaction  # noqa: E402

ORIGIN = "https://clinic.example"
CLINIC = "+74951110001"
HEADERS = {"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN}
LANDINGS = (
    "https://clinic.example/implants/?utm_source=yandex&utm_medium=cpc&utm_campaign=951{n}&yclid=57264{n}",
    "https://clinic.example/?gclid=Cj0KCQiA4NWrBhD{n}",
    "https://clinic.example/doctors/{n}",
)
REFERRERS = ("https://yandex.ru/", None, "https://www.google.com/")
_sites = itertools.count()


@dataclass
class Results:
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    opens: int = 0
    overflows: int = 0
    # The server's CPU time per request in microseconds (None: not known).
    cpu_us: float | None = None


# ---- the servers ----------------------------------------------------------------------------------


def start_server(db_url: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    # Every visitor comes from 127.0.0.1 here: the per-address limits would stop the bench.
    settings = {
        "KOLOKOL_TRACKING__PUBLIC_REQUESTS_PER_MINUTE": "100000",
        "KOLOKOL_TRACKING__UNCONFIRMED_PER_ADDRESS": "0",
    }
    return start_kolokol(db_url, port, log_path, settings)


def start_ceiling_server(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    return start_reference(__file__, port, log_path)


def answer_only(port: int) -> None:
    """The ceiling: a bare aiohttp handler that reads the body and answers as kolokol would, at once."""
    from aiohttp import web

    answer = {
        "session": "Ab3dEf6hIj9kLm2nOp5qRs",
        "heartbeat_seconds": 30,
        "numbers": {CLINIC: "+74951110020"},
    }

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(answer, headers={"Access-Control-Allow-Origin": ORIGIN, "Vary": "Origin"})

    app = web.Application()
    app.router.add_get("/readyz", ok)
    app.router.add_post("/t/v1/session", ok)
    app.router.add_post("/t/v1/heartbeat", ok)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# ---- the sites ------------------------------------------------------------------------------------


async def prepare_sites(db_url: str, sites: int, pool: int) -> list[str]:
    """Fresh sites with fresh pool numbers for one run."""
    phones = PhoneNormalizer()
    engine = make_engine(db_url)
    await upgrade(engine)
    sessions = make_sessionmaker(engine)
    made = []
    try:
        for _ in range(sites):
            n = next(_sites)
            site = f"bench-{n}"
            numbers = [f"+7499{n:03d}{k:04d}" for k in range(pool)]  # CLINIC is in 495
            wanted = site_settings(
                {
                    "origins": [ORIGIN],
                    "hold_seconds": 300,
                    "heartbeat_seconds": 30,
                    "pools": [
                        {"name": "center", "replaces": [CLINIC], "numbers": numbers, "fallback": CLINIC}
                    ],
                },
                phones,
            )

            async def create(db: AsyncSession, site: str = site, wanted: SiteSettings = wanted) -> bool:
                return await upsert_site(db, site, wanted, datetime.now(UTC))

            await write_transaction(sessions, create)
            made.append(site)
    finally:
        await engine.dispose()
    return made


@dataclass(frozen=True)
class Visit:
    site: str
    url: str
    referrer: str | None


def build_visits(sites: list[str], count: int) -> list[Visit]:
    return [
        Visit(sites[n % len(sites)], LANDINGS[n % len(LANDINGS)].format(n=n), REFERRERS[n % len(REFERRERS)])
        for n in range(count)
    ]


# ---- the load -------------------------------------------------------------------------------------


async def _post(
    session: aiohttp.ClientSession,
    base: str,
    path: str,
    body: Mapping[str, object],
    due: float,
    results: Results,
) -> dict[str, object] | None:
    async with session.post(f"{base}{path}", data=json.dumps(body), headers=HEADERS) as resp:
        answer = await resp.json(content_type=None)
        results.statuses[resp.status] += 1
    results.latencies.append(time.perf_counter() - due)
    return answer if resp.status == 200 and isinstance(answer, dict) else None


async def _open(
    session: aiohttp.ClientSession, base: str, visit: Visit, due: float, results: Results
) -> str | None:
    body = {
        "site": visit.site,
        "session": None,
        "url": visit.url,
        "referrer": visit.referrer,
        "consent": True,
    }
    answer = await _post(session, base, "/t/v1/session", body, due, results)
    if answer is None:
        return None
    results.opens += 1
    numbers = answer.get("numbers")
    if not isinstance(numbers, dict) or CLINIC not in numbers:
        results.overflows += 1
    sid = answer.get("session")
    return sid if isinstance(sid, str) else None


async def flat_out(base: str, visits: list[Visit], heartbeats: int, concurrency: int) -> Results:
    client_out_of_the_way()
    results = Results()
    queue = iter(visits)

    async def sender(session: aiohttp.ClientSession) -> None:
        for visit in queue:
            sid = await _open(session, base, visit, time.perf_counter(), results)
            for _ in range(heartbeats if sid else 0):
                beat = {"site": visit.site, "session": sid}
                await _post(session, base, "/t/v1/heartbeat", beat, time.perf_counter(), results)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency * 2)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(concurrency)))
        results.elapsed = time.perf_counter() - started
    return results


async def paced(base: str, visits: list[Visit], heartbeats: int, rate: float, gap: float) -> Results:
    """Open loop: visit n opens at n / visit rate, its heartbeats are due ``gap`` seconds apart after it,
    whatever the answers; each latency counts from when the request was due."""
    client_out_of_the_way()
    results = Results()
    visit_rate = rate / (1 + heartbeats)

    async def visitor(session: aiohttp.ClientSession, visit: Visit, due: float) -> None:
        await sleep_until(due)
        sid = await _open(session, base, visit, due, results)
        for k in range(1, heartbeats + 1 if sid else 1):
            beat_due = due + k * gap
            await sleep_until(beat_due)
            await _post(
                session, base, "/t/v1/heartbeat", {"site": visit.site, "session": sid}, beat_due, results
            )

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        started = time.perf_counter() + 0.05
        tasks = [
            asyncio.create_task(visitor(session, visit, started + n / visit_rate))
            for n, visit in enumerate(visits)
        ]
        await asyncio.gather(*tasks)
        results.elapsed = time.perf_counter() - started
    return results


# ---- reporting ------------------------------------------------------------------------------------


async def measured(server: subprocess.Popen[bytes], run: Awaitable[Results]) -> Results:
    """A run's results with the server's CPU time per request."""
    before = cpu_seconds(server)
    results = await run
    after = cpu_seconds(server)
    if before is not None and after is not None and results.latencies:
        results.cpu_us = 1e6 * (after - before) / len(results.latencies)
    return results


def rate_of(results: Results) -> float:
    return len(results.latencies) / results.elapsed


def report(label: str, results: Results) -> None:
    lat = results.latencies
    overflow = f", {results.overflows} of {results.opens} opens overflowed" if results.opens else ""
    cpu = f", server CPU {results.cpu_us:.0f} us/request" if results.cpu_us is not None else ""
    print(
        f"  {label:34} {rate_of(results):6.0f} requests/s   p50 {1000 * statistics.median(lat):5.1f} ms"
        f"   p99 {1000 * percentile(lat, 0.99):5.1f} ms   max {1000 * max(lat):6.1f} ms"
        f"   ({len(lat)} requests, HTTP {dict(results.statuses)}{overflow}{cpu})"
    )


@dataclass
class Round:
    capacity: float
    ceiling: float
    paced_rate: float
    paced: Results
    ceiling_paced: Results
    # Server CPU per request flat out (kolokol, the bare handler), at the best concurrency of each.
    cpu_us: float | None = None
    ceiling_cpu_us: float | None = None


async def run_backend(name: str, db_url: str, args: argparse.Namespace, tmp: Path) -> list[Round]:
    print(name)
    port, ceiling_port = free_port(), free_port()
    base, ceiling_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ceiling_port}"
    await prepare_sites(db_url, 1, 10)  # the schema, before the server starts
    server = start_server(db_url, port, tmp / f"{name}.log")
    ceiling_server = start_ceiling_server(ceiling_port, tmp / f"{name}-ceiling.log")
    rounds: list[Round] = []
    try:
        await wait_ready(base, server)
        await wait_ready(ceiling_base, ceiling_server)
        warm = build_visits(await prepare_sites(db_url, 2, 50), 200)
        await flat_out(base, warm, args.heartbeats, 16)
        await flat_out(ceiling_base, warm, args.heartbeats, 16)
        for _ in range(args.repeat):
            capacity = ceiling = 0.0
            best: Results | None = None
            best_top: Results | None = None
            for concurrency in args.concurrency:
                visits = build_visits(await prepare_sites(db_url, args.sites, args.pool), args.visits)
                done = await measured(server, flat_out(base, visits, args.heartbeats, concurrency))
                report(f"flat out, {concurrency} connections", done)
                if rate_of(done) > capacity:
                    capacity, best = rate_of(done), done
                top = await measured(
                    ceiling_server, flat_out(ceiling_base, visits, args.heartbeats, concurrency)
                )
                report(f"  ceiling, {concurrency} connections", top)
                if rate_of(top) > ceiling:
                    ceiling, best_top = rate_of(top), top
            rate = args.share * capacity
            visits = build_visits(await prepare_sites(db_url, args.sites, args.pool), args.visits)
            done = await measured(server, paced(base, visits, args.heartbeats, rate, args.gap))
            report(f"paced at {rate:.0f} requests/s", done)
            top = await measured(ceiling_server, paced(ceiling_base, visits, args.heartbeats, rate, args.gap))
            report(f"  ceiling, paced at {rate:.0f}", top)
            share = capacity / ceiling
            print(f"  {'':34} flat out {capacity:.0f} requests/s = {share:.0%} of the ceiling {ceiling:.0f}")
            rounds.append(
                Round(
                    capacity,
                    ceiling,
                    rate,
                    done,
                    top,
                    best.cpu_us if best else None,
                    best_top.cpu_us if best_top else None,
                )
            )
    finally:
        for process in (server, ceiling_server):
            process.terminate()
            process.wait(timeout=30)
    return rounds


def summarize(name: str, rounds: list[Round]) -> None:
    median = statistics.median
    capacity = median([r.capacity for r in rounds])
    ceiling = median([r.ceiling for r in rounds])
    shares = [r.capacity / r.ceiling for r in rounds]
    p99s = [1000 * percentile(r.paced.latencies, 0.99) for r in rounds]
    ceiling_p99s = [1000 * percentile(r.ceiling_paced.latencies, 0.99) for r in rounds]
    p50 = median([1000 * statistics.median(r.paced.latencies) for r in rounds])
    print(
        f"{name}, median of {len(rounds)}: flat out {capacity:.0f} requests/s, the bare handler's ceiling"
        f" {ceiling:.0f}: {median(shares):.0%} of it (each run: {', '.join(f'{s:.0%}' for s in shares)};"
        " target >= 50%)"
    )
    cpu = [r.cpu_us for r in rounds if r.cpu_us is not None]
    ceiling_cpu = [r.ceiling_cpu_us for r in rounds if r.ceiling_cpu_us is not None]
    if cpu and ceiling_cpu:
        # What each request costs the server itself: the ratio the requests/s would show on a machine
        # with nothing else to do and a client that is never the limit.
        print(
            f"  server CPU per request flat out: {median(cpu):.0f} us, the bare handler's"
            f" {median(ceiling_cpu):.0f} us ({median(ceiling_cpu) / median(cpu):.0%} of kolokol's cost)"
        )
    print(
        f"  paced at {median([r.paced_rate for r in rounds]):.0f} requests/s (half the flat-out rate):"
        f" p50 {p50:.1f} ms, p99 {median(p99s):.1f} ms (each run: {', '.join(f'{v:.1f}' for v in p99s)};"
        f" target < 50 ms on SQLite); the bare handler at the same pace: p99 {median(ceiling_p99s):.1f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--visits", type=int, default=1500, help="visits per run")
    parser.add_argument("--heartbeats", type=int, default=2, help="heartbeats per visit after its open")
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between a paced visit's requests")
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--pool", type=int, default=200, help="numbers in each site's pool (at most 9999)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 32])
    parser.add_argument(
        "--share", type=float, default=0.5, help="the paced rate as a share of the flat-out rate"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--pg", default="", help="also measure on this PostgreSQL (its schema is dropped first)"
    )
    parser.add_argument("--no-sqlite", action="store_true", help="measure PostgreSQL only")
    args = parser.parse_args()
    print(
        f"{args.visits} visits per run, each an open and {args.heartbeats} heartbeats, over {args.sites}"
        f" sites of {args.pool} numbers; kolokol serve and the bare handler in their own processes on"
        " loopback;"
        f" load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    summaries: list[tuple[str, list[Round]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_sqlite:
            url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
            summaries.append(("SQLite", await run_backend("SQLite", url, args, Path(tmp))))
        if args.pg:
            from sqlalchemy import text

            engine = make_engine(args.pg)
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
            await engine.dispose()
            summaries.append(("PostgreSQL", await run_backend("PostgreSQL", args.pg, args, Path(tmp))))
    for name, rounds in summaries:
        summarize(name, rounds)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--answer-only"]:
        answer_only(int(sys.argv[2]))
    else:
        asyncio.run(main())
