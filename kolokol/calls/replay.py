"""``kolokol replay``: recorded AMI traffic through the live assembler and follow-up rules, as JSON lines."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy import select

from kolokol.calls.record_json import calls_json
from kolokol.calls.wiring import make_assembler, make_phones, make_pipeline
from kolokol.settings import Settings
from kolokol.storage.engine import make_engine, make_sessionmaker
from kolokol.storage.migrate import upgrade
from kolokol.storage.tables import Call
from pbx.ami_framing import AmiMessage, UnreadableCapture, read_capture_file
from pbx.call_record import PbxCallRecord

IN_MEMORY = "sqlite+aiosqlite:///:memory:"


def read_all(paths: Sequence[str]) -> list[list[AmiMessage]]:
    """Every file read before anything is processed, so a bad file changes nothing."""
    return [read_capture_file(Path(p)) for p in paths]


def assemble(streams: Sequence[list[AmiMessage]], settings: Settings) -> list[PbxCallRecord]:
    phones = make_phones(settings)
    records: list[PbxCallRecord] = []
    for events in streams:
        assembler = make_assembler(settings, phones)
        # Without Timestamp headers every event gets the same moment: durations come out as 0.
        fallback = datetime.now(UTC).replace(microsecond=0)
        for event in events:
            records.extend(assembler.feed(event, fallback))
        records.extend(assembler.flush())
    return records


async def replay(paths: Sequence[str], settings: Settings, *, use_config_db: bool, out: TextIO) -> int:
    try:
        streams = read_all(paths)
    except UnreadableCapture as exc:
        print(f"kolokol replay: {exc}", file=sys.stderr)
        return 2
    records = assemble(streams, settings)
    engine = make_engine(settings.database.url if use_config_db else IN_MEMORY)
    try:
        await upgrade(engine)
        sessions = make_sessionmaker(engine)
        pipeline = make_pipeline(settings, sessions)
        # Follow-up rules see calls in the order they ended, as the live service does.
        stored = await pipeline.record_many(sorted(records, key=lambda r: r.ended_at))
        async with sessions() as session:
            ids = [c.id for c in stored]
            rows = (await session.scalars(select(Call).where(Call.id.in_(ids)))).all() if ids else []
            ordered = sorted(rows, key=lambda c: (c.started_at, c.pbx_call_id))
            for item in await calls_json(session, ordered):
                out.write(json.dumps(item, ensure_ascii=False) + "\n")
    finally:
        await engine.dispose()
    return 0
