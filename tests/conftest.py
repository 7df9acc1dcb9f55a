"""Shared fixtures: a migrated database on SQLite and, when KOLOKOL_TEST_PG_URL is set, on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.storage.engine import make_engine
from kolokol.storage.migrate import upgrade
from tests.support.databases import PG_URL, reset_if_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'kolokol.sqlite3'}"
    if not PG_URL:
        pytest.skip("KOLOKOL_TEST_PG_URL is not set: scripts/test starts a real PostgreSQL and sets it")
    return PG_URL


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    await reset_if_postgres(db_url)
    engine = make_engine(db_url)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
def asterisk() -> Iterator[None]:
    """The real Asterisk 22 from the sid chroot, with asterisk_conf/, for one test module."""
    from tests.support import asterisk_harness as h

    reason = os.environ.get("KOLOKOL_ASTERISK_UNAVAILABLE")
    if reason:
        pytest.skip(f"REAL ASTERISK UNAVAILABLE: {reason}")
    try:
        h.start_asterisk()
    except h.AsteriskUnavailable as exc:
        pytest.skip(f"REAL ASTERISK UNAVAILABLE: {exc}")
    yield
    h.stop_asterisk()
