"""A database that must already exist (the CLI's reading commands), on SQLite and PostgreSQL."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import text

from kolokol.home import sqlite_file
from kolokol.storage.engine import make_engine
from kolokol.storage.existing import NoDatabase, open_existing
from kolokol.storage.migrate import upgrade
from tests.support.databases import reset_if_postgres


async def test_only_a_migrated_database_opens_and_looking_creates_nothing(db_url: str) -> None:
    await reset_if_postgres(db_url)
    path = sqlite_file(db_url)
    expected = f"no database at {path}" if path is not None else "holds no kolokol tables"
    with pytest.raises(NoDatabase, match=expected):
        await open_existing(db_url)
    assert path is None or not path.exists(), "looking did not create the file"
    fresh = make_engine(db_url)
    await upgrade(fresh)
    await fresh.dispose()
    engine = await open_existing(db_url)
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM users"))).scalar() == 0
    await engine.dispose()


async def test_a_server_that_does_not_answer_is_named_without_its_password() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connecting is refused, nobody can take it
        port = closed.getsockname()[1]
        url = f"postgresql+psycopg://kolokol:s3cret@127.0.0.1:{port}/kolokol"
        with pytest.raises(NoDatabase) as refused:
            await open_existing(url)
    message = str(refused.value)
    assert f"cannot open the database at postgresql+psycopg://kolokol:***@127.0.0.1:{port}/kolokol" in message
    assert "s3cret" not in message
