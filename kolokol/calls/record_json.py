"""The one serializer of the call record (REST, replay output, CRM payloads)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.bounded import bounded_contact
from kolokol.contacts.views import contact_json
from kolokol.storage.tables import Call, CallbackTask, Contact
from kolokol.tasks.views import task_json
from kolokol.times import iso


def _seconds(start: datetime, end: datetime | None) -> float:
    if end is None:
        return 0.0
    return round(max(0.0, (end - start).total_seconds()), 3)


def call_json(call: Call, contacts: Sequence[Contact], task: CallbackTask | None) -> dict[str, Any]:
    return {
        "id": call.id,
        "pbx": call.pbx,
        "pbx_call_id": call.pbx_call_id,
        "direction": call.direction,
        "caller": call.caller,
        "caller_name": call.caller_name,
        "called": call.called,
        "status": call.status,
        "disposition": call.disposition,
        "missed_where": call.missed_where,
        "operator": call.operator,
        "answered_by": call.answered_by,
        "rang": list(call.rang),
        "transfers": list(call.transfers),
        "started_at": iso(call.started_at),
        "answered_at": iso(call.answered_at),
        "ended_at": iso(call.ended_at),
        "wait_seconds": _seconds(call.started_at, call.answered_at or call.ended_at),
        "talk_seconds": _seconds(call.answered_at, call.ended_at) if call.answered_at else 0.0,
        # Bounded: a page of the call log must not carry a stored contact's megabytes 50 times over.
        "contacts": [bounded_contact(contact_json(c)) for c in contacts],
        "first_time_caller": call.first_time_caller,
        "source": call.source,
        "recording": _recording(call),
        "callback_task": task_json(task) if task is not None else None,
        "closed_by_timeout": call.closed_by_timeout,
    }


def _recording(call: Call) -> dict[str, Any] | None:
    """What is known of the call's recording. A cloud PBX's reference waits to be fetched ("pending")."""
    ref = call.recording_ref
    if not ref:
        return None
    return {
        "id": None,
        "status": "pending",
        "duration_seconds": ref.get("duration_seconds"),
        "provider_ref": ref,
    }


async def calls_json(session: AsyncSession, calls: Iterable[Call]) -> list[dict[str, Any]]:
    """Serialise many calls with two extra queries, not two per call."""
    calls = list(calls)
    contact_ids = {cid for call in calls for cid in call.contact_ids}
    task_ids = {call.callback_task_id for call in calls if call.callback_task_id}
    contacts = (
        {c.id: c for c in (await session.scalars(select(Contact).where(Contact.id.in_(contact_ids)))).all()}
        if contact_ids
        else {}
    )
    tasks = (
        {
            t.id: t
            for t in (await session.scalars(select(CallbackTask).where(CallbackTask.id.in_(task_ids)))).all()
        }
        if task_ids
        else {}
    )
    return [
        call_json(
            call,
            [contacts[cid] for cid in call.contact_ids if cid in contacts],
            tasks.get(call.callback_task_id) if call.callback_task_id else None,
        )
        for call in calls
    ]
