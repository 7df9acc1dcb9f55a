"""Migration 0010 (recordings) on a database that already holds calls: each call keeps what it had and
gets its branch from attribution's; migration 0009's report triggers on ``calls`` survive the new column
(both ways); SQLite and PostgreSQL."""

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


async def triggers_on_calls(url: str) -> set[str]:
    engine = make_engine(url)
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'calls'"
        else:
            query = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'calls'::regclass AND NOT tgisinternal"
        names = set((await conn.execute(text(query))).scalars().all())
    await engine.dispose()
    return names


async def test_calls_get_their_attributed_branch_and_the_report_triggers_stay(db_url: str) -> None:
    await reset_if_postgres(db_url)
    await migrate(db_url, "0009")
    before = await triggers_on_calls(db_url)
    assert before, "0009 puts triggers on calls"
    engine = make_engine(db_url)
    async with engine.begin() as conn:
        for call_id, branch in (("c-center", "Центр"), ("c-none", None)):
            await conn.execute(
                text(
                    "INSERT INTO calls (id, pbx, pbx_call_id, direction, caller, called, status, disposition,"
                    " rang, transfers, started_at, ended_at, closed_by_timeout, first_time_caller,"
                    " contact_ids, attr_branch) VALUES (:id, 'asterisk', :id, 'inbound',"
                    " '+79161234567', '+74951110001', 'answered', 'answered', '[]', '[]', :t, :t, false,"
                    " false, '[]', :branch)"
                ),
                {"id": call_id, "t": T0, "branch": branch},
            )
    await engine.dispose()

    await migrate(db_url, "head")
    engine = make_engine(db_url)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT id, branch, attr_branch, status FROM calls ORDER BY id"))
        ).all()
    await engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("c-center", "Центр", "Центр", "answered"),
        ("c-none", None, None, "answered"),
    ]
    assert await triggers_on_calls(db_url) == before

    await migrate(db_url, "0009", down=True)
    assert await triggers_on_calls(db_url) == before
    engine = make_engine(db_url)
    async with engine.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM calls"))).scalar_one()
    await engine.dispose()
    assert count == 2
