"""Readings that went wrong on another company's Asterisk 13/16 traffic (chan_sip phones named by SIP
accounts, a provider trunk, every phone reached through a Local channel, no Timestamp headers), each as a
minimal hand-written event sequence in the shape those recordings have.

chan_sip creates a call coming in Down and only then moves it to Ring; phones of a ring group or a queue
show the group's number as their caller ID; recordings without timestamps give every event one time."""

from __future__ import annotations

from datetime import UTC, datetime

from kolokol.phones import PhoneNormalizer
from pbx.assembler import CallAssembler
from pbx.call_record import PbxCallRecord
from pbx.channels import ChannelClassifier
from tests.support.scripted_pbx import Chan, ScriptedPbx

CLASSIFIER = ChannelClassifier(
    extensions={"150010001": "201", "150010002": "202", "150010003": "203"},
    trunk_patterns=["voipgrid-siproute-.*"],
)
SYSTEM = "07b796be1962"
CALLER = "+31260010001"
DID = "+31150010001"


def run(pbx: ScriptedPbx) -> PbxCallRecord:
    assembler = CallAssembler(PhoneNormalizer("NL").e164, classifier=CLASSIFIER, settle_seconds=0)
    received = datetime.fromtimestamp(pbx.now, tz=UTC)
    records = [r for event in pbx.events for r in assembler.feed(event, received)]
    records += assembler.flush()
    assert len(records) == 1, records
    return records[0]


def unstamped() -> ScriptedPbx:
    return ScriptedPbx(system=SYSTEM, stamped=False)


def trunk_call(pbx: ScriptedPbx, caller: str = CALLER) -> Chan:
    """chan_sip: the call from the provider is created Down, then rings at the PBX."""
    trunk = pbx.new("SIP/voipgrid-siproute-docker", num=caller, cname="<unknown>", exten=DID, state="0")
    pbx.state(trunk, "4")
    return trunk


def phone_call(pbx: ScriptedPbx, account: str, extension: str, dialled: str) -> Chan:
    """A phone dials: its channel too is created Down, then rings at the PBX."""
    phone = pbx.new(f"SIP/{account}", num=account, exten=dialled, state="0")
    pbx.state(phone, "4")
    phone.num = extension
    pbx.emit("NewCallerid", phone.snapshot())
    return phone


def through_local(pbx: ScriptedPbx, caller: Chan, account: str, *, shown: str) -> tuple[Chan, Chan, Chan]:
    """The platform reaches every phone through a Local channel: caller -> Local;1, Local;2 -> phone."""
    one, two = pbx.local_pair(f"ID{account[-6:]}@osvpi_route_phoneaccount", linked=caller)
    pbx.dial(caller, one, f"ID{account[-6:]}@osvpi_route_phoneaccount")
    phone = pbx.new(f"SIP/{account}", linked=caller, num=shown, exten=shown)
    pbx.dial(two, phone, f"{account}/{account}/172.20.0.13")
    return one, two, phone


def ring(pbx: ScriptedPbx, one: Chan, phone: Chan) -> None:
    pbx.state(phone, "5")
    pbx.state(one, "5")


def answer(
    pbx: ScriptedPbx, caller: Chan, one: Chan, two: Chan, phone: Chan, bridges: tuple[str, str]
) -> None:
    pbx.state(phone, "6")
    pbx.dial_end(two, phone, "ANSWER")
    pbx.state(one, "6")
    pbx.dial_end(caller, one, "ANSWER")
    pbx.state(caller, "6")
    near, far = bridges
    pbx.bridge(phone, near)
    pbx.bridge(two, near)
    pbx.bridge(one, far)
    pbx.bridge(caller, far)


def test_a_call_coming_in_down_then_ringing_is_inbound_and_a_hang_up_in_the_ivr_a_miss() -> None:
    pbx = unstamped()
    trunk = trunk_call(pbx)
    pbx.state(trunk, "6")  # the dialplan answers (an IVR, a greeting)
    pbx.hangup(trunk, "0")
    call = run(pbx)
    assert (call.direction, call.caller, call.called) == ("inbound", CALLER, DID)
    assert (call.status, call.disposition, call.missed_where) == ("missed", "caller_hangup", "ivr")


def test_a_call_coming_in_down_and_answered_through_a_local_channel_is_answered_by_the_phone() -> None:
    pbx = unstamped()
    trunk = trunk_call(pbx)
    one, two, phone = through_local(pbx, trunk, "150010001", shown=DID)
    ring(pbx, one, phone)
    answer(pbx, trunk, one, two, phone, ("b1", "b2"))
    pbx.hangup(two)
    pbx.hangup(one)
    pbx.hangup(phone)
    pbx.hangup(trunk)
    call = run(pbx)
    assert (call.direction, call.caller, call.called) == ("inbound", CALLER, DID)
    assert (call.status, call.answered_by, call.operator, call.rang) == ("answered", "201", "201", ("201",))


