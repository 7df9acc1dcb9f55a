"""One Asterisk call's facts and what they mean: the state the assembler keeps per call, and how a
finished (or, for the screens, an unfinished) call reads as the contract's fields.

Pure: no asyncio, no SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from pbx.call_record import (
    Direction,
    Disposition,
    MissedWhere,
    PbxCallRecord,
    Status,
    Transfer,
    outcome,
)
from pbx.channels import UNKNOWN_NAMES, Channel
from pbx.live import LiveCall

# Outside number -> E.164, or None when it is no outside number.
NumberNormalizer = Callable[[str | None], str | None]

_BUSY_CAUSES = frozenset({"17", "21"})
_FAILED_CAUSES = frozenset({"1", "3", "20", "27", "34", "38", "41", "42"})
_FAILED_DIAL = frozenset({"CHANUNAVAIL", "CONGESTION"})


@dataclass(frozen=True, slots=True)
class PendingTarget:
    """A transfer whose target is still being reached: the phone that takes the call names it. A blind
    transfer to a number that may be a ring group or a queue (no phone), or a "blonde" one into a ring
    group whose phones all still ring."""

    index: int  # in AssembledCall.transfers
    dialled: str | None
    seq: int  # the assembler's event position of the transfer: rings after it are the target's
    # The transferer's and the transferee's channels: neither is the target, also when both are phones.
    moved: frozenset[str]


@dataclass(slots=True)
class AssembledCall:
    """Everything the assembler knows about one call (one Linkedid, after merges) while it lasts."""

    call_id: str
    started_at: datetime
    last_event_at: datetime
    channels: dict[str, Channel] = field(default_factory=dict)
    originator: str | None = None
    dial_results: dict[str, str] = field(default_factory=dict)  # dest uniqueid -> DialStatus
    answered_at: datetime | None = None
    answered_by: str | None = None
    operator: str | None = None
    connected_at: datetime | None = None  # first time two real parties talked (outbound/internal)
    transfers: list[Transfer] = field(default_factory=list)
    pending_blind: list[PendingTarget] = field(default_factory=list)
    queue_joined: bool = False
    queue_name: str | None = None
    # The call began with a leg dialled by nobody (AMI Originate: click-to-call, click-to-dial).
    originated: bool = False
    # The call's first channel (its Uniqueid is the Linkedid) was seen: not just a fragment of a call.
    headed: bool = False
    queue_abandoned: bool = False
    queue_let_go: bool = False  # the queue itself ended the wait (timeout, empty, full)
    recording_file: str | None = None
    ended_at: datetime | None = None
    # Legs that picked up (DialEnd ANSWER), in order: screens learn of an answer before the bridge forms.
    answers: list[tuple[datetime, Channel]] = field(default_factory=list)
    live: LiveCall | None = None  # what the screens were last told

    @property
    def rang(self) -> tuple[str, ...]:
        """Extensions whose phone really rang (or picked up), in the order their legs were dialled.

        A phone dialled but busy at once (do not disturb), unreachable, or forwarded before ringing did not
        ring. Dial order rather than the order of the ring reports: phones rung together report within
        milliseconds of each other, in no fixed order.
        """
        legs = sorted(
            (c for c in self.channels.values() if c.kind == "phone" and c.dialed and c.rang_at is not None),
            key=lambda c: c.order,
        )
        return tuple(dict.fromkeys(c.extension for c in legs if c.extension))

    @property
    def dialled_a_phone(self) -> bool:
        return any(c.kind == "phone" and c.dialed for c in self.channels.values())


class Interpretation:
    """Reads one call's facts as the contract's fields: the record when it has ended; its parties (for the
    screens) while it lasts."""

    def __init__(
        self, call: AssembledCall, normalize: NumberNormalizer, ended_at: datetime, timed_out: bool
    ) -> None:
        self.call = call
        self.normalize = normalize
        self.ended_at = ended_at
        self.timed_out = timed_out
        channels = sorted(call.channels.values(), key=lambda c: c.order)
        origin = call.channels.get(call.originator or "")
        real = [c for c in channels if c.kind != "local"]
        if origin is None or origin.kind == "local":
            origin = real[0] if real else channels[0]
        self.origin = origin
        self.channels = channels
        self.trunks = [c for c in channels if c.kind == "trunk"]
        self._local_ids = {c.uniqueid for c in channels if c.kind == "local"}
        self.phones = [c for c in channels if c.kind == "phone"]

    def direction(self) -> Direction:
        origin = self.origin
        if self.call.originated or (origin.kind == "trunk" and origin.placed_by_the_pbx):
            # The PBX placed the call itself (click-to-call, click-to-dial), whichever side it rang
            # first: the clinic calls out, even when the first leg is the outside line.
            if self.trunks:
                return "outbound"
        elif origin.kind == "trunk":
            return "inbound"
        if self.trunks:
            return "outbound"
        dialled = self.normalize(self._dialled_number())
        return "outbound" if dialled else "internal"

    def placed_by(self, *, rung: bool = False) -> str | None:
        """Outbound/internal: the extension of the phone that placed the call. When the PBX placed it
        (click-to-dial calling the patient first), the phone that was put through to the patient
        (with `rung`, only once it rang: the operator's screen learns of the call by its ring)."""
        if self.origin.kind == "phone":
            return self.origin.extension
        legs = [c for c in self.phones if c.dialed and (c.rang_at is not None or not rung)]
        for leg in [*(c for c in legs if c.connected), *legs]:
            if leg.extension:
                return leg.extension
        return None

    def _outgoing_line(self, called: str) -> str | None:
        """The clinic number shown to the patient: the caller ID the PBX put on the outgoing leg (chan_sip
        shows it as the leg's connected line, the leg's own caller ID being the number dialled)."""
        for channel in [*self.trunks, self.origin]:
            for number in (channel.caller_num, channel.connected_num if channel.kind == "trunk" else ""):
                line = self.normalize(number)
                if line and line != called:
                    return line
        return None

    def _dialled_number(self) -> str:
        for leg in self.trunks:
            target = _dial_target(leg.dial_string)
            if target:
                return target
        if self.call.originated:
            # Click-to-call names the number to be dialled as the operator phone's caller ID name
            # (kolokol does, as most click-to-call tools): known before the phone even answers. With
            # Local channels it is on the originated Local pair (the ;1 half may take the phone's name).
            plumbing = [c for c in self.channels if c.kind == "local"]
            for channel in (self.origin, *plumbing):
                if self.normalize(channel.caller_name):
                    return channel.caller_name
        for leg in self.channels:
            # A phone leg's dial string names the operator's phone, never the number called.
            target = _dial_target(leg.dial_string) if leg is not self.origin and leg.kind != "phone" else ""
            if target:
                return target
        if self.origin.kind == "phone" and self.origin.dialed:
            return ""  # the phone was rung (click-to-call): where it stood in the dialplan is no number
        return self.origin.first_exten

    def parties(self) -> tuple[Direction, str, str | None, str]:
        """Direction, caller, caller name and called number, as the call record states them."""
        direction = self.direction()
        if direction == "inbound":
            # A number the provider masked ("+31260xxxxxx", presentation prohibited) is no number to call
            # back: the caller is anonymous, as when none was sent.
            caller = (
                self.normalize(self.origin.caller_num) or _dialable(self.origin.caller_num) or "anonymous"
            )
            called_raw = self.origin.first_exten
            name = self.origin.caller_name.strip()
            caller_name = None if name.lower() in UNKNOWN_NAMES else name
            return direction, caller, caller_name, self.normalize(called_raw) or _dialable(called_raw)
        ext = self.placed_by() or self.origin.caller_num
        if direction == "outbound":
            dialled = self._dialled_number()
            called = self.normalize(dialled) or _dialable(dialled)
            return direction, self._outgoing_line(called) or ext, None, called
        return direction, self.normalize(self.origin.caller_num) or ext, None, self._internal_called()

    def _internal_called(self) -> str:
        """The extension the phone dialled (a ring group's number, not the member that answered); for a
        call the PBX placed between two phones, the phone it rang second."""
        if self.origin.kind == "phone" and not self.origin.placed_by_the_pbx:
            dialled = _dialable(self.origin.first_exten)
            if dialled:
                return dialled
        others = [p.extension for p in self.phones if p is not self.origin and p.extension]
        return others[0] if others else self._dialled_number()

    def record(self) -> PbxCallRecord:
        call = self.call
        direction, caller, caller_name, called = self.parties()
        if direction == "inbound":
            answered_at = call.answered_at
            answered_by = call.answered_by
            operator = call.operator
        else:
            answered_at = call.connected_at
            answered_by = None
            operator = self.placed_by()
        status, disposition, missed_where = self._outcome(direction, answered_at is not None)
        return PbxCallRecord(
            pbx="asterisk",
            pbx_call_id=call.call_id,
            direction=direction,
            caller=caller,
            caller_name=caller_name,
            called=called,
            status=status,
            disposition=disposition,
            missed_where=missed_where,
            operator=operator,
            answered_by=answered_by,
            rang=call.rang,
            transfers=self._transfers(),
            started_at=call.started_at,
            answered_at=answered_at,
            ended_at=max(self.ended_at, call.started_at),
            recording_file=call.recording_file,
            closed_by_timeout=self.timed_out,
        )

    def _transfers(self) -> tuple[Transfer, ...]:
        """Blind transfers that nobody took name the one phone that rang for them, else the number
        dialled (a ring group or a queue where nobody answered)."""
        transfers = list(self.call.transfers)
        for pending in self.call.pending_blind:
            transfer = transfers[pending.index]
            rang = {
                c.extension
                for c in self.phones
                if c.dialed
                and c.extension
                and c.rang_at is not None
                and c.rang_seq > pending.seq
                and c.uniqueid not in pending.moved
            }
            if len(rang) == 1:
                transfers[pending.index] = replace(transfer, to_ext=rang.pop())
        return tuple(transfers)

    def _outcome(
        self, direction: Direction, answered: bool
    ) -> tuple[Status, Disposition, MissedWhere | None]:
        if answered:
            return outcome(direction, True, "answered", "ringing")
        disposition = self._lost_disposition(direction)
        where: MissedWhere
        if self.call.queue_joined:
            where = "queue"
        elif self.call.dialled_a_phone or disposition in ("busy", "failed"):
            # Phones were tried, whether or not they rang (busy at once, unreachable): lost while
            # ringing, not in the IVR. So is a call the PBX refused as busy (a dialplan Busy() for a phone
            # on do-not-disturb) or could not put through (an unreachable phone has no channel at all).
            where = "ringing"
        else:
            where = "ivr"
        return outcome(direction, False, disposition, where)

    def _lost_disposition(self, direction: Direction) -> Disposition:
        call = self.call
        # The phones' and lines' own legs tell what happened; a Local channel in front of a leg only
        # relays it, sometimes reworded (a phone declining as BUSY reaches the caller as NOANSWER).
        real = {
            uid: self._leg_result(uid, status)
            for uid, status in call.dial_results.items()
            if uid not in self._local_ids
        }
        results = set((real or call.dial_results).values())
        causes = {c.cause for c in self.channels if c is not self.origin and c.kind != "local"}
        if direction == "inbound" and call.queue_joined:
            if call.queue_abandoned and not call.queue_let_go:
                return "caller_hangup"
            # The queue let the caller go (timeout, empty queue) or the caller left it otherwise: nobody
            # answered.
            return "no_answer"
        if direction == "outbound":
            # The patient's side decides (busy, no answer, unreachable), unless the patient answered and
            # the operator's phone was the one that did not.
            outside = [c for c in self.trunks if c.dialed]
            outside_results = {
                self._leg_result(c.uniqueid, call.dial_results[c.uniqueid])
                for c in outside
                if c.uniqueid in call.dial_results
            }
            if outside_results and "ANSWER" not in outside_results:
                results = outside_results
                causes = {c.cause for c in outside}
        if results:
            if "NOANSWER" in results:
                return "no_answer"
            if results <= {"BUSY"} or (
                "BUSY" in results and not results - {"BUSY", "CHANUNAVAIL", "CONGESTION"}
            ):
                return "busy"
            if results <= _FAILED_DIAL:
                return "failed"
            if "CANCEL" in results:
                return "caller_hangup"
            return "no_answer"
        if causes & _BUSY_CAUSES or self.origin.cause in _BUSY_CAUSES:
            return "busy"
        if causes & _FAILED_CAUSES or self.origin.cause in _FAILED_CAUSES:
            return "failed"
        if direction == "inbound":
            return "caller_hangup"
        return "failed" if not self.call.rang and not self.trunks else "caller_hangup"

    def _leg_result(self, uniqueid: str, status: str) -> str:
        """A leg's DialStatus read with the leg's own hangup cause: Dial reports a line that refused the
        number at once (SIP 404, cause 1 "unallocated number") or a busy one only as NOANSWER."""
        leg = self.call.channels.get(uniqueid)
        if status != "NOANSWER" or leg is None:
            return status
        if leg.cause in _FAILED_CAUSES:
            return "CHANUNAVAIL"
        if leg.cause in _BUSY_CAUSES:
            return "BUSY"
        return status


_DIALABLE = re.compile(r"\+?[0-9*#]+")


def _dialable(text: str) -> str:
    """A number or extension as dialled; not a dialplan position ("s", "i"): unknown is ""."""
    return text if _DIALABLE.fullmatch(text) else ""


def _dial_target(dial: str) -> str:
    """The number or extension a Dial() string reaches: "89161234567@trunk", "trunk/sip:8916...@host",
    "voipgrid/+31501234567", "PJSIP/101" (as Originate names it)."""
    if not dial:
        return ""
    return dial.split("&")[0].split("/")[-1].split("@")[0].removeprefix("sip:")
