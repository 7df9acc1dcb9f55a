"""Mango Office's live caller cards from its leg events, without the app."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.live_calls import assert_dialing, assert_order_free, kinds, replay, the
from tests.support.providers.mango_office import MANGO, cloud, inbound_answered, inbound_missed, leg, summary

CALLER, LINE = "+79161234567", "+74951110001"


def test_a_ring_pops_the_card_on_the_ringing_phones_with_the_caller() -> None:
    changes = replay(MANGO, "MTAxOjExMQ==", cloud(inbound_answered()))
    first = changes[0]
    assert first.kind == "call.ringing"
    assert (first.call.pbx, first.call.pbx_call_id, first.call.id) == (
        "mango_office",
        "MTAxOjExMQ==",
        "mango_office:MTAxOjExMQ==",
    )
    assert (first.call.direction, first.call.state, first.call.ringing) == ("inbound", "ringing", ("101",))
    assert (first.call.caller, first.call.called, first.call.number) == (CALLER, LINE, CALLER)
    assert {e for c in changes if c.kind == "call.ringing" for e in c.call.ringing} == {"101", "102"}


def test_the_answer_names_who_picked_up_and_closes_the_card_elsewhere() -> None:
    changes = replay(MANGO, "MTAxOjExMQ==", cloud(inbound_answered()))
    answered = the(changes, "call.answered")
    assert (answered.answered_by, answered.talking, answered.ringing) == ("101", ("101",), ())
    assert answered.state == "talking" and answered.operator == "101"
    assert "102" in answered.extensions, "102's card must close when 101 picks up"
    assert answered.answered_at == datetime.fromtimestamp(1795420800 + 12, UTC)


def test_the_summary_ends_the_call_once() -> None:
    changes = replay(MANGO, "MTAxOjExMQ==", cloud(inbound_answered()))
    assert kinds(changes).count("call.ended") == 1
    ended = changes[-1].call
    assert (changes[-1].kind, ended.state, ended.ringing, ended.talking) == ("call.ended", "ended", (), ())
    assert (ended.answered_by, ended.operator, ended.rang) == ("101", "101", ("101", "102"))
    assert ended.ended_at == datetime.fromtimestamp(1795420800 + 72, UTC)


def test_a_missed_call_ends_on_every_phone_that_rang() -> None:
    changes = replay(MANGO, "MISSED1", cloud(inbound_missed()))
    assert kinds(changes) == ["call.ringing", "call.ringing", "call.updated", "call.updated", "call.ended"]
    ended = changes[-1].call
    assert ended.answered_by is None and {"101", "102"} <= ended.extensions


def test_the_ivr_alone_is_nothing_for_a_screen() -> None:
    events = cloud(
        [
            leg("IVR", "A", 1, 0, "Appeared", "ivr"),
            leg("IVR", "A", 2, 20, "Disconnected", "ivr", disconnect_reason=1110),
            summary("IVR", end=20, result=1, reason=1110, to={"number": "74951110001"}),
        ]
    )
    assert replay(MANGO, "IVR", events) == []


def test_the_ring_group_is_the_queue() -> None:
    group = {"extension": "101", "acd_group": "303"}
    events = cloud(
        [leg("Q", "A", 1, 0, "Appeared", "queue"), leg("Q", "B", 1, 3, "Appeared", "abonent", to=group)]
    )
    call = MANGO.live("Q", events)
    assert call is not None and (call.queue, call.ringing) == ("303", ("101",))


def test_outbound_shows_the_patient_to_the_operator_while_dialing() -> None:
    me, patient = {"extension": "101", "line_number": "74951110001"}, {"number": "79161234567"}
    events = cloud(
        [
            leg("OUT", "X", 1, 0, "Appeared", "abonent", frm=me, to=patient),
            leg("OUT", "X", 2, 9, "Connected", "abonent", frm=me, to=patient),
            leg("OUT", "X", 3, 60, "Disconnected", "abonent", frm=me, to=patient, disconnect_reason=1110),
            summary("OUT", direction=2, talk=9, end=60, reason=1110, frm=me, to=patient),
        ]
    )
    changes = replay(MANGO, "OUT", events)
    # The hang-up of the leg is news (nobody talks); the summary, a moment later, ends the call.
    assert kinds(changes) == ["call.ringing", "call.answered", "call.updated", "call.ended"]
    assert_dialing(changes[0], "101", CALLER)
    assert (changes[1].call.state, changes[1].call.talking) == ("talking", ("101",))


def test_an_internal_call_rings_the_called_extension() -> None:
    me, colleague = {"extension": "101"}, {"extension": "102"}
    events = cloud(
        [
            leg("INT", "X", 1, 0, "Appeared", "abonent", frm=me, to=colleague),
            leg("INT", "X", 2, 4, "Connected", "abonent", frm=me, to=colleague),
        ]
    )
    ringing, answered = replay(MANGO, "INT", events)
    assert (ringing.call.direction, ringing.call.ringing, ringing.call.operator) == (
        "internal",
        ("102",),
        "101",
    )
    assert ringing.call.number is None
    assert (answered.kind, answered.call.answered_by, answered.call.talking) == (
        "call.answered",
        "102",
        ("101", "102"),
    )


def test_any_order_and_duplicates_give_the_same_snapshot() -> None:
    events = cloud(inbound_answered())
    final = assert_order_free(MANGO, "MTAxOjExMQ==", events)
    assert final.state == "ended"
    in_progress = [e for e in events if e.kind == "call"][:4]
    assert assert_order_free(MANGO, "MTAxOjExMQ==", in_progress).talking == ("101",)
