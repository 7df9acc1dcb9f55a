"""What happens to every finished call, whatever PBX it came from: store it, match contacts,
mark first-time callers, open or close callback tasks.

Calls are stored in batches (one transaction, a handful of queries per batch) because busy clinics and
replays of recorded traffic finish many calls at once; the rules run in the order the calls ended, exactly
as if they had been stored one by one.

Several writers may finish calls at once: the Asterisk ingest and the webhook intake of one node, and
later several nodes. A number has at most one open callback task, and the database guarantees it (a
partial unique index, migration 0004): a writer that read "no open task" and then meets the one another
writer opened meanwhile runs its transaction again, and the second run finds that task and counts the
miss on it (``transaction``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import BindParameter, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from calltracking import attribution_store
from calltracking.attribution import report_columns
from kolokol.calls.branches import BranchRules
from kolokol.calls.record_fit import fitted_record
from kolokol.storage.tables import Call, CallbackTask, ContactPhone, Recording, new_id
from kolokol.storage.write_lock import write_transaction
from kolokol.tasks.rules import CloseReached, OpenOrUpdate, decide
from kolokol.times import iso
from pbx.call_record import PbxCallRecord
from recordings import planning

log = logging.getLogger("kolokol.calls")
T = TypeVar("T")


class CallPipeline:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        sla: timedelta,
        first_time_lookback: timedelta | None = None,
        branches: BranchRules | None = None,
        e164: Callable[[str], str | None] | None = None,
        plan_recordings: bool = False,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._sessions = sessions
        self._sla = sla
        self._lookback = first_time_lookback
        self._branches = branches or BranchRules()
        self._e164 = e164 or _no_number
        self._plan_recordings = plan_recordings
        self._clock = clock or _utc_now

    async def record(self, record: PbxCallRecord) -> Call:
        [call] = await self.record_many([record])
        return call

    async def record_many(self, records: Sequence[PbxCallRecord]) -> list[Call]:
        return await self.transaction(lambda session: self.record_in(session, records))

    async def transaction(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``work`` (which calls ``record_in``) in a transaction of its own that holds the write lock
        from the start, from the start again when another writer won a race for the same callback task
        (``kolokol.storage.write_lock``)."""
        return await write_transaction(self._sessions, work)

    async def record_in(self, session: AsyncSession, records: Sequence[PbxCallRecord]) -> list[Call]:
        return await session.run_sync(self.record_sync, records)

    def record_sync(self, session: Session, records: Sequence[PbxCallRecord]) -> list[Call]:
        """``record_in`` on a synchronous session: for work done whole in a thread
        (``kolokol.storage.thread_sessions``), where a transaction is one hop instead of one per query."""
        if not records:
            return []
        # Whatever the PBX sent, the call log holds it (the one place records are fitted).
        records = [fitted_record(record) for record in records]
        batch = _Batch(session, records, self._lookback, recordings=self._plan_recordings)
        batch.load()
        stored: list[Call] = []
        for record in records:
            existing = batch.existing.get((record.pbx, record.pbx_call_id))
            if existing is not None:
                # The same call seen again (a replay, a resync, a cloud PBX's late or final report):
                # refresh what the PBX said and keep the follow-ups, unless the outcome itself changed.
                before = (existing.status, existing.outside_number)
                _copy_pbx_fields(existing, record)
                number = _outside(record)
                if number != existing.outside_number:
                    existing.outside_number = number
                    existing.contact_ids = list(batch.contacts.get(number, [])) if number else []
                if before != (existing.status, existing.outside_number):
                    self._outcome_changed(batch, existing, record, was_missed=before[0] == "missed")
                self._place(batch, existing)
                stored.append(existing)
                continue
            call = batch.new_call(record)
            self._apply_task_rules(batch, call, record)
            self._place(batch, call)
            stored.append(call)
        session.flush()
        return stored

    def _place(self, batch: _Batch, call: Call) -> None:
        """The call's branch, and its recording row planned (same transaction: a stored call never
        misses its recording)."""
        call.branch = self._branches.branch_of(
            attributed=call.attr_branch,
            direction=call.direction,
            caller=call.caller,
            called=call.called,
            operator=call.operator,
            answered_by=call.answered_by,
            e164=self._e164,
        )
        if not self._plan_recordings:
            return
        existing = batch.recordings.get(call.id)
        decision = planning.plan(call, existing)
        now = self._clock()
        if isinstance(decision, planning.Create):
            row = Recording(
                id=new_id(),
                call_id=call.id,
                origin=decision.origin,
                ref=decision.ref,
                status="pending",
                stage="acquire",
                attempts=0,
                next_attempt_at=now,
                branch=call.branch,
                call_started_at=call.started_at,
                created_at=now,
                updated_at=now,
            )
            row.call = call
            batch.session.add(row)
            batch.recordings[call.id] = row
        elif existing is not None:
            if isinstance(decision, planning.Refresh):
                existing.origin = decision.origin
                existing.ref = decision.ref
                existing.stage = "acquire"
                existing.attempts = 0
                existing.next_attempt_at = now
                existing.failure = None
                existing.observed = None
                existing.original_key = None
                # A worker busy with the old reference loses its claim and writes nothing.
                existing.claimed_by = None
                existing.claimed_until = None
                existing.updated_at = now
            if (existing.branch, existing.call_started_at) != (call.branch, call.started_at):
                existing.branch = call.branch
                existing.call_started_at = call.started_at
                existing.updated_at = now

    def _outcome_changed(self, batch: _Batch, call: Call, record: PbxCallRecord, *, was_missed: bool) -> None:
        """A stored call turned out differently (a timed-out call whose final report came late)."""
        task = batch.open_tasks.get(call.outside_number or "")
        if (
            was_missed
            and task is not None
            and task.id == call.callback_task_id
            and task.first_call_id == call.id
            and task.missed_calls == 1
        ):
            # The task exists only because of this call, which was not missed after all.
            task.status = "cancelled"
            task.resolution = "cancelled"
            task.note = "the PBX's final report says this call was not missed"
            task.closed_at = record.ended_at
            task.closed_by_call_id = call.id
            task.updated_at = record.ended_at
            del batch.open_tasks[task.number]
            return
        self._apply_task_rules(batch, call, record)

    def _apply_task_rules(self, batch: _Batch, call: Call, record: PbxCallRecord) -> None:
        decision = decide(record, self._sla)
        if decision is None:
            return
        task = batch.open_tasks.get(decision.number)
        if isinstance(decision, OpenOrUpdate):
            if task is None:
                task = CallbackTask(
                    id=new_id(),
                    number=decision.number,
                    status="open",
                    missed_calls=1,
                    first_missed_at=decision.missed_at,
                    last_missed_at=decision.missed_at,
                    due_at=decision.due_at,
                    first_call_id=call.id,
                    last_call_id=call.id,
                    updated_at=decision.missed_at,
                )
                batch.session.add(task)
                batch.open_tasks[decision.number] = task
            else:
                task.missed_calls += 1
                if decision.missed_at < task.first_missed_at:
                    # Writers finish calls out of order (two PBXs, a late webhook): the patient has
                    # waited since the earliest miss.
                    task.first_missed_at = decision.missed_at
                    task.first_call_id = call.id
                    task.due_at = min(task.due_at, decision.due_at)
                if decision.missed_at >= task.last_missed_at:
                    task.last_missed_at = decision.missed_at
                    task.last_call_id = call.id
                task.updated_at = max(task.updated_at, decision.missed_at)
            call.callback_task = task
            call.callback_task_id = task.id
        elif (
            isinstance(decision, CloseReached)
            and task is not None
            and task.first_missed_at <= decision.reached_at
        ):
            task.status = "done"
            task.resolution = "reached"
            task.closed_at = decision.reached_at
            task.closed_by_call_id = call.id
            task.updated_at = decision.reached_at
            call.callback_task = task
            call.callback_task_id = task.id
            del batch.open_tasks[decision.number]


