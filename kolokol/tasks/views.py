"""A callback task as the API and the feed show it, and as the console lists it (for whom, readable)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.phones import format_for_reading
from kolokol.storage.tables import CallbackTask, Contact, ContactPhone
from kolokol.times import iso


def task_json(task: CallbackTask) -> dict[str, Any]:
    return {
        "id": task.id,
        "number": task.number,
        "status": task.status,
        "due_at": iso(task.due_at),
        "missed_calls": task.missed_calls,
        "first_missed_at": iso(task.first_missed_at),
        "last_missed_at": iso(task.last_missed_at),
        "assignee": task.assignee,
        "resolution": task.resolution,
        "closed_at": iso(task.closed_at),
        "closed_by_call_id": task.closed_by_call_id,
        "first_call_id": task.first_call_id,
        "last_call_id": task.last_call_id,
        "note": task.note,
    }


def task_view(task: Mapping[str, Any], contacts: Sequence[Contact]) -> dict[str, Any]:
    """A callback task (as `task_json` gives it) as the console lists it: for whom, readable."""
    return {
        **task,
        "number_display": format_for_reading(task["number"]),
        "contacts": [{"id": c.id, "name": c.name} for c in contacts],
    }


async def task_views(session: AsyncSession, tasks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Many tasks with their contacts, in one extra query."""
    numbers = {t["number"] for t in tasks}
    by_number: dict[str, list[Contact]] = {}
    if numbers:
        for contact, number in await _contacts_for(session, numbers):
            by_number.setdefault(number, []).append(contact)
    return [task_view(t, by_number.get(t["number"], [])) for t in tasks]


async def _contacts_for(session: AsyncSession, numbers: set[str]) -> list[tuple[Contact, str]]:
    rows = await session.execute(
        select(Contact, ContactPhone.number)
        .join(ContactPhone)
        .where(ContactPhone.number.in_(numbers))
        .order_by(Contact.name, Contact.id)
    )
    return [(contact, number) for contact, number in rows]
