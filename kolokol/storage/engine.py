"""The engine and sessions: a SQLite file (WAL) by default, PostgreSQL when the URL says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool


def make_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = _sqlite_file(parsed.database)
        # An in-memory database exists per connection: keep exactly one.
        engine = create_async_engine(url, poolclass=StaticPool) if not database else create_async_engine(url)
        _set_sqlite_pragmas(engine.sync_engine, database)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


def make_sync_engine(url: str | URL) -> Engine | None:
    """A synchronous engine on the same database, for work done whole in a thread (one hop per
    transaction); None for an in-memory SQLite database, which no second engine can reach."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = _sqlite_file(parsed.database)
        if not database:
            return None
        engine = create_engine(parsed.set(drivername="sqlite+pysqlite"))
        _set_sqlite_pragmas(engine, database)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def _sqlite_file(database: str | None) -> str | None:
    """The database file (its folder made), or None for an in-memory database."""
    if not database or database == ":memory:":
        return None
    if not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    return database


def _set_sqlite_pragmas(engine: Engine, database: str | None) -> None:
    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers (the REST API) run while the call pipeline writes.
        if database:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
