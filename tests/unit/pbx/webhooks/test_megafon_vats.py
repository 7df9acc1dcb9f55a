"""The MegaFon VPBX adapter without the app: token check, times from arrival, the record from a set."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import pytest

from pbx.webhooks.base import CloudEvent, Rejected
from pbx.webhooks.megafon_vats import MegafonVats
from tests.support.providers.megafon_vats import HOOK, PHONES, T0, TOKEN, request

START = "20261123T080000Z"


def leg(kind: str, ext: str, seconds: float, *, callid: str = "C1", direction: str = "in") -> CloudEvent:
    """An event that arrived ``seconds`` after T0."""
    fields = {
        "cmd": "event",
        "type": kind,
        "callid": callid,
        "ext": ext,
        "user": f"u{ext}",
        "phone": "79161234567",
        "diversion": "74951110001",
        "direction": direction,
    }
    [event] = HOOK.handle(request(fields, T0 + timedelta(seconds=seconds))).events
    return event


def history(status: str, duration: int, *, arrived: float = 120, **extra: Any) -> CloudEvent:
    fields = {
        "cmd": "history",
        "type": "in",
        "callid": "C1",
        "ext": "101",
        "user": "u101",
        "status": status,
        "phone": "79161234567",
        "diversion": "74951110001",
        "start": START,
        "duration": duration,
        **extra,
    }
    [event] = HOOK.handle(request(fields, T0 + timedelta(seconds=arrived))).events
    return event


def record(*events: CloudEvent, timed_out: bool = False) -> Any:
    return HOOK.assemble("C1", list(events), timed_out=timed_out)


def test_answer_time_is_when_accepted_arrived_and_talk_is_the_duration() -> None:
    call = record(
        leg("INCOMING", "101", 1),
        leg("ACCEPTED", "101", 9),
        leg("COMPLETED", "101", 69),
        history("Success", 60),
    )
    assert (call.started_at, call.answered_at, call.ended_at) == (
        T0,
        T0 + timedelta(seconds=9),
        T0 + timedelta(seconds=69),
    )
    assert (call.wait_seconds, call.talk_seconds) == (9.0, 60.0)


def test_wait_when_sent_wins_over_arrival_times() -> None:
    call = record(leg("ACCEPTED", "101", 9), history("Success", 60, wait="4"))
    assert (call.answered_at, call.ended_at) == (T0 + timedelta(seconds=4), T0 + timedelta(seconds=64))


def test_accepted_that_arrived_long_after_the_call_is_not_its_answer_time() -> None:
    # A delivery backlog: the event came an hour late, so it says nothing about the answer.
    call = record(leg("ACCEPTED", "101", 3600), history("Success", 60, arrived=3601))
    assert (call.answered_at, call.ended_at) == (T0, T0 + timedelta(seconds=60))
    assert call.answered_by == "101"


def test_missed_call_ends_when_the_last_event_arrived() -> None:
    call = record(leg("INCOMING", "101", 1), leg("CANCELLED", "101", 31), history("missed", 0, arrived=32))
    assert (call.status, call.disposition, call.missed_where) == ("missed", "no_answer", "ringing")
    assert (call.answered_at, call.ended_at, call.wait_seconds) == (None, T0 + timedelta(seconds=31), 31.0)


def test_missed_call_with_wait_ends_after_the_ring_time() -> None:
    call = record(history("Cancel", 0, wait=17))
    assert (call.disposition, call.missed_where, call.ended_at) == (
        "caller_hangup",
        "ivr",
        T0 + timedelta(seconds=17),
    )


def test_start_is_read_as_utc() -> None:
    event = history("Success", 5)
    assert event.data["started_at"] == "2026-11-23T08:00:00+00:00"
    assert event.occurred_at == T0 + timedelta(seconds=120)


def test_the_record_depends_only_on_the_set_of_events() -> None:
    events = [
        leg("INCOMING", "101", 1),
        leg("INCOMING", "102", 1),
        leg("ACCEPTED", "102", 8),
        leg("CANCELLED", "101", 8),
        leg("COMPLETED", "102", 50),
        history("Success", 42, ext="102"),
    ]
    first = record(*events)
    for order in itertools.permutations(events):
        assert record(*order, *order[:2]) == first
    assert (first.answered_by, first.operator, first.rang) == ("102", "102", ("101", "102"))


def test_nothing_is_built_before_the_history_unless_timed_out() -> None:
    assert record(leg("INCOMING", "101", 1), leg("CANCELLED", "101", 5)) is None
    assert record(timed_out=True) is None


def test_timed_out_outbound_call_is_built_from_arrival_times() -> None:
    events = [
        leg("OUTGOING", "105", 0, direction="out"),
        leg("ACCEPTED", "105", 6, direction="out"),
        leg("COMPLETED", "105", 36, direction="out"),
    ]
    call = record(*events, timed_out=True)
    assert (call.direction, call.status, call.closed_by_timeout) == ("outbound", "answered", True)
    assert (call.operator, call.called, call.caller) == ("105", "+79161234567", "+74951110001")
    assert (call.wait_seconds, call.talk_seconds) == (6.0, 30.0)


def test_the_token_is_checked_and_never_stored() -> None:
    fields = {"cmd": "event", "type": "INCOMING", "callid": "C1", "ext": "101"}
    for token in (None, "", TOKEN[:-1] + TOKEN[-1].upper(), TOKEN + TOKEN):
        with pytest.raises(Rejected) as refused:
            HOOK.handle(request(fields, token=token))
        assert refused.value.status == 401 and TOKEN not in refused.value.message
    [event] = HOOK.handle(request(fields)).events
    assert "crm_token" not in event.data and TOKEN not in json.dumps(event.data)


def test_dedupe_keys_match_for_a_redelivery_and_differ_per_employee() -> None:
    assert leg("INCOMING", "101", 1).dedupe_key == leg("INCOMING", "101", 9).dedupe_key
    assert leg("INCOMING", "101", 1).dedupe_key != leg("INCOMING", "102", 1).dedupe_key
    assert leg("INCOMING", "101", 1).dedupe_key != leg("ACCEPTED", "101", 1).dedupe_key
    assert history("Success", 5).dedupe_key == history("Success", 5, arrived=999).dedupe_key


def test_contact_lookup_asks_for_the_e164_number() -> None:
    accepted = HOOK.handle(request({"cmd": "contact", "phone": "8 (916) 123-45-67"}))
    assert accepted.lookup_number == "+79161234567" and accepted.events == ()
    assert json.loads(HOOK.lookup_reply(["Анна", "Борис"]).body) == {"contact_name": "Анна"}
    assert json.loads(HOOK.lookup_reply([]).body) == {}


def test_an_empty_token_setting_is_refused() -> None:
    with pytest.raises(ValueError, match="crm_token"):
        MegafonVats("", PHONES.e164)
