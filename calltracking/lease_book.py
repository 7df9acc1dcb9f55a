"""Runs the lease engine's transactions for the public endpoints.

A session open is a handful of statements; through the async driver each is a trip through the event
loop (and, on SQLite, several to aiosqlite's thread). Here the work runs in a thread on a synchronous
engine (kolokol.storage.thread_sessions: one hop there and back, SQLite's write lock taken first), and
runs again from the start when it lost a race to another writer (a deadlock or a serialization failure
on PostgreSQL).

Requests that arrive while a transaction is under way wait for the next one, all together: one
transaction (one lock, one commit, one hop) serves every request that queued meanwhile, so under load a
lease costs its statements and little else, and a burst does not queue up hand-over after hand-over
between the event loop and the thread. Sites read by one transaction serve the next ones while they are
unchanged (calltracking.lease_sites). A request the engine refuses (``Refused``: unknown site or
session, another origin, too many sessions) is refused before it writes anything, so the others in its
transaction carry on. That is SQLite's way (one writer at a time, one thread). On PostgreSQL several
threads take requests in turn, one per transaction: row locks let transactions run side by side, and a
transaction that locks one session's rows only (its session, then its pools' numbers in pool order) can
never deadlock with another. An in-memory SQLite
database, which no second engine can reach, stays on the app's async sessions, one request at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from calltracking.lease_engine import (
    Answer,
    EngineLimits,
    Refused,
    SessionRequest,
    SitesRead,
    heartbeat,
    open_session,
)
from calltracking.lease_sites import SiteCache
from kolokol.storage.thread_sessions import ThreadSessions, bound_dialect
from kolokol.storage.write_lock import again_if_lost, write_transaction

T = TypeVar("T")
# Lease threads per process on PostgreSQL (each with its own connection).
POSTGRES_THREADS = 4
# Requests one transaction serves at most on SQLite (a bound on how long it holds the write lock).
SQLITE_BATCH = 64
# One request's work, on the transaction's connection and the sites it has read.
Work = Callable[[Connection, SitesRead], Any]


class LeaseBook:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], limits: EngineLimits) -> None:
        self._sessions = sessions
        self._limits = limits
        postgres = bound_dialect(sessions) == "postgresql"
        count, self._batch = (POSTGRES_THREADS, 1) if postgres else (1, SQLITE_BATCH)
        self._sites = SiteCache(postgres=postgres)
        opened = [ThreadSessions.open(sessions, f"kolokol-leases-{n}") for n in range(count)]
        self._idle = [threads for threads in opened if threads is not None]
        self._all = list(self._idle)
        self._pending: list[tuple[Work, asyncio.Future[Any]]] = []
        self._draining: set[asyncio.Task[None]] = set()

    async def open(self, request: SessionRequest, now: datetime) -> Answer:
        return await self._run(lambda db, sites: open_session(db, request, now, self._limits, sites))

    async def heartbeat(
        self, site_id: str, session_id: str | None, now: datetime, origin: str | None = None
    ) -> Answer:
        return await self._run(
            lambda db, sites: heartbeat(db, site_id, session_id, now, self._limits, origin, sites)
        )

    async def close(self) -> None:
        if self._draining:
            await asyncio.gather(*self._draining, return_exceptions=True)
        threads, self._all, self._idle = self._all, [], []
        for one in threads:
            await asyncio.to_thread(one.close)

    async def _run(self, work: Callable[[Connection, SitesRead], T]) -> T:
        if not self._all:

            async def on_loop(session: AsyncSession) -> T:
                return await session.run_sync(lambda sync: work(sync.connection(), {}))

            return await write_transaction(self._sessions, on_loop)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        if self._idle:
            task = asyncio.create_task(self._drain(self._idle.pop()))
            self._draining.add(task)
            task.add_done_callback(self._draining.discard)
        return await future

    async def _drain(self, threads: ThreadSessions) -> None:
        """Serve what is queued, a transaction at a time, until nothing is."""
        try:
            while self._pending:
                batch, self._pending = self._pending[: self._batch], self._pending[self._batch :]
                await self._serve(threads, batch)
        finally:
            self._idle.append(threads)

    async def _serve(self, threads: ThreadSessions, batch: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        def work(session: Session) -> tuple[list[tuple[bool, Any]], SitesRead, SitesRead]:
            connection = session.connection()
            given = self._sites.sites_for(connection)
            sites: SitesRead = dict(given)
            outcomes: list[tuple[bool, Any]] = []
            for one, _ in batch:
                try:
                    outcomes.append((True, one(connection, sites)))
                except Refused as exc:
                    outcomes.append((False, exc))
            return outcomes, sites, given

        try:
            outcomes, read, given = await again_if_lost(lambda: threads.run(work))
        except Exception as exc:  # the transaction failed: every request in it did
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        self._sites.keep(read, given)
        for (ok, value), (_, future) in zip(outcomes, batch, strict=True):
            if future.done():  # the asker gave up (its client went away)
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
