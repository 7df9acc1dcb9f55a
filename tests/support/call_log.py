"""Calls for the call-log tests (API and pages): stored through the real pipeline, then given what other
parts set later (a branch, an attribution, a recording row in some state)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.calls.wiring import make_pipeline
from kolokol.settings import Settings
from kolokol.storage.tables import Call, Recording
from pbx.call_record import PbxCallRecord, Transfer

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CLINIC_LINE = "+74951110001"


@dataclass
class LogCall:
    """One call of a test's call log; `talk` None = nobody answered."""

    key: str
    caller: str = "+79161234567"
    called: str = CLINIC_LINE
    direction: str = "inbound"
    talk: float | None = 60.0
    operator: str | None = "101"
    rang: tuple[str, ...] = ("101",)
    minutes: float = 0.0
    caller_name: str | None = None
    transfers: tuple[Transfer, ...] = ()
    branch: str | None = None
    attribution: dict[str, Any] = field(default_factory=dict)
    recording: str | None = None  # pending | ready | failed | purged
    recording_extra: dict[str, Any] = field(default_factory=dict)
    started_at: datetime | None = None

    def record(self) -> PbxCallRecord:
        start = self.started_at or T0 + timedelta(minutes=self.minutes)
        answered = start + timedelta(seconds=5) if self.talk is not None else None
        ended = answered + timedelta(seconds=self.talk) if answered and self.talk is not None else start
        if answered is None:
            ended = start + timedelta(seconds=20)
        missed = answered is None and self.direction == "inbound"
        return PbxCallRecord(
            pbx="asterisk",
            pbx_call_id=f"log.{self.key}",
            direction=self.direction,  # type: ignore[arg-type]
            caller=self.caller,
            caller_name=self.caller_name,
            called=self.called,
            status="answered" if answered else ("missed" if missed else "unanswered"),
            disposition="answered" if answered else ("caller_hangup" if missed else "no_answer"),
            missed_where=None if answered or not missed else "ringing",
            operator=self.operator if answered else None,
            answered_by=self.operator if answered else None,
            rang=self.rang,
            transfers=self.transfers,
            started_at=start,
            answered_at=answered,
            ended_at=ended,
        )


async def store_calls(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], calls: list[LogCall]
) -> dict[str, str]:
    """Store the calls; returns each call's id by its key."""
    pipeline = make_pipeline(settings, sessions)
    ids: dict[str, str] = {}
    for item in calls:
        call = await pipeline.record(item.record())
        ids[item.key] = call.id
        values: dict[str, Any] = {}
        if item.branch is not None:
            values["branch"] = item.branch
        if item.attribution:
            values.update({f"attr_{k}": v for k, v in item.attribution.items()})
            values["source"] = dict(item.attribution)
        async with sessions.begin() as session:
            if values:
                await session.execute(update(Call).where(Call.id == call.id).values(**values))
            if item.recording is not None:
                session.add(recording_row(call.id, item.recording, call.started_at, **item.recording_extra))
    return ids


def recording_row(call_id: str, status: str, started: datetime, **extra: Any) -> Recording:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "call_id": call_id,
        "origin": "asterisk",
        "ref": {"file": f"{call_id}.wav"},
        "status": status,
        "stage": "done" if status != "pending" else "acquire",
        "attempts": 0,
        # Not due: a running worker leaves the row as the test set it.
        "next_attempt_at": now + timedelta(days=1),
        "call_started_at": started,
        "created_at": now,
        "updated_at": now,
    }
    if status == "failed":
        values["failure"] = "the file never appeared in 10 minutes"
    if status == "purged":
        values["purged_at"] = now
    values.update(extra)
    return Recording(**values)
