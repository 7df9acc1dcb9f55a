"""Calls while they happen: the snapshot operators' screens show, and which message a change is.

Pure data and one rule (`change_kind`). The assembler (Asterisk) and the cloud adapters produce `LiveCall`
snapshots; the application turns them into feed messages with a caller card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pbx.call_record import Direction

LiveState = Literal["ringing", "dialing", "talking", "ended"]
LiveKind = Literal["call.ringing", "call.answered", "call.updated", "call.ended"]


@dataclass(frozen=True, slots=True)
class LiveCall:
    pbx: str
    # The PBX's id of the call (Asterisk: the Linkedid), the same as the call record's pbx_call_id.
    pbx_call_id: str
    direction: Direction
    # talking: a phone of ours is connected; otherwise ringing (inbound/internal: phones ring, or the caller
    # waits between queue attempts or for a transfer target) or dialing (outbound: the patient's phone
    # rings, or the operator's own phone rings for click-to-call); ended: every leg hung up.
    state: LiveState
    caller: str
    caller_name: str | None
    called: str
    # The patient's side in E.164 (the caller inbound, the called number outbound); None otherwise.
    number: str | None
    ringing: tuple[str, ...]
    talking: tuple[str, ...]
    rang: tuple[str, ...]
    queue: str | None
    # Outbound/internal: the extension that placed the call; inbound: the one that talks (or talked) last.
    operator: str | None
    answered_by: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    # Set on the final message of a call that Asterisk folded into another one (pickup, transfer).
    merged_into: str | None = None

    @property
    def id(self) -> str:
        return f"{self.pbx}:{self.pbx_call_id}"

    @property
    def extensions(self) -> frozenset[str]:
        """Every phone this call has involved: they all get its messages (a card must close everywhere)."""
        involved = {*self.rang, *self.ringing, *self.talking}
        for extension in (self.operator, self.answered_by):
            if extension:
                involved.add(extension)
        return frozenset(involved)

    def _shown(self) -> tuple[object, ...]:
        # What an operator's screen shows; a change elsewhere (a timestamp refined) is not news.
        return (
            self.direction,
            self.state,
            self.caller,
            self.caller_name,
            self.called,
            self.ringing,
            self.talking,
            self.rang,
            self.queue,
            self.operator,
            self.answered_by,
        )


@dataclass(frozen=True, slots=True)
class LiveChange:
    kind: LiveKind
    call: LiveCall
    at: datetime


def change_kind(before: LiveCall | None, after: LiveCall) -> LiveKind | None:
    """Which message, if any, tells the screens that the call went from `before` to `after`."""
    if after.state == "ended":
        return None if before is not None and before.state == "ended" else "call.ended"
    if before is None or not set(after.ringing) <= set(before.ringing):
        return "call.ringing"
    if before.answered_at is None and after.answered_at is not None:
        return "call.answered"
    if before._shown() != after._shown():
        return "call.updated"
    return None
