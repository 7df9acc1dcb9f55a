"""Operator feed benchmark: from an AMI ring entering kolokol to the caller card at every subscribed client.

What is measured: a real ``kolokol serve`` (its own process, configured through ``KOLOKOL_*`` variables)
logs in to this process's AMI server on loopback as it would to Asterisk. Each ring is written the way
Asterisk 22 sends it (the events of ``tests/fixtures/ami/caller_hangup_while_ringing.ami``, one phone leg,
fresh Uniqueid/Linkedid, a caller number and Cyrillic name from the seeded contacts): the trunk's
``Newchannel`` and ``MixMonitorStart``, the phone's ``Newchannel`` and ``NewConnectedLine``, then the
``DialBegin`` to ``PJSIP/101-…`` (with the phone's ``Newstate``). The ``DialBegin`` is the ring entering
kolokol: ``time.time_ns()`` is taken right before it is written. N websocket clients in a separate
process (``python bench/feed_latency.py _clients …``), each with a feed token minted from the shared
``KOLOKOL_FEED__TOKEN_SECRET``, all subscribed to extension 101, note ``time.time_ns()`` when each frame is
handed to the connection (before anything is parsed; a connection subclass takes frames as the protocol
yields them, so the time does not include waiting for a coroutine to be scheduled; ``--client-mode recv``
uses the ordinary ``recv()`` instead). Latency of a (client, call) = that client's receive time of the
call's ``call.ringing`` minus the DialBegin write time (one machine, one clock); calls are matched by
``call.pbx_call_id``. Every card is built from real rows: contacts imported first with ``kolokol contacts
import`` (families sharing a phone, second phones, a tenth of callers unknown), and the history the run
itself makes (every call ends as a caller hang-up while ringing: a missed call, so repeat callers have
earlier calls and an open callback task on their card).

Per client count (default 200 and 1,000), after all clients are connected and subscribed and one warm-up
ring has reached all of them:
- paced: --rings rings at --rate rings/s, one phase per rate given (open loop: a ring leaves when due
  whatever the answers), each hung up --hold s later. p50/p99/max over all deliveries; the target is
  judged here.
- burst: --burst rings written back to back, as fast as the server's socket takes them; hung up only
  once every ring has been delivered (so the burst is ring fan-out alone). Deliveries/s = ring deliveries /
  (last delivery - first DialBegin write), and the latency of the burst (which includes queueing behind
  it, so no target). --burst stays below the server's per-client queue of 256 frames: a bigger burst
  closes clients with 4008 by design.
Per phase it also prints the latency of the first client reached for each ring (the server's pipeline:
AMI read, assembler, card queries, publish), the spread from first to last client of a ring (fan-out),
the other frames the clients got (``call.ended``; ``task.created``/``task.updated`` go to everyone), and
the CPU each process used (server, client process) as a share of one core over the phase, the cores
everything else on the machine kept busy meanwhile ("others": when that is high, latencies are the
scheduler's, not kolokol's), the server's CPU time per ring (the ring, its hang-up and callback task, and
their fan-out: the figure least moved by other load), and the client process's longest event-loop stall
(its own share of a latency). Last, ratios between client counts and between databases within the run.

Targets (issue 4): p99 < 50 ms at 200 clients, p99 < 250 ms at 1,000 clients. The machine is shared and
noisy: compare figures within one run. Exit status is non-zero only if the run was broken (server or
client process died, a client not connected, a ring missing at a client, a client closed by the server,
kolokol reconnecting to the AMI), never for a missed target. PostgreSQL: the database's public schema
is dropped and recreated first, so give the bench a database of its own.

    .venv/bin/python bench/feed_latency.py [--clients 200 1000] [--rate 10 ...] [--rings 200] [--burst 200]
        [--contacts 5000] [--pg-url URL]   # PostgreSQL too with --pg-url or KOLOKOL_TEST_PG_URL
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

SCRIPT = Path(__file__).resolve()
# The repository for kolokol's packages, and this directory for the bench's other modules (bench/ is not a
# package): the client process runs this file too, so both processes find them.
sys.path[:0] = [str(SCRIPT.parents[1]), str(SCRIPT.parent)]

from feed_latency_clients import ClientFleet, client_main  # noqa: E402
from feed_latency_common import EXTENSION, BrokenRun  # noqa: E402
from feed_latency_pbx import (  # noqa: E402
    CAPTURE,
    BenchAmi,
    BenchCall,
    RingTemplate,
    Switchboard,
    contacts_export,
)
from feed_latency_report import Phase, print_phase, print_summary  # noqa: E402
from feed_latency_server import (  # noqa: E402
    busy_seconds,
    cpu_seconds,
    free_port,
    import_contacts,
    raise_file_limit,
    reset_postgres,
    server_env,
    start_server,
    stop_process,
    wait_ready,
)

# The server ends a call this long after its last hang-up (calls.settle_seconds), then stores it and
# publishes the callback task: a phase is over only when that has reached the clients too.
SETTLE_SECONDS = 2.0


# -- phases -------------------------------------------------------------------------------------------


class Bench:
    """Runs phases against one server: rings out through the switchboard, deliveries in from the clients."""

    def __init__(
        self,
        backend: str,
        args: argparse.Namespace,
        board: Switchboard,
        ami: BenchAmi,
        server: subprocess.Popen[bytes],
        tmp: Path,
    ) -> None:
        self.backend = backend
        self.args = args
        self.board = board
        self.ami = ami
        self.server = server
        self.server_cpu = psutil.Process(server.pid)
        self.tmp = tmp

    def check_alive(self) -> None:
        if self.server.poll() is not None:
            raise BrokenRun(f"kolokol serve died (status {self.server.returncode})")
        if self.ami.logins != 1:
            raise BrokenRun("kolokol reconnected to the AMI: events may have been lost")

    async def wait_delivered(self, fleet: ClientFleet, expected: int) -> None:
        """Until `expected` ring deliveries arrived, or none arrived for --stall seconds."""
        last, since = -1, time.monotonic()
        while True:
            self.check_alive()
            got = int((await fleet.ask("count"))["ringing"])
            if got >= expected:
                return
            if got != last:
                last, since = got, time.monotonic()
            elif time.monotonic() - since > self.args.stall:
                return  # reported as missing
            await asyncio.sleep(0.05)

    async def quiesce(self, fleet: ClientFleet) -> None:
        """Until the hang-ups' messages (call ended, then the callback tasks) have stopped arriving."""
        await self.board.hangups_sent()
        await asyncio.sleep(SETTLE_SECONDS + 0.5)
        last, since, deadline = -1, time.monotonic(), time.monotonic() + 60
        while time.monotonic() < deadline:
            self.check_alive()
            got = int((await fleet.ask("count"))["frames"])
            if got != last:
                last, since = got, time.monotonic()
            elif time.monotonic() - since > 1.0:
                return
            await asyncio.sleep(0.1)

    async def collect(self, fleet: ClientFleet, phase: Phase, sent: dict[str, int]) -> None:
        path = self.tmp / "report.json"
        await fleet.ask(f"report {path}", within=120)
        report = json.loads(path.read_text())
        path.unlink()
        phase.expected = len(sent) * fleet.count
        since_ns = min(sent.values(), default=0)
        last_delivery = since_ns
        for call_id, sent_ns in sent.items():
            times = report["ringing"].get(call_id, [])
            phase.delivered += len(times)
            if not times:
                continue
            phase.latencies_ms.extend((t - sent_ns) / 1e6 for t in times)
            first, last = min(times), max(times)
            phase.first_ms.append((first - sent_ns) / 1e6)
            phase.spread_ms.append((last - first) / 1e6)
            phase.per_ring.append((call_id, sent_ns, (first - sent_ns) / 1e6, (last - sent_ns) / 1e6))
            last_delivery = max(last_delivery, last)
        elapsed = (last_delivery - since_ns) / 1e9
        phase.per_second = phase.delivered / elapsed if elapsed > 0 else float("nan")
        phase.frames = report["frames"]
        phase.closed = report["closed"]
        phase.client_stall_max_ms = report["stall_max_ms"]
        phase.client_stalls = report["stalls_over_20ms"]
        phase.clients_short = sum(1 for n in report["per_client"] if n < len(sent))

    async def run(self, fleet: ClientFleet, name: str, rings: int, rate: float | None) -> Phase:
        """`rate` rings/s, or None for a burst."""
        phase = Phase(self.backend, fleet.count, name, rings)
        self.board.sent.clear()
        cpu0 = (cpu_seconds(self.server_cpu), cpu_seconds(fleet.cpu), time.monotonic(), busy_seconds())
        burst: list[BenchCall] = []  # hung up only once every ring has been delivered
        if rate is None:
            burst = [await self.board.ring() for _ in range(rings)]
        else:
            started = time.monotonic()
            for i in range(rings):
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.board.hang_up_later(await self.board.ring(), self.args.hold)
            phase.behind_ms = 1000 * (time.monotonic() - started - (rings - 1) / rate)
        await self.wait_delivered(fleet, rings * fleet.count)
        cpu1 = (cpu_seconds(self.server_cpu), cpu_seconds(fleet.cpu), time.monotonic(), busy_seconds())
        for call in burst:
            await self.board.hang_up(call)
        sent = dict(self.board.sent)
        await self.quiesce(fleet)
        # Everything the server did for these rings, their hang-ups and callback tasks included: a figure
        # other load on the machine hardly changes (unlike the latencies).
        phase.server_cpu_ms_per_ring = 1000 * (cpu_seconds(self.server_cpu) - cpu0[0]) / rings
        await self.collect(fleet, phase, sent)
        wall = cpu1[2] - cpu0[2]
        phase.server_cpu = (cpu1[0] - cpu0[0]) / wall
        phase.clients_cpu = (cpu1[1] - cpu0[1]) / wall
        phase.others_cpu = (cpu1[3] - cpu0[3]) / wall - phase.server_cpu - phase.clients_cpu
        return phase


