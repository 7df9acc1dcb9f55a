"""kolokol's generic webhook format: the events of a typical call."""

from __future__ import annotations

from typing import Any

CALLER = "+79161234567"
LINE = "+74951110001"


def ev(call: str, n: int, type_: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"{call}-{n}", "call_id": call, "type": type_, "at": f"2026-11-23T09:{at}Z", **fields}


def answered_with_transfer(call: str = "c1") -> list[dict[str, Any]]:
    return [
        ev(
            call,
            1,
            "call.started",
            "00:00",
            direction="inbound",
            **{"from": "8 916 123-45-67", "to": LINE},
            caller_name="Пётр",
        ),
        ev(call, 2, "call.ivr", "00:01"),
        ev(call, 3, "call.ringing", "00:09", extension="101"),
        ev(call, 4, "call.ringing", "00:09", extension="102"),
        ev(call, 5, "call.answered", "00:15", extension="102"),
        ev(call, 6, "call.transferred", "01:00", from_extension="102", to_extension="103", kind="blind"),
        ev(
            call,
            7,
            "call.ended",
            "02:15",
            direction="inbound",
            **{"from": CALLER, "to": LINE},
            extension="103",
        ),
        ev(
            call,
            8,
            "recording.ready",
            "02:20",
            recording={"id": "r-1", "url": "https://pbx.example/r-1.mp3", "duration_seconds": 120},
        ),
    ]
