"""Transactions that read and then write the same rows, safe against concurrent writers on both databases.

Every writer that decides from what it reads (the call pipeline: one open callback task per number; a
contact upsert: one contact per external id) goes through here, whichever process or thread it runs in.

SQLite: pysqlite begins a transaction only at its first write, so two writers both read, then the second
to write fails at once ("database is locked": WAL cannot upgrade a reader that has fallen behind), or
both write a count read before the other's. Taking the write lock first (``BEGIN IMMEDIATE``) makes
writers queue (``busy_timeout``) and read each other's rows. PostgreSQL lets both read; the second insert
of a unique key then fails (or two writers deadlock), and running the transaction again finds the first
writer's row.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.storage.tables import Base

log = logging.getLogger("kolokol.storage")
T = TypeVar("T")
# A lost race is run again; this many lost in a row means something else is wrong.
ATTEMPTS = 5
_BEGIN_WRITING = "BEGIN IMMEDIATE"


async def take_write_lock(session: AsyncSession) -> None:
    """On SQLite, start the session's transaction with the write lock; nothing to do on PostgreSQL
    (whose writers lock the rows they read ``FOR UPDATE`` where it matters)."""
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        await connection.exec_driver_sql(_BEGIN_WRITING)


def take_write_lock_sync(connection: Connection) -> None:
    """``take_write_lock`` on a synchronous connection (work done whole in a thread)."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(_BEGIN_WRITING)


def lost_to_another_writer(exc: DBAPIError) -> bool:
    """Whether a failed transaction lost a race, so that running it again will see the other writer's
    rows: a deadlock, a serialization failure, or a unique key (one open task per number, one contact per
    external id, one call per PBX call id) another writer took first. A primary key is not such a race
    (ids are made up by the writer): a second run with the same rows would fail again."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:  # PostgreSQL
        if sqlstate in ("40P01", "40001"):  # deadlock detected, serialization failure
            return True
        constraint = getattr(getattr(orig, "diag", None), "constraint_name", None)
        return sqlstate == "23505" and constraint not in {table.primary_key.name for table in _tables()}
    # SQLite names the table and columns: "UNIQUE constraint failed: callback_tasks.number".
    message = str(orig)
    prefix = "UNIQUE constraint failed: "
    if not message.startswith(prefix):
        return False
    columns = frozenset(part.strip() for part in message[len(prefix) :].split(","))
    return all(columns != {f"{t.name}.{c.name}" for c in t.primary_key.columns} for t in _tables())


def _tables() -> list[Table]:
    # Read when a write fails (rare), so every table module has been imported by then.
    return list(Base.metadata.tables.values())


async def again_if_lost(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run a transaction (``attempt``), from the start again when it lost a race to another writer
    (``lost_to_another_writer``). ``attempt`` must be safe to run again: each run is a transaction of its
    own, and a failed run left nothing."""
    tries = 1
    while True:
        try:
            return await attempt()
        except DBAPIError as exc:
            if tries >= ATTEMPTS or not lost_to_another_writer(exc):
                raise
            log.info("another writer changed the same rows; trying again", extra={"attempt": tries})
            tries += 1


async def write_transaction(
    sessions: async_sessionmaker[AsyncSession], work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    """``work`` in a transaction of its own that holds the write lock from the start (SQLite), run again
    from the start when it lost a race to another writer. ``work`` must be safe to run again."""

    async def attempt() -> T:
        async with sessions.begin() as session:
            await take_write_lock(session)
            return await work(session)

    return await again_if_lost(attempt)
