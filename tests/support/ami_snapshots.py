"""What Asterisk's CoreShowChannels would list at some point of a recorded AMI capture.

Built from the events so far, shaped like Asterisk 22's replies (see tests/unit/pbx/test_snapshot.py for
real ones): the live channels with their latest caller ID and dialplan position, the application they run
(``AppDial``/``AppQueue`` for legs somebody dialled, ``AppDial2`` for an Originate's, ``Dial`` with the
dial string or ``Queue`` with the queue's name for the dialling side), their bridge and their age.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pbx.channels import endpoint_of

_FIELDS = (
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Context",
    "Exten",
    "Priority",
    "Linkedid",
)
_PREFIXES = ("", "Dest", "Transferer", "Transferee", "OrigTransferer", "SecondTransferer", "TransferTarget")


@dataclass
class _Channel:
    uniqueid: str
    created: datetime
    fields: dict[str, str] = field(default_factory=dict)
    application: str = ""
    data: str = ""
    dials: list[str] = field(default_factory=list)
    bridge: str = ""
    in_queue: str = ""


def live_channels(events: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """CoreShowChannel replies for the channels alive after these events, as of the last event's time."""
    channels: dict[str, _Channel] = {}
    gone: set[str] = set()
    now = datetime.fromtimestamp(0, UTC)
    for event in events:
        at = _time(event) or now
        now = max(now, at)
        for prefix in _PREFIXES:
            uniqueid = event.get(f"{prefix}Uniqueid", "")
            if not uniqueid or uniqueid in gone:
                continue
            channel = channels.setdefault(uniqueid, _Channel(uniqueid, at))
            for name in _FIELDS:
                value = event.get(f"{prefix}{name}")
                if value is not None:
                    channel.fields[name] = value
            for key, value in event.items():
                variable = f"{prefix}ChanVariable("
                if key.startswith(variable):
                    channel.fields["ChanVariable(" + key[len(variable) :]] = value
        _apply(event, channels, gone)
    return [_reply(channel, now) for channel in channels.values() if channel.uniqueid not in gone]


def _apply(event: Mapping[str, str], channels: dict[str, _Channel], gone: set[str]) -> None:
    kind = event.get("Event", "")
    own = channels.get(event.get("Uniqueid", ""))
    if kind == "Hangup" and own is not None:
        gone.add(own.uniqueid)
    elif kind == "DialBegin":
        dest = channels.get(event.get("DestUniqueid", ""))
        if dest is None:
            return
        dest.data = "(Outgoing Line)"
        if own is None:
            dest.application = "AppDial2"
        elif own.in_queue:
            dest.application = "AppQueue"
        else:
            dest.application = "AppDial"
            tech, _ = endpoint_of(event.get("DestChannel", ""))
            own.application = "Dial"
            own.dials.append(f"{tech}/{event.get('DialString', '')}")
            own.data = "&".join(own.dials) + ",30,tT"
    elif kind == "DialEnd" and event.get("DialStatus") == "ANSWER":
        dest = channels.get(event.get("DestUniqueid", ""))
        if dest is not None and dest.application == "AppDial2":
            dest.application, dest.data = "", ""  # an answered Originate runs the dialplan from here
        elif dest is not None and not dest.application:
            # A pickup: the picker takes the ringing leg's place, and Asterisk 22 then lists it as that
            # leg (AppDial), though nobody dialled it.
            dest.application, dest.data = "AppDial", "(Outgoing Line)"
    elif kind == "QueueCallerJoin" and own is not None:
        own.in_queue = event.get("Queue", "")
        own.application, own.data = "Queue", f"{own.in_queue},rtT,,,30"
    elif kind in ("QueueCallerAbandon", "QueueCallerLeave") and own is not None:
        own.in_queue = ""
    elif kind == "BridgeEnter" and own is not None:
        own.bridge = event.get("BridgeUniqueid", "")
    elif kind == "BridgeLeave" and own is not None and own.bridge == event.get("BridgeUniqueid"):
        own.bridge = ""


def _reply(channel: _Channel, now: datetime) -> dict[str, str]:
    seconds = max(0, int((now - channel.created).total_seconds()))
    return {
        "Event": "CoreShowChannel",
        **channel.fields,
        "Uniqueid": channel.uniqueid,
        "Application": channel.application,
        "ApplicationData": channel.data,
        "Duration": f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}",
        "BridgeId": channel.bridge,
    }


def _time(event: Mapping[str, str]) -> datetime | None:
    stamp = event.get("Timestamp")
    return datetime.fromtimestamp(float(stamp), UTC) if stamp else None