def test_a_phone_picking_up_with_sip_replaces_is_no_phone_that_rang() -> None:
    pbx = unstamped()
    alice = phone_call(pbx, "150010001", "201", "202")
    one, two, bob = through_local(pbx, alice, "150010002", shown="202")
    ring(pbx, one, bob)
    # 203 picks the call up: its own channel comes in (Down, Ring, Up), then the dial names it.
    charlie = pbx.new("SIP/150010003", num="150010003", exten="201", state="0")
    pbx.state(charlie, "4")
    pbx.state(charlie, "6")
    pbx.dial_end(two, bob, "CANCEL")
    pbx.dial(two, charlie, "150010002/150010002/172.20.0.13")
    pbx.hangup(bob, "0")
    pbx.dial_end(two, charlie, "ANSWER")
    pbx.state(one, "6")
    pbx.dial_end(alice, one, "ANSWER")
    pbx.state(alice, "6")
    pbx.bridge(one, "b1")
    pbx.bridge(alice, "b1")
    pbx.bridge(charlie, "b2")
    pbx.bridge(two, "b2")
    for chan in (one, two, alice, charlie):
        pbx.hangup(chan)
    call = run(pbx)
    assert (call.direction, call.caller, call.called, call.status) == ("internal", "201", "202", "answered")
    assert call.rang == ("202",)


def transferred_internal_call(pbx: ScriptedPbx) -> tuple[Chan, Chan]:
    """201 calls 202, who answers; the Local channel between them is optimised away."""
    alice = phone_call(pbx, "150010001", "201", "202")
    one, two, bob = through_local(pbx, alice, "150010002", shown="202")
    ring(pbx, one, bob)
    answer(pbx, alice, one, two, bob, ("b1", "b2"))
    pbx.unbridge(bob, "b1")
    pbx.unbridge(one, "b2")
    pbx.swap_into(bob, "b2", one)
    pbx.unbridge(two, "b1")
    pbx.hangup(one)
    pbx.hangup(two)
    return alice, bob


def blind_transfer(pbx: ScriptedPbx, transferer: Chan, transferee: Chan, extension: str) -> None:
    pbx.emit(
        "BlindTransfer",
        transferer.snapshot("Transferer"),
        transferee.snapshot("Transferee"),
        BridgeUniqueid="b2",
        Extension=extension,
        Context="osvpi_account_transfer",
        IsExternal="Yes",
        Result="Success",
    )
    pbx.unbridge(transferer, "b2")
    pbx.hangup(transferer)
    pbx.unbridge(transferee, "b2")


def test_a_blind_transfer_between_phones_names_the_phone_that_took_the_call_not_the_one_moved() -> None:
    pbx = unstamped()
    alice, bob = transferred_internal_call(pbx)
    blind_transfer(pbx, bob, alice, "203")  # 202 sends 201 on to 203
    one, two, charlie = through_local(pbx, alice, "150010003", shown="203")
    ring(pbx, one, charlie)
    answer(pbx, alice, one, two, charlie, ("b3", "b4"))
    for chan in (one, two, charlie, alice):
        pbx.hangup(chan)
    call = run(pbx)
    assert [(t.from_ext, t.to_ext, t.kind) for t in call.transfers] == [("202", "203", "blind")]
    assert call.rang == ("202", "203")


def test_a_blind_transfer_nobody_took_names_the_number_dialled_without_timestamps() -> None:
    pbx = unstamped()
    alice, bob = transferred_internal_call(pbx)
    blind_transfer(pbx, bob, alice, "203")
    one, two, charlie = through_local(pbx, alice, "150010003", shown="203")
    pbx.dial_end(two, charlie, "BUSY")  # 203 is unreachable: it never rings
    pbx.hangup(charlie, "19")
    pbx.hangup(two, "19")
    pbx.dial_end(alice, one, "NOANSWER")
    pbx.hangup(one, "19")
    pbx.hangup(alice, "19")
    call = run(pbx)
    assert [(t.from_ext, t.to_ext, t.kind) for t in call.transfers] == [("202", "203", "blind")]
    assert call.rang == ("202",)


