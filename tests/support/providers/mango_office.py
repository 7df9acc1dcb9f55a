"""Mango Office as it posts to kolokol: signed forms, the legs and summaries of typical calls, and the
adapter's events made of them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from kolokol.phones import PhoneNormalizer
from pbx.webhooks.base import CloudEvent, WebhookRequest
from pbx.webhooks.mango_office import MangoOffice
from tests.support.webhooks import Hook

KEY = "test-vpbx-key"
SALT = "test-vpbx-salt"
T0 = 1795420800  # 2026-11-23 08:00:00 UTC
CALLER = "79161234567"
LINE = "74951110001"


def form(
    payload: dict[str, Any] | None, *, key: str = KEY, salt: str = SALT, sign: str | None = None
) -> bytes:
    if payload is None:
        return b""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    signature = sign if sign is not None else hashlib.sha256(f"{key}{text}{salt}".encode()).hexdigest()
    return urlencode({"vpbx_api_key": key, "sign": signature, "json": text}).encode()


def leg(
    entry: str, leg_id: str, seq: int, at: int, state: str, location: str, **kw: Any
) -> tuple[str, dict[str, Any]]:
    event = {
        "entry_id": entry,
        "call_id": leg_id,
        "timestamp": T0 + at,
        "seq": seq,
        "call_state": state,
        "location": location,
        "from": kw.pop("frm", {"number": CALLER}),
        "to": kw.pop("to", {"number": LINE, "line_number": LINE}),
        **kw,
    }
    return "/events/call", event


def summary(
    entry: str,
    *,
    direction: int = 1,
    talk: int = 0,
    end: int = 60,
    result: int = 1,
    reason: int = 1110,
    frm: dict[str, Any] | None = None,
    to: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    return "/events/summary", {
        "entry_id": entry,
        "call_direction": direction,
        "from": frm or {"number": CALLER},
        "to": to or {"extension": "101", "number": "sip:101@clinic.mangosip.ru"},
        "line_number": LINE,
        "create_time": T0,
        "forward_time": T0 + 5 if talk else 0,
        "talk_time": T0 + talk if talk else 0,
        "end_time": T0 + end,
        "entry_result": result,
        "disconnect_reason": reason,
    }


def inbound_answered(entry: str = "MTAxOjExMQ==") -> list[tuple[str, dict[str, Any]]]:
    return [
        leg(entry, "A", 1, 0, "Appeared", "ivr"),
        leg(
            entry,
            "B",
            1,
            8,
            "Appeared",
            "abonent",
            to={"extension": "101", "number": "sip:101@x"},
            frm={"number": CALLER, "taken_from_call_id": "A"},
        ),
        leg(entry, "C", 1, 8, "Appeared", "abonent", to={"extension": "102", "number": "sip:102@x"}),
        leg(entry, "B", 2, 12, "Connected", "abonent", to={"extension": "101", "number": "sip:101@x"}),
        leg(entry, "C", 2, 12, "Disconnected", "abonent", to={"extension": "102"}, disconnect_reason=1110),
        (
            "/events/recording",
            {
                "entry_id": entry,
                "call_id": "B",
                "recording_id": "REC1",
                "recording_state": "Started",
                "seq": 1,
                "timestamp": T0 + 12,
                "extension": "101",
            },
        ),
        leg(entry, "B", 3, 72, "Disconnected", "abonent", to={"extension": "101"}, disconnect_reason=1120),
        (
            "/events/recording",
            {
                "entry_id": entry,
                "call_id": "B",
                "recording_id": "REC1",
                "recording_state": "Completed",
                "seq": 2,
                "timestamp": T0 + 72,
                "completion_code": 1000,
                "extension": "101",
            },
        ),
        summary(entry, talk=12, end=72, reason=1120),
        (
            "/events/record/added",
            {"entry_id": entry, "product_id": 1, "user_id": 5, "timestamp": T0 + 90, "recording_id": "REC1"},
        ),
    ]


def inbound_missed(entry: str = "MISSED1") -> list[tuple[str, dict[str, Any]]]:
    return [
        leg(entry, "A", 1, 0, "Appeared", "ivr"),
        leg(entry, "B", 1, 6, "Appeared", "abonent", to={"extension": "101"}),
        leg(entry, "C", 1, 6, "Appeared", "abonent", to={"extension": "102"}),
        leg(entry, "B", 2, 30, "Disconnected", "abonent", to={"extension": "101"}, disconnect_reason=1110),
        leg(entry, "C", 2, 30, "Disconnected", "abonent", to={"extension": "102"}, disconnect_reason=1110),
        summary(entry, end=30, result=0, reason=1110),
    ]


async def deliver(hook: Hook, events: list[tuple[str, dict[str, Any]]]) -> None:
    for path, payload in events:
        status, body = await hook.send(
            "POST", path, body=form(payload), content_type="application/x-www-form-urlencoded"
        )
        assert status == 200, body


MANGO = MangoOffice(KEY, SALT, PhoneNormalizer().e164)


def cloud(deliveries: Sequence[tuple[str, dict[str, Any]]]) -> list[CloudEvent]:
    """The events the adapter makes of these signed posts, in delivery order."""
    events: list[CloudEvent] = []
    for path, payload in deliveries:
        request = WebhookRequest(
            method="POST",
            path=path,
            raw_query="",
            headers={},
            body=form(payload),
            content_type="application/x-www-form-urlencoded",
            remote="81.88.80.132",
            received_at=datetime.fromtimestamp(T0 + 120, UTC),  # after the last event of these calls
        )
        events.extend(MANGO.handle(request).events)
    return events
