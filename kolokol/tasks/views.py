"""A callback task as the API and the feed show it, and as the console lists it (for whom, readable)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.bounded import bounded_task
from kolokol.phones import format_for_reading
from kolokol.storage.tables import CallbackTask, Contact, ContactPhone, User
from kolokol.tasks.actions import waiting_until
from kolokol.times import iso

# Whether a task's patient is on the line right now (kolokol.feed.in_call), by number.
InCallLookup = Callable[[str], Mapping[str, Any] | None]
# The people a task names (as stored: usernames, or an API token's name), shown by their display names.
_PEOPLE = ("assignee", "closed_by", "last_attempt_by")


def task_json(task: CallbackTask) -> dict[str, Any]:
    undo = task.undo
    view = {
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
        "closed_by": task.closed_by,
        "closed_by_call_id": task.closed_by_call_id,
        "first_call_id": task.first_call_id,
        "last_call_id": task.last_call_id,
        "note": task.note,
        "attempts": task.attempts or 0,
        "last_attempt_at": iso(task.last_attempt_at),
        "last_attempt_by": task.last_attempt_by,
        "next_attempt_at": iso(task.next_attempt_at),
        "version": task.version or 1,
        # Who may undo the last action by hand, and until when (the server decides; see tasks.actions).
        "undo": {"action": undo["action"], "by": undo["by"], "until": undo["until"]} if undo else None,
    }
    view["waiting_until"] = waiting_until(view)
    return view


def task_view(
    task: Mapping[str, Any],
    contacts: Sequence[Contact],
    names: Mapping[str, str] | None = None,
    in_call: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A callback task (as `task_json` gives it) as the console lists it: for whom, readable, by whom."""
    known = names or {}
    people = {
        f"{field}_name": known.get(task[field].lower(), task[field]) if task.get(field) else None
        for field in _PEOPLE
    }
    # Bounded: a stored contact name of any size must not become a huge frame to every console.
    return bounded_task(
        {
            **task,
            **people,
            "number_display": format_for_reading(task["number"]),
            "contacts": [{"id": c.id, "name": c.name} for c in contacts],
            "in_call": dict(in_call) if in_call else None,
        }
    )


async def task_views(
    session: AsyncSession, tasks: Sequence[Mapping[str, Any]], in_call: InCallLookup | None = None
) -> list[dict[str, Any]]:
    """Many tasks with their contacts and people's names, in two extra queries."""
    numbers = {t["number"] for t in tasks}
    by_number: dict[str, list[Contact]] = {}
    if numbers:
        for contact, number in await _contacts_for(session, numbers):
            by_number.setdefault(number, []).append(contact)
    names = await display_names(session, {t[f] for t in tasks for f in _PEOPLE if t.get(f)})
    return [
        task_view(
            t, by_number.get(t["number"], []), names, in_call(t["number"]) if in_call is not None else None
        )
        for t in tasks
    ]


async def display_names(session: AsyncSession, usernames: set[str]) -> dict[str, str]:
    """Lower-cased username -> display name, for those that are users (API tokens are not)."""
    wanted = {name.lower() for name in usernames if len(name) <= 64}
    if not wanted:
        return {}
    rows = await session.execute(select(User.username, User.display_name).where(User.username.in_(wanted)))
    return {username: display or username for username, display in rows}


async def _contacts_for(session: AsyncSession, numbers: set[str]) -> list[tuple[Contact, str]]:
    rows = await session.execute(
        select(Contact, ContactPhone.number)
        .join(ContactPhone)
        .where(ContactPhone.number.in_(numbers))
        .order_by(Contact.name, Contact.id)
    )
    return [(contact, number) for contact, number in rows]
