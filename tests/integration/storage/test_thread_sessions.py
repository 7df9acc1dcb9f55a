"""Write transactions run whole in a thread: committed once, rolled back whole, and the task listeners of
the app's sessions still told (on the event loop, never in the thread)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from kolokol.storage.engine import make_engine, make_sessionmaker
from kolokol.storage.tables import CallbackTask, new_id
from kolokol.storage.thread_sessions import ThreadSessions
from kolokol.tasks.events import TaskChange, watched_sessionmaker

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def task(number: str) -> CallbackTask:
    return CallbackTask(
        id=new_id(),
        number=number,
        status="open",
        missed_calls=1,
        first_missed_at=T0,
        last_missed_at=T0,
        due_at=T0 + timedelta(minutes=15),
        first_call_id="c",
        last_call_id="c",
        updated_at=T0,
    )


async def test_a_transaction_in_the_thread_is_committed_and_announced_on_the_loop(
    engine: AsyncEngine,
) -> None:
    heard: list[tuple[int, list[str]]] = []
    announced = asyncio.Event()

    def listener(changes: Sequence[TaskChange]) -> None:
        heard.append((threading.get_ident(), [c.task["number"] for c in changes]))
        announced.set()

    sessions = watched_sessionmaker(engine, listener)
    threads = ThreadSessions.open(sessions, "test-writer")
    assert threads is not None
    try:

        def work(session: Session) -> int:
            session.add(task("+79161234567"))
            return threading.get_ident()

        worker = await threads.run(work)
        await announced.wait()
    finally:
        await asyncio.to_thread(threads.close)

    assert worker != threading.get_ident(), "the transaction ran in the thread"
    assert heard == [(threading.get_ident(), ["+79161234567"])], "told once, on the loop"
    async with make_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(CallbackTask)) == 1


async def test_a_transaction_that_fails_leaves_nothing_and_tells_nobody(engine: AsyncEngine) -> None:
    heard: list[Sequence[TaskChange]] = []
    sessions = watched_sessionmaker(engine, heard.append)
    threads = ThreadSessions.open(sessions, "test-writer")
    assert threads is not None

    def work(session: Session) -> None:
        session.add(task("+79161234567"))
        session.flush()
        session.execute(insert(CallbackTask), [{"id": "x"}])  # not null columns missing: refused

    try:
        with pytest.raises(IntegrityError, match=r"(?i)null"):
            await threads.run(work)
        # The thread goes on serving after a failure.
        assert (
            await threads.run(lambda session: session.scalar(select(func.count()).select_from(CallbackTask)))
            == 0
        )
    finally:
        await asyncio.to_thread(threads.close)
    await asyncio.sleep(0)
    assert heard == []


async def test_an_in_memory_database_has_no_second_engine() -> None:
    engine = make_engine("sqlite+aiosqlite://")
    try:
        assert ThreadSessions.open(make_sessionmaker(engine), "test-writer") is None
    finally:
        await engine.dispose()


async def test_after_the_database_dropped_its_connection_the_next_transaction_gets_a_new_one(
    engine: AsyncEngine, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("a SQLite file has no server to drop a connection")
    threads = ThreadSessions.open(make_sessionmaker(engine), "test-writer")
    assert threads is not None

    def backend(session: Session) -> int:
        return int(session.scalar(text("SELECT pg_backend_pid()")) or 0)

    try:
        first = await threads.run(backend)
        async with engine.connect() as conn:
            # Waits (up to 5 s) until the backend is gone.
            await conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": first})
        with pytest.raises(OperationalError):
            await threads.run(backend)
        assert await threads.run(backend) not in (0, first)
    finally:
        await asyncio.to_thread(threads.close)
