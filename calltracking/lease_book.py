"""Runs the lease engine's transactions for the public endpoints.

A session open is a handful of statements; through the async driver each is a trip through the event
loop (and, on SQLite, several to aiosqlite's thread). Here a whole transaction runs in one thread on a
synchronous engine (kolokol.storage.thread_sessions: one hop there and back, SQLite's write lock taken
first), and runs again from the start when it lost a race to another writer (a deadlock or a
serialization failure on PostgreSQL). On PostgreSQL several such threads take requests in turn (its
row locks let transactions run side by side); SQLite has one writer at a time, so one thread. An
in-memory SQLite database, which no second engine can reach, stays on the app's async sessions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from calltracking.lease_engine import Answer, EngineLimits, SessionRequest, heartbeat, open_session
from kolokol.storage.thread_sessions import ThreadSessions, bound_dialect
from kolokol.storage.write_lock import again_if_lost, write_transaction

T = TypeVar("T")
# Lease threads per process on PostgreSQL (each with its own connection).
POSTGRES_THREADS = 4


class LeaseBook:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], limits: EngineLimits) -> None:
        self._sessions = sessions
        self._limits = limits
        count = POSTGRES_THREADS if bound_dialect(sessions) == "postgresql" else 1
        opened = [ThreadSessions.open(sessions, f"kolokol-leases-{n}") for n in range(count)]
        self._threads = [threads for threads in opened if threads is not None]
        self._turn = 0

    async def open(self, request: SessionRequest, now: datetime) -> Answer:
        return await self._run(lambda db: open_session(db.connection(), request, now, self._limits))

    async def heartbeat(
        self, site_id: str, session_id: str | None, now: datetime, origin: str | None = None
    ) -> Answer:
        return await self._run(
            lambda db: heartbeat(db.connection(), site_id, session_id, now, self._limits, origin)
        )

    async def close(self) -> None:
        threads, self._threads = self._threads, []
        for one in threads:
            await asyncio.to_thread(one.close)

    async def _run(self, work: Callable[[Session], T]) -> T:
        if not self._threads:

            async def on_loop(session: AsyncSession) -> T:
                return await session.run_sync(work)

            return await write_transaction(self._sessions, on_loop)
        self._turn = (self._turn + 1) % len(self._threads)
        threads = self._threads[self._turn]
        return await again_if_lost(lambda: threads.run(work))
