"""AMI ingest benchmark: recorded real captures, multiplied into N calls with fresh ids, through
framing -> parsing -> assembling -> persisting (contacts, first-time callers, callback tasks).

Prints calls/s and events/s on SQLite (and PostgreSQL when --pg-url or KOLOKOL_TEST_PG_URL is given),
the ratio to bare framing + parsing of the same bytes (the ceiling), and resident memory after 1,000 and
after N calls. The live service tracks every call for the operators' screens as it goes; SQLite is also
run without that, to show what it costs. Targets (issue 2): >= 500 calls/s on SQLite, >= 25% of the
bare-parsing rate, memory flat.

    .venv/bin/python bench/ami_ingest.py [--calls 10000] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kolokol.calls.asterisk_ingest import AsteriskIngest  # noqa: E402
from kolokol.calls.pipeline import CallPipeline  # noqa: E402
from kolokol.phones import PhoneNormalizer  # noqa: E402
from kolokol.storage.engine import make_engine, make_sessionmaker  # noqa: E402
from kolokol.storage.migrate import upgrade  # noqa: E402
from pbx.ami_framing import AmiFramer, AmiMessage, parse_capture  # noqa: E402
from pbx.assembler import CallAssembler  # noqa: E402
from pbx.call_record import PbxCallRecord  # noqa: E402
from pbx.live import LiveChange  # noqa: E402

CAPTURES = ROOT / "tests" / "fixtures" / "ami"
# A clinic's day is mostly answered calls; misses and outbound callbacks make up the rest.
WEIGHTS = {"ringall_answered": 4, "queue_answered": 4, "outbound_answered": 3, "operator_hangs_up_first": 2}
CHUNK = 4096  # about what one TCP read delivers


def load_templates() -> list[list[AmiMessage]]:
    templates = []
    for path in sorted(CAPTURES.glob("*.ami")):
        events = [e for e in parse_capture(path.read_bytes()) if "Event" in e]
        templates.extend([events] * WEIGHTS.get(path.stem, 1))
    if not templates:
        raise SystemExit(f"no captures in {CAPTURES}: run scripts/record-ami-fixtures")
    return templates


def _fresh(value: str, i: int) -> str:
    return f"{value}{i:06d}" if value else value


def calls_in(template: list[AmiMessage]) -> int:
    """How many call records one capture makes (a pickup's two Linkedids are one call)."""
    assembler = CallAssembler(PhoneNormalizer().e164)
    now = datetime.now(UTC)
    records: list[PbxCallRecord] = []
    for event in template:
        records.extend(assembler.feed(event, now))
    return len(records) + len(assembler.flush())


def build_stream(templates: list[list[AmiMessage]], calls: int) -> tuple[bytes, int, int]:
    """The captures repeated with fresh ids and shifted times, as the bytes Asterisk would send."""
    counts = {id(t): calls_in(t) for t in templates}
    out = bytearray(b"Asterisk Call Manager/11.0.0\r\n")
    events = 0
    offset = 0.0
    produced = 0
    i = 0
    while produced < calls:
        template = templates[i % len(templates)]
        stamps = [float(e["Timestamp"]) for e in template if "Timestamp" in e]
        base = stamps[0] if stamps else 0.0
        for event in template:
            lines = []
            for key, value in event.items():
                if key.endswith(("Uniqueid", "Linkedid")):
                    value = _fresh(value, i)
                elif key.endswith("Channel") and value.startswith("Local/") and value[-2:] in (";1", ";2"):
                    value = f"{value[:-2]}x{i}{value[-2:]}"
                elif key == "Timestamp":
                    value = f"{float(value) - base + offset + 1_763_000_000:.6f}"
                lines.append(f"{key}: {value}\r\n")
            out += "".join(lines).encode() + b"\r\n"
            events += 1
        offset += (stamps[-1] - base if stamps else 0) + 5
        produced += counts[id(template)]
        i += 1
    return bytes(out), events, produced


def chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


def bare_parse(data: bytes) -> float:
    framer = AmiFramer()
    started = time.perf_counter()
    for chunk in chunks(data):
        framer.feed(chunk)
    return time.perf_counter() - started


async def full_ingest(
    data: bytes, url: str, total_calls: int, *, live: bool
) -> tuple[float, int, dict[int, float], int]:
    engine = make_engine(url)
    await upgrade(engine)
    pipeline = CallPipeline(make_sessionmaker(engine), sla=timedelta(minutes=15))
    changes: list[int] = [0]

    def on_live(batch: Sequence[LiveChange]) -> None:
        # The feed's publisher only queues them (it runs in its own task): counting is a fair stand-in.
        changes[0] += len(batch)

    # The live service's own path: the ingest that kolokol serve wires to the AMI client, with the live
    # snapshots operators' screens get (live=True) or without them, to show what they cost.
    ingest = AsteriskIngest(
        CallAssembler(PhoneNormalizer().e164, settle_seconds=2, live=live),
        pipeline,
        on_live=on_live if live else None,
    )
    framer = AmiFramer()
    process = psutil.Process()
    rss: dict[int, float] = {}
    marks = [1000, total_calls]
    ingest.start()
    started = time.perf_counter()
    for chunk in chunks(data):
        for event in framer.feed(chunk):
            await ingest.on_event(event)
        if marks and ingest.calls_recorded >= marks[0]:
            rss[marks.pop(0)] = process.memory_info().rss / 2**20
        # Let the writer run as it would between TCP reads.
        await asyncio.sleep(0)
    await ingest.stop()
    elapsed = time.perf_counter() - started
    for mark in marks:
        rss[mark] = process.memory_info().rss / 2**20
    await engine.dispose()
    return elapsed, ingest.calls_recorded, rss, changes[0]


async def run_backend(
    name: str, url: str, data: bytes, events: int, calls: int, bare: float, *, live: bool = True
) -> None:
    elapsed, stored, rss, changes = await full_ingest(data, url, calls, live=live)
    full_events = events / elapsed
    label = f"{name} ({'live cards' if live else 'no live cards'})"
    print(
        f"{label:28} {stored / elapsed:9.0f} calls/s {full_events:10.0f} events/s"
        f"   {100 * bare / elapsed:5.1f}% of bare parsing   "
        + "  ".join(f"RSS after {n} calls: {mb:.0f} MiB" for n, mb in sorted(rss.items()))
        + (f"   {changes} live changes" if live else "")
    )
    if stored < calls:
        print(f"  !! only {stored} of {calls} calls came out")


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--pg-url", default=os.environ.get("KOLOKOL_TEST_PG_URL", ""))
    args = parser.parse_args()
    templates = load_templates()
    data, events, calls = build_stream(templates, args.calls)
    bare_runs = [bare_parse(data) for _ in range(5)]
    bare = statistics.median(bare_runs)
    print(
        f"stream: {calls} calls, {events} events, {len(data) / 2**20:.1f} MiB"
        f" from {len(set(map(id, templates)))}"
        f" captures ({CAPTURES.relative_to(ROOT)})"
    )
    print(f"bare framing+parsing (median of 5): {events / bare:,.0f} events/s = {calls / bare:,.0f} calls/s")
    with tempfile.TemporaryDirectory() as tmp:
        await run_backend("SQLite", f"sqlite+aiosqlite:///{tmp}/bench.sqlite3", data, events, calls, bare)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
        await run_backend("SQLite", url, data, events, calls, bare, live=False)
    if args.pg_url:
        from sqlalchemy import text

        engine = make_engine(args.pg_url)
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await engine.dispose()
        await run_backend("PostgreSQL", args.pg_url, data, events, calls, bare)
    else:
        print("PostgreSQL: skipped (give --pg-url or KOLOKOL_TEST_PG_URL)")
    print("targets: >= 500 calls/s on SQLite; >= 25% of bare parsing; RSS flat between 1,000 and N calls")


if __name__ == "__main__":
    asyncio.run(main())
