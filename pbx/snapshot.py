"""Asterisk's list of live channels, read as the events that would have built them.

After kolokol connects to AMI (a start, a reconnect) it asks for the channels alive now
(``CoreShowChannels``). Calls it has not followed from their start (it was not running, or the connection
was down) are known only from those snapshots. Each snapshot says what the channel is (its name, caller
ID, where it stands in the dialplan), whether it is a leg somebody dialled (``Application: AppDial``,
``AppQueue``; ``AppDial2`` for an Originate), what the dialling channel runs (``Dial`` with its dial
string, ``Queue`` with the queue's name), how it stands (``ChannelState`` 5 Ringing, 6 Up) and which
bridge it talks in (``BridgeId``). ``snapshot_events`` turns that into the events the assembler would
have seen had it been listening — ``Newchannel``, ``DialBegin``, ``DialState`` RINGING, ``DialEnd``
ANSWER, ``QueueCallerJoin``, ``BridgeEnter`` — so such a call is built by the same handlers as any other,
and its card and record carry the caller, the line dialled, who rings and who talks, as they would have.

For a channel already followed (``known``) only what may have happened while nobody listened is told:
an answer, a bridge, a queue. Whether it was dialled was seen when it was made; a snapshot would say so
wrongly of a phone that picked a call up (it takes the ringing leg's place and is listed as a dialled
leg).

Times: a channel was created ``Duration`` ago (Asterisk counts whole seconds, so half a second more is
the best guess); an answer or a bridge seen only in a snapshot happened at some moment the snapshot does
not tell: it is dated at the snapshot. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta

from pbx.channels import endpoint_of

AmiEvent = Mapping[str, str]
# (event, when it happened on our clock: what the assembler is fed as the time it was received)
TimedEvent = tuple[dict[str, str], datetime]

# Applications a dialled leg runs while it rings and once it is up: it was dialled by Dial() or a queue
# (AppDial, AppQueue), or placed by an Originate (AppDial2), whose other side has no channel yet.
_DIALLED_APPS = frozenset({"AppDial", "AppQueue"})
_ORIGINATED_APP = "AppDial2"
_DIALLING_APPS = frozenset({"Dial", "Queue"})
_RINGING = "5"
_UP = "6"
# What a snapshot says about the channel itself (a Newchannel carries the same); the rest (the application,
# its age, its bridge) becomes events of its own.
_NOT_CHANNEL_FIELDS = frozenset(
    {
        "Event",
        "ActionID",
        "Application",
        "ApplicationData",
        "Duration",
        "BridgeId",
        "BridgedChannel",
        "BridgedUniqueid",
    }
)


def snapshot_events(
    channels: Iterable[AmiEvent], now: datetime, known: Callable[[str], bool] = lambda _: False
) -> list[TimedEvent]:
    """The events that would have made these live channels, in the order they would have come.

    ``known(uniqueid)``: whether the channel has been followed already (the assembler tracks it).
    """
    live = sorted((c for c in channels if c.get("Uniqueid")), key=lambda c: _age(c["Uniqueid"]))
    by_call: dict[str, list[AmiEvent]] = {}
    for channel in live:
        by_call.setdefault(_linkedid(channel), []).append(channel)
    events: list[TimedEvent] = []
    bridges: dict[str, list[AmiEvent]] = {}
    for channel in live:
        created = now - _duration(channel.get("Duration", ""))
        events.append(({**_fields(channel), "Event": "Newchannel"}, created))
        events.extend(
            _dialled(channel, by_call[_linkedid(channel)], created, now, known(channel["Uniqueid"]))
        )
        if channel.get("Application") == "Queue":
            queue = channel.get("ApplicationData", "").split(",")[0]
            if queue:
                events.append(({**_ids(channel), "Event": "QueueCallerJoin", "Queue": queue}, created))
        bridge = channel.get("BridgeId", "")
        if bridge:
            bridges.setdefault(bridge, []).append(channel)
    # Bridges last: by then every channel of the call is known, so the assembler sees who talks to whom.
    for bridge, members in bridges.items():
        for channel in members:
            events.append(({**_ids(channel), "Event": "BridgeEnter", "BridgeUniqueid": bridge}, now))
    return events


def _dialled(
    channel: AmiEvent, call: list[AmiEvent], created: datetime, now: datetime, known: bool
) -> list[TimedEvent]:
    application = channel.get("Application", "")
    if application not in _DIALLED_APPS and application != _ORIGINATED_APP:
        return []
    dest = _ids(channel, "Dest")
    begin = {**dest, "Event": "DialBegin"}
    if application != _ORIGINATED_APP:
        # An Originate's DialBegin names no dialling channel; a Dial's or a queue's does.
        dialler, dial_string = _dialler(channel, call)
        if dialler is not None:
            begin.update(_ids(dialler))
        begin["DialString"] = dial_string
    events: list[TimedEvent] = [] if known else [(begin, created)]
    state = channel.get("ChannelState", "")
    if state == _RINGING and not known:
        events.append(({**begin, "Event": "DialState", "DialStatus": "RINGING"}, created))
    elif state == _UP:
        events.append(({**begin, "Event": "DialEnd", "DialStatus": "ANSWER"}, now))
    return events


def _dialler(leg: AmiEvent, call: list[AmiEvent]) -> tuple[AmiEvent | None, str]:
    """The channel that dialled this leg, and the dial string that named it ("" when unknown).

    The one whose Dial() names the leg's endpoint (``PJSIP/101&PJSIP/102``, ``PJSIP/8916…@trunk``,
    ``Local/101@queue-members/n``); else the call's one channel running Dial() or Queue() (a queue's
    members, a pickup), preferring the call's first channel.
    """
    tech, endpoint = _endpoint(leg.get("Channel", ""))
    dialling = [c for c in call if c is not leg and c.get("Application") in _DIALLING_APPS]
    for candidate in dialling:
        if candidate.get("Application") != "Dial":
            continue
        for target in candidate.get("ApplicationData", "").split(",")[0].split("&"):
            target_tech, _, resource = target.strip().partition("/")
            first = resource.split("/")[0]
            if target_tech.lower() == tech.lower() and endpoint in (first, first.rpartition("@")[2]):
                return candidate, resource
    if not dialling:
        return None, ""
    head = [c for c in dialling if c.get("Uniqueid") == _linkedid(c)]
    return (head or dialling)[0], ""


def _endpoint(name: str) -> tuple[str, str]:
    """A channel's technology and endpoint; a Local channel's is ``exten@context`` (without ;1/;2)."""
    if name.startswith("Local/"):
        resource = name[len("Local/") :].rpartition(";")[0] or name[len("Local/") :]
        return "Local", resource.rpartition("-")[0] or resource
    return endpoint_of(name)


def _fields(channel: AmiEvent) -> dict[str, str]:
    return {key: value for key, value in channel.items() if key not in _NOT_CHANNEL_FIELDS}


def _ids(channel: AmiEvent, prefix: str = "") -> dict[str, str]:
    """Just what names the channel: an event that carries no snapshot fields changes none."""
    return {
        f"{prefix}Channel": channel.get("Channel", ""),
        f"{prefix}Uniqueid": channel.get("Uniqueid", ""),
        f"{prefix}Linkedid": _linkedid(channel),
    }


def _linkedid(channel: AmiEvent) -> str:
    return channel.get("Linkedid", "") or channel.get("Uniqueid", "")


def _duration(text: str) -> timedelta:
    """``Duration: 01:02:03`` (hours may run past 99); unreadable counts as just created."""
    try:
        hours, minutes, seconds = (int(part) for part in text.split(":"))
    except ValueError:
        return timedelta(0)
    if min(hours, minutes, seconds) < 0:
        return timedelta(0)
    return timedelta(hours=hours, minutes=minutes, seconds=seconds + 0.5)


def _age(uniqueid: str) -> tuple[float, int]:
    """Uniqueids are "[systemname-]<epoch>.<sequence>": the older channel sorts first."""
    epoch, _, sequence = uniqueid.rpartition("-")[2].partition(".")
    try:
        return float(epoch), int(sequence)
    except ValueError:
        return float("inf"), 0
