"""One open callback task per number, whoever writes: two real writers (two engines, as two nodes or the
Asterisk ingest next to the webhook intake) missing calls from the same numbers at the same moment."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.util import await_only

from kolokol.calls.cloud_intake import WebhookIntake
from kolokol.calls.pipeline import CallPipeline
from kolokol.phones import PhoneNormalizer
from kolokol.storage.engine import make_engine, make_sessionmaker
from kolokol.storage.tables import Call, CallbackTask, new_id
from kolokol.storage.write_lock import lost_to_another_writer
from pbx.call_record import PbxCallRecord
from pbx.webhooks.base import WebhookRequest
from pbx.webhooks.generic import Generic
from tests.support.call_records import T0, missed
from tests.support.providers.generic import LINE, ev

SLA = timedelta(minutes=15)
NUMBERS = [f"+7916555{n:04d}" for n in range(12)]
ROUNDS = 4
TOKEN = "race-url-token-0123456789abcdef0123"


@pytest.fixture
async def second_engine(engine: AsyncEngine, db_url: str) -> AsyncIterator[AsyncEngine]:
    """Another engine on the same database: its own connections, like a second node."""
    other = make_engine(db_url)
    yield other
    await other.dispose()


def missed_by(call_id: str, n: int, number: str, minutes: float = 0) -> PbxCallRecord:
    """A missed call from ``number`` under the writer's own id (as two PBXs would number them)."""
    return replace(missed(n, number, minutes), pbx_call_id=call_id)


async def open_tasks(engine: AsyncEngine) -> dict[str, CallbackTask]:
    async with make_sessionmaker(engine)() as session:
        rows = (await session.scalars(select(CallbackTask).where(CallbackTask.status == "open"))).all()
    by_number: dict[str, CallbackTask] = {}
    for task in rows:
        assert task.number not in by_number, f"two open tasks for {task.number}"
        by_number[task.number] = task
    return by_number


async def task_of_each_call(engine: AsyncEngine) -> dict[str, str | None]:
    async with make_sessionmaker(engine)() as session:
        return dict((await session.execute(select(Call.pbx_call_id, Call.callback_task_id))).all())


@pytest.mark.parametrize("shape", ["a transaction per call", "whole batches in opposite orders"])
async def test_two_writers_missing_the_same_numbers_together_count_both_misses_on_one_task(
    engine: AsyncEngine, second_engine: AsyncEngine, shape: str
) -> None:
    a = CallPipeline(make_sessionmaker(engine), sla=SLA)
    b = CallPipeline(make_sessionmaker(second_engine), sla=SLA)
    # Rounds: the first one also opens the engines' connections, which keeps the writers apart.
    numbers = [[f"+7916{r}55{n:04d}" for n in range(len(NUMBERS))] for r in range(ROUNDS)]
    for r, round_numbers in enumerate(numbers):
        from_a = [missed_by(f"a.{r}.{n}", n, number) for n, number in enumerate(round_numbers)]
        from_b = [missed_by(f"b.{r}.{n}", n, number, minutes=1) for n, number in enumerate(round_numbers)]
        if shape == "a transaction per call":
            await asyncio.gather(
                *(p.record(c) for ca, cb in zip(from_a, from_b, strict=True) for p, c in ((a, ca), (b, cb)))
            )
        else:
            await asyncio.gather(a.record_many(from_a), b.record_many(list(reversed(from_b))))

    tasks = await open_tasks(engine)
    everyone = [number for round_numbers in numbers for number in round_numbers]
    assert {number: t.missed_calls for number, t in tasks.items()} == dict.fromkeys(everyone, 2)
    pointers = await task_of_each_call(engine)
    for r, round_numbers in enumerate(numbers):
        for n, number in enumerate(round_numbers):
            assert pointers[f"a.{r}.{n}"] == pointers[f"b.{r}.{n}"] == tasks[number].id


