"""Migration 0007 (callback attempts and undo) on a database that already holds tasks: every task is kept
as it was, and reads as "no attempt yet, version 1"; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text

from kolokol.storage.engine import make_engine
from kolokol.storage.migrate import alembic_config
from tests.support.databases import reset_if_postgres

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def migrate(url: str, revision: str, *, down: bool = False) -> None:
    engine = make_engine(url)

    def run(connection: object) -> None:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)
    await engine.dispose()


async def test_stored_tasks_survive_and_read_as_not_yet_attempted(db_url: str) -> None:
    await reset_if_postgres(db_url)
    await migrate(db_url, "0006")
    engine = make_engine(db_url)
    async with engine.begin() as conn:
        for task_id, status, resolution in (("t-open", "open", None), ("t-done", "done", "reached")):
            await conn.execute(
                text(
                    "INSERT INTO callback_tasks (id, number, status, missed_calls, first_missed_at,"
                    " last_missed_at, due_at, assignee, first_call_id, last_call_id, resolution, note,"
                    " updated_at) VALUES (:id, :number, :status, 2, :t, :t, :t, 'anna', 'c1', 'c2',"
                    " :resolution, 'перезвонить после обеда', :t)"
                ),
                {
                    "id": task_id,
                    "number": f"+7916123456{len(task_id)}{task_id[-1]}",
                    "status": status,
                    "resolution": resolution,
                    "t": T0,
                },
            )
    await engine.dispose()

    await migrate(db_url, "head")
    engine = make_engine(db_url)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT id, status, resolution, missed_calls, assignee, note, attempts, version,"
                    " next_attempt_at, closed_by, undo FROM callback_tasks ORDER BY id"
                )
            )
        ).all()
    await engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("t-done", "done", "reached", 2, "anna", "перезвонить после обеда", 0, 1, None, None, None),
        ("t-open", "open", None, 2, "anna", "перезвонить после обеда", 0, 1, None, None, None),
    ]

    # And back: the columns go, the tasks stay.
    await migrate(db_url, "0006", down=True)
    engine = make_engine(db_url)
    async with engine.connect() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM callback_tasks"))
    await engine.dispose()
    assert count == 2
