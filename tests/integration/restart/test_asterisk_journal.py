"""The journal of Asterisk calls in progress, on SQLite and PostgreSQL: a stop or a crash in the middle of
calls changes neither their records nor their callback tasks, and the journal holds only what is in
progress."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kolokol.calls.asterisk_ingest import AsteriskIngest
from kolokol.calls.asterisk_journal import PROVIDER, AmiJournal
from kolokol.calls.pipeline import CallPipeline
from kolokol.phones import PhoneNormalizer
from kolokol.storage.engine import make_sessionmaker
from kolokol.storage.tables import Call, CallbackTask, WebhookEvent
from pbx.ami_framing import AmiMessage, parse_capture
from pbx.assembler import CallAssembler
from tests.support.ami_restart import Restart, crash, replay, replay_with_restart, through
from tests.support.paths import AMI_CAPTURES

# A missed call, the same caller answered a minute later (closing its task), a queue, a transfer.
CAPTURES = ["ringall_no_answer", "ringall_answered", "queue_answered", "attended_transfer"]


def events() -> list[AmiMessage]:
    """The captures one after another, as one afternoon of a clinic's traffic."""
    out: list[AmiMessage] = []
    for name in CAPTURES:
        out += parse_capture((AMI_CAPTURES / f"{name}.ami").read_bytes())
    return sorted(out, key=lambda e: float(e["Timestamp"]))


def maker(sessions: async_sessionmaker[AsyncSession]) -> Any:
    def ingest() -> AsteriskIngest:
        return AsteriskIngest(
            CallAssembler(PhoneNormalizer().e164, live=True),
            CallPipeline(sessions, sla=timedelta(minutes=15)),
            journal=AmiJournal(sessions),
            tick_seconds=3600,
        )

    return ingest


async def stored(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    async with sessions() as session:
        calls = (await session.scalars(select(Call).order_by(Call.started_at))).all()
        tasks = (await session.scalars(select(CallbackTask).order_by(CallbackTask.first_missed_at))).all()
        by_id = {call.id: call.pbx_call_id for call in calls}
        return (
            [
                (
                    c.pbx_call_id,
                    c.direction,
                    c.caller,
                    c.called,
                    c.status,
                    c.disposition,
                    c.missed_where,
                    c.operator,
                    c.answered_by,
                    c.rang,
                    c.transfers,
                    c.started_at,
                    c.answered_at,
                    c.ended_at,
                    c.recording_file,
                    c.first_time_caller,
                    c.closed_by_timeout,
                )
                for c in calls
            ],
            [
                (
                    t.number,
                    t.status,
                    t.missed_calls,
                    by_id[t.first_call_id],
                    t.closed_by_call_id and by_id[t.closed_by_call_id],
                )
                for t in tasks
            ],
        )


async def journaled(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        query = select(func.count()).select_from(WebhookEvent).where(WebhookEvent.provider == PROVIDER)
        return int(await session.scalar(query) or 0)


async def forget_everything(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        for table in (Call, CallbackTask, WebhookEvent):
            await session.execute(delete(table))


@pytest.mark.parametrize("how", ["stop", "crash"])
async def test_records_and_tasks_are_the_same_with_a_restart_in_the_middle(
    engine: AsyncEngine, how: Restart
) -> None:
    sessions = make_sessionmaker(engine)
    traffic = events()
    await replay(maker(sessions), traffic)
    expected = await stored(sessions)
    calls, tasks = expected
    assert len(calls) == len(CAPTURES) and len(tasks) == 1, "a missed call's task, closed by the next call"
    await forget_everything(sessions)

    # In the middle of the second call (ringing), and of the third (in the queue).
    for cut in (len(traffic) // 3, len(traffic) // 2):
        await replay_with_restart(maker(sessions), traffic, cut, how)
        assert await stored(sessions) == expected, f"restarted after event {cut}"
        assert await journaled(sessions) == 0, "nothing left in the journal once every call is recorded"
        await forget_everything(sessions)


async def test_the_journal_holds_the_calls_in_progress_and_lets_go_of_a_call_with_its_record(
    engine: AsyncEngine,
) -> None:
    sessions = make_sessionmaker(engine)
    traffic = parse_capture((AMI_CAPTURES / "ringall_answered.ami").read_bytes())
    ingest = maker(sessions)()
    ingest.start()
    answered = next(n for n, e in enumerate(traffic) if e.get("Event") == "BridgeEnter") + 1
    await through(ingest, traffic[:answered])
    await crash(ingest)
    assert await journaled(sessions) == answered, "every event so far, written as it came"
    async with sessions() as session:
        assert (await session.scalar(select(func.count()).select_from(Call))) == 0

    again = maker(sessions)()
    again.start()
    await again.restore()
    await through(again, traffic[answered:])
    await again.on_event({"Event": "FullyBooted", "Timestamp": f"{float(traffic[-1]['Timestamp']) + 60}"})
    await again.drain()
    assert await journaled(sessions) == 0
    calls, _ = await stored(sessions)
    assert [(c[4], c[8]) for c in calls] == [("answered", "102")]
    await again.stop()
