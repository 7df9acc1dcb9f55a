"""Transactions that read and then write the same rows, safe against concurrent writers on both databases.

SQLite: pysqlite begins a transaction only at its first write, so two writers both read, then the second
to write fails at once ("database is locked": WAL cannot upgrade a reader that has fallen behind).
Taking the write lock first (``BEGIN IMMEDIATE``) makes writers queue (``busy_timeout``) and read each
other's rows. PostgreSQL lets both read; the second insert of a unique key then fails, and running the
transaction again finds the first writer's row.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger("kolokol.storage")
T = TypeVar("T")
ATTEMPTS = 4


async def take_write_lock(session: AsyncSession) -> None:
    """On SQLite, start the session's transaction with the write lock; nothing to do on PostgreSQL."""
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        await connection.exec_driver_sql("BEGIN IMMEDIATE")


def lost_to_another_writer(exc: DBAPIError) -> bool:
    """A unique key another transaction inserted first, a deadlock, a serialization failure: running
    the transaction again will see the other writer's rows."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:  # PostgreSQL
        return sqlstate in ("23505", "40P01", "40001")
    return "UNIQUE constraint failed" in str(orig)


async def write_transaction(
    sessions: async_sessionmaker[AsyncSession], work: Callable[[AsyncSession], Awaitable[T]]
) -> T:
    """``work`` in a transaction of its own that holds the write lock from the start (SQLite), run again
    from the start when it lost a race to another writer. ``work`` must be safe to run again."""
    attempt = 1
    while True:
        try:
            async with sessions.begin() as session:
                await take_write_lock(session)
                return await work(session)
        except DBAPIError as exc:
            if attempt >= ATTEMPTS or not lost_to_another_writer(exc):
                raise
            log.info("another writer changed the same rows; trying again", extra={"attempt": attempt})
            attempt += 1
