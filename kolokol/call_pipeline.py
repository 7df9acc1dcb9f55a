"""What happens to every finished call, whatever PBX it came from: store it, match contacts,
mark first-time callers, open or close callback tasks. One transaction per call."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.call_json import iso
from kolokol.callback_rules import CloseReached, OpenOrUpdate, decide
from kolokol.db import Call, CallbackTask, ContactPhone
from pbx.call_record import PbxCallRecord


class CallPipeline:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        sla: timedelta,
        first_time_lookback: timedelta | None = None,
    ) -> None:
        self._sessions = sessions
        self._sla = sla
        self._lookback = first_time_lookback

    async def record(self, record: PbxCallRecord) -> Call:
        async with self._sessions.begin() as session:
            return await self.record_in(session, record)

    async def record_many(self, records: list[PbxCallRecord]) -> list[Call]:
        async with self._sessions.begin() as session:
            return [await self.record_in(session, r) for r in records]

    async def record_in(self, session: AsyncSession, record: PbxCallRecord) -> Call:
        existing = await session.scalar(
            select(Call).where(Call.pbx == record.pbx, Call.pbx_call_id == record.pbx_call_id)
        )
        if existing is not None:
            # The same call seen again (a replay, a resync): refresh what the PBX said, keep our follow-ups.
            _copy_pbx_fields(existing, record)
            return existing
        call = Call(pbx=record.pbx, pbx_call_id=record.pbx_call_id)
        _copy_pbx_fields(call, record)
        number = record.outside_number
        call.outside_number = number if number and number.startswith("+") else None
        if call.outside_number:
            call.contact_ids = list(
                (
                    await session.scalars(
                        select(ContactPhone.contact_id)
                        .where(ContactPhone.number == call.outside_number)
                        .distinct()
                        .order_by(ContactPhone.contact_id)
                    )
                ).all()
            )
            earlier = select(Call.id).where(
                Call.outside_number == call.outside_number, Call.started_at < record.started_at
            )
            if self._lookback is not None:
                earlier = earlier.where(Call.started_at >= record.started_at - self._lookback)
            call.first_time_caller = not await session.scalar(select(exists(earlier)))
        session.add(call)
        await session.flush()
        await self._apply_task_rules(session, call, record)
        return call

    async def _apply_task_rules(self, session: AsyncSession, call: Call, record: PbxCallRecord) -> None:
        decision = decide(record, self._sla)
        if decision is None:
            return
        task = await session.scalar(
            select(CallbackTask)
            .where(CallbackTask.number == decision.number, CallbackTask.status == "open")
            .with_for_update()
        )
        if isinstance(decision, OpenOrUpdate):
            if task is None:
                task = CallbackTask(
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
                session.add(task)
                await session.flush()
            else:
                task.missed_calls += 1
                task.last_missed_at = max(task.last_missed_at, decision.missed_at)
                task.last_call_id = call.id
                task.updated_at = decision.missed_at
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
            call.callback_task_id = task.id


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
    call.closed_by_timeout = record.closed_by_timeout
