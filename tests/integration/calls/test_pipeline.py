"""Finished calls into the database: contacts, first-time callers, callback tasks opened and closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.calls.pipeline import CallPipeline
from kolokol.calls.record_json import calls_json
from kolokol.contacts.store import upsert_contact
from kolokol.phones import PhoneNormalizer
from kolokol.storage.engine import make_sessionmaker
from kolokol.storage.tables import CallbackTask
from pbx.call_record import PbxCallRecord

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def call(
    n: int,
    *,
    direction: str = "inbound",
    status: str = "missed",
    number: str = "+79161234567",
    minutes: float = 0,
) -> PbxCallRecord:
    start = T0 + timedelta(minutes=minutes)
    answered = status == "answered"
    return PbxCallRecord(
        pbx="asterisk",
        pbx_call_id=f"17639.{n}",
        direction=direction,  # type: ignore[arg-type]
        caller=number if direction == "inbound" else "101",
        caller_name=None,
        called="+74951110001" if direction == "inbound" else number,
        status=status,  # type: ignore[arg-type]
        disposition="answered" if answered else "no_answer",
        missed_where=None if answered or direction != "inbound" else "ringing",
        operator="101" if answered else None,
        answered_by="101" if answered else None,
        rang=("101",),
        transfers=(),
        started_at=start,
        answered_at=start + timedelta(seconds=5) if answered else None,
        ended_at=start + timedelta(seconds=60),
    )


async def test_contacts_first_time_and_task_lifecycle(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    phones = PhoneNormalizer()
    async with sessions.begin() as session:
        await upsert_contact(
            session, phones, external_id="p1", name="Мама Петрова", phones=["8 (916) 123-45-67"]
        )
        await upsert_contact(
            session, phones, external_id="p2", name="Сын Петров", phones=["+7 916 123 45 67"]
        )
    pipeline = CallPipeline(sessions, sla=timedelta(minutes=15))

    first = await pipeline.record(call(1))
    second = await pipeline.record(call(2, minutes=5))
    async with sessions() as session:
        [one, two] = await calls_json(session, [first, second])
        tasks = (await session.scalars(select(CallbackTask))).all()
    assert {c["name"] for c in one["contacts"]} == {"Мама Петрова", "Сын Петров"}
    assert one["first_time_caller"] is True and two["first_time_caller"] is False
    assert len(tasks) == 1, "a second miss updates the open task instead of opening another"
    assert tasks[0].missed_calls == 2
    assert tasks[0].due_at == T0 + timedelta(minutes=15)
    assert two["callback_task"]["status"] == "open"

    # An internal call and an outbound call that nobody answered leave the task open.
    await pipeline.record(call(3, direction="outbound", status="unanswered", minutes=10))
    async with sessions() as session:
        assert (await session.scalar(select(CallbackTask))).status == "open"  # type: ignore[union-attr]

    reached = await pipeline.record(call(4, direction="outbound", status="answered", minutes=12))
    async with sessions() as session:
        task = await session.scalar(select(CallbackTask))
        assert task is not None
        assert (task.status, task.resolution, task.closed_by_call_id) == ("done", "reached", reached.id)

    # The next miss opens a fresh task.
    await pipeline.record(call(5, minutes=30))
    async with sessions() as session:
        statuses = sorted(t.status for t in (await session.scalars(select(CallbackTask))).all())
    assert statuses == ["done", "open"]


async def test_same_call_twice_is_stored_once(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    pipeline = CallPipeline(sessions, sla=timedelta(minutes=15))
    a = await pipeline.record(call(1))
    b = await pipeline.record(call(1))
    assert a.id == b.id
    async with sessions() as session:
        task = await session.scalar(select(CallbackTask))
        assert task is not None and task.missed_calls == 1


async def test_anonymous_callers_get_no_task(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    pipeline = CallPipeline(sessions, sla=timedelta(minutes=15))
    await pipeline.record(call(1, number="anonymous"))
    async with sessions() as session:
        assert await session.scalar(select(CallbackTask)) is None


async def test_a_batch_behaves_like_calls_stored_one_by_one(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    pipeline = CallPipeline(sessions, sla=timedelta(minutes=15))
    stored = await pipeline.record_many(
        [
            call(1),
            call(2, minutes=1),
            call(3, direction="outbound", status="answered", minutes=2),
            call(4, minutes=3),
        ]
    )
    assert [c.first_time_caller for c in stored] == [True, False, False, False]
    async with sessions() as session:
        tasks = sorted((await session.scalars(select(CallbackTask))).all(), key=lambda t: t.first_missed_at)
    assert [(t.status, t.missed_calls) for t in tasks] == [("done", 2), ("open", 1)]
    assert tasks[0].closed_by_call_id == stored[2].id
    assert stored[3].callback_task_id == tasks[1].id


async def test_first_time_caller_look_back(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    pipeline = CallPipeline(sessions, sla=timedelta(minutes=15), first_time_lookback=timedelta(days=30))
    await pipeline.record(call(1))
    await pipeline.record(call(2, minutes=60 * 24 * 10))
    late = await pipeline.record(call(3, minutes=60 * 24 * 45))
    recent = await pipeline.record(call(4, minutes=60 * 24 * 46))
    assert late.first_time_caller is True, "day 45: the calls of day 0 and day 10 are older than 30 days"
    assert recent.first_time_caller is False
    fresh = await pipeline.record(call(5, minutes=60 * 24 * 200))
    assert fresh.first_time_caller is True
