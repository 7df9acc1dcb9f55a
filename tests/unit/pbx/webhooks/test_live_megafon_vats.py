"""MegaFon VPBX's live caller cards from its cmd=event notifications, without the app."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pbx.webhooks.base import CloudEvent
from tests.support.live_calls import assert_dialing, assert_order_free, kinds, replay, the
from tests.support.providers.megafon_vats import (
    HOOK,
    T0,
    event,
    history,
    inbound_answered,
    inbound_missed,
    request,
)

CALLER = "+79161234567"


def arrived(notifications: Sequence[dict[str, Any]]) -> list[CloudEvent]:
    """The events of these notifications, the n-th arriving n seconds after T0."""
    out: list[CloudEvent] = []
    for n, fields in enumerate(notifications):
        out.extend(HOOK.handle(request(fields, T0 + timedelta(seconds=n))).events)
    return out


def test_incoming_rings_the_employees_phone_with_the_caller_and_the_department() -> None:
    changes = replay(HOOK, "CALL-1", arrived(inbound_answered()))
    first = changes[0].call
    assert (changes[0].kind, first.pbx, first.state, first.ringing) == (
        "call.ringing",
        "megafon_vats",
        "ringing",
        ("101",),
    )
    assert (first.caller, first.called, first.number) == (CALLER, "+74951110001", CALLER)
    assert first.queue == "Регистратура"
    assert changes[1].call.ringing == ("101", "102")


def test_accepted_connects_and_closes_the_card_on_the_other_phone_at_once() -> None:
    changes = replay(HOOK, "CALL-1", arrived(inbound_answered()))
    answered = the(changes, "call.answered")
    assert (answered.answered_by, answered.talking, answered.ringing) == ("101", ("101",), ())
    assert "102" in answered.extensions
    assert answered.answered_at == T0 + timedelta(seconds=2)


def test_the_history_ends_the_call() -> None:
    changes = replay(HOOK, "CALL-1", arrived(inbound_answered()))
    assert kinds(changes).count("call.ended") == 1
    ended = changes[-1].call
    assert (changes[-1].kind, ended.state, ended.answered_by, ended.operator) == (
        "call.ended",
        "ended",
        "101",
        "101",
    )


def test_a_miss_ends_on_both_phones() -> None:
    changes = replay(HOOK, "MISS-1", arrived(inbound_missed()))
    assert kinds(changes) == ["call.ringing", "call.ringing", "call.updated", "call.updated", "call.ended"]
    assert changes[-1].call.answered_by is None and {"101", "102"} <= changes[-1].call.extensions


def test_a_transfer_rings_the_new_phone_while_the_first_still_talks() -> None:
    steps = arrived(
        [
            event("T", "INCOMING", "101"),
            event("T", "ACCEPTED", "101"),
            event("T", "INCOMING", "103"),
        ]
    )
    call = HOOK.live("T", steps)
    assert call is not None and (call.ringing, call.talking, call.state) == (("103",), ("101",), "talking")


def test_outgoing_is_dialing_for_the_operator_until_accepted() -> None:
    notifications = [
        event("OUT-1", "OUTGOING", "101", direction="out"),
        event("OUT-1", "ACCEPTED", "101", direction="out"),
        event("OUT-1", "COMPLETED", "101", direction="out"),
        history("OUT-1", "Success", type_="out", duration=30, ext="101"),
    ]
    changes = replay(HOOK, "OUT-1", arrived(notifications))
    assert kinds(changes) == ["call.ringing", "call.answered", "call.updated", "call.ended"]
    assert_dialing(changes[0], "101", CALLER)
    assert changes[1].call.talking == ("101",)


def test_any_order_and_duplicates_give_the_same_snapshot() -> None:
    steps = arrived(inbound_answered())
    assert assert_order_free(HOOK, "CALL-1", steps).state == "ended"
    assert assert_order_free(HOOK, "CALL-1", steps[:3]).talking == ("101",)
