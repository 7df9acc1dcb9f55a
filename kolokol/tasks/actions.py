"""What an operator does to a callback task by hand, and undoing it. Pure: decisions only.

Every action returns the fields it changes. A closing action (a close, or the "not reached" that ends the
last allowed attempt) and an attempt can be undone for a short while: the action keeps what the fields were
before it and what it made them, and an undo puts the first back only while the second still stands (so an
undo never overwrites what somebody, or a call, did meanwhile).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

# What an operator may record when closing a task by hand.
RESOLUTIONS = ("done", "unreachable", "cancelled")
# The fields the hand actions change; an undo record keeps these.
HAND_FIELDS = (
    "status",
    "resolution",
    "note",
    "closed_at",
    "closed_by",
    "attempts",
    "last_attempt_at",
    "last_attempt_by",
    "next_attempt_at",
)
_TIMES = frozenset({"closed_at", "last_attempt_at", "next_attempt_at"})

Action = Literal["complete", "attempt"]
Refusal = Literal["nothing-to-undo", "undo-expired", "not-yours", "task-changed"]


@dataclass(frozen=True, slots=True)
class AttemptPolicy:
    """How "not reached" goes: the task comes back after `retry_after`; the last attempt closes it."""

    retry_after: timedelta
    max_attempts: int


def complete(resolution: str, note: str | None, by: str, now: datetime) -> dict[str, Any]:
    """Close by hand: "done" (reached), "unreachable" (give up now), "cancelled" (nothing to do)."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unknown resolution {resolution!r}")
    return {
        "status": "cancelled" if resolution == "cancelled" else "done",
        "resolution": resolution,
        "note": note,
        "closed_at": now,
        "closed_by": by,
        "next_attempt_at": None,
    }


def attempt(
    fields: Mapping[str, Any], note: str | None, by: str, now: datetime, policy: AttemptPolicy
) -> dict[str, Any]:
    """A call back that did not reach the patient: count it, and bring the task back later or close it."""
    attempts = int(fields.get("attempts") or 0) + 1
    changes: dict[str, Any] = {"attempts": attempts, "last_attempt_at": now, "last_attempt_by": by}
    if note is not None:
        changes["note"] = note
    if attempts >= policy.max_attempts:
        changes.update(
            status="done", resolution="unreachable", closed_at=now, closed_by=by, next_attempt_at=None
        )
    else:
        changes["next_attempt_at"] = now + policy.retry_after
    return changes


def undo_record(
    action: Action,
    before: Mapping[str, Any],
    changes: Mapping[str, Any],
    by: str,
    now: datetime,
    window: timedelta,
) -> dict[str, Any]:
    """What `undo` needs, as JSON: the changed fields before and after the action, who, until when.

    The status is always kept: an attempt leaves the task open, and once a call has closed it since, there
    is no attempt left to undo.
    """
    after = {"status": before.get("status"), **changes}
    return {
        "action": action,
        "by": by,
        "until": _dump(now + window),
        "before": {name: _dump(before.get(name)) for name in after},
        "after": {name: _dump(value) for name, value in after.items()},
    }


def undo(
    record: Mapping[str, Any] | None,
    fields: Mapping[str, Any],
    by: str,
    now: datetime,
    *,
    may_undo_others: bool,
) -> dict[str, Any] | Refusal:
    """The fields to put back, or why not: too late, somebody else's action, or changed since."""
    if not record:
        return "nothing-to-undo"
    if now >= _load("until", record["until"]):
        return "undo-expired"
    if record["by"] != by and not may_undo_others:
        return "not-yours"
    for name, value in record["after"].items():
        if _dump(fields.get(name)) != value:
            return "task-changed"
    return {name: _load(name, value) for name, value in record["before"].items()}


def waiting_until(task: Mapping[str, Any]) -> str | None:
    """When a task that was not reached comes back (ISO time), or None when it is not waiting.

    A miss after the last attempt brings it back at once: the patient is trying to reach the clinic.
    Times are compared as the ISO texts `task_json` gives, which sort like the times they are.
    """
    next_at = task.get("next_attempt_at")
    if task.get("status") != "open" or not next_at:
        return None
    last_attempt = task.get("last_attempt_at")
    last_missed = task.get("last_missed_at")
    if last_attempt and last_missed and last_missed > last_attempt:
        return None
    return str(next_at)


def _dump(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _load(name: str, value: Any) -> Any:
    if value is not None and (name in _TIMES or name == "until"):
        return datetime.fromisoformat(value)
    return value
