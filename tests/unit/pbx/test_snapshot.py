"""Calls first seen in Asterisk's list of live channels (after a start or a reconnect) look on the screens as
they would have had kolokol followed them from the start: caller, line, who rings, who talks.

The snapshots are CoreShowChannel replies of the harness's Asterisk 22 (asterisk_conf/ + SIPp), taken in
the middle of each call; only ActionID, Language and AccountCode are left out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kolokol.phones import PhoneNormalizer
from pbx.assembler import CallAssembler
from pbx.call_record import PbxCallRecord
from pbx.live import LiveCall, LiveChange
from pbx.snapshot import snapshot_events

NOW = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
CALLER = "+79161234567"
LINE = "+74951110001"


def channel(**fields: str) -> dict[str, str]:
    return {"Event": "CoreShowChannel", "ChannelStateDesc": "", "Priority": "1", "BridgeId": "", **fields}


def trunk_in(state: str, app: str, data: str, exten: str, **more: str) -> dict[str, str]:
    return channel(
        Channel="PJSIP/trunk-00000000",
        ChannelState=state,
        CallerIDNum="79161234567",
        CallerIDName="Иван Петров",
        ConnectedLineNum="<unknown>",
        ConnectedLineName="<unknown>",
        Context="from-trunk" if app == "Dial" else "to-queue",
        Exten=exten,
        Uniqueid="1796297004.0",
        Linkedid="1796297004.0",
        Application=app,
        ApplicationData=data,
        Duration="00:00:03",
        **{"ChanVariable(MIXMONITOR_FILENAME)": "/var/spool/asterisk/monitor/2026/12/03/1796297004.0.wav"},
        **more,
    )


def phone_leg(ext: str, seq: int, state: str, app: str = "AppDial", **more: str) -> dict[str, str]:
    leg = channel(
        Channel=f"PJSIP/{ext}-0000000{seq}",
        ChannelState=state,
        CallerIDNum=ext,
        CallerIDName=f"Reception {ext}",
        ConnectedLineNum="79161234567",
        ConnectedLineName="Иван Петров",
        Context="phones",
        Exten="74951110001",
        Uniqueid=f"1796297004.{seq}",
        Linkedid="1796297004.0",
        Application=app,
        ApplicationData="(Outgoing Line)",
        Duration="00:00:03",
    )
    return {**leg, **more}


RINGALL_RINGING = [
    trunk_in("4", "Dial", "PJSIP/101&PJSIP/102,120,tT", "74951110001"),
    # Asterisk lists channels in no particular order.
    phone_leg("102", 2, "5"),
    phone_leg("101", 1, "5"),
]
BRIDGE = "f9d5ca6e-196c-42f8-898f-52bc7f6570c1"
# The same call after phone 104 picked it up (*8): the ringing legs are gone.
RINGALL_PICKED_UP = [
    trunk_in("6", "Dial", "PJSIP/101&PJSIP/102,120,tT", "74951110001", BridgeId=BRIDGE),
    phone_leg("104", 3, "6", Exten="", Uniqueid="1796297008.3", BridgeId=BRIDGE, Duration="00:00:04"),
]
QUEUE_RINGING = [
    trunk_in("4", "Queue", "reception,rtT,,,30", "s"),
    phone_leg("102", 2, "5", app="AppQueue", Exten="s"),
    phone_leg("101", 1, "5", app="AppQueue", Exten="s"),
]
QUEUE_BRIDGE = "901a83a3-bcfa-4e5c-8a60-32d6fd2c4abc"
QUEUE_ANSWERED = [
    trunk_in("6", "Queue", "reception,rtT,,,30", "s", BridgeId=QUEUE_BRIDGE),
    phone_leg("102", 2, "6", app="AppQueue", Exten="s", BridgeId=QUEUE_BRIDGE),
]


def outbound(state: str, bridge: str = "") -> list[dict[str, str]]:
    return [
        channel(
            Channel="PJSIP/trunk-00000004",
            ChannelState=state,
            CallerIDNum="74951110000",
            CallerIDName="<unknown>",
            ConnectedLineNum="74951110000",
            Context="from-trunk",
            Exten="89161234567" if state == "5" else "",
            Uniqueid="1796297041.4",
            Linkedid="1796297041.3",
            Application="AppDial",
            ApplicationData="(Outgoing Line)",
            Duration="00:00:01",
            BridgeId=bridge,
        ),
        channel(
            Channel="PJSIP/101-00000003",
            ChannelState="4" if state == "5" else "6",
            CallerIDNum="101",
            CallerIDName="Reception 1",
            ConnectedLineNum="74951110000",
            Context="outbound",
            Exten="89161234567",
            Uniqueid="1796297041.3",
            Linkedid="1796297041.3",
            Application="Dial",
            ApplicationData="PJSIP/89161234567@trunk,30,tTb(sub-outbound-cid^s^1)",
            Duration="00:00:01",
            BridgeId=bridge,
        ),
    ]


CLICK_TO_CALL_RINGING_OPERATOR = [
    channel(
        Channel="PJSIP/101-00000006",
        ChannelState="5",
        CallerIDNum="101",
        CallerIDName="+79161234567",
        ConnectedLineNum="101",
        ConnectedLineName="+79161234567",
        Context="phones",
        Exten="s",
        Uniqueid="1796297050.6",
        Linkedid="1796297050.6",
        Application="AppDial2",
        ApplicationData="(Outgoing Line)",
        Duration="00:00:01",
    )
]
IVR = [
    channel(
        Channel="PJSIP/trunk-00000005",
        ChannelState="6",
        CallerIDNum="79161234567",
        CallerIDName="Иван Петров",
        Context="ivr-main",
        Exten="s",
        Uniqueid="1796297048.5",
        Linkedid="1796297048.5",
        Application="BackGround",
        ApplicationData="vm-enter-num-to-call",
        Duration="00:00:01",
    )
]


def assembler() -> CallAssembler:
    return CallAssembler(PhoneNormalizer().e164, live=True)


def attach(asm: CallAssembler, channels: list[dict[str, str]], now: datetime = NOW) -> list[LiveChange]:
    """What kolokol does with a snapshot: the events it stands for, then the resync itself."""
    for event, at in snapshot_events(channels, now, known=asm.tracks):
        asm.feed(event, at)
    asm.resync(channels, now)
    return asm.take_live()


def shown(changes: list[LiveChange]) -> LiveCall:
    return changes[-1].call


def ended(asm: CallAssembler, at: datetime) -> PbxCallRecord:
    """The call ends while kolokol watches: every channel is gone from the next snapshot."""
    asm.resync([], at)
    [record] = asm.tick(at + timedelta(seconds=5))
    return record


def test_a_ringing_call_shows_its_caller_line_and_phones_in_the_order_they_were_dialled() -> None:
    call = shown(attach(assembler(), RINGALL_RINGING))
    assert (call.direction, call.state, call.caller, call.caller_name) == (
        "inbound",
        "ringing",
        CALLER,
        "Иван Петров",
    )
    assert (call.number, call.called, call.ringing, call.talking) == (CALLER, LINE, ("101", "102"), ())
    assert call.started_at == NOW - timedelta(seconds=3.5), "Duration says 3 s: created 3 to 4 s ago"


def test_a_call_picked_up_while_nobody_listened_is_talking_with_the_phone_that_took_it() -> None:
    call = shown(attach(assembler(), RINGALL_PICKED_UP))
    assert (call.state, call.talking, call.answered_by, call.operator) == ("talking", ("104",), "104", "104")
    assert (call.caller, call.called) == (CALLER, LINE)


def test_the_next_snapshot_tells_what_changed_and_nothing_else() -> None:
    asm = assembler()
    attach(asm, RINGALL_RINGING)
    assert attach(asm, RINGALL_RINGING, NOW + timedelta(seconds=1)) == [], "the same snapshot is no news"
    answered = shown(attach(asm, RINGALL_PICKED_UP, NOW + timedelta(seconds=2)))
    assert (answered.state, answered.ringing, answered.talking, answered.answered_by) == (
        "talking",
        (),
        ("104",),
        "104",
    )
    record = ended(asm, NOW + timedelta(seconds=30))
    assert (record.status, record.answered_by, record.operator) == ("answered", "104", "104")
    assert (record.caller, record.called, record.rang[:2]) == (CALLER, LINE, ("101", "102"))
    assert record.answered_at == NOW + timedelta(seconds=2), (
        "the answer is dated by the snapshot that showed it"
    )


def test_a_phone_that_picked_up_a_followed_call_is_not_taken_for_one_that_was_dialled() -> None:
    asm = assembler()
    attach(asm, RINGALL_RINGING)
    # 104 dials *8 while kolokol listens; the snapshot after the pickup lists it as the ringing leg it took.
    picker = {"Event": "Newchannel", "Channel": "PJSIP/104-00000003", "ChannelState": "4", "Exten": "*8"}
    asm.feed({**picker, "CallerIDNum": "104", "Uniqueid": "1796297008.3", "Linkedid": "1796297008.3"}, NOW)
    call = shown(attach(asm, RINGALL_PICKED_UP, NOW + timedelta(seconds=2)))
    assert (call.state, call.talking, call.answered_by) == ("talking", ("104",), "104")
    record = ended(asm, NOW + timedelta(seconds=30))
    assert (record.answered_by, record.rang) == ("104", ("101", "102")), "104 did not ring: it picked up"


def test_a_queue_call_names_its_queue_and_the_member_that_answered() -> None:
    asm = assembler()
    ringing = shown(attach(asm, QUEUE_RINGING))
    assert (ringing.queue, ringing.ringing, ringing.caller) == ("reception", ("101", "102"), CALLER)
    assert ringing.called == "", "the dialplan moved the caller to 's' before the snapshot: no line to tell"
    answered = shown(attach(asm, QUEUE_ANSWERED, NOW + timedelta(seconds=6)))
    assert (answered.state, answered.talking, answered.answered_by) == ("talking", ("102",), "102")


def test_an_outbound_call_shows_the_number_dialled_and_the_line_it_leaves_on() -> None:
    asm = assembler()
    dialing = shown(attach(asm, outbound("5")))
    assert (dialing.direction, dialing.state, dialing.operator) == ("outbound", "dialing", "101")
    assert (dialing.caller, dialing.called, dialing.number) == ("+74951110000", CALLER, CALLER)


def test_an_outbound_call_seen_only_once_answered_still_knows_the_number_from_the_dial_string() -> None:
    call = shown(attach(assembler(), outbound("6", bridge="e9f64709-7583-4edd-8411-b1743c21b2ec")))
    assert (call.state, call.called, call.talking, call.operator) == ("talking", CALLER, ("101",), "101")
    assert call.answered_at == NOW


def test_click_to_call_ringing_the_operator_is_an_outbound_call_to_the_patient() -> None:
    call = shown(attach(assembler(), CLICK_TO_CALL_RINGING_OPERATOR))
    assert (call.direction, call.state, call.operator, call.number) == ("outbound", "dialing", "101", CALLER)


def test_a_caller_in_the_ivr_pops_no_card_and_is_a_call_missed_in_the_ivr() -> None:
    asm = assembler()
    assert attach(asm, IVR) == []
    record = ended(asm, NOW + timedelta(seconds=5))
    assert (record.status, record.missed_where, record.caller) == ("missed", "ivr", CALLER)


def test_nothing_is_made_of_a_snapshot_without_ids_or_with_an_unreadable_duration() -> None:
    events = snapshot_events([channel(Channel="PJSIP/101-00000001"), {**IVR[0], "Duration": "soon"}], NOW)
    assert [(e["Event"], at) for e, at in events] == [("Newchannel", NOW)]