def test_an_internal_call_to_a_ring_group_is_to_the_number_dialled_and_busy_when_every_phone_declines() -> (
    None
):
    pbx = unstamped()
    alice = phone_call(pbx, "150010001", "201", "401")
    legs = [through_local(pbx, alice, account, shown="401") for account in ("150010002", "150010003")]
    for one, _two, phone in legs:
        ring(pbx, one, phone)
    # Both phones decline (486, 603); the Local channels report it as NOANSWER and BUSY.
    for (one, two, phone), cause, local_status in zip(legs, ("17", "21"), ("BUSY", "NOANSWER"), strict=True):
        pbx.dial_end(two, phone, "BUSY")
        pbx.hangup(phone, cause)
        pbx.hangup(two, cause)
        pbx.dial_end(alice, one, local_status)
        pbx.hangup(one, cause)
    pbx.hangup(alice, "19")
    call = run(pbx)
    assert (call.direction, call.caller, call.called) == ("internal", "201", "401")
    assert (call.status, call.disposition, call.rang) == ("unanswered", "busy", ("202", "203"))


def test_a_withheld_number_the_provider_masks_is_an_anonymous_caller() -> None:
    pbx = unstamped()
    trunk = trunk_call(pbx, caller="+31260xxxxxx")
    one, two, phone = through_local(pbx, trunk, "150010001", shown=DID)
    ring(pbx, one, phone)
    pbx.dial_end(trunk, one, "CANCEL")
    for chan in (one, two, phone, trunk):
        pbx.hangup(chan)
    call = run(pbx)
    assert (call.direction, call.status, call.caller) == ("inbound", "missed", "anonymous")
    assert call.outside_number == "anonymous"


def test_an_outgoing_chan_sip_leg_shows_the_clinic_line_as_its_connected_line() -> None:
    pbx = unstamped()
    alice = phone_call(pbx, "150010001", "201", "+31260010001")
    # chan_sip: the outgoing leg's caller ID is the number dialled; the line the clinic sends is its
    # connected line.
    line = pbx.new("SIP/voipgrid-siproute-docker", linked=alice, num="+31260010001", exten="+31260010001")
    pbx.emit("NewConnectedLine", line.snapshot(), ConnectedLineNum="+31150010001")
    pbx.dial(alice, line, "voipgrid-siproute-docker/+31260010001")
    pbx.state(line, "5")
    pbx.state(line, "6")
    pbx.dial_end(alice, line, "ANSWER")
    pbx.state(alice, "6")
    pbx.bridge(alice, "b1")
    pbx.bridge(line, "b1")
    pbx.hangup(line)
    pbx.hangup(alice)
    call = run(pbx)
    assert (call.direction, call.caller, call.called) == ("outbound", "+31150010001", "+31260010001")
    assert (call.status, call.operator) == ("answered", "201")


def test_the_clinic_line_stays_the_one_sent_when_a_transfer_changes_the_outgoing_legs_connected_line() -> (
    None
):
    pbx = unstamped()
    alice = phone_call(pbx, "150010001", "201", "+31260010001")
    line = pbx.new("SIP/voipgrid-siproute-docker", linked=alice, num="+31260010001", exten="+31260010001")
    pbx.emit("NewConnectedLine", line.snapshot(), ConnectedLineNum="+31150010001")
    pbx.dial(alice, line, "voipgrid-siproute-docker/+31260010001")
    pbx.state(line, "6")
    pbx.dial_end(alice, line, "ANSWER")
    pbx.state(alice, "6")
    pbx.bridge(alice, "b1")
    pbx.bridge(line, "b1")
    # An attended transfer put the patient through to 203: Asterisk now shows the leg 203.
    pbx.emit("NewConnectedLine", line.snapshot(), ConnectedLineNum="203")
    pbx.hangup(line)
    pbx.hangup(alice)
    call = run(pbx)
    assert (call.direction, call.caller, call.called) == ("outbound", "+31150010001", "+31260010001")


def test_a_phone_joining_two_calls_that_came_to_it_hands_the_first_caller_to_the_second() -> None:
    pbx = unstamped()
    # 202 calls 201, then 203 calls 201; 201 joins them. Asterisk moves 203 into 202's call and names
    # 202 the transfer target, 203 the transferee.
    bob = phone_call(pbx, "150010002", "202", "201")
    one, two, alice = through_local(pbx, bob, "150010001", shown="201")
    ring(pbx, one, alice)
    answer(pbx, bob, one, two, alice, ("b1", "b2"))
    carol = phone_call(pbx, "150010003", "203", "201")
    one2, two2, alice2 = through_local(pbx, carol, "150010001", shown="201")
    ring(pbx, one2, alice2)
    answer(pbx, carol, one2, two2, alice2, ("b3", "b4"))
    pbx.unbridge(carol, "b4")
    pbx.unbridge(alice, "b1")
    pbx.relink(carol, bob.linkedid)
    pbx.swap_into(carol, "b1", alice)
    pbx.emit(
        "AttendedTransfer",
        alice2.snapshot("OrigTransferer"),
        alice.snapshot("SecondTransferer"),
        bob.snapshot("TransferTarget"),
        carol.snapshot("Transferee"),
        Result="Success",
        DestType="Bridge",
        DestBridgeUniqueid="b1",
        OrigBridgeUniqueid="b3",
        SecondBridgeUniqueid="b1",
    )
    for chan in (alice2, alice, carol, bob):
        pbx.hangup(chan)
    call = run(pbx)
    assert (call.direction, call.caller, call.called) == ("internal", "202", "201")
    assert [(t.from_ext, t.to_ext, t.kind) for t in call.transfers] == [("201", "203", "attended")]


