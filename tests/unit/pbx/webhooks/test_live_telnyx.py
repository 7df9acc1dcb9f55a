"""Telnyx's live caller cards from its leg events, without the app."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

from pbx.webhooks.base import CloudEvent
from pbx.webhooks.telnyx import Telnyx
from tests.support.live_calls import assert_dialing, assert_order_free, kinds, replay, the
from tests.support.providers.telnyx import (
    CALLER,
    DID,
    T0,
    Event,
    adapter,
    inbound_answered,
    inbound_missed_ringing,
    outbound,
    request,
    sip_connection_call,
)

TELNYX = adapter()


def cloud(events: Sequence[Event], hook: Telnyx = TELNYX) -> list[CloudEvent]:
    return [e for ev in events for e in hook.handle(request(json.dumps(ev).encode(), arrived_after=0)).events]


def test_the_greeting_alone_is_nothing_for_a_screen() -> None:
    assert TELNYX.live("sess-answered", cloud(inbound_answered()[:2])) is None


def test_each_operator_leg_rings_its_extension() -> None:
    changes = replay(TELNYX, "sess-answered", cloud(inbound_answered()))
    first = changes[0].call
    assert (changes[0].kind, first.pbx, first.pbx_call_id, first.ringing) == (
        "call.ringing",
        "telnyx",
        "sess-answered",
        ("101",),
    )
    assert (first.caller, first.caller_name, first.called, first.number) == (CALLER, "Анна", DID, CALLER)
    assert changes[1].call.ringing == ("101", "102")


def test_the_answered_leg_talks_and_the_other_stops_ringing() -> None:
    changes = replay(TELNYX, "sess-answered", cloud(inbound_answered()))
    answered = the(changes, "call.answered")
    assert (answered.answered_by, answered.talking, answered.ringing) == ("101", ("101",), ())
    assert answered.answered_at == T0 + timedelta(seconds=12)
    assert "102" in answered.extensions


def test_the_callers_hangup_ends_the_call_once() -> None:
    changes = replay(TELNYX, "sess-answered", cloud(inbound_answered()))
    assert kinds(changes).count("call.ended") == 1
    ended = changes[-1].call
    assert (changes[-1].kind, ended.answered_by, ended.operator) == ("call.ended", "101", "101")
    assert ended.ended_at == T0 + timedelta(seconds=72)


def test_a_bridge_before_the_ring_is_no_answer() -> None:
    changes = replay(TELNYX, "sess-missed", cloud(inbound_missed_ringing()))
    assert "call.answered" not in kinds(changes)
    assert changes[0].call.ringing == ("101",) and changes[-1].kind == "call.ended"


def test_a_sip_connection_call_goes_to_supervisors_without_an_extension() -> None:
    direct = adapter(app_answers_inbound=False)
    changes = replay(direct, "sess-direct", cloud(sip_connection_call("sess-direct"), direct))
    assert kinds(changes) == ["call.ringing", "call.answered", "call.ended"]
    ringing = changes[0].call
    assert (ringing.ringing, ringing.extensions, ringing.state) == ((), frozenset(), "ringing")
    assert (changes[1].call.answered_by, changes[1].call.talking) == ("103", ("103",))


def test_outbound_is_dialing_for_the_operator_until_answered() -> None:
    changes = replay(
        TELNYX, "sess-out", cloud(outbound("sess-out", answered_at=9, cause="normal_clearing", end=99))
    )
    assert kinds(changes) == ["call.ringing", "call.answered", "call.ended"]
    assert_dialing(changes[0], "101", CALLER)


def test_any_order_retries_and_duplicates_give_the_same_snapshot() -> None:
    steps = cloud(inbound_answered())
    assert assert_order_free(TELNYX, "sess-answered", steps).state == "ended"
    assert assert_order_free(TELNYX, "sess-answered", steps[:6]).talking == ("101",)