# -- one backend --------------------------------------------------------------------------------------


async def run_backend(
    name: str, db_url: str, args: argparse.Namespace, tmp: Path, phases: list[Phase]
) -> None:
    """Measured phases are appended to `phases` as they finish, so a run broken later still shows them."""
    ami_secret, feed_secret = secrets.token_urlsafe(24), secrets.token_urlsafe(36)
    ami = BenchAmi(ami_secret)
    ami_port = await ami.start()
    http_port, feed_port = free_port(), free_port()
    env = server_env(db_url, http_port, feed_port, ami_port, ami_secret, feed_secret)
    log_path, clients_log = tmp / f"{name}-server.log", tmp / f"{name}-clients.log"
    csv_text, callers = contacts_export(args.contacts, args.callers, args.seed)
    csv_path = tmp / "patients.csv"
    csv_path.write_text(csv_text, encoding="utf-8")
    template = RingTemplate(CAPTURE)  # before anything starts: a bad fixture fails fast
    began = time.monotonic()
    imported = await asyncio.to_thread(import_contacts, env, csv_path, log_path)
    print(f"{name}: {imported} ({time.monotonic() - began:.1f} s); {len(callers)} caller numbers", flush=True)
    server = start_server(env, log_path)
    board: Switchboard | None = None
    try:
        await wait_ready(f"http://127.0.0.1:{http_port}", server)
        # The pid lets a profiler be attached (py-spy record -p PID) while a phase runs.
        print(f"{name}: kolokol serve ready, pid {server.pid}", flush=True)
        await asyncio.wait_for(ami.logged_in.wait(), 10)
        board = Switchboard(ami, template, callers, args.seed)
        bench = Bench(name, args, board, ami, server, tmp)
        for count in args.clients:
            began = time.monotonic()
            fleet = await ClientFleet.start(feed_port, count, args.client_mode, feed_secret, clients_log)
            try:
                print(
                    f"{name}: {count} clients connected and subscribed in {time.monotonic() - began:.1f} s",
                    flush=True,
                )
                warm = await bench.run(fleet, "warm-up", 1, None)
                if warm.broken:
                    print_phase(warm)
                    raise BrokenRun("the warm-up ring did not reach every client")
                for rate in args.rate:
                    paced = await bench.run(fleet, f"paced {rate:g}/s", args.rings, rate)
                    print_phase(paced)
                    phases.append(paced)
                burst = await bench.run(fleet, "burst", args.burst, None)
                print_phase(burst)
                phases.append(burst)
                bench.check_alive()
            finally:
                await fleet.stop()
    except BrokenRun:
        for log in (log_path, clients_log):
            if log.exists():
                print(f"--- last lines of {log.name} ---", file=sys.stderr)
                for line in log.read_text(errors="replace").splitlines()[-15:]:
                    print(line, file=sys.stderr)
        raise
    finally:
        if board is not None:
            await board.cancel_hangups()
        await asyncio.to_thread(stop_process, server)
        await ami.stop()


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[200, 1000], help="client counts to run")
    parser.add_argument(
        "--rate",
        type=float,
        nargs="+",
        default=[10.0],
        help="rings/s of the paced phase (one phase per rate)",
    )
    parser.add_argument("--rings", type=int, default=200, help="rings of the paced phase")
    parser.add_argument("--burst", type=int, default=200, help="rings of the burst (keep < 256, see above)")
    parser.add_argument(
        "--hold", type=float, default=1.0, help="seconds a paced ring rings before the caller hangs up"
    )
    parser.add_argument("--contacts", type=int, default=5000, help="contacts imported before the run")
    parser.add_argument("--callers", type=int, default=400, help="distinct caller numbers (a tenth unknown)")
    parser.add_argument(
        "--stall", type=float, default=15.0, help="give up waiting after this long without a delivery"
    )
    parser.add_argument(
        "--client-mode", choices=("hook", "recv"), default="hook", help="how clients take frames"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg-url", default=os.environ.get("KOLOKOL_TEST_PG_URL", ""))
    parser.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--dump", type=Path, help="also write every phase's per-ring figures to this JSON file"
    )
    args = parser.parse_args()
    # SIGTERM (a CI timeout, kill) ends the run like Ctrl-C: through the finally blocks, so the server and
    # the client process are stopped and the temporary files removed.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    raise_file_limit()
    print(
        f"rings to extension {EXTENSION}, every client subscribed to it; paced {args.rings} rings at"
        f" {' and '.join(f'{r:g}' for r in args.rate)}/s (hung up after {args.hold:g} s), burst {args.burst};"
        f" client mode {args.client_mode};"
        f" {psutil.cpu_count()} CPUs; kolokol serve, this AMI server and the clients in separate processes",
        flush=True,
    )
    backends: list[tuple[str, str]] = []
    phases: list[Phase] = []
    broken: list[str] = []
    with tempfile.TemporaryDirectory(prefix="feed-bench-") as tmp:
        if not args.skip_sqlite:
            backends.append(("SQLite", f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"))
        if args.pg_url:
            backends.append(("PostgreSQL", args.pg_url))
        else:
            print("PostgreSQL: skipped (give --pg-url or KOLOKOL_TEST_PG_URL)")
        for name, url in backends:
            if name == "PostgreSQL":
                await reset_postgres(url)
            try:
                await run_backend(name, url, args, Path(tmp), phases)
            except BrokenRun as exc:
                broken.append(f"{name}: {exc}")
                print(f"!! {name}: broken run: {exc}", file=sys.stderr, flush=True)
    print_summary(phases)
    if args.dump:
        args.dump.write_text(
            json.dumps([{k: v for k, v in vars(p).items() if k != "latencies_ms"} for p in phases], indent=1)
        )
    broken.extend(f"{p.backend} {p.clients} {p.name}" for p in phases if p.broken)
    if broken:
        print(f"BROKEN RUN: {'; '.join(broken)}")
        return 1
    return 0


def _entry() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "_clients":
        return client_main(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    try:
        return asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted: server and clients stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(_entry())