# The batch's queries, built once: every build pays for running them, not for building them.
_NUMBERS: BindParameter[Any] = bindparam("numbers", expanding=True)
_STORED_CALLS = select(Call).where(
    Call.pbx == bindparam("pbx"), Call.pbx_call_id.in_(bindparam("ids", expanding=True))
)
_CONTACTS_OF = (
    select(ContactPhone.number, ContactPhone.contact_id)
    .where(ContactPhone.number.in_(_NUMBERS))
    .distinct()
    .order_by(ContactPhone.number, ContactPhone.contact_id)
)
_FIRST_CALLS = (
    select(Call.outside_number, func.min(Call.started_at))
    .where(Call.outside_number.in_(_NUMBERS))
    .group_by(Call.outside_number)
)
_CALLS_SINCE = select(Call.outside_number, Call.started_at).where(
    Call.started_at >= bindparam("since", type_=Call.started_at.type), Call.outside_number.in_(_NUMBERS)
)
_RECORDINGS_OF = select(Recording).where(Recording.call_id.in_(bindparam("call_ids", expanding=True)))
_OPEN_TASKS = (
    select(CallbackTask)
    .where(CallbackTask.number.in_(_NUMBERS), CallbackTask.status == "open")
    .with_for_update()
)


class _Batch:
    """Everything the rules need for a batch, read up front with one query per kind."""

    def __init__(
        self,
        session: Session,
        records: Sequence[PbxCallRecord],
        lookback: timedelta | None,
        *,
        recordings: bool = False,
    ) -> None:
        self.session = session
        self.with_recordings = recordings
        self.recordings: dict[str, Recording] = {}
        self.records = records
        self.lookback = lookback
        self.numbers = sorted({n for r in records if (n := _outside(r))})
        self.existing: dict[tuple[str, str], Call] = {}
        self.contacts: dict[str, list[str]] = {}
        self.call_times: dict[str, list[datetime]] = {}
        self.open_tasks: dict[str, CallbackTask] = {}
        self.attribution = attribution_store.Inputs()

    def load(self) -> None:
        session = self.session
        keys = {(r.pbx, r.pbx_call_id) for r in self.records}
        for pbx in {pbx for pbx, _ in keys}:
            ids = [cid for p, cid in keys if p == pbx]
            for call in session.scalars(_STORED_CALLS, {"pbx": pbx, "ids": ids}).all():
                self.existing[(call.pbx, call.pbx_call_id)] = call
        if self.with_recordings and self.existing:
            call_ids = [call.id for call in self.existing.values()]
            for row in session.scalars(_RECORDINGS_OF, {"call_ids": call_ids}).all():
                self.recordings[row.call_id] = row
        # A call's source is decided once, when it is first stored: only new inbound calls need one.
        rings = [
            _ring(r)
            for r in self.records
            if r.direction == "inbound" and (r.pbx, r.pbx_call_id) not in self.existing
        ]
        if rings:
            self.attribution = attribution_store.load(session, rings)
        if not self.numbers:
            return
        numbers = {"numbers": self.numbers}
        # Plain rows come through the connection (Core), entities through the session.
        connection = session.connection()
        for number, contact_id in connection.execute(_CONTACTS_OF, numbers).all():
            self.contacts.setdefault(number, []).append(contact_id)
        if self.lookback is None:
            # The earliest stored call per number answers "first time?" for every call after it.
            earlier = connection.execute(_FIRST_CALLS, numbers)
        else:
            # Only calls inside the look-back window of some call of the batch matter.
            since = min(r.started_at for r in self.records) - self.lookback
            earlier = connection.execute(_CALLS_SINCE, {**numbers, "since": since})
        for caller_number, started_at in earlier.all():
            if caller_number is not None and started_at is not None:
                self.call_times.setdefault(caller_number, []).append(_aware(started_at))
        for task in session.scalars(_OPEN_TASKS, numbers).all():
            self.open_tasks[task.number] = task

    def new_call(self, record: PbxCallRecord) -> Call:
        call = Call(pbx=record.pbx, pbx_call_id=record.pbx_call_id)
        _copy_pbx_fields(call, record)
        number = _outside(record)
        call.outside_number = number
        call.contact_ids = list(self.contacts.get(number, [])) if number else []
        call.first_time_caller = bool(number) and not self._called_before(number or "", record.started_at)
        if record.direction == "inbound":
            ring = _ring(record)
            call.source = self.attribution.source(ring)
            self.attribution.remember(ring, call.source)
            for column, value in report_columns(call.source).items():
                setattr(call, column, value)
        if number:
            self.call_times.setdefault(number, []).append(record.started_at)
        # The id is needed now (tasks point at calls), not after the flush.
        call.id = new_id()
        self.session.add(call)
        self.existing[(record.pbx, record.pbx_call_id)] = call
        return call

    def _called_before(self, number: str, started_at: datetime) -> bool:
        since = started_at - self.lookback if self.lookback is not None else None
        times = self.call_times.get(number, [])
        return any(t < started_at and (since is None or t >= since) for t in times)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _no_number(_text: str) -> str | None:
    return None


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes from aggregate queries, where the column type is not applied.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _ring(record: PbxCallRecord) -> attribution_store.Ring:
    # Attributed as at the ring, like the caller card: the same inputs give the same source.
    return attribution_store.Ring(record.called, _outside(record), record.started_at)


def _outside(record: PbxCallRecord) -> str | None:
    number = record.outside_number
    return number if number and number.startswith("+") else None


def _copy_pbx_fields(call: Call, record: PbxCallRecord) -> None:
    call.direction = record.direction
    call.caller = record.caller
    call.caller_name = record.caller_name
    call.called = record.called
    call.status = record.status
    call.disposition = record.disposition
    call.missed_where = record.missed_where
    call.operator = record.operator
    call.answered_by = record.answered_by
    call.rang = list(record.rang)
    call.transfers = [
        {"from": t.from_ext, "to": t.to_ext, "kind": t.kind, "at": iso(t.at)} for t in record.transfers
    ]
    call.started_at = record.started_at
    call.answered_at = record.answered_at
    call.ended_at = record.ended_at
    call.recording_file = record.recording_file
    call.recording_ref = dict(record.recording_ref) if record.recording_ref else None
    call.closed_by_timeout = record.closed_by_timeout
