"""Telnyx Call Control as it posts to kolokol: the JSON events of typical calls' legs, and signed requests
for the adapter on its own."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pbx.webhooks.base import WebhookRequest
from pbx.webhooks.telnyx import Telnyx

KEY = Ed25519PrivateKey.generate()
PUBLIC_KEY = base64.b64encode(KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CALLER = "+79161234567"
DID = "+74951110001"
Event = dict[str, Any]


def state(value: Any) -> str:
    """client_state as the application sets it: base64 of JSON or of plain text."""
    text = value if isinstance(value, str) else json.dumps(value)
    return base64.b64encode(text.encode()).decode()


def iso(at: float) -> str:
    return (T0 + timedelta(seconds=at)).isoformat().replace("+00:00", "Z")


def ev(kind: str, session: str, leg: str, at: float, *, attempt: int = 1, **payload: Any) -> Event:
    event_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{session}/{leg}/{kind}/{at}")
    return {
        "data": {
            "record_type": "event",
            "event_type": kind,
            "id": str(event_id),
            "occurred_at": iso(at),
            "payload": {
                "call_control_id": f"v3:{leg}-control",
                "connection_id": "1684641123236054244",
                "call_leg_id": leg,
                "call_session_id": session,
                "client_state": None,
                **payload,
            },
        },
        "meta": {"attempt": attempt, "delivered_to": "https://clinic.example/webhooks/telnyx/"},
    }


def initiated(session: str, leg: str, at: float, direction: str, frm: str, to: str, **kw: Any) -> Event:
    fields: dict[str, Any] = {"direction": direction, "from": frm, "to": to, "start_time": iso(at)}
    fields["state"] = "parked" if direction == "incoming" else "bridging"
    return ev("call.initiated", session, leg, at, **fields, **kw)


def hangup(
    session: str, leg: str, at: float, cause: str, source: str = "caller", sip: str = "", **kw: Any
) -> Event:
    return ev(
        "call.hangup",
        session,
        leg,
        at,
        hangup_cause=cause,
        hangup_source=source,
        sip_hangup_cause=sip or None,
        state="hangup",
        **kw,
    )


def operator_leg(session: str, leg: str, at: float, ext: str, **kw: Any) -> Event:
    return initiated(session, leg, at, "outgoing", DID, f"sip:{ext}@clinic.sip.telnyx.com", **kw)


def inbound_answered(session: str = "sess-answered") -> list[Event]:
    s = session
    return [
        initiated(s, "A", 0, "incoming", CALLER, DID, caller_id_name="Анна"),
        ev("call.answered", s, "A", 1),  # the application's greeting, not a person
        operator_leg(s, "B", 8, "sip-user-b", client_state=state({"extension": "101"})),
        operator_leg(s, "C", 8, "desk-2", client_state=state("102")),
        ev("call.bridged", s, "B", 8.5, client_state=state({"extension": "101"})),
        ev("call.answered", s, "B", 12, client_state=state({"extension": "101"})),
        hangup(s, "C", 12, "originator_cancel", "unknown", "487"),
        hangup(s, "B", 72, "normal_clearing", "caller"),
        hangup(s, "A", 72, "normal_clearing", "caller"),
        ev(
            "call.recording.saved",
            s,
            "B",
            75,
            channels="dual",
            recording_started_at="2026-11-23T08:00:12.000Z",
            recording_ended_at="2026-11-23T08:01:12.000Z",
            recording_urls={
                "mp3": "https://s3.example/rec.mp3?X-Amz-Expires=600",
                "wav": "https://s3.example/rec.wav?X-Amz-Expires=600",
            },
            public_recording_urls={},
        ),
    ]


def inbound_missed_ringing(
    session: str = "sess-missed", cause: str = "timeout", sip: str = ""
) -> list[Event]:
    s = session
    return [
        initiated(s, "A", 0, "incoming", CALLER, DID),
        ev("call.answered", s, "A", 1),
        operator_leg(s, "B", 5, "101"),
        # A transfer bridges the new leg before it rings: that is not an answer.
        ev("call.bridged", s, "B", 5.2),
        hangup(s, "B", 35, cause, "callee", sip),
        hangup(s, "A", 40, "normal_clearing", "caller"),
    ]


def sip_connection_call(s: str) -> list[Event]:
    """No application answer: a SIP connection rings the clinic phone, whose answer is the incoming leg's."""
    return [
        initiated(s, "A", 0, "incoming", CALLER, DID, client_state=state({"extension": "103"})),
        ev("call.answered", s, "A", 10, client_state=state({"extension": "103"})),
        hangup(s, "A", 50, "normal_clearing", "callee"),
    ]


def outbound(s: str, *, answered_at: float | None, cause: str, end: float, sip: str = "") -> list[Event]:
    events = [initiated(s, "A", 0, "outgoing", DID, CALLER, client_state=state({"extension": "101"}))]
    if answered_at is not None:
        events.append(ev("call.answered", s, "A", answered_at, client_state=state({"extension": "101"})))
    return [*events, hangup(s, "A", end, cause, "callee", sip)]


SENT = 1795420800  # the telnyx-timestamp of the requests below


def e164(raw: str | None) -> str | None:
    return raw if raw and raw.startswith("+") else None


def adapter(**kw: Any) -> Telnyx:
    options: dict[str, Any] = {"tolerance_seconds": 300, "app_answers_inbound": True, **kw}
    return Telnyx(PUBLIC_KEY, e164, **options)


def request(body: bytes, *, arrived_after: float, timestamp: int = SENT) -> WebhookRequest:
    signature = base64.b64encode(KEY.sign(f"{timestamp}|".encode() + body)).decode()
    return WebhookRequest(
        method="POST",
        path="/",
        raw_query="",
        headers={"telnyx-signature-ed25519": signature, "telnyx-timestamp": str(timestamp)},
        body=body,
        content_type="application/json",
        remote="127.0.0.1",
        received_at=datetime.fromtimestamp(SENT, UTC) + timedelta(seconds=arrived_after),
    )
