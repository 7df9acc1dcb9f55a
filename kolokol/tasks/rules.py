"""Which calls open, update or close a callback task. Pure: decisions only, storage happens elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pbx.call_record import PbxCallRecord


@dataclass(frozen=True, slots=True)
class OpenOrUpdate:
    """A miss: open a task for the number, or count the miss on the one already open."""

    number: str
    missed_at: datetime
    due_at: datetime


@dataclass(frozen=True, slots=True)
class CloseReached:
    """The number was reached: close its open task if the miss came before this call."""

    number: str
    reached_at: datetime


TaskDecision = OpenOrUpdate | CloseReached | None
Resolution = Literal["reached", "done", "unreachable", "cancelled"]


def decide(record: PbxCallRecord, sla: timedelta) -> TaskDecision:
    number = record.outside_number
    if not number or not number.startswith("+"):
        # Anonymous callers and extensions cannot be called back.
        return None
    if record.direction == "inbound" and record.status == "missed":
        return OpenOrUpdate(number, record.started_at, record.started_at + sla)
    if record.status == "answered" and record.direction in ("inbound", "outbound"):
        return CloseReached(number, record.answered_at or record.ended_at)
    return None
