"""The PBX-side call record: what the assembler (or a webhook adapter) knows when a call has ended.

Contact matches, first-time-caller and callback tasks are added later by the application; this part is
plain data so every PBX adapter can produce it without knowing about storage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Direction = Literal["inbound", "outbound", "internal"]
Status = Literal["answered", "missed", "unanswered"]
Disposition = Literal["answered", "no_answer", "busy", "caller_hangup", "failed"]
MissedWhere = Literal["ivr", "queue", "ringing"]


def outcome(
    direction: Direction, answered: bool, lost: Disposition, missed_where: MissedWhere
) -> tuple[Status, Disposition, MissedWhere | None]:
    """The contract's status, disposition and missed_where: a call a person answered is answered; an
    inbound call nobody answered is missed (lost `missed_where`); any other is unanswered. `lost` and
    `missed_where` say how and where a call nobody answered was lost; they are ignored otherwise."""
    if answered:
        return "answered", "answered", None
    if direction != "inbound":
        return "unanswered", lost, None
    return "missed", lost, missed_where


@dataclass(frozen=True, slots=True)
class Transfer:
    from_ext: str | None
    to_ext: str | None
    kind: Literal["blind", "attended"]
    at: datetime


@dataclass(frozen=True, slots=True)
class PbxCallRecord:
    pbx: str
    pbx_call_id: str
    direction: Direction
    caller: str
    caller_name: str | None
    called: str
    status: Status
    disposition: Disposition
    missed_where: MissedWhere | None
    operator: str | None
    answered_by: str | None
    rang: tuple[str, ...]
    transfers: tuple[Transfer, ...]
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    recording_file: str | None = None
    # A cloud PBX's reference to the recording: what is needed to fetch it later (id, URL, expiry).
    recording_ref: dict[str, Any] | None = None
    # True when the call was closed because its events stopped (lost hang-up), not by a hang-up.
    closed_by_timeout: bool = False

    @property
    def outside_number(self) -> str | None:
        """The patient's side of the call: who called in, or whom the clinic called."""
        if self.direction == "inbound":
            return self.caller
        if self.direction == "outbound":
            return self.called
        return None

    @property
    def wait_seconds(self) -> float:
        until = self.answered_at or self.ended_at
        return max(0.0, (until - self.started_at).total_seconds())

    @property
    def talk_seconds(self) -> float:
        if self.answered_at is None:
            return 0.0
        return max(0.0, (self.ended_at - self.answered_at).total_seconds())
