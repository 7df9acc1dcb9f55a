"""Every stored call carries its branch (from the settings' maps when attribution names none), in the
database and in the call record; recordings are planned only when recordings are on."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.calls.record_json import calls_json
from kolokol.calls.wiring import make_pipeline
from kolokol.settings import Settings
from kolokol.storage.engine import make_sessionmaker
from kolokol.storage.tables import Recording
from tests.support.recording_jobs import answered


def settings(tmp_path: Path, *, recordings: bool = True) -> Settings:
    return Settings.model_validate(
        {
            "calls": {
                "branch_by_number": {"8 (495) 111-00-01": "Центр", "+74952220002": "Север"},
                "branch_by_extension": {"205": "Юг"},
            },
            "recordings": {"enabled": recordings, "storage_dir": str(tmp_path)},
        }
    )


async def test_the_branch_comes_from_the_number_or_the_extension(engine: AsyncEngine, tmp_path: Path) -> None:
    sessions = make_sessionmaker(engine)
    pipeline = make_pipeline(settings(tmp_path), sessions)
    inbound = await pipeline.record(answered(1))
    outbound = await pipeline.record(
        replace(answered(2), direction="outbound", caller="+74952220002", called="+79161234567")
    )
    by_phone = await pipeline.record(
        replace(answered(3), called="+74959990000", operator="205", answered_by="205")
    )
    nowhere = await pipeline.record(replace(answered(4), called="+74959990000"))
    async with sessions() as session:
        records = {r["id"]: r for r in await calls_json(session, [inbound, outbound, by_phone, nowhere])}
    assert [records[c.id]["branch"] for c in (inbound, outbound, by_phone, nowhere)] == [
        "Центр",
        "Север",
        "Юг",
        None,
    ]


async def test_a_changed_setting_applies_when_the_call_is_stored_again(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sessions = make_sessionmaker(engine)
    first = await make_pipeline(settings(tmp_path), sessions).record(
        replace(answered(1), called="+74959990000")
    )
    assert first.branch is None
    moved = Settings.model_validate({"calls": {"branch_by_number": {"+74959990000": "Новый"}}})
    again = await make_pipeline(moved, sessions).record(replace(answered(1), called="+74959990000"))
    assert (again.id, again.branch) == (first.id, "Новый")


async def test_recordings_are_planned_only_when_recordings_are_on(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    sessions = make_sessionmaker(engine)
    await make_pipeline(settings(tmp_path, recordings=False), sessions).record(
        answered(1, recording_file="a.wav")
    )
    on = await make_pipeline(settings(tmp_path), sessions).record(answered(2, recording_file="b.wav"))
    async with sessions() as session:
        planned = (await session.scalars(select(Recording))).all()
    assert [(r.call_id, r.branch) for r in planned] == [(on.id, "Центр")]