def test_a_number_the_provider_refuses_at_once_is_a_failed_call_not_one_nobody_answered() -> None:
    pbx = unstamped()
    alice = phone_call(pbx, "150010001", "201", "+31501234567")
    line = pbx.new("PJSIP/voipgrid-siproute-172_20_0_114", linked=alice, num="+31501234567", exten="s")
    pbx.emit("NewConnectedLine", line.snapshot(), ConnectedLineNum="+31150010001")
    pbx.dial(alice, line, "+31501234567@voipgrid-siproute-172_20_0_114")
    # SIP 404 before any ringing: Dial reports NOANSWER, the leg itself hangs up "unallocated number".
    pbx.dial_end(alice, line, "NOANSWER")
    pbx.hangup(line, cause="1")
    pbx.hangup(alice)
    call = run(pbx)
    assert (call.direction, call.called, call.operator) == ("outbound", "+31501234567", "201")
    assert (call.status, call.disposition) == ("unanswered", "failed")


Legs = list[tuple[Chan, Chan, Chan]]


def blonde_transfer_to_ring_group(pbx: ScriptedPbx) -> tuple[Chan, Legs]:
    """201 answers an outside call, calls the ring group 401 on its second line (202 and 203 ring through
    Local channels) and hangs up while they ring: the caller takes over the dial."""
    trunk = trunk_call(pbx)
    one, two, first = through_local(pbx, trunk, "150010001", shown=DID)
    ring(pbx, one, first)
    answer(pbx, trunk, one, two, first, ("b1", "b2"))
    second = phone_call(pbx, "150010001", "201", "401")
    legs = [through_local(pbx, second, account, shown="401") for account in ("150010002", "150010003")]
    for leg_one, _leg_two, phone in legs:
        ring(pbx, leg_one, phone)
    # Asterisk 13: DestType App, no TransferTarget fields.
    pbx.emit(
        "AttendedTransfer",
        first.snapshot("OrigTransferer"),
        second.snapshot("SecondTransferer"),
        trunk.snapshot("Transferee"),
        Result="Success",
        DestType="App",
        DestApp="Dial",
        OrigBridgeUniqueid="b1",
    )
    pbx.unbridge(first, "b1")
    pbx.hangup(first)
    pbx.hangup(second)
    return trunk, legs


def test_a_blonde_transfer_to_a_ring_group_names_the_phone_that_answers() -> None:
    pbx = unstamped()
    trunk, legs = blonde_transfer_to_ring_group(pbx)
    (one202, two202, phone202), (one203, two203, phone203) = legs
    pbx.state(phone202, "6")
    pbx.dial_end(two202, phone202, "ANSWER")
    pbx.dial_end(trunk, one203, "CANCEL")
    pbx.dial_end(two203, phone203, "CANCEL")
    for chan in (phone203, two203, one203):
        pbx.hangup(chan, "26")
    pbx.state(one202, "6")
    pbx.dial_end(trunk, one202, "ANSWER")
    pbx.bridge(phone202, "b3")
    pbx.bridge(two202, "b3")
    pbx.bridge(one202, "b4")
    pbx.bridge(trunk, "b4")
    for chan in (one202, two202, phone202, trunk):
        pbx.hangup(chan)
    call = run(pbx)
    assert [(t.from_ext, t.to_ext, t.kind) for t in call.transfers] == [("201", "202", "attended")]
    assert (call.answered_by, call.operator, call.rang) == ("201", "202", ("201", "202", "203"))


def test_a_blonde_transfer_to_a_ring_group_nobody_answers_names_the_number_dialled() -> None:
    pbx = unstamped()
    trunk, legs = blonde_transfer_to_ring_group(pbx)
    for leg_one, leg_two, phone in legs:
        pbx.dial_end(leg_two, phone, "NOANSWER")
        pbx.hangup(phone, "19")
        pbx.hangup(leg_two, "19")
        pbx.dial_end(trunk, leg_one, "NOANSWER")
        pbx.hangup(leg_one, "19")
    pbx.hangup(trunk)
    call = run(pbx)
    assert [(t.from_ext, t.to_ext, t.kind) for t in call.transfers] == [("201", "401", "attended")]
