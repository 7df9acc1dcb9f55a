"""What the operators' screens are told while a call happens, on the captures recorded from the real
Asterisk: who rings, who picked up, when the card must close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kolokol.phones import PhoneNormalizer
from pbx.ami_framing import AmiFramer
from pbx.assembler import CallAssembler
from pbx.live import LiveCall, LiveChange, change_kind
from tests.support.paths import AMI_CAPTURES
from tests.support.scripted_pbx import ScriptedPbx

CAPTURES = AMI_CAPTURES
CALLER = "+79161234567"


def live_changes(scenario: str) -> list[LiveChange]:
    assembler = CallAssembler(PhoneNormalizer().e164, live=True)
    changes: list[LiveChange] = []
    for event in AmiFramer().feed((CAPTURES / f"{scenario}.ami").read_bytes()):
        assembler.feed(event, datetime.now(UTC))
        changes.extend(assembler.take_live())
    assembler.flush()
    changes.extend(assembler.take_live())
    return changes


def seen_by(changes: list[LiveChange], extension: str) -> list[LiveChange]:
    """The messages an operator subscribed to this phone receives."""
    return [c for c in changes if extension in c.call.extensions]


def test_ring_all_pops_on_both_phones_and_the_loser_learns_who_answered() -> None:
    changes = live_changes("ringall_answered")
    first = changes[0]
    assert first.kind == "call.ringing"
    assert (first.call.caller, first.call.caller_name) == (CALLER, "Иван Петров")
    assert first.call.called == "+74951110001"
    assert first.call.number == CALLER
    assert {e for c in changes if c.kind == "call.ringing" for e in c.call.ringing} == {"101", "102"}
    [answered] = [c for c in changes if c.kind == "call.answered"]
    assert answered.call.answered_by == "102"
    assert answered.call.talking == ("102",)
    assert answered.call.ringing == ()
    assert answered.call.state == "talking"
    assert answered in seen_by(changes, "101"), "101's card must close when 102 picks up"
    assert changes[-1].kind == "call.ended"
    assert changes[-1].call.state == "ended"
    assert len({c.call.id for c in changes}) == 1
    assert changes[0].call.id == "asterisk:" + changes[0].call.pbx_call_id


def test_an_answer_is_announced_before_the_bridge_forms() -> None:
    """The card closes for the others the moment a phone picks up (DialEnd ANSWER), not later."""
    changes = live_changes("queue_answered")
    [answered] = [c for c in changes if c.kind == "call.answered"]
    assert answered.call.answered_by == "102"
    assert answered.call.queue == "reception"
    assert answered.call.answered_at is not None
    assert answered.at == answered.call.answered_at


@pytest.mark.parametrize(
    "scenario",
    ["ringall_no_answer", "caller_hangup_while_ringing", "queue_abandoned", "queue_timeout"],
)
def test_a_missed_call_ends_on_every_phone_that_rang(scenario: str) -> None:
    changes = live_changes(scenario)
    assert not [c for c in changes if c.kind == "call.answered"]
    ended = changes[-1]
    assert ended.kind == "call.ended"
    assert ended.call.answered_by is None
    assert set(ended.call.rang) <= ended.call.extensions
    for extension in ended.call.rang:
        assert seen_by(changes, extension)[0].kind == "call.ringing"


def test_a_phone_busy_at_once_never_pops_a_card() -> None:
    """103 answered 486 before ringing (do not disturb): no operator screen is told anything."""
    assert live_changes("busy") == []


def test_a_queue_retry_rings_the_phones_again() -> None:
    changes = live_changes("queue_timeout")
    rings = [c for c in changes if c.kind == "call.ringing"]
    # Two rounds of the 15 s member timeout inside the 30 s queue wait: each round pops the card again.
    assert len([c for c in rings if c.call.ringing == ("101",)]) == 2
    assert all(c.call.queue == "reception" for c in changes)


def test_an_ivr_call_nobody_rang_never_reaches_a_screen() -> None:
    assert live_changes("ivr_hangup") == []


def test_click_to_call_shows_the_patient_while_the_operators_own_phone_rings() -> None:
    """The Originate rings 101 before anyone dials: already an outbound call to the patient, not a ring
    for 101 to answer (the console plays no ring for it)."""
    changes = live_changes("click_to_call")
    first = changes[0]
    assert (first.kind, first.call.direction, first.call.state) == ("call.ringing", "outbound", "dialing")
    assert (first.call.ringing, first.call.number) == (("101",), CALLER)
    [answered] = [c for c in changes if c.kind == "call.answered"]
    assert answered.call.talking == ("101",), "talking once the patient answers, not when 101 picks up"
    assert changes[-1].kind == "call.ended"


def test_outbound_call_shows_the_patient_to_the_operator_who_dials() -> None:
    changes = live_changes("outbound_answered")
    first = changes[0]
    assert (first.kind, first.call.direction, first.call.state) == ("call.ringing", "outbound", "dialing")
    assert first.call.number == CALLER
    assert first.call.extensions == {"101"}
    [answered] = [c for c in changes if c.kind == "call.answered"]
    assert (answered.call.state, answered.call.talking) == ("talking", ("101",))
    assert changes[-1].kind == "call.ended"


def test_blind_transfer_rings_the_target_and_moves_the_card() -> None:
    changes = live_changes("blind_transfer")
    ring_103 = next(c for c in changes if "103" in c.call.ringing)
    assert ring_103.kind == "call.ringing"
    assert ring_103.call.number == CALLER
    assert ring_103.call.state == "ringing", "the caller waits for 103: ringing again, not talking"
    # 101 is told too (its card closes: it is neither ringing nor talking any more).
    assert "101" in ring_103.call.extensions and "101" not in ring_103.call.talking
    final_talk = [c for c in changes if c.call.talking == ("103",)]
    assert final_talk and final_talk[-1].call.operator == "103"


def test_pickup_closes_the_ringing_phone_and_gives_the_card_to_the_picker() -> None:
    changes = live_changes("pickup")
    inbound = [c for c in changes if c.call.direction == "inbound"]
    [answered] = [c for c in inbound if c.kind == "call.answered"]
    assert (answered.call.answered_by, answered.call.talking) == ("104", ("104",))
    assert "103" in answered.call.extensions
    # The picker's own short-lived call (dialling *8) rang nobody: no screen ever heard of it.
    assert {c.call.pbx_call_id for c in changes} == {inbound[0].call.pbx_call_id}


def test_attended_transfer_ends_with_the_caller_talking_to_the_target() -> None:
    changes = live_changes("attended_transfer")
    inbound_id = changes[0].call.pbx_call_id
    assert changes[-1].kind == "call.ended" and changes[-1].call.pbx_call_id == inbound_id
    talking = [c.call.talking for c in changes if c.call.pbx_call_id == inbound_id]
    assert ("103",) in talking
    assert "103" in changes[-1].call.extensions


def test_a_lost_hangup_still_ends_the_card_when_the_call_times_out() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound()
    pbx.ring(caller, "101")
    assembler = CallAssembler(PhoneNormalizer().e164, live=True, stale_after_seconds=60)
    start = datetime.fromtimestamp(pbx.now, tz=UTC)
    for event in pbx.events:
        assembler.feed(event, start)
    assert [c.kind for c in assembler.take_live()] == ["call.ringing"]
    [record] = assembler.tick(start + timedelta(seconds=120))
    assert record.closed_by_timeout
    [ended] = assembler.take_live()
    assert (ended.kind, ended.call.state, ended.call.ringing) == ("call.ended", "ended", ())


def test_calls_seen_after_a_reconnect_are_settled_on_the_screens_too() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound()
    pbx.ring(caller, "101")
    assembler = CallAssembler(PhoneNormalizer().e164, live=True, settle_seconds=0)
    at = datetime.fromtimestamp(pbx.now, tz=UTC)
    for event in pbx.events:
        assembler.feed(event, at)
    assembler.take_live()
    assembler.resync([], at + timedelta(seconds=5))  # Asterisk has no channels left: the call ended
    assert [c.kind for c in assembler.take_live()] == ["call.ended"]


def test_without_live_tracking_nothing_accumulates() -> None:
    assembler = CallAssembler(PhoneNormalizer().e164)
    for event in AmiFramer().feed((CAPTURES / "ringall_answered.ami").read_bytes()):
        assembler.feed(event, datetime.now(UTC))
    assert assembler.take_live() == []


def _call(**fields: object) -> LiveCall:
    base: dict[str, object] = {
        "pbx": "asterisk",
        "pbx_call_id": "1.1",
        "direction": "inbound",
        "state": "ringing",
        "caller": CALLER,
        "caller_name": None,
        "called": "+74951110001",
        "number": CALLER,
        "ringing": ("101",),
        "talking": (),
        "rang": ("101",),
        "queue": None,
        "operator": None,
        "answered_by": None,
        "started_at": datetime(2026, 3, 2, tzinfo=UTC),
        "answered_at": None,
        "ended_at": None,
    }
    base.update(fields)
    return LiveCall(**base)  # type: ignore[arg-type]


def test_change_kind_names_each_transition_once() -> None:
    ringing = _call()
    assert change_kind(None, ringing) == "call.ringing"
    assert change_kind(ringing, ringing) is None
    more = _call(ringing=("101", "102"), rang=("101", "102"))
    assert change_kind(ringing, more) == "call.ringing"
    fewer = _call(ringing=(), rang=("101", "102"))
    assert change_kind(more, fewer) == "call.updated"
    answered = _call(
        state="talking", ringing=(), talking=("102",), answered_by="102", answered_at=datetime.now(UTC)
    )
    assert change_kind(fewer, answered) == "call.answered"
    ended = _call(state="ended", ringing=(), ended_at=datetime.now(UTC))
    assert change_kind(answered, ended) == "call.ended"
    assert change_kind(ended, ended) is None


@pytest.mark.parametrize(("scenario", "never"), [("ringall_one_dnd", "101"), ("forward_302", "107")])
def test_a_phone_that_never_rang_never_gets_the_call(scenario: str, never: str) -> None:
    """101 was busy at once (do not disturb), 107 forwarded the call before ringing: their screens
    are told nothing, the phone that did ring gets the whole call."""
    changes = live_changes(scenario)
    assert changes and changes[-1].kind == "call.ended"
    assert not seen_by(changes, never)
    assert never not in changes[-1].call.rang


def test_click_to_dial_patient_first_rings_the_operator_once_the_patient_answered() -> None:
    changes = seen_by(live_changes("click_to_dial_patient_first"), "101")
    first = changes[0]
    assert (first.kind, first.call.direction, first.call.state) == ("call.ringing", "outbound", "dialing")
    assert first.call.number == CALLER
    [answered] = [c for c in changes if c.kind == "call.answered"]
    assert (answered.call.state, answered.call.talking) == ("talking", ("101",))
    assert changes[-1].kind == "call.ended"


def test_a_blonde_transfer_rings_the_target_while_the_caller_waits() -> None:
    changes = live_changes("blonde_transfer")
    target = seen_by(changes, "103")
    assert target[0].kind == "call.ringing" and target[0].call.ringing == ("103",)
    talking = [c for c in target if c.call.talking == ("103",)]
    assert talking and talking[-1].call.operator == "103"
