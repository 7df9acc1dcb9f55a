"""Calls with one patient: finished, as the pipeline takes them (misses open and count a callback task, an
answered call closes it), and live, as the feed publishes them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from pbx.call_record import PbxCallRecord
from pbx.live import LiveCall
from tests.support.call_records import T0, missed

PATIENT = "+79161234567"
CLINIC_LINE = "+74951110001"


def missed_call(n: int, *, minutes: float = 0, number: str = PATIENT) -> PbxCallRecord:
    # Ids of their own: these calls may share a database with call_records' ones.
    return replace(missed(n, number, minutes), pbx_call_id=f"task.{n}")


def answered_call(n: int, *, minutes: float = 0, number: str = PATIENT, by: str = "102") -> PbxCallRecord:
    call = missed_call(n, minutes=minutes, number=number)
    return replace(
        call,
        status="answered",
        disposition="answered",
        missed_where=None,
        operator=by,
        answered_by=by,
        answered_at=call.started_at + timedelta(seconds=5),
        ended_at=call.started_at + timedelta(seconds=65),
    )


# The same patient's call while it happens, as the assembler reports it to the live feed.
RINGING = LiveCall(
    pbx="asterisk",
    pbx_call_id="1.1",
    direction="inbound",
    state="ringing",
    caller=PATIENT,
    caller_name=None,
    called=CLINIC_LINE,
    number=PATIENT,
    ringing=("101", "102"),
    talking=(),
    rang=("101", "102"),
    queue=None,
    operator=None,
    answered_by=None,
    started_at=T0,
    answered_at=None,
    ended_at=None,
)
TALKING = replace(
    RINGING,
    state="talking",
    ringing=(),
    talking=("102",),
    answered_by="102",
    answered_at=T0 + timedelta(seconds=5),
)
