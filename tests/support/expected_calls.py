"""What each recorded real-Asterisk scenario (tests/asterisk_harness.py) must come out as.

The same table checks the live path (kolokol's AMI client on a running Asterisk) and the replay of the
captures recorded from it (tests/fixtures/ami/*.ami), so the fixtures stay honest.
"""

from __future__ import annotations

from typing import Any

CALLER = "+79161234567"
NAME = "Иван Петров"
RINGALL = "+74951110001"
QUEUE = "+74951110002"
IVR = "+74951110003"
DIRECT = "+74951110004"
CLINIC = "+74951110000"


def inbound(called: str, **fields: Any) -> dict[str, Any]:
    return {"direction": "inbound", "caller": CALLER, "caller_name": NAME, "called": called, **fields}


def answered(**fields: Any) -> dict[str, Any]:
    return {"status": "answered", "disposition": "answered", "missed_where": None, **fields}


def missed(disposition: str, where: str, **fields: Any) -> dict[str, Any]:
    base = {"status": "missed", "disposition": disposition, "missed_where": where}
    return {**base, "operator": None, "answered_by": None, "talk_seconds": 0, **fields}


OPEN_TASK = {"callback_task": {"status": "open", "number": CALLER, "missed_calls": 1}}

EXPECTED: dict[str, list[dict[str, Any]]] = {
    "ringall_answered": [
        inbound(
            RINGALL, **answered(answered_by="102", operator="102", rang=["101", "102"], callback_task=None)
        )
    ],
    "ringall_no_answer": [
        inbound(RINGALL, **missed("no_answer", "ringing", rang=["101", "102"]), **OPEN_TASK)
    ],
    "caller_hangup_while_ringing": [
        inbound(RINGALL, **missed("caller_hangup", "ringing", rang=["101", "102"]), **OPEN_TASK)
    ],
    # 103 answered 486 at once: dialled (lost "ringing"), but it never rang.
    "busy": [inbound(DIRECT, **missed("busy", "ringing", rang=[]), **OPEN_TASK)],
    "ivr_hangup": [inbound(IVR, **missed("caller_hangup", "ivr", rang=[]), **OPEN_TASK)],
    "ivr_queue_answered": [inbound(IVR, **answered(answered_by="102", operator="102"))],
    "queue_answered": [inbound(QUEUE, **answered(answered_by="102", operator="102", callback_task=None))],
    "queue_abandoned": [inbound(QUEUE, **missed("caller_hangup", "queue"), **OPEN_TASK)],
    "queue_timeout": [inbound(QUEUE, **missed("no_answer", "queue"), **OPEN_TASK)],
    "operator_hangs_up_first": [inbound(DIRECT, **answered(answered_by="103", operator="103", rang=["103"]))],
    "outbound_answered": [
        {"direction": "outbound", "caller": CLINIC, "called": CALLER, "operator": "101", **answered()},
    ],
    "outbound_unanswered": [
        {
            "direction": "outbound",
            "caller": CLINIC,
            "called": CALLER,
            "operator": "101",
            "status": "unanswered",
            "disposition": "busy",
            "callback_task": None,
        },
    ],
    "internal_call": [
        {"direction": "internal", "caller": "101", "called": "102", "operator": "101", **answered()},
    ],
    "blind_transfer": [
        inbound(
            RINGALL,
            **answered(answered_by="101", operator="103"),
            transfers=[{"from": "101", "to": "103", "kind": "blind"}],
        )
    ],
    "attended_transfer": [
        inbound(
            RINGALL,
            **answered(answered_by="101", operator="103"),
            transfers=[{"from": "101", "to": "103", "kind": "attended"}],
        )
    ],
    "pickup": [inbound(DIRECT, **answered(answered_by="104", operator="104", rang=["103"]))],
    # Click-to-call: Asterisk rang 101 first (so it "rang"), then dialled the patient from it.
    "click_to_call": [
        {
            "direction": "outbound",
            "caller": CLINIC,
            "called": CALLER,
            "operator": "101",
            "rang": ["101"],
            "callback_task": None,
            **answered(),
        },
    ],
}


def _subset(actual: Any, expected: Any, path: str) -> list[str]:
    if isinstance(expected, dict) and isinstance(actual, dict):
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems.extend(_subset(actual[key], value, f"{path}.{key}"))
        return problems
    if isinstance(expected, list) and isinstance(actual, list) and expected and isinstance(expected[0], dict):
        if len(actual) != len(expected):
            return [f"{path}: {len(actual)} items, expected {len(expected)}: {actual}"]
        return [
            p
            for i, (a, e) in enumerate(zip(actual, expected, strict=True))
            for p in _subset(a, e, f"{path}[{i}]")
        ]
    return [] if actual == expected else [f"{path}: {actual!r} != {expected!r}"]


def assert_matches(records: list[dict[str, Any]], expected: list[dict[str, Any]], *, timed: bool) -> None:
    """Every expected field equal; with real times, answered calls have talk time and waits add up."""
    assert len(records) == len(expected), f"{len(records)} calls, expected {len(expected)}: {records}"
    problems = [
        p for i, (r, e) in enumerate(zip(records, expected, strict=True)) for p in _subset(r, e, f"[{i}]")
    ]
    assert not problems, "\n".join(problems)
    for record in records:
        assert record["ended_at"] >= record["started_at"]
        if timed and record["status"] == "answered":
            assert record["talk_seconds"] > 0, record
            assert record["answered_at"] is not None
        if record["status"] != "answered":
            assert record["answered_at"] is None and record["talk_seconds"] == 0
