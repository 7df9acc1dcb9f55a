"""Shared fixtures: a migrated database on SQLite and, when KOLOKOL_TEST_PG_URL is set, on PostgreSQL; and
``--shuffle SEED`` (tests/support/shuffle.py) to check that no test depends on the order."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.storage.engine import make_engine
from kolokol.storage.migrate import upgrade
from tests.support import shuffle
from tests.support.databases import PG_URL, reset_if_postgres


def pytest_addoption(parser: pytest.Parser) -> None:
    shuffle.add_option(parser)


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = shuffle.chosen_seed(config)
    return f"tests shuffled within each module: --shuffle {seed}" if seed else None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    seed = shuffle.chosen_seed(config)
    if seed:
        terminalreporter.write_line(f"tests shuffled within each module: again with --shuffle {seed}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seed = shuffle.chosen_seed(config)
    if seed:
        items[:] = shuffle.shuffled_within_modules(items, seed)


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
