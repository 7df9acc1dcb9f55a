"""Cloud PBX events: into the inbox, then into call records.

A webhook request is answered only after its events are committed (a 2xx means "stored"), and the
writer commits whatever requests are waiting in one transaction (group commit), so a burst of webhooks
costs one commit, not one each. In that transaction each new event is stored once (a duplicate has the
same dedupe key and changes nothing), and every call that has its final event is rebuilt by its adapter
from all of its stored events: the record depends on the set of events, never on the order they came in.
Events that arrive after the record was made rebuild it again. Calls whose final event never comes are
closed by a sweep after ``calls.stale_after_seconds`` and marked ``closed_by_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.call_pipeline import CallPipeline
from kolokol.db import CloudCall, WebhookEvent
from pbx.call_record import PbxCallRecord
from pbx.webhooks.base import CloudEvent, WebhookAdapter

log = logging.getLogger("kolokol.webhooks")
T = TypeVar("T")
_CHUNK = 400


class IntakeUnavailable(RuntimeError):
    """The events could not be stored; the PBX should deliver them again."""


@dataclass(slots=True)
class _Submission:
    provider: str
    events: Sequence[CloudEvent]
    received_at: datetime
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass(slots=True)
class _Sweep:
    now: datetime
    done: asyncio.Future[int] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class WebhookIntake:
    def __init__(
        self,
        adapters: dict[str, WebhookAdapter],
        sessions: async_sessionmaker[AsyncSession],
        pipeline: CallPipeline,
        *,
        stale_after: timedelta,
        sweep_seconds: float = 30.0,
        max_batch: int = 500,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._adapters = adapters
        self._sessions = sessions
        self._pipeline = pipeline
        self._stale_after = stale_after
        self._sweep_seconds = sweep_seconds
        self._max_batch = max_batch
        self._clock = clock
        self._queue: asyncio.Queue[_Submission | _Sweep] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self.events_stored = 0
        self.duplicates = 0
        self.calls_recorded = 0

    # ---- the public side ----------------------------------------------------------------------

    async def submit(self, provider: str, events: Sequence[CloudEvent], received_at: datetime) -> None:
        """Store the events of one request; returns once they are committed."""
        if not self._tasks:
            raise IntakeUnavailable("the webhook intake is not running")
        submission = _Submission(provider, events, received_at)
        self._queue.put_nowait(submission)
        await asyncio.shield(submission.done)

    async def sweep(self, now: datetime | None = None) -> int:
        """Close calls whose final event is overdue; returns how many were closed."""
        job = _Sweep(now or self._clock())
        self._queue.put_nowait(job)
        return await asyncio.shield(job.done)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._write_forever()), asyncio.create_task(self._sweep_forever())]

    async def stop(self) -> None:
        """Finish what was handed over, then stop."""
        for task in reversed(self._tasks):
            if task is self._tasks[0]:
                await self._queue.join()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    # ---- the writer ---------------------------------------------------------------------------

    async def _write_forever(self) -> None:
        while True:
            job = await self._queue.get()
            if isinstance(job, _Sweep):
                await self._run_sweep(job)
                continue
            batch = [job]
            while len(batch) < self._max_batch and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if isinstance(nxt, _Sweep):
                    # Sweeps are rare: run it after this batch, in its own transaction.
                    await self._store_batch(batch)
                    await self._run_sweep(nxt)
                    batch = []
                    break
                batch.append(nxt)
            if batch:
                await self._store_batch(batch)

    async def _store_batch(self, batch: list[_Submission]) -> None:
        try:
            await self._store(batch)
        except Exception as exc:
            if len(batch) == 1:
                log.exception("webhook events not stored", extra={"provider": batch[0].provider})
                _settle(batch[0].done, IntakeUnavailable(str(exc)))
            else:
                # One bad request must not fail the others: each is retried in its own transaction.
                for one in batch:
                    await self._store_batch([one])
                return
        else:
            for one in batch:
                _settle(one.done, None)
        finally:
            for _ in batch:
                self._queue.task_done()

    async def _store(self, batch: list[_Submission]) -> None:
        async with self._sessions.begin() as session:
            fresh = await self._insert_new(session, batch)
            if not fresh:
                return
            records = await self._rebuild(session, fresh)
            if records:
                records.sort(key=lambda r: r.ended_at)
                await self._pipeline.record_in(session, records)
        self.calls_recorded += len(records)
        for record in records:
            log.info(
                "cloud call recorded",
                extra={
                    "pbx": record.pbx,
                    "pbx_call_id": record.pbx_call_id,
                    "status": record.status,
                    "closed_by_timeout": record.closed_by_timeout,
                },
            )

    async def _insert_new(
        self, session: AsyncSession, batch: list[_Submission]
    ) -> dict[tuple[str, str], list[tuple[CloudEvent, datetime]]]:
        """Store the events not seen before; returns them grouped by call."""
        candidates: dict[tuple[str, str], tuple[CloudEvent, datetime]] = {}
        for submission in batch:
            for event in submission.events:
                candidates.setdefault(
                    (submission.provider, event.dedupe_key), (event, submission.received_at)
                )
        known: set[tuple[str, str]] = set()
        keys = list(candidates)
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            rows = await session.execute(
                select(WebhookEvent.provider, WebhookEvent.dedupe_key).where(
                    tuple_(WebhookEvent.provider, WebhookEvent.dedupe_key).in_(chunk)
                )
            )
            known.update((provider, key) for provider, key in rows.all())
        total = sum(len(s.events) for s in batch)
        new = [(key, value) for key, value in candidates.items() if key not in known]
        self.duplicates += total - len(new)
        if not new:
            return {}
        await session.execute(
            insert(WebhookEvent),
            [
                {
                    "provider": provider,
                    "call_id": event.call_id,
                    "dedupe_key": event.dedupe_key,
                    "kind": event.kind,
                    "final": event.final,
                    "occurred_at": event.occurred_at,
                    "received_at": received_at,
                    "data": dict(event.data),
                }
                for (provider, _), (event, received_at) in new
            ],
        )
        self.events_stored += len(new)
        by_call: dict[tuple[str, str], list[tuple[CloudEvent, datetime]]] = {}
        for (provider, _), pair in new:
            by_call.setdefault((provider, pair[0].call_id), []).append(pair)
        return by_call

    async def _rebuild(
        self, session: AsyncSession, fresh: dict[tuple[str, str], list[tuple[CloudEvent, datetime]]]
    ) -> list[PbxCallRecord]:
        """Move each touched call along; rebuild the record of every call that has (or had) an end.

        States: ``open`` (no final event yet), ``final`` (final event in, record not complete yet: some
        providers need every leg), ``recorded``, ``timed_out`` (closed by the sweep; a late final event
        still corrects it).
        """
        states = await _load_states(session, list(fresh))
        for key, pairs in fresh.items():
            last = max(received for _, received in pairs)
            state = states.get(key)
            if state is None:
                state = CloudCall(
                    provider=key[0],
                    call_id=key[1],
                    state="open",
                    first_event_at=min(received for _, received in pairs),
                    last_event_at=last,
                )
                session.add(state)
                states[key] = state
            else:
                state.last_event_at = max(state.last_event_at, last)
            if state.state == "open" and any(event.final for event, _ in pairs):
                state.state = "final"
        return await self._assemble(session, [states[key] for key in fresh if states[key].state != "open"])

    async def _assemble(self, session: AsyncSession, calls: Sequence[CloudCall]) -> list[PbxCallRecord]:
        if not calls:
            return []
        events: dict[tuple[str, str], list[CloudEvent]] = {(c.provider, c.call_id): [] for c in calls}
        keys = list(events)
        for start in range(0, len(keys), _CHUNK):
            rows = await session.scalars(
                select(WebhookEvent).where(
                    tuple_(WebhookEvent.provider, WebhookEvent.call_id).in_(keys[start : start + _CHUNK])
                )
            )
            for row in rows.all():
                events[(row.provider, row.call_id)].append(
                    CloudEvent(row.call_id, row.dedupe_key, row.kind, row.final, row.occurred_at, row.data)
                )
        records = []
        for state in calls:
            record = self._adapters[state.provider].assemble(
                state.call_id, events[(state.provider, state.call_id)], timed_out=state.state == "timed_out"
            )
            if record is None:
                continue
            if state.state in ("open", "final"):
                state.state = "recorded"
            records.append(record)
        return records

    # ---- the timeout sweep --------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            with contextlib.suppress(IntakeUnavailable):
                await self.sweep()

    async def _run_sweep(self, job: _Sweep) -> None:
        try:
            closed = await self._close_stale(job.now)
        except Exception as exc:
            log.exception("webhook timeout sweep failed")
            _settle(job.done, IntakeUnavailable(str(exc)))
        else:
            _settle(job.done, closed)
        finally:
            self._queue.task_done()

    async def _close_stale(self, now: datetime) -> int:
        cutoff = now - self._stale_after
        async with self._sessions.begin() as session:
            stale = (
                await session.scalars(
                    select(CloudCall)
                    .where(CloudCall.state.in_(("open", "final")), CloudCall.last_event_at < cutoff)
                    .order_by(CloudCall.last_event_at)
                    .limit(self._max_batch)
                )
            ).all()
            known = [s for s in stale if s.provider in self._adapters]
            for state in known:
                state.state = "timed_out"
            records = await self._assemble(session, known)
            records.sort(key=lambda r: r.ended_at)
            await self._pipeline.record_in(session, records)
        if records:
            log.warning("cloud calls closed without a final event", extra={"calls": len(records)})
        self.calls_recorded += len(records)
        return len(records)


async def _load_states(
    session: AsyncSession, keys: list[tuple[str, str]]
) -> dict[tuple[str, str], CloudCall]:
    found: dict[tuple[str, str], CloudCall] = {}
    for start in range(0, len(keys), _CHUNK):
        rows = await session.scalars(
            select(CloudCall).where(
                tuple_(CloudCall.provider, CloudCall.call_id).in_(keys[start : start + _CHUNK])
            )
        )
        for row in rows.all():
            found[(row.provider, row.call_id)] = row
    return found


def _settle(future: asyncio.Future[T], outcome: T | BaseException) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
