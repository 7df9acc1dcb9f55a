"""The call assembler on scripted Asterisk event streams: each test is a call a clinic would recognise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kolokol.phones import PhoneNormalizer
from pbx.assembler import CallAssembler
from pbx.call_record import PbxCallRecord
from tests.support.scripted_pbx import ScriptedPbx

# Events arrive as the scripted PBX stamps them (the receive clock agrees with the PBX clock).
FALLBACK = datetime.fromtimestamp(ScriptedPbx().now, tz=UTC)


def run(pbx: ScriptedPbx, assembler: CallAssembler | None = None) -> list[PbxCallRecord]:
    assembler = assembler or CallAssembler(PhoneNormalizer().e164, settle_seconds=0)
    records: list[PbxCallRecord] = []
    for event in pbx.events:
        records.extend(assembler.feed(event, FALLBACK))
    records.extend(assembler.flush())
    return records


def only(records: list[PbxCallRecord]) -> PbxCallRecord:
    assert len(records) == 1, records
    return records[0]


def test_ring_all_answered_by_second_phone_loser_is_not_a_miss() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound()
    p101 = pbx.ring(caller, "101")
    p102 = pbx.ring(caller, "102")
    pbx.wait(7)
    pbx.answer(caller, p102)
    pbx.dial_end(caller, p101, "CANCEL")
    pbx.hangup(p101, "26")
    pbx.wait(60)
    pbx.hangup(caller)
    pbx.hangup(p102)
    call = only(run(pbx))
    assert call.direction == "inbound"
    assert call.caller == "+79161234567"
    assert call.caller_name == "Иван Петров"
    assert call.called == "+74951110001"
    assert (call.status, call.disposition, call.missed_where) == ("answered", "answered", None)
    assert call.answered_by == call.operator == "102"
    assert call.rang == ("101", "102")
    assert call.wait_seconds == pytest.approx(7)
    assert call.talk_seconds == pytest.approx(60)


def test_ring_all_nobody_answers_is_missed_while_ringing() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound()
    phones = [pbx.ring(caller, ext) for ext in ("101", "102")]
    pbx.wait(20)
    for phone in phones:
        pbx.dial_end(caller, phone, "NOANSWER")
        pbx.hangup(phone, "19")
    pbx.hangup(caller)
    call = only(run(pbx))
    assert (call.status, call.disposition, call.missed_where) == ("missed", "no_answer", "ringing")
    assert call.operator is None and call.answered_at is None
    assert call.wait_seconds == pytest.approx(20)


def test_caller_hangs_up_while_ringing() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound()
    phone = pbx.ring(caller, "101")
    pbx.wait(4)
    pbx.dial_end(caller, phone, "CANCEL")
    pbx.hangup(phone, "0")
    pbx.hangup(caller)
    call = only(run(pbx))
    assert (call.status, call.disposition, call.missed_where) == ("missed", "caller_hangup", "ringing")


def test_busy_phone() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound(did="74951110004")
    phone = pbx.ring(caller, "103")
    pbx.dial_end(caller, phone, "BUSY")
    pbx.hangup(phone, "17")
    pbx.hangup(caller, "17")
    call = only(run(pbx))
    assert (call.status, call.disposition) == ("missed", "busy")


def test_answer_by_ivr_is_not_an_answer() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound(did="74951110003")
    pbx.state(caller, "6")
    pbx.wait(12)
    pbx.hangup(caller)
    call = only(run(pbx))
    assert (call.status, call.disposition, call.missed_where) == ("missed", "caller_hangup", "ivr")
    assert call.answered_at is None


def test_queue_abandon_and_timeout() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound(did="74951110002")
    pbx.state(caller, "6")
    pbx.emit("QueueCallerJoin", caller.snapshot(), Queue="reception", Position="1")
    phone = pbx.ring(caller, "101")
    pbx.wait(9)
    pbx.emit("QueueCallerAbandon", caller.snapshot(), Queue="reception")
    pbx.dial_end(caller, phone, "CANCEL")
    pbx.hangup(phone, "0")
    pbx.hangup(caller)
    call = only(run(pbx))
    assert (call.status, call.disposition, call.missed_where) == ("missed", "caller_hangup", "queue")

    pbx = ScriptedPbx()
    caller = pbx.inbound(did="74951110002")
    pbx.state(caller, "6")
    pbx.emit("QueueCallerJoin", caller.snapshot(), Queue="reception", Position="1")
    phone = pbx.ring(caller, "101")
    pbx.wait(15)
    pbx.dial_end(caller, phone, "NOANSWER")
    pbx.hangup(phone, "19")
    pbx.wait(15)
    pbx.emit("QueueCallerLeave", caller.snapshot(), Queue="reception")
    pbx.hangup(caller)
    call = only(run(pbx))
    assert (call.status, call.disposition, call.missed_where) == ("missed", "no_answer", "queue")


def test_queue_answered_through_local_channels() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound(did="74951110002")
    pbx.state(caller, "6")
    pbx.emit("QueueCallerJoin", caller.snapshot(), Queue="reception", Position="1")
    # A queue member defined as Local/101@agents: two ends of one wire, as Asterisk names them.
    wire1, wire2 = pbx.local_pair("101@agents", linked=caller)
    pbx.dial(caller, wire1)
    phone = pbx.ring(wire2, "101")
    pbx.wait(5)
    pbx.state(phone, "6")
    pbx.bridge(wire2, "inner")
    pbx.bridge(phone, "inner")
    pbx.bridge(caller, "outer")
    pbx.bridge(wire1, "outer")
    pbx.emit("AgentConnect", caller.snapshot(), Queue="reception")
    pbx.wait(30)
    for chan in (phone, wire2, wire1, caller):
        pbx.hangup(chan)
    call = only(run(pbx))
    assert (call.status, call.answered_by, call.operator) == ("answered", "101", "101")
    assert call.rang == ("101",)
    assert call.talk_seconds == pytest.approx(30)


def test_outbound_answered_and_busy() -> None:
    pbx = ScriptedPbx()
    phone = pbx.new("PJSIP/101", num="74951110000", exten="89161234567")
    trunk = pbx.new("PJSIP/trunk", linked=phone, num="89161234567")
    pbx.dial(phone, trunk, "89161234567@trunk")
    pbx.wait(6)
    pbx.dial_end(phone, trunk, "ANSWER")
    pbx.bridge(phone, "b")
    pbx.bridge(trunk, "b")
    pbx.wait(40)
    pbx.hangup(trunk)
    pbx.hangup(phone)
    call = only(run(pbx))
    assert call.direction == "outbound"
    assert (call.caller, call.called, call.operator) == ("+74951110000", "+79161234567", "101")
    assert (call.status, call.disposition) == ("answered", "answered")
    assert call.talk_seconds == pytest.approx(40)

    pbx = ScriptedPbx()
    phone = pbx.new("PJSIP/101", num="101", exten="89161234567")
    trunk = pbx.new("PJSIP/trunk", linked=phone)
    pbx.dial(phone, trunk, "89161234567@trunk")
    pbx.dial_end(phone, trunk, "BUSY")
    pbx.hangup(trunk, "17")
    pbx.hangup(phone, "17")
    call = only(run(pbx))
    assert (call.caller, call.status, call.disposition) == ("101", "unanswered", "busy")


def test_internal_call() -> None:
    pbx = ScriptedPbx()
    p101 = pbx.new("PJSIP/101", num="101", exten="102")
    p102 = pbx.new("PJSIP/102", linked=p101)
    pbx.dial(p101, p102)
    pbx.dial_end(p101, p102, "ANSWER")
    pbx.bridge(p101, "b")
    pbx.bridge(p102, "b")
    pbx.hangup(p101)
    pbx.hangup(p102)
    call = only(run(pbx))
    assert (call.direction, call.caller, call.called, call.status) == ("internal", "101", "102", "answered")


def test_blind_transfer_moves_the_operator() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound()
    p101 = pbx.ring(caller, "101")
    pbx.answer(caller, p101, "b1")
    pbx.wait(10)
    pbx.emit(
        "BlindTransfer",
        p101.snapshot("Transferer"),
        caller.snapshot("Transferee"),
        Extension="103",
        Result="Success",
    )
    pbx.unbridge(caller, "b1")
    pbx.hangup(p101)
    p103 = pbx.ring(caller, "103")
    pbx.answer(caller, p103, "b2")
    pbx.wait(20)
    pbx.hangup(caller)
    pbx.hangup(p103)
    call = only(run(pbx))
    assert (call.answered_by, call.operator) == ("101", "103")
    assert [(t.from_ext, t.to_ext, t.kind) for t in call.transfers] == [("101", "103", "blind")]


def test_pickup_answerer_is_the_picker_and_picker_call_merges() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound()
    p103 = pbx.ring(caller, "103")
    pbx.wait(3)
    picker = pbx.new("PJSIP/104", num="104", exten="*8")
    pbx.emit("Pickup", picker.snapshot(), caller.snapshot("Target"))
    pbx.dial_end(caller, p103, "CANCEL")
    pbx.hangup(p103, "26")
    pbx.relink(picker, caller.linkedid)
    pbx.bridge(caller, "b")
    pbx.bridge(picker, "b")
    pbx.wait(30)
    pbx.hangup(caller)
    pbx.hangup(picker)
    call = only(run(pbx))
    assert (call.status, call.answered_by, call.operator) == ("answered", "104", "104")
    assert call.rang == ("103",)


def test_started_mid_call_and_unknown_events_do_not_break_it() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound()
    phone = pbx.ring(caller, "101")
    pbx.answer(caller, phone)
    pbx.emit("SomethingNew", caller.snapshot(), Foo="bar")
    pbx.emit("DialEnd")  # no channel at all
    pbx.hangup(caller)
    pbx.hangup(phone)
    tail = pbx.events[4:]  # start listening after the ring began
    partial = ScriptedPbx(events=tail)
    call = only(run(partial))
    assert call.status == "answered"
    assert call.operator == "101"


def test_a_call_whose_hangup_never_comes_is_closed_by_timeout() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound()
    pbx.ring(caller, "101")
    assembler = CallAssembler(PhoneNormalizer().e164, settle_seconds=0, stale_after_seconds=3600)
    for event in pbx.events:
        assert assembler.feed(event, FALLBACK) == []
    later = datetime.fromtimestamp(pbx.now + 3601, tz=UTC)
    [call] = assembler.tick(later)
    assert call.closed_by_timeout
    assert call.status == "missed"
    assert assembler.open_calls == 0


def test_resync_settles_calls_that_ended_while_disconnected() -> None:
    pbx = ScriptedPbx()
    ended = pbx.inbound(caller="+79160000001")
    live = pbx.inbound(caller="+79160000002")
    assembler = CallAssembler(PhoneNormalizer().e164, settle_seconds=0)
    for event in pbx.events:
        assembler.feed(event, FALLBACK)
    now = datetime.fromtimestamp(pbx.now + 30, tz=UTC)
    records = assembler.resync([{"Event": "CoreShowChannel", **live.snapshot()}], now)
    assert [r.caller for r in records] == ["+79160000001"]
    assert assembler.open_calls == 1
    assert ended.uniqueid != live.uniqueid


def test_settle_time_waits_for_late_events() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound()
    pbx.hangup(caller)
    assembler = CallAssembler(PhoneNormalizer().e164, settle_seconds=2)
    out = [r for e in pbx.events for r in assembler.feed(e, FALLBACK)]
    assert out == []
    assert len(assembler.tick(datetime.fromtimestamp(pbx.now + 2.5, tz=UTC))) == 1


def test_straggler_events_after_a_call_finished_make_no_phantom_call() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound()
    phone = pbx.ring(caller, "101")
    pbx.answer(caller, phone)
    pbx.hangup(caller)
    pbx.hangup(phone)
    pbx.wait(30)
    pbx.unbridge(phone, "b1")
    pbx.hangup(phone)
    records = run(pbx)
    assert len(records) == 1


def test_local_only_plumbing_is_not_a_call() -> None:
    pbx = ScriptedPbx()
    wire = pbx.new("Local/101@from-internal")
    pbx.hangup(wire)
    assert run(pbx) == []


def test_out_of_order_ringing_before_dial_and_answer_before_ring() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound()
    phone = pbx.new("PJSIP/101", linked=caller, num="101")
    pbx.state(phone, "5")  # Ringing reported before DialBegin
    pbx.dial(caller, phone)
    pbx.state(phone, "6")
    pbx.bridge(phone, "b")  # the phone enters the bridge before the caller does
    pbx.bridge(caller, "b")
    pbx.dial_end(caller, phone, "ANSWER")  # DialEnd last
    pbx.wait(20)
    pbx.hangup(phone)
    pbx.hangup(caller)
    call = only(run(pbx))
    assert (call.status, call.answered_by, call.rang) == ("answered", "101", ("101",))


@pytest.mark.parametrize(
    "garbage",
    [
        {},
        {"Event": "Hangup"},
        {"Event": "DialBegin", "Uniqueid": "x"},
        {"Event": "BridgeEnter", "Uniqueid": "1.1", "Channel": "PJSIP/101-1"},
        {"Event": "Newchannel", "Uniqueid": "9.9", "Timestamp": "not-a-time"},
        {"Event": "AttendedTransfer", "Result": "Success"},
        {"Event": "BlindTransfer", "Result": "Fail", "TransfereeUniqueid": "1.1"},
    ],
)
def test_malformed_events_do_not_disturb_a_call(garbage: dict[str, str]) -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound()
    phone = pbx.ring(caller, "101")
    pbx.events.append(garbage)
    pbx.answer(caller, phone)
    pbx.hangup(caller)
    pbx.hangup(phone)
    calls = [r for r in run(pbx) if r.pbx_call_id == caller.linkedid]
    assert only(calls).status == "answered"


def test_a_pbx_clock_hours_off_neither_closes_calls_early_nor_keeps_them_open() -> None:
    pbx = ScriptedPbx()
    caller = pbx.inbound()
    pbx.hangup(caller)
    assembler = CallAssembler(PhoneNormalizer().e164, settle_seconds=2)
    ours = datetime.fromtimestamp(pbx.now, tz=UTC) - timedelta(hours=3)  # the PBX runs 3 h ahead
    for event in pbx.events:
        assert assembler.feed(event, ours) == []
    assert assembler.tick(ours + timedelta(seconds=1)) == [], "not before the settle time"
    assert len(assembler.tick(ours + timedelta(seconds=2.5))) == 1


@pytest.mark.parametrize("year", [3000, 1970])
def test_a_pbx_clock_gone_wrong_does_not_date_the_call(year: int) -> None:
    # The PBX stamps its events in the year 3000 (or 1970); they arrive now. The call is dated by its
    # arrival (not put at the top of the call log for centuries), and read as usual.
    arrived = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    shift = datetime(year, 1, 1, tzinfo=UTC).timestamp() - ScriptedPbx().now
    pbx = ScriptedPbx()
    caller = pbx.inbound()
    pbx.ring(caller, "101")
    pbx.wait(20)
    pbx.hangup(caller)
    assembler = CallAssembler(PhoneNormalizer().e164, settle_seconds=0)
    records: list[PbxCallRecord] = []
    for event in pbx.events:
        wrong = {**event, "Timestamp": f"{float(event['Timestamp']) + shift:.6f}"}
        records.extend(assembler.feed(wrong, arrived))
    records.extend(assembler.flush())
    call = only(records)
    assert call.started_at == arrived
    assert (call.status, call.missed_where) == ("missed", "ringing")
