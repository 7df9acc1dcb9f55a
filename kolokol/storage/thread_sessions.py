"""Write transactions run whole in a thread of their own, for writers whose stalls others wait on.

Through an async driver every statement is a trip through the event loop, and with aiosqlite three or
four trips to its thread (cursor, execute, fetch, close): a transaction of ten statements waits forty times
for a busy loop and a busy machine. Here a transaction is one function run in a dedicated thread on a
synchronous engine to the same database: one hop there and one back, whatever it does.

The sessions are the twin of the app's async ones: the same session class and ``info``, so that callback
task changes are still announced once committed, with the listeners in ``info`` called on the event loop
(never in the thread). On SQLite each transaction takes the write lock before it reads (``BEGIN
IMMEDIATE``), as every writer does. An in-memory SQLite database cannot be reached from a second engine:
``open`` then gives None and the caller stays on the async sessions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from kolokol.storage.engine import make_sync_engine

T = TypeVar("T")


class ThreadSessions:
    def __init__(
        self,
        engine: Engine,
        sessions: async_sessionmaker[AsyncSession],
        name: str,
        *,
        autocommit: bool = False,
    ) -> None:
        self._engine = engine
        self._autocommit = autocommit
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._session_class: type[Session] = sessions.kw.get("sync_session_class") or Session
        self._info: dict[str, Any] = dict(sessions.kw.get("info") or {})
        self.dialect = engine.dialect.name
        self._sqlite = self.dialect == "sqlite"
        # The thread's own connection, kept between transactions (a checkout would cost PostgreSQL a
        # ping each time); a new one after a failure that broke it.
        self._connection: Connection | None = None

    @classmethod
    def open(
        cls, sessions: async_sessionmaker[AsyncSession], name: str, *, autocommit: bool = False
    ) -> ThreadSessions | None:
        """``autocommit``: every statement commits on its own (no BEGIN, no COMMIT: for work that is
        one statement, on PostgreSQL)."""
        bind = sessions.kw.get("bind")
        if not isinstance(bind, AsyncEngine):
            return None
        engine = make_sync_engine(bind.url)
        return cls(engine, sessions, name, autocommit=autocommit) if engine is not None else None

    async def run(self, work: Callable[[Session], T]) -> T:
        """``work(session)`` in one transaction in the thread; returns its result once committed."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._transaction, loop, work)

    def _transaction(self, loop: asyncio.AbstractEventLoop, work: Callable[[Session], T]) -> T:
        connection = self._connection
        if connection is None or connection.closed or connection.invalidated:
            if connection is not None:
                connection.close()
            connection = self._connection = self._engine.connect()
            if self._autocommit:
                connection = self._connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        info = {key: _on_loop(loop, value) if callable(value) else value for key, value in self._info.items()}
        with self._session_class(connection, expire_on_commit=False, info=info) as session, session.begin():
            if self._sqlite and not self._autocommit:
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            return work(session)

    def close(self) -> None:
        """Wait for the transaction under way (blocking: call it in a thread), then let go of the database."""
        self._executor.submit(self._disconnect).result()
        self._executor.shutdown(wait=True)
        self._engine.dispose()

    def _disconnect(self) -> None:
        # In the thread: a SQLite connection may be closed only by the thread that opened it.
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _on_loop(loop: asyncio.AbstractEventLoop, listener: Callable[..., Any]) -> Callable[..., None]:
    def call(*args: Any) -> None:
        loop.call_soon_threadsafe(listener, *args)

    return call


def bound_dialect(sessions: async_sessionmaker[AsyncSession]) -> str:
    """The database the sessions are bound to: ``sqlite``, ``postgresql``."""
    bind = sessions.kw.get("bind")
    return bind.dialect.name if isinstance(bind, AsyncEngine) else ""
