"""The recordings table as the worker and the purge job use it.

Claims make a row one worker's for a while, on one node or many: on PostgreSQL the due rows are picked
``FOR UPDATE SKIP LOCKED`` (two workers never pick the same row, neither waits for the other); on SQLite
under the database's write lock (``kolokol.storage.write_lock``). A claim runs out by itself, so the rows
of a worker that died are taken again; a worker writes its result only while its claim still holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.storage.tables import Call, Recording
from kolokol.storage.write_lock import write_transaction
from recordings.jobs import FAILED, PENDING, READY, Next
from recordings.retention import Cutoff


@dataclass(frozen=True)
class Job:
    id: str
    call_id: str
    origin: str
    ref: dict[str, Any]
    stage: str
    attempts: int
    observed: dict[str, Any] | None
    original_key: str | None
    created_at: datetime
    call_started_at: datetime
    call_ended_at: datetime


@dataclass(frozen=True)
class Purgeable:
    id: str
    status: str
    audio_key: str | None
    original_key: str | None


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        Recording.status == PENDING,
        Recording.next_attempt_at <= now,
        or_(Recording.claimed_until.is_(None), Recording.claimed_until <= now),
    )


class JobStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def claim(self, worker: str, now: datetime, claim_for: timedelta, limit: int) -> list[Job]:
        """Up to ``limit`` due rows, oldest due first, claimed for ``worker`` until ``now + claim_for``."""

        async def work(session: AsyncSession) -> list[Job]:
            picked = (
                select(Recording.id)
                .where(_due(now))
                .order_by(Recording.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = list((await session.scalars(picked)).all())
            if not ids:
                return []
            await session.execute(
                update(Recording)
                .where(Recording.id.in_(ids))
                .values(claimed_by=worker, claimed_until=now + claim_for)
                .execution_options(synchronize_session=False)
            )
            rows = await session.execute(
                select(Recording, Call.ended_at)
                .join(Call, Call.id == Recording.call_id)
                .where(Recording.id.in_(ids))
                .order_by(Recording.next_attempt_at)
            )
            return [_job(row, ended_at) for row, ended_at in rows.all()]

        return await write_transaction(self._sessions, work)

    async def renew(self, worker: str, ids: list[str], until: datetime) -> None:
        """Keep the claims of rows still being worked on."""
        if not ids:
            return
        async with self._sessions.begin() as session:
            await session.execute(
                update(Recording)
                .where(Recording.id.in_(ids), Recording.claimed_by == worker)
                .values(claimed_until=until)
                .execution_options(synchronize_session=False)
            )

    async def finish(
        self, worker: str, job_id: str, step: Next, now: datetime, *, keep_claim: bool = False, **values: Any
    ) -> bool:
        """Write a step's result and release the claim (``keep_claim``: the worker goes on with the next
        stage at once); False (nothing written) when the claim was lost (it ran out and another worker took
        the row, or the call's reference changed meanwhile)."""
        if not keep_claim:
            values.update(claimed_by=None, claimed_until=None)
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Recording)
                .where(Recording.id == job_id, Recording.claimed_by == worker, Recording.status == PENDING)
                .values(
                    status=step.status,
                    stage=step.stage,
                    attempts=step.attempts,
                    next_attempt_at=step.next_attempt_at,
                    failure=step.failure,
                    updated_at=now,
                    **values,
                )
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(result, "rowcount", 0) == 1)

    async def release(self, worker: str, ids: list[str]) -> None:
        """Give claims back at once (shutdown): another node need not wait for them to run out."""
        if not ids:
            return
        async with self._sessions.begin() as session:
            await session.execute(
                update(Recording)
                .where(Recording.id.in_(ids), Recording.claimed_by == worker)
                .values(claimed_by=None, claimed_until=None)
                .execution_options(synchronize_session=False)
            )

    async def next_due_at(self, now: datetime) -> datetime | None:
        """When a row can next be claimed: the earliest due row nobody holds, or the earliest claim to
        run out (a read only: an idle worker takes no write lock)."""
        async with self._sessions() as session:
            free = await session.scalar(
                select(func.min(Recording.next_attempt_at)).where(
                    Recording.status == PENDING,
                    or_(Recording.claimed_until.is_(None), Recording.claimed_until <= now),
                )
            )
            held = await session.scalar(
                select(func.min(Recording.claimed_until)).where(
                    Recording.status == PENDING, Recording.claimed_until > now
                )
            )
        times = [_aware(t) for t in (free, held) if t is not None]
        return min(times) if times else None

    async def purgeable(self, rules: list[Cutoff], limit: int) -> list[Purgeable]:
        """Rows past retention that still hold files (ready ones; failed ones with a kept original)."""
        if not rules:
            return []
        found: dict[str, Purgeable] = {}
        async with self._sessions() as session:
            for rule in rules:
                where = [
                    Recording.call_started_at < rule.before,
                    or_(
                        Recording.status == READY,
                        and_(Recording.status == FAILED, Recording.original_key.is_not(None)),
                    ),
                ]
                if rule.branches is not None:
                    where.append(Recording.branch.in_(rule.branches))
                elif rule.except_branches:
                    where.append(
                        or_(Recording.branch.is_(None), Recording.branch.not_in(rule.except_branches))
                    )
                rows = await session.execute(
                    select(Recording.id, Recording.status, Recording.audio_key, Recording.original_key)
                    .where(*where)
                    .order_by(Recording.call_started_at)
                    .limit(limit)
                )
                for row in rows.all():
                    found[row.id] = Purgeable(row.id, row.status, row.audio_key, row.original_key)
        return list(found.values())[:limit]

    async def mark_purged(self, item: Purgeable, now: datetime) -> None:
        async with self._sessions.begin() as session:
            values: dict[str, Any] = {"audio_key": None, "original_key": None, "updated_at": now}
            if item.status == READY:
                values.update(status="purged", purged_at=now, peaks=None)
            await session.execute(
                update(Recording)
                .where(Recording.id == item.id, Recording.status == item.status)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def figures(self, now: datetime) -> tuple[int, int]:
        """The backlog (pending rows) and the rows failed in the last 24 hours."""
        async with self._sessions() as session:
            backlog = await session.scalar(
                select(func.count()).select_from(Recording).where(Recording.status == PENDING)
            )
            failed = await session.scalar(
                select(func.count())
                .select_from(Recording)
                .where(Recording.status == FAILED, Recording.updated_at >= now - timedelta(hours=24))
            )
        return int(backlog or 0), int(failed or 0)


def _aware(moment: datetime) -> datetime:
    # SQLite may hand back an aggregate's time without its zone.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _job(row: Recording, ended_at: datetime) -> Job:
    return Job(
        id=row.id,
        call_id=row.call_id,
        origin=row.origin,
        ref=dict(row.ref),
        stage=row.stage,
        attempts=row.attempts,
        observed=dict(row.observed) if row.observed else None,
        original_key=row.original_key,
        created_at=row.created_at,
        call_started_at=row.call_started_at,
        call_ended_at=ended_at,
    )
