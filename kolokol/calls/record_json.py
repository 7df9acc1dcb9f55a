"""The one serializer of the call record (REST, replay output, CRM payloads)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from kolokol.bounded import bounded_contact
from kolokol.contacts.views import contact_json
from kolokol.storage.tables import Call, CallbackTask, Contact, Recording
from kolokol.tasks.views import task_json
from kolokol.times import iso
from recordings.audio_figures import sides_for_direction


def _seconds(start: datetime, end: datetime | None) -> float:
    if end is None:
        return 0.0
    return round(max(0.0, (end - start).total_seconds()), 3)


def call_json(
    call: Call,
    contacts: Sequence[Contact],
    task: CallbackTask | None,
    recording: Recording | None = None,
) -> dict[str, Any]:
    return {
        "id": call.id,
        "pbx": call.pbx,
        "pbx_call_id": call.pbx_call_id,
        "direction": call.direction,
        "caller": call.caller,
        "caller_name": call.caller_name,
        "called": call.called,
        "branch": call.branch,
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
        "recording": recording_json(call, recording),
        "callback_task": task_json(task) if task is not None else None,
        "closed_by_timeout": call.closed_by_timeout,
    }


def recording_json(call: Call, recording: Recording | None) -> dict[str, Any] | None:
    """The call's recording as the contract shows it: its row once planned (recordings.planning); before
    that (recordings switched off, or a cloud reference not yet planned) a cloud PBX's reference pending.
    ``url`` and ``peaks_url`` are given once the audio is ready. A cloud call keeps its ``provider_ref``."""
    ref = call.recording_ref
    if recording is None:
        if not ref:
            return None
        return {
            "id": None,
            "status": "pending",
            "duration_seconds": ref.get("duration_seconds"),
            "format": None,
            "url": None,
            "peaks_url": None,
            "failure": None,
            "figures": None,
            "provider_ref": ref,
        }
    ready = recording.status == "ready"
    item: dict[str, Any] = {
        "id": recording.id,
        "status": recording.status,
        "duration_seconds": recording.duration_seconds,
        "format": recording.mime,
        "url": f"/api/recordings/{recording.id}/audio" if ready else None,
        "peaks_url": f"/api/recordings/{recording.id}/peaks" if ready else None,
        "failure": recording.failure,
        # Channel 0 is whoever started the call: on a call the clinic placed, that is the clinic.
        "figures": sides_for_direction(recording.figures, call.direction),
    }
    if ref:
        item["provider_ref"] = ref
    return item


async def calls_json(session: AsyncSession, calls: Iterable[Call]) -> list[dict[str, Any]]:
    """Serialise many calls with three extra queries, not three per call."""
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
    recordings = await recordings_of(session, [call.id for call in calls])
    return [
        call_json(
            call,
            [contacts[cid] for cid in call.contact_ids if cid in contacts],
            tasks.get(call.callback_task_id) if call.callback_task_id else None,
            recordings.get(call.id),
        )
        for call in calls
    ]


async def recordings_of(session: AsyncSession, call_ids: Sequence[str]) -> dict[str, Recording]:
    """The recording rows of these calls, by call id (one query; none for calls without one)."""
    if not call_ids:
        return {}
    # The peaks stay behind: a page of the call log needs none of their thousands of numbers.
    rows = await session.scalars(
        select(Recording).options(defer(Recording.peaks)).where(Recording.call_id.in_(set(call_ids)))
    )
    return {row.call_id: row for row in rows.all()}
