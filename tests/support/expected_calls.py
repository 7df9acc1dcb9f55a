"""What each recorded real-Asterisk scenario (tests/support/asterisk_harness.py) must come out as.

The same table checks the live path (kolokol's AMI client on a running Asterisk) and the replay of the
captures recorded from it (tests/fixtures/ami/*.ami), so the fixtures stay honest. Each expectation was
written from what the capture's events show, before the assembler was run on it.
"""

from __future__ import annotations

from typing import Any

CALLER = "+79161234567"
NAME = "Иван Петров"
RINGALL = "+74951110001"
QUEUE = "+74951110002"
IVR = "+74951110003"
DIRECT = "+74951110004"
DND = "+74951110005"
ACCOUNTS = "+74951110006"
UNREACHABLE = "+74951110007"
FORWARD = "+74951110008"
RINGALL_UNREACHABLE = "+74951110009"
CLINIC = "+74951110000"

# How the harness clinic's phones are configured in kolokol (README "Connecting Asterisk or FreePBX"):
# its phones named by SIP account codes are known as 201 and 202. The trunk "voipgrid-siproute" is an
# outside line by the default rule (its name is not 2..5 digits).
HARNESS_SETTINGS: dict[str, Any] = {"phones": {"extensions": {"150010001": "201", "150010002": "202"}}}


def inbound(called: str, **fields: Any) -> dict[str, Any]:
    return {"direction": "inbound", "caller": CALLER, "caller_name": NAME, "called": called, **fields}


def outbound(**fields: Any) -> dict[str, Any]:
    return {"direction": "outbound", "caller": CLINIC, "caller_name": None, "called": CALLER, **fields}


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
    # 101 answered 486 at once (do not disturb): dialled, never rang; 102 rang and answered.
    "ringall_one_dnd": [
        inbound(RINGALL, **answered(answered_by="102", operator="102", rang=["102"], callback_task=None))
    ],
    # The dialplan answered Busy() for 105: no phone was dialled; the caller's channel got cause 17.
    "dnd_busy_app": [inbound(DND, **missed("busy", "ringing", rang=[]), **OPEN_TASK)],
    # 106 has no contact: Dial could not even create its channel (no DialBegin); cause 3 on the caller.
    "unreachable": [inbound(UNREACHABLE, **missed("failed", "ringing", rang=[]), **OPEN_TASK)],
    # 106 unreachable (no channel at all), 104 rang and answered.
    "ringall_one_unreachable": [
        inbound(RINGALL_UNREACHABLE, **answered(answered_by="104", operator="104", rang=["104"]))
    ],
    # 107 forwarded (DialEnd CANCEL, Forward=103, cause 23) before ringing; 103 rang through
    # Local/103@phones and answered.
    "forward_302": [
        inbound(FORWARD, **answered(answered_by="103", operator="103", rang=["103"], transfers=[]))
    ],
    # The trunk voipgrid-siproute; phones 150010001 (201) and 150010002 (202) dialled in that order, both
    # rang; 202 answered, 201 got CANCEL / cause 26.
    "account_code_phones": [
        inbound(
            ACCOUNTS, **answered(answered_by="202", operator="202", rang=["201", "202"], callback_task=None)
        )
    ],
    # 103 answered, BlindTransfer (Extension 600) by 103; 101 and 102 dialled and rang; 102 answered.
    "blind_transfer_to_ringgroup": [
        inbound(
            DIRECT,
            **answered(answered_by="103", operator="102", rang=["103", "101", "102"]),
            transfers=[{"from": "103", "to": "102", "kind": "blind"}],
        )
    ],
    # 103 answered, BlindTransfer (Extension 601) by 103; QueueCallerJoin reception; 101 and 102 rang;
    # 101 answered. The caller did reach somebody: answered, not lost in the queue.
    "blind_transfer_to_queue": [
        inbound(
            DIRECT,
            **answered(answered_by="103", operator="101", rang=["103", "101", "102"]),
            transfers=[{"from": "103", "to": "101", "kind": "blind"}],
        )
    ],
    # 101 answered (102 rang, cause 26); Atxfer from 101 dials Local/103@phones; 103 rings; the transfer
    # completes while 103 still rings (AttendedTransfer DestType Bridge, TransferTarget = the ringing
    # Local;1); 103 answers and talks with the caller.
    "blonde_transfer": [
        inbound(
            RINGALL,
            **answered(answered_by="101", operator="103", rang=["101", "102", "103"]),
            transfers=[{"from": "101", "to": "103", "kind": "attended"}],
        )
    ],
    # Originate of PJSIP/+79161234567@trunk (no caller: DialBegin without Channel); the trunk's caller ID
    # is the clinic's number; after the patient answered, the trunk channel dialled 101 in phones/101,
    # which rang and answered: patient and 101 bridged at 3.0 s.
    "click_to_dial_patient_first": [outbound(operator="101", rang=["101"], callback_task=None, **answered())],
    # The same, the patient busy: DialEnd BUSY on the originated trunk leg, cause 17. No phone took part.
    "click_to_dial_patient_busy": [
        outbound(
            operator=None,
            rang=[],
            status="unanswered",
            disposition="busy",
            answered_at=None,
            callback_task=None,
        )
    ],
    # Originate of Local/+79161234567@outbound: ;2 dialled the trunk (79161234567@trunk), the patient
    # answered; ;1 then dialled 101 (its Ringing came before its DialBegin), which answered.
    "click_to_dial_local_patient_first": [
        outbound(operator="101", rang=["101"], callback_task=None, **answered())
    ],
    # Originate of Local/101@phones: 101 rang and answered; ;1 then dialled 79161234567@trunk: BUSY,
    # cause 17.
    "click_to_dial_local_operator_busy": [
        outbound(operator="101", rang=["101"], status="unanswered", disposition="busy", callback_task=None)
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
