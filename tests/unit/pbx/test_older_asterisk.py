"""Flows the harness's Asterisk 22 cannot produce, hand-written in the shape Asterisk 13/16 sends them:
chan_sip channel names (phones named by SIP account codes, a provider trunk named after the provider),
Uniqueids carrying a system name, `AttendedTransfer` events without the Transferee*/TransferTarget* fields
(resolved from the bridges), semi-attended ("blonde") transfers into a Dial() (DestType App), Local
channel optimisation (BridgeEnter with SwapUniqueid), and click-to-dial through Local channels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kolokol.phones import PhoneNormalizer
from pbx.assembler import CallAssembler
from pbx.call_record import PbxCallRecord
from pbx.channels import ChannelClassifier
from tests.support.scripted_pbx import Chan, ScriptedPbx

# The clinic's configuration (phones.extensions): SIP accounts and the extensions people know them by.
CLASSIFIER = ChannelClassifier(extensions={"150010001": "201", "150010002": "202", "150010003": "203"})
CALLER = "+79161234567"
DID = "+74951110001"
SYSTEM = "195176c06ab8"


def run(pbx: ScriptedPbx, classifier: ChannelClassifier = CLASSIFIER) -> list[PbxCallRecord]:
    assembler = CallAssembler(PhoneNormalizer().e164, classifier=classifier, settle_seconds=0)
    received = datetime.fromtimestamp(pbx.now, tz=UTC)
    records = [r for event in pbx.events for r in assembler.feed(event, received)]
    return records + assembler.flush()


def only(records: list[PbxCallRecord]) -> PbxCallRecord:
    assert len(records) == 1, records
    return records[0]


def inbound(pbx: ScriptedPbx) -> Chan:
    return pbx.new("SIP/voipgrid-siproute", num=CALLER, cname="Иван Петров", exten=DID, state="4")


def answer(pbx: ScriptedPbx, caller: Chan, phone: Chan, bridge: str) -> None:
    pbx.state(phone, "6")
    pbx.dial_end(caller, phone, "ANSWER")
    pbx.state(caller, "6")
    pbx.bridge(phone, bridge)
    pbx.bridge(caller, bridge)


def ring(pbx: ScriptedPbx, caller: Chan, account: str, extension: str) -> Chan:
    phone = pbx.new(f"SIP/{account}", linked=caller, num=extension, exten=caller.exten)
    pbx.dial(caller, phone, account)
    pbx.state(phone, "5")
    return phone


def transferer_fields(orig: Chan, second: Chan) -> dict[str, str]:
    """What an Asterisk 13 AttendedTransfer says of the transferers: no Transferee*, no TransferTarget*."""
    return {**orig.snapshot("OrigTransferer"), **second.snapshot("SecondTransferer")}


def test_phones_named_by_account_codes_on_a_provider_named_trunk() -> None:
    pbx = ScriptedPbx(system=SYSTEM, stamped=False)
    caller = inbound(pbx)
    p201 = ring(pbx, caller, "150010001", "201")
    p202 = ring(pbx, caller, "150010002", "202")
    pbx.wait(3)
    pbx.dial_end(caller, p201, "CANCEL")
    pbx.hangup(p201, "26")
    answer(pbx, caller, p202, "b1")
    pbx.hangup(caller)
    pbx.hangup(p202)
    call = only(run(pbx))
    assert (call.direction, call.caller, call.called) == ("inbound", CALLER, DID)
    assert (call.status, call.answered_by, call.operator) == ("answered", "202", "202")
    assert call.rang == ("201", "202")
    # Without the clinic's configuration the 9-digit accounts are no phones: nobody "answered".
    assert only(run(pbx, ChannelClassifier())).answered_by is None


@pytest.mark.parametrize("dest", ["second bridge", "first bridge"])
@pytest.mark.parametrize("transferee", ["a patient", "a colleague"])
def test_attended_transfer_without_target_fields_is_resolved_from_the_bridges(
    dest: str, transferee: str
) -> None:
    """201 talks to the caller, calls 203 on its second line (through a Local channel that Asterisk
    optimises away), then completes the transfer; the event names only the two transferer channels.
    When a colleague (202) was the caller, two phones sit in the bridge the caller moves to."""
    pbx = ScriptedPbx(system=SYSTEM)
    if transferee == "a patient":
        caller = inbound(pbx)
    else:
        caller = pbx.new("SIP/150010002", num="202", exten="201", state="4")
    first = ring(pbx, caller, "150010001", "201")
    pbx.wait(2)
    answer(pbx, caller, first, "B1")
    pbx.wait(10)
    second = pbx.new("SIP/150010001", num="201", exten="203", state="4")  # 201's second line: its own call
    one, two = pbx.local_pair("ID730152@route_phoneaccount", linked=second)
    pbx.dial(second, one, "ID730152@route_phoneaccount")
    target = pbx.new("SIP/150010003", linked=second, num="203", exten="203")
    pbx.dial(two, target, "150010003")
    pbx.state(target, "5")
    pbx.state(one, "5")
    pbx.wait(3)
    pbx.state(target, "6")
    pbx.dial_end(two, target, "ANSWER")
    pbx.state(one, "6")
    pbx.dial_end(second, one, "ANSWER")
    pbx.state(second, "6")
    pbx.bridge(target, "B3")
    pbx.bridge(two, "B3")
    pbx.bridge(one, "B2")
    pbx.bridge(second, "B2")
    # Local channel optimisation: 201's second line takes ;2's place next to 203.
    pbx.unbridge(second, "B2")
    pbx.unbridge(two, "B3")
    pbx.swap_into(second, "B3", two)
    pbx.unbridge(one, "B2")
    pbx.hangup(two)
    pbx.hangup(one)
    pbx.wait(8)
    if dest == "second bridge":
        pbx.unbridge(caller, "B1")
        pbx.unbridge(second, "B3")
        pbx.swap_into(caller, "B3", second)
        dest_bridge = "B3"
    else:
        pbx.unbridge(target, "B3")
        pbx.unbridge(first, "B1")
        pbx.swap_into(target, "B1", first)
        dest_bridge = "B1"
    pbx.emit(
        "AttendedTransfer",
        transferer_fields(first, second),
        OrigBridgeUniqueid="B1",
        SecondBridgeUniqueid="B3",
        DestBridgeUniqueid=dest_bridge,
        DestType="Bridge",
        IsExternal="No",
        Result="Success",
    )
    for transferer in (first, second):
        pbx.hangup(transferer)
    pbx.relink(target, caller.linkedid)
    pbx.wait(20)
    pbx.hangup(caller)
    pbx.hangup(target)
    call = only(run(pbx))
    assert [(t.from_ext, t.to_ext, t.kind) for t in call.transfers] == [("201", "203", "attended")]
    assert call.rang == ("201", "203"), "201's own second line did not ring"
    if transferee == "a patient":
        assert (call.status, call.answered_by, call.operator) == ("answered", "201", "203")
        assert call.talk_seconds == pytest.approx(41)
    else:
        assert (call.direction, call.caller, call.operator) == ("internal", "202", "202")


def test_blonde_transfer_into_a_dial_names_the_phone_still_ringing() -> None:
    """201 hangs up while 203 still rings (AttendedTransfer DestType App, DestApp Dial, no
    TransferTarget*): the caller takes over the Dial, and 203 answers later."""
    pbx = ScriptedPbx(system=SYSTEM)
    caller = inbound(pbx)
    first = ring(pbx, caller, "150010001", "201")
    answer(pbx, caller, first, "B1")
    pbx.wait(10)
    second = pbx.new("SIP/150010001", num="201", exten="203", state="4")
    one, two = pbx.local_pair("ID730152@route_phoneaccount", linked=second)
    pbx.dial(second, one, "ID730152@route_phoneaccount")
    target = pbx.new("SIP/150010003", linked=second, num="203", exten="203")
    pbx.dial(two, target, "150010003")
    pbx.state(target, "5")
    pbx.state(one, "5")
    pbx.wait(2)
    pbx.emit(
        "AttendedTransfer",
        transferer_fields(first, second),
        caller.snapshot("Transferee"),
        OrigBridgeUniqueid="B1",
        DestType="App",
        DestApp="Dial",
        IsExternal="No",
        Result="Success",
    )
    pbx.unbridge(first, "B1")
    pbx.unbridge(caller, "B1")
    pbx.dial_end(second, one, "NOANSWER")  # the transferer's Dial was handed to the caller
    pbx.dial(caller, one, "ID730152@route_phoneaccount")
    pbx.hangup(first)
    pbx.hangup(second)
    pbx.wait(4)
    pbx.state(target, "6")
    pbx.dial_end(two, target, "ANSWER")
    pbx.state(one, "6")
    pbx.dial_end(caller, one, "ANSWER")
    pbx.bridge(target, "B4")
    pbx.bridge(two, "B4")
    pbx.bridge(one, "B5")
    pbx.bridge(caller, "B5")
    pbx.wait(30)
    for chan in (caller, one, two, target):
        pbx.hangup(chan)
    call = only(run(pbx))
    assert [(t.from_ext, t.to_ext, t.kind) for t in call.transfers] == [("201", "203", "attended")]
    assert (call.answered_by, call.operator) == ("201", "203")


def test_blind_transfer_to_a_ring_group_names_the_phone_that_answered() -> None:
    pbx = ScriptedPbx(system=SYSTEM, stamped=False)
    caller = inbound(pbx)
    first = ring(pbx, caller, "150010001", "201")
    answer(pbx, caller, first, "B1")
    pbx.emit(
        "BlindTransfer",
        first.snapshot("Transferer"),
        caller.snapshot("Transferee"),
        BridgeUniqueid="B1",
        Extension="600",
        Context="internal",
        IsExternal="No",
        Result="Success",
    )
    pbx.unbridge(caller, "B1")
    pbx.unbridge(first, "B1")
    pbx.hangup(first)
    p202 = ring(pbx, caller, "150010002", "202")
    p203 = ring(pbx, caller, "150010003", "203")
    pbx.dial_end(caller, p202, "CANCEL")
    pbx.hangup(p202, "26")
    answer(pbx, caller, p203, "B2")
    pbx.hangup(caller)
    pbx.hangup(p203)
    call = only(run(pbx))
    assert [(t.from_ext, t.to_ext, t.kind) for t in call.transfers] == [("201", "203", "blind")]
    assert (call.answered_by, call.operator, call.rang) == ("201", "203", ("201", "202", "203"))


def test_a_blind_transfer_nobody_takes_names_the_number_dialled() -> None:
    pbx = ScriptedPbx()
    caller = inbound(pbx)
    first = ring(pbx, caller, "150010001", "201")
    answer(pbx, caller, first, "B1")
    pbx.emit("BlindTransfer", first.snapshot("Transferer"), caller.snapshot("Transferee"), Extension="600")
    pbx.unbridge(caller, "B1")
    pbx.hangup(first)
    p202 = ring(pbx, caller, "150010002", "202")
    p203 = ring(pbx, caller, "150010003", "203")
    pbx.wait(20)
    for phone in (p202, p203):
        pbx.dial_end(caller, phone, "NOANSWER")
        pbx.hangup(phone, "19")
    pbx.hangup(caller)
    [transfer] = only(run(pbx)).transfers
    assert (transfer.from_ext, transfer.to_ext) == ("201", "600")


def click_to_dial(pbx: ScriptedPbx, *, outside_answers: bool) -> None:
    """Originate of Local/201@ctd-account (the operator first) with Application Dial to the provider:
    the account rings and answers, then the Local channel dials the patient through the trunk."""
    one = pbx.new("Local/201@ctd-account", exten="201")
    two = pbx.new("Local/201@ctd-account", linked=one, exten="201")
    one.name, two.name = one.name + ";1", one.name + ";2"
    pbx.events[-2]["Channel"], pbx.events[-1]["Channel"] = one.name, two.name
    pbx.emit("DialBegin", one.snapshot("Dest"), DialString="201@ctd-account/n")
    operator = pbx.new("SIP/150010001", linked=one, num="201", exten="201")
    pbx.dial(two, operator, "150010001")
    pbx.state(operator, "5")
    pbx.wait(2)
    pbx.state(operator, "6")
    pbx.dial_end(two, operator, "ANSWER")
    pbx.state(one, "6")
    pbx.emit("DialEnd", one.snapshot("Dest"), DialStatus="ANSWER")
    pbx.bridge(operator, "B1")
    pbx.bridge(two, "B1")
    trunk = pbx.new("SIP/voipgrid-siproute", linked=one, num="+74951110000", exten="s")
    pbx.dial(one, trunk, "voipgrid-siproute/+79161234567")
    if outside_answers:
        pbx.state(trunk, "5")
        pbx.wait(5)
        pbx.state(trunk, "6")
        pbx.dial_end(one, trunk, "ANSWER")
        pbx.bridge(trunk, "B2")
        pbx.bridge(one, "B2")
        pbx.wait(60)
        for chan in (trunk, one, two, operator):
            pbx.hangup(chan)
    else:
        pbx.dial_end(one, trunk, "BUSY")
        pbx.hangup(trunk, "17")
        pbx.hangup(one, "17")
        pbx.hangup(two, "17")
        pbx.hangup(operator)


def test_click_to_dial_through_local_channels_is_an_outbound_call_of_the_operator() -> None:
    pbx = ScriptedPbx(system=SYSTEM)
    click_to_dial(pbx, outside_answers=True)
    call = only(run(pbx))
    assert (call.direction, call.caller, call.called) == ("outbound", "+74951110000", CALLER)
    assert (call.status, call.operator, call.rang) == ("answered", "201", ("201",))
    assert call.talk_seconds == pytest.approx(60)


def test_click_to_dial_to_a_busy_patient_is_busy() -> None:
    pbx = ScriptedPbx(system=SYSTEM)
    click_to_dial(pbx, outside_answers=False)
    call = only(run(pbx))
    assert (call.direction, call.called, call.operator) == ("outbound", CALLER, "201")
    assert (call.status, call.disposition) == ("unanswered", "busy")
