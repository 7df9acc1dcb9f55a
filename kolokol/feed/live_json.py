"""A call while it happens, as the operator feed and /api/live carry it (docs/feed.md)."""

from __future__ import annotations

from typing import Any

from kolokol.bounded import MAX_NAME_CHARS, bounded_text
from kolokol.times import iso
from pbx.live import LiveCall


def live_call_json(call: LiveCall) -> dict[str, Any]:
    """A call while it happens, as the operator feed and /api/live show it (docs/feed.md)."""
    return {
        "id": call.id,
        "pbx": call.pbx,
        "pbx_call_id": call.pbx_call_id,
        "direction": call.direction,
        "state": call.state,
        # The PBX's text, bounded like every card's: it goes to every console on every message.
        "caller": bounded_text(call.caller, MAX_NAME_CHARS),
        "caller_name": bounded_text(call.caller_name, MAX_NAME_CHARS)
        if call.caller_name
        else call.caller_name,
        "called": bounded_text(call.called, MAX_NAME_CHARS),
        "number": call.number,
        "ringing": list(call.ringing),
        "talking": list(call.talking),
        "rang": list(call.rang),
        "queue": bounded_text(call.queue, MAX_NAME_CHARS) if call.queue else call.queue,
        "operator": call.operator,
        "answered_by": call.answered_by,
        "started_at": iso(call.started_at),
        "answered_at": iso(call.answered_at),
        "ended_at": iso(call.ended_at),
        "merged_into": f"{call.pbx}:{call.merged_into}" if call.merged_into else None,
    }
