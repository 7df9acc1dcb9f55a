"""The hand actions on a callback task and their undo, as pure decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kolokol.tasks import actions

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
POLICY = actions.AttemptPolicy(timedelta(minutes=30), max_attempts=2)
OPEN: dict[str, Any] = {
    "status": "open",
    "resolution": None,
    "note": None,
    "closed_at": None,
    "closed_by": None,
    "attempts": 0,
    "last_attempt_at": None,
    "last_attempt_by": None,
    "next_attempt_at": None,
}


def test_not_reached_waits_and_the_last_allowed_attempt_closes() -> None:
    first = actions.attempt(OPEN, None, "anna", NOW, POLICY)
    assert first == {
        "attempts": 1,
        "last_attempt_at": NOW,
        "last_attempt_by": "anna",
        "next_attempt_at": NOW + timedelta(minutes=30),
    }
    last = actions.attempt({**OPEN, **first}, "не берёт", "boris", NOW, POLICY)
    assert last["status"] == "done" and last["resolution"] == "unreachable"
    assert (last["attempts"], last["closed_by"], last["note"], last["next_attempt_at"]) == (
        2,
        "boris",
        "не берёт",
        None,
    )


@pytest.mark.parametrize(
    ("resolution", "status"), [("done", "done"), ("unreachable", "done"), ("cancelled", "cancelled")]
)
def test_a_close_by_hand_says_who_and_how(resolution: str, status: str) -> None:
    changes = actions.complete(resolution, "note", "anna", NOW)
    assert (changes["status"], changes["resolution"], changes["closed_by"], changes["closed_at"]) == (
        status,
        resolution,
        "anna",
        NOW,
    )
    with pytest.raises(ValueError, match="resolution"):
        actions.complete("reached", None, "anna", NOW)


def undoable(
    action: actions.Action, changes: dict[str, Any], by: str = "anna"
) -> tuple[dict[str, Any], dict[str, Any]]:
    record = actions.undo_record(action, OPEN, changes, by, NOW, timedelta(seconds=10))
    return record, {**OPEN, **changes}


def test_an_undo_puts_back_what_the_action_changed() -> None:
    record, now_fields = undoable("complete", actions.complete("done", None, "anna", NOW))
    restored = actions.undo(record, now_fields, "anna", NOW + timedelta(seconds=9), may_undo_others=False)
    assert restored == {
        "status": "open",
        "resolution": None,
        "note": None,
        "closed_at": None,
        "closed_by": None,
        "next_attempt_at": None,
    }


def test_an_undo_is_refused_when_late_not_yours_or_changed_since() -> None:
    record, fields = undoable("attempt", actions.attempt(OPEN, None, "anna", NOW, POLICY))
    later = NOW + timedelta(seconds=10)
    assert actions.undo(record, fields, "anna", later, may_undo_others=False) == "undo-expired"
    assert actions.undo(record, fields, "boris", NOW, may_undo_others=False) == "not-yours"
    assert isinstance(actions.undo(record, fields, "olga", NOW, may_undo_others=True), dict)
    closed_by_a_call = {**fields, "status": "done"}
    assert actions.undo(record, closed_by_a_call, "anna", NOW, may_undo_others=False) == "task-changed"
    tried_again = {**fields, "attempts": 2}
    assert actions.undo(record, tried_again, "anna", NOW, may_undo_others=False) == "task-changed"
    assert actions.undo(None, fields, "anna", NOW, may_undo_others=False) == "nothing-to-undo"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_a_task_waits_after_an_attempt_until_it_comes_back_or_the_patient_calls_again() -> None:
    task = {
        "status": "open",
        "last_missed_at": iso(NOW - timedelta(minutes=5)),
        "last_attempt_at": iso(NOW),
        "next_attempt_at": iso(NOW + timedelta(minutes=30)),
    }
    assert actions.waiting_until(task) == task["next_attempt_at"]
    assert actions.waiting_until({**task, "last_missed_at": iso(NOW + timedelta(minutes=1))}) is None
    assert actions.waiting_until({**task, "next_attempt_at": None}) is None
    assert actions.waiting_until({**task, "status": "done"}) is None
