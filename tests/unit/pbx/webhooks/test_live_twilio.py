"""Twilio's live caller cards from the <Dial> legs' status callbacks, without the app."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from kolokol.phones import PhoneNormalizer
from pbx.webhooks.base import CloudEvent
from pbx.webhooks.twilio import Twilio
from tests.support.live_calls import assert_dialing, assert_order_free, kinds, replay, the
from tests.support.providers.twilio import (
    BASE,
    CALLER,
    DID,
    RING,
    SID,
    T0,
    TOKEN,
    Delivery,
    inbound_answered,
    inbound_caller_gave_up,
    parent,
    request,
    voice,
)

TWILIO = Twilio(SID, TOKEN, BASE, PhoneNormalizer().e164, ring=RING, dial_timeout_seconds=20, record=True)
CALL = "CA" + "a" * 32


def cloud(deliveries: Sequence[Delivery]) -> list[CloudEvent]:
    return [
        event
        for path, query, params in deliveries
        for event in TWILIO.handle(request(path, params, base=BASE, query=query)).events
    ]


def test_the_twiml_fetch_alone_shows_nothing_until_a_leg_rings() -> None:
    assert TWILIO.live(CALL, cloud([voice(CALL)])) is None


def test_each_dial_leg_pops_the_card_on_its_extension() -> None:
    changes = replay(TWILIO, CALL, cloud(inbound_answered()))
    first = changes[0].call
    assert (changes[0].kind, first.pbx, first.state, first.ringing) == (
        "call.ringing",
        "twilio",
        "ringing",
        ("101",),
    )
    assert (first.caller, first.caller_name, first.called, first.number) == (
        CALLER,
        "PETROVA ANNA",
        DID,
        CALLER,
    )
    assert changes[1].call.ringing == ("101", "102")


def test_the_answering_leg_talks_and_the_other_stops_ringing() -> None:
    changes = replay(TWILIO, CALL, cloud(inbound_answered()))
    answered = the(changes, "call.answered")
    assert (answered.answered_by, answered.talking, answered.ringing, answered.state) == (
        "101",
        ("101",),
        (),
        "talking",
    )
    assert answered.answered_at == T0 + timedelta(seconds=12)
    assert "102" in answered.extensions


def test_the_parents_final_status_ends_the_call() -> None:
    changes = replay(TWILIO, CALL, cloud(inbound_answered()))
    assert kinds(changes).count("call.ended") == 1
    ended = changes[-1].call
    assert (changes[-1].kind, ended.answered_by, ended.rang) == ("call.ended", "101", ("101", "102"))
    assert ended.ended_at == T0 + timedelta(seconds=73)


def test_a_caller_who_gives_up_ends_the_card_on_both_phones() -> None:
    call = "CA" + "d" * 32
    changes = replay(TWILIO, call, cloud(inbound_caller_gave_up(call)))
    assert kinds(changes)[0] == "call.ringing" and kinds(changes)[-1] == "call.ended"
    assert "call.answered" not in kinds(changes)
    assert {"101", "102"} <= changes[-1].call.extensions


def test_an_api_call_is_dialing_for_the_tagged_operator_until_in_progress() -> None:
    out = "CA" + "9" * 32
    tag = "extension=101"
    steps = cloud(
        [
            parent(out, 0, 0, "initiated", direction="outbound-api", query=tag, frm=DID, to=CALLER),
            parent(out, 1, 2, "ringing", direction="outbound-api", query=tag, frm=DID, to=CALLER),
            parent(out, 2, 9, "in-progress", direction="outbound-api", query=tag, frm=DID, to=CALLER),
            parent(
                out, 3, 60, "completed", direction="outbound-api", duration=51, query=tag, frm=DID, to=CALLER
            ),
        ]
    )
    changes = replay(TWILIO, out, steps)
    assert kinds(changes) == ["call.ringing", "call.answered", "call.ended"]
    assert_dialing(changes[0], "101", CALLER)
    assert changes[1].call.talking == ("101",)


def test_any_order_and_duplicates_give_the_same_snapshot() -> None:
    steps = cloud(inbound_answered())
    assert assert_order_free(TWILIO, CALL, steps).state == "ended"
    assert assert_order_free(TWILIO, CALL, steps[:6]).talking == ("101",)