async def test_two_writers_adding_misses_to_an_open_task_lose_neither(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    a = CallPipeline(make_sessionmaker(engine), sla=SLA)
    b = CallPipeline(make_sessionmaker(second_engine), sla=SLA)
    await a.record_many([missed_by(f"first.{n}", n, number) for n, number in enumerate(NUMBERS)])
    await asyncio.gather(
        *(
            p.record(missed_by(f"{w}.{n}", n, number, minutes=m))
            for n, number in enumerate(NUMBERS)
            for p, w, m in ((a, "a", 1), (b, "b", 2))
        )
    )
    tasks = await open_tasks(engine)
    assert {number: t.missed_calls for number, t in tasks.items()} == dict.fromkeys(NUMBERS, 3)
    assert {t.last_missed_at for t in tasks.values()} == {T0 + timedelta(minutes=2)}


async def test_the_webhook_intake_and_the_asterisk_path_together_open_one_task(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    sessions = make_sessionmaker(engine)
    adapter = Generic(PhoneNormalizer().e164, secret=None, url_token=TOKEN)
    intake = WebhookIntake(
        {"generic": adapter}, sessions, CallPipeline(sessions, sla=SLA), stale_after=timedelta(hours=4)
    )
    asterisk = CallPipeline(make_sessionmaker(second_engine), sla=SLA)

    async def cloud_miss(n: int, number: str) -> None:
        call = f"cloud-{n}"
        events = [
            ev(call, 1, "call.started", "00:00", direction="inbound", **{"from": number, "to": LINE}),
            ev(call, 2, "call.ringing", "00:05", extension="101"),
            ev(call, 3, "call.ended", "00:30", reason="no_answer"),
        ]
        now = datetime.now(UTC)
        request = WebhookRequest(
            "POST", f"/{TOKEN}", "", {}, json.dumps(events).encode(), "application/json", None, now
        )
        await intake.submit("generic", adapter.handle(request).events, now)

    intake.start()
    try:
        await asyncio.gather(
            *(cloud_miss(n, number) for n, number in enumerate(NUMBERS)),
            *(asterisk.record(missed_by(f"ami.{n}", n, number)) for n, number in enumerate(NUMBERS)),
        )
        await intake.settle()
    finally:
        await intake.stop()

    tasks = await open_tasks(engine)
    assert {number: t.missed_calls for number, t in tasks.items()} == dict.fromkeys(NUMBERS, 2)
    pointers = await task_of_each_call(engine)
    for n, number in enumerate(NUMBERS):
        assert pointers[f"cloud-{n}"] == pointers[f"ami.{n}"] == tasks[number].id


class _PausingSession(Session):
    """A session whose first flush waits for a signal: the writer has read, and not yet written."""


async def test_a_writer_that_read_before_the_other_wrote_runs_again_and_counts_its_miss(
    engine: AsyncEngine, second_engine: AsyncEngine, db_url: str
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("on SQLite a writer holds the write lock from before its reads: the other one queues")
    has_read = asyncio.Event()
    other_has_written = asyncio.Event()
    flushes = 0

    def pause_the_first_flush(_session: Session, _context: UOWTransaction, _objects: object) -> None:
        nonlocal flushes
        flushes += 1
        if flushes == 1:
            has_read.set()
            await_only(other_has_written.wait())

    paused: async_sessionmaker = make_sessionmaker(engine)  # type: ignore[type-arg]
    paused.configure(sync_session_class=_PausingSession)
    event.listen(_PausingSession, "before_flush", pause_the_first_flush)
    try:
        slow = asyncio.create_task(CallPipeline(paused, sla=SLA).record(missed_by("slow", 1, NUMBERS[0])))
        await has_read.wait()
        await CallPipeline(make_sessionmaker(second_engine), sla=SLA).record(
            missed_by("fast", 2, NUMBERS[0], minutes=1)
        )
        other_has_written.set()
        await slow
    finally:
        event.remove(_PausingSession, "before_flush", pause_the_first_flush)

    assert flushes == 2, "the slow writer met the fast one's task and ran its transaction again"
    [task] = (await open_tasks(engine)).values()
    assert (task.missed_calls, task.first_missed_at, task.last_missed_at) == (
        2,
        T0,
        T0 + timedelta(minutes=1),
    )
    pointers = await task_of_each_call(engine)
    assert pointers["slow"] == pointers["fast"] == task.id


async def test_the_database_refuses_a_second_open_task_for_a_number(engine: AsyncEngine) -> None:
    def row(status: str) -> dict[str, object]:
        return {
            "id": new_id(),
            "number": NUMBERS[0],
            "status": status,
            "missed_calls": 1,
            "first_missed_at": T0,
            "last_missed_at": T0,
            "due_at": T0 + SLA,
            "first_call_id": "c",
            "last_call_id": "c",
            "updated_at": T0,
        }

    sessions = make_sessionmaker(engine)
    async with sessions.begin() as session:
        # Closed tasks for the number may be many; the open one is one.
        await session.execute(insert(CallbackTask), [row("done"), row("cancelled"), row("done"), row("open")])
    with pytest.raises(IntegrityError) as refused:
        async with sessions.begin() as session:
            await session.execute(insert(CallbackTask), [row("open")])
    assert lost_to_another_writer(refused.value), "the pipeline must tell this refusal from other errors"

    first = row("done")
    async with sessions.begin() as session:
        await session.execute(insert(CallbackTask), [first])
    with pytest.raises(IntegrityError) as duplicate_id:
        async with sessions.begin() as session:
            await session.execute(insert(CallbackTask), [{**row("done"), "id": first["id"]}])
    assert not lost_to_another_writer(duplicate_id.value), (
        "an error that a second run would repeat is not retried"
    )
