"""Write transactions run whole in a thread of their own, for writers whose stalls others wait on.

Through an async driver every statement is a trip through the event loop, and with aiosqlite three or
four trips to its thread (cursor, execute, fetch, close): a transaction of ten statements waits forty times
for a busy loop and a busy machine. Here a transaction is one function run in a dedicated thread on a
synchronous engine to the same database: one hop there and one back, whatever it does.

The sessions are the twin of the app's async ones: the same session class and ``info``, so that callback
task changes are still announced once committed, with the listeners in ``info`` called on the event loop
(never in the thread). On SQLite each transaction takes the write lock before it reads (``BEGIN
IMMEDIATE``), as every writer does, and the thread never checkpoints the WAL itself: a checkpoint copies
pages back into the database file and syncs it, which on a busy disk takes tens to hundreds of
milliseconds that every webhook waiting behind it would wait too. A second thread does it, at most once
a second, after writes (a passive checkpoint: it never holds up a writer). An in-memory SQLite database
cannot be reached from a second engine: ``open`` then gives None and the caller stays on the async
sessions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from kolokol.storage.engine import make_sync_engine
from kolokol.storage.write_lock import take_write_lock_sync

T = TypeVar("T")
log = logging.getLogger("kolokol.storage")
CHECKPOINT_EVERY = 1.0


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
        self._checkpoints = _WalCheckpoints(engine, name) if self._sqlite and not autocommit else None
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
        result = await loop.run_in_executor(self._executor, self._transaction, loop, work)
        if self._checkpoints is not None:
            self._checkpoints.after_write(loop)
        return result

    def _transaction(self, loop: asyncio.AbstractEventLoop, work: Callable[[Session], T]) -> T:
        connection = self._connection
        if connection is None or connection.closed or connection.invalidated:
            if connection is not None:
                connection.close()
            connection = self._connection = self._engine.connect()
            if self._checkpoints is not None:
                connection.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
                connection.commit()  # the statement began a transaction; the sessions begin their own
            if self._autocommit:
                connection = self._connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        info = {key: _on_loop(loop, value) if callable(value) else value for key, value in self._info.items()}
        with self._session_class(connection, expire_on_commit=False, info=info) as session, session.begin():
            if not self._autocommit:
                take_write_lock_sync(session.connection())
            return work(session)

    def close(self) -> None:
        """Wait for the transaction under way (blocking: call it in a thread), then let go of the database."""
        self._executor.submit(self._disconnect).result()
        self._executor.shutdown(wait=True)
        if self._checkpoints is not None:
            self._checkpoints.close()
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


class _WalCheckpoints:
    """Passive WAL checkpoints of a SQLite database, in a thread (and on a connection) of their own."""

    def __init__(self, engine: Engine, name: str) -> None:
        self._engine = engine
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-checkpoints")
        self._connection: Connection | None = None
        self._last = 0.0
        self._running = False

    def after_write(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic()
        if self._running or now - self._last < CHECKPOINT_EVERY:
            return
        self._running, self._last = True, now
        loop.run_in_executor(self._executor, self._checkpoint).add_done_callback(self._done)

    def _done(self, _future: object) -> None:
        self._running = False

    def _checkpoint(self) -> None:
        try:
            if self._connection is None or self._connection.invalidated:
                self._connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").close()
        except Exception:
            # Next time, then: until a checkpoint gets through, the WAL grows (nothing is lost).
            log.exception("WAL checkpoint failed")

    def close(self) -> None:
        self._executor.submit(self._disconnect).result()
        self._executor.shutdown(wait=True)

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
