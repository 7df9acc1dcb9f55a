"""Callback task changes, announced once committed, whoever made them.

Tasks change in several places (the call pipeline for Asterisk and cloud calls, a late webhook, the REST
API, the console); watching the ORM session catches them all in one place, and only after the commit, so
the console is never told about a task that was rolled back. The same watch bumps each changed task's
`version` (so screens can tell a newer state from an older one), and re-announces the open tasks of a
number whose contacts changed (a contact created on the console names its task at once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, UOWTransaction

from kolokol.storage.engine import make_sessionmaker
from kolokol.storage.tables import CallbackTask, Contact, ContactPhone
from kolokol.tasks.views import task_json


@dataclass(frozen=True, slots=True)
class TaskChange:
    """A callback task as committed (`task_json`): `created` for a new one, else an update."""

    task: Mapping[str, Any]
    created: bool
    at: datetime


TaskListener = Callable[[Sequence[TaskChange]], None]

_LISTENER = "kolokol.task_listener"
_PENDING = "kolokol.task_changes"
_NUMBERS = "kolokol.contact_numbers"


class TaskWatchingSession(Session):
    """A Session whose committed callback task changes go to ``info[_LISTENER]``."""


def watched_sessionmaker(engine: AsyncEngine, listener: TaskListener) -> async_sessionmaker[AsyncSession]:
    sessions = make_sessionmaker(engine)
    sessions.configure(sync_session_class=TaskWatchingSession, info={_LISTENER: listener})
    return sessions


def _pending(session: Session) -> dict[CallbackTask, tuple[dict[str, Any], bool]]:
    pending: dict[CallbackTask, tuple[dict[str, Any], bool]] = session.info.setdefault(_PENDING, {})
    return pending


@event.listens_for(TaskWatchingSession, "before_flush")
def _note_changes(session: Session, _context: UOWTransaction, _instances: object) -> None:
    pending = _pending(session)
    for obj in session.new:
        if isinstance(obj, CallbackTask):
            pending[obj] = ({}, True)
    for obj in session.dirty:
        if isinstance(obj, CallbackTask) and session.is_modified(obj):
            obj.version = (obj.version or 0) + 1
            pending.setdefault(obj, ({}, False))
    numbers: set[str] = session.info.setdefault(_NUMBERS, set())
    for obj in (*session.new, *session.deleted, *session.dirty):
        if isinstance(obj, ContactPhone) and obj.number:
            numbers.add(obj.number)
            # A number moved to another one: both numbers' tasks name other people now.
            numbers.update(str(n) for n in inspect(obj).attrs.number.history.deleted or () if n)
        elif isinstance(obj, Contact) and (obj in session.deleted or session.is_modified(obj)):
            phones = inspect(obj).attrs.phones.loaded_value
            if isinstance(phones, list):
                numbers.update(p.number for p in phones if p.number)


@event.listens_for(TaskWatchingSession, "after_flush_postexec")
def _snapshot(session: Session, _context: UOWTransaction) -> None:
    # Serialised right after the flush, while every column is loaded: after the commit, reading an
    # attribute may need SQL, which is not allowed there.
    pending = _pending(session)
    numbers = session.info.pop(_NUMBERS, None)
    if numbers:
        with session.no_autoflush:
            for task in session.scalars(
                select(CallbackTask).where(
                    CallbackTask.number.in_(sorted(numbers)), CallbackTask.status == "open"
                )
            ):
                pending.setdefault(task, ({}, False))
    for obj, (_, created) in pending.items():
        pending[obj] = (task_json(obj), created)


@event.listens_for(TaskWatchingSession, "after_commit")
def _announce(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    listener = session.info.get(_LISTENER)
    if not pending or listener is None:
        return
    now = datetime.now(UTC)
    listener([TaskChange(view, created, now) for view, created in pending.values() if view])


@event.listens_for(TaskWatchingSession, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_NUMBERS, None)
