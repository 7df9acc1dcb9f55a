"""Call records as a PBX adapter hands them to the pipeline, for tests that need calls in the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pbx.call_record import PbxCallRecord

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def missed(n: int, number: str, minutes: float = 0) -> PbxCallRecord:
    start = T0 + timedelta(minutes=minutes)
    return PbxCallRecord(
        pbx="asterisk",
        pbx_call_id=f"1.{n}",
        direction="inbound",
        caller=number,
        caller_name="Пётр",
        called="+74951110001",
        status="missed",
        disposition="caller_hangup",
        missed_where="ringing",
        operator=None,
        answered_by=None,
        rang=("101", "102"),
        transfers=(),
        started_at=start,
        answered_at=None,
        ended_at=start + timedelta(seconds=10),
    )
