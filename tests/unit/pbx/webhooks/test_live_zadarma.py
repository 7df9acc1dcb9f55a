"""Zadarma's live caller cards from its NOTIFY_* steps, without the app."""

from __future__ import annotations

from datetime import timedelta

from tests.support.live_calls import assert_dialing, assert_order_free, kinds, replay, the
from tests.support.providers.zadarma import CALL, T0, adapter, answered_call, events

ZADARMA = adapter()
CALLER = "+79161234567"


def test_notify_internal_pops_the_card_on_that_extension() -> None:
    changes = replay(ZADARMA, "in_1", events(ZADARMA, *answered_call()))
    first = changes[0]
    assert (first.kind, first.call.pbx, first.call.pbx_call_id) == ("call.ringing", "zadarma", "in_1")
    assert (first.call.state, first.call.ringing, first.call.rang) == ("ringing", ("101",), ("101",))
    assert (first.call.caller, first.call.called, first.call.number) == (CALLER, "+74951110001", CALLER)
    assert first.call.started_at == T0, "call_start, read in the account's zone"
    assert changes[1].call.ringing == ("101", "102")


def test_notify_answer_connects_the_phone_and_stops_the_others_ringing() -> None:
    changes = replay(ZADARMA, "in_1", events(ZADARMA, *answered_call()))
    answered = the(changes, "call.answered")
    assert (answered.answered_by, answered.talking, answered.ringing) == ("101", ("101",), ())
    assert answered.answered_at == T0 + timedelta(seconds=9)
    assert "102" in answered.extensions


def test_notify_end_ends_the_call() -> None:
    changes = replay(ZADARMA, "in_1", events(ZADARMA, *answered_call()))
    assert kinds(changes) == ["call.ringing", "call.ringing", "call.answered", "call.ended"]
    ended = changes[-1].call
    assert (ended.state, ended.answered_by, ended.operator) == ("ended", "101", "101")
    assert ended.ended_at == T0 + timedelta(seconds=69)


def test_a_call_still_in_the_menu_is_nothing_for_a_screen() -> None:
    steps = events(ZADARMA, (0, {**CALL, "event": "NOTIFY_START"}), (2, {**CALL, "event": "NOTIFY_IVR"}))
    assert ZADARMA.live("in_1", steps) is None


def test_a_miss_ends_on_the_phone_that_rang() -> None:
    steps = events(
        ZADARMA,
        (0, {**CALL, "event": "NOTIFY_START"}),
        (1, {**CALL, "event": "NOTIFY_INTERNAL", "internal": "101"}),
        (
            30,
            {**CALL, "event": "NOTIFY_END", "internal": "101", "duration": "0", "disposition": "cancel"},
        ),
    )
    changes = replay(ZADARMA, "in_1", steps)
    assert kinds(changes) == ["call.ringing", "call.ended"]
    assert changes[-1].call.answered_by is None and "101" in changes[-1].call.extensions


def test_an_outgoing_call_is_dialing_for_the_operator_until_it_ends() -> None:
    common = {"pbx_call_id": "out_1", "internal": "101", "destination": "79161234567"}
    steps = events(
        ZADARMA,
        (0, {**common, "event": "NOTIFY_OUT_START", "call_start": "2026-11-23 11:00:00"}),
        (
            40,
            {
                **common,
                "event": "NOTIFY_OUT_END",
                "call_start": "2026-11-23 11:00:00",
                "caller_id": "74951110001",
                "duration": "30",
                "disposition": "answered",
            },
        ),
    )
    dialing, ended = replay(ZADARMA, "out_1", steps)
    assert_dialing(dialing, "101", CALLER)
    assert (ended.kind, ended.call.answered_at) == ("call.ended", T0 + timedelta(seconds=10))


def test_any_order_and_duplicates_give_the_same_snapshot() -> None:
    steps = events(ZADARMA, *answered_call())
    assert assert_order_free(ZADARMA, "in_1", steps).state == "ended"
    assert assert_order_free(ZADARMA, "in_1", steps[:4]).talking == ("101",)
