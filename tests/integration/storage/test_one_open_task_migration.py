"""Migration 0004 on a database that already holds two open tasks for one number (written before the
guarantee existed): merged into one that counts every miss, nothing deleted, then the index."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.storage.engine import make_engine, make_sessionmaker
from kolokol.storage.migrate import alembic_config, upgrade
from kolokol.storage.tables import Call, CallbackTask
from tests.support.databases import reset_if_postgres

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
UTC_TIME = sa.DateTime(timezone=True)
# The tables as revision 0003 made them (the ORM classes know later columns).
TASKS_0003 = sa.table(
    "callback_tasks",
    *(
        sa.column(name)
        for name in ("id", "number", "status", "missed_calls", "first_call_id", "last_call_id")
    ),
    *(sa.column(name) for name in ("assignee", "note", "resolution")),
    *(sa.column(name, UTC_TIME) for name in ("first_missed_at", "last_missed_at", "due_at", "updated_at")),
)
CALLS_0003 = sa.table(
    "calls",
    *(sa.column(name) for name in ("id", "pbx", "pbx_call_id", "direction", "caller", "called")),
    *(sa.column(name) for name in ("outside_number", "status", "disposition", "callback_task_id")),
    *(sa.column(name) for name in ("closed_by_timeout", "first_time_caller")),
    *(sa.column(name, sa.JSON) for name in ("rang", "transfers", "contact_ids")),
    *(sa.column(name, UTC_TIME) for name in ("started_at", "ended_at")),
)
NUMBER = "+79161234567"


@pytest.fixture
async def at_0003(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A database whose schema stands at revision 0003, before the index."""
    await reset_if_postgres(db_url)
    engine = make_engine(db_url)

    def to_0003(connection: object) -> None:
        config = alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")

    async with engine.begin() as conn:
        await conn.run_sync(to_0003)
    yield engine
    await engine.dispose()


def task(
    task_id: str, *, minutes: int, missed: int, status: str = "open", **extra: object
) -> dict[str, object]:
    first = T0 + timedelta(minutes=minutes)
    return {
        "id": task_id,
        "number": NUMBER,
        "status": status,
        "missed_calls": missed,
        "first_missed_at": first,
        "last_missed_at": first + timedelta(minutes=missed - 1),
        "due_at": first + timedelta(minutes=15),
        "first_call_id": f"{task_id}-first",
        "last_call_id": f"{task_id}-last",
        "updated_at": first,
        "assignee": None,
        "note": None,
        "resolution": None,
        **extra,
    }


def call(call_id: str, task_id: str, minutes: int) -> dict[str, object]:
    at = T0 + timedelta(minutes=minutes)
    return {
        "id": call_id,
        "pbx": "asterisk",
        "pbx_call_id": call_id,
        "direction": "inbound",
        "caller": NUMBER,
        "called": "+74951110001",
        "outside_number": NUMBER,
        "status": "missed",
        "disposition": "no_answer",
        "rang": [],
        "transfers": [],
        "started_at": at,
        "ended_at": at + timedelta(seconds=20),
        "closed_by_timeout": False,
        "first_time_caller": False,
        "contact_ids": [],
        "callback_task_id": task_id,
    }


async def test_duplicate_open_tasks_are_merged_before_the_index_is_made(at_0003: AsyncEngine) -> None:
    sessions = make_sessionmaker(at_0003)
    async with sessions.begin() as session:
        await session.execute(
            insert(TASKS_0003),
            [
                task("closed", minutes=-600, missed=1, status="done", resolution="reached"),
                # Written by the Asterisk ingest and the webhook intake at once, before the guarantee.
                task("later", minutes=2, missed=3, assignee="anna", note="called twice, no answer"),
                task("oldest", minutes=0, missed=1),
                task("other-number", minutes=1, missed=1, number="+79031112233"),
            ],
        )
        await session.execute(
            insert(CALLS_0003),
            [
                call("c-closed", "closed", -600),
                call("c-oldest", "oldest", 0),
                *(call(f"c-later-{n}", "later", 2 + n) for n in range(3)),
                call("c-other", "other-number", 1),
            ],
        )

    await upgrade(at_0003)

    async with sessions() as session:
        tasks = {t.id: t for t in (await session.scalars(select(CallbackTask))).all()}
        pointers = dict((await session.execute(select(Call.pbx_call_id, Call.callback_task_id))).all())
    assert set(tasks) == {"closed", "later", "oldest", "other-number"}, "nothing is deleted"
    kept, merged = tasks["oldest"], tasks["later"]
    assert kept.status == "open"
    assert kept.missed_calls == 4, "the kept task counts every miss"
    assert (kept.first_missed_at, kept.last_missed_at) == (T0, T0 + timedelta(minutes=4))
    assert (kept.due_at, kept.first_call_id, kept.last_call_id) == (
        T0 + timedelta(minutes=15),
        "oldest-first",
        "later-last",
    )
    assert (kept.assignee, kept.note) == ("anna", "called twice, no answer")
    assert (merged.status, merged.resolution, merged.missed_calls) == ("cancelled", "merged", 3)
    assert merged.note == "called twice, no answer\nmerged into task oldest (one open task per number)"
    assert merged.closed_at is not None
    assert {
        cid: pointers[cid] for cid in ("c-oldest", "c-later-0", "c-later-1", "c-later-2")
    } == dict.fromkeys(("c-oldest", "c-later-0", "c-later-1", "c-later-2"), "oldest")
    assert (pointers["c-closed"], pointers["c-other"]) == ("closed", "other-number")
    assert (tasks["closed"].status, tasks["other-number"].status) == ("done", "open")

    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            await session.execute(insert(CallbackTask), [task("again", minutes=9, missed=1)])
