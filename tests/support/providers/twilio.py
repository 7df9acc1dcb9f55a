"""Twilio Programmable Voice as it posts to kolokol: the status callbacks of typical calls, and signed
requests for the adapter on its own."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from pbx.webhooks.base import WebhookRequest

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "test-twilio-auth-token"
BASE = "https://kolokol.example.clinic"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
CALLER = "+79161234567"
DID = "+74951110001"
SIP101 = "sip:101@clinic.sip.twilio.com"
RING = {"101": SIP101, "102": "client:anna"}


# One delivery: (path under the mount, query string, form parameters).
Delivery = tuple[str, str, dict[str, str]]


def stamp(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%a, %d %b %Y %H:%M:%S +0000")


def parent(
    call: str,
    seq: int,
    at: int,
    status: str,
    *,
    direction: str = "inbound",
    duration: int | None = None,
    query: str = "",
    frm: str = CALLER,
    to: str = DID,
) -> Delivery:
    params = {
        "AccountSid": SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call,
        "CallStatus": status,
        "Called": to,
        "Caller": frm,
        "From": frm,
        "To": to,
        "Direction": direction,
        "CallbackSource": "call-progress-events",
        "SequenceNumber": str(seq),
        "Timestamp": stamp(at),
    }
    if duration is not None:
        params |= {"CallDuration": str(duration), "Duration": str(max(1, (duration + 59) // 60))}
    return "/status", query, params


def child(
    call: str,
    leg: str,
    ext: str,
    seq: int,
    at: int,
    status: str,
    *,
    duration: int | None = None,
    tagged: bool = True,
) -> Delivery:
    target = RING.get(ext, ext)
    _, _, params = parent(leg, seq, at, status, direction="outbound-dial", duration=duration, to=target)
    params["ParentCallSid"] = call
    return "/status", f"extension={ext}" if tagged else "", params


def voice(call: str) -> Delivery:
    return (
        "/voice",
        "",
        {
            "AccountSid": SID,
            "ApiVersion": "2010-04-01",
            "CallSid": call,
            "CallStatus": "ringing",
            "Direction": "inbound",
            "From": CALLER,
            "To": DID,
            "Caller": CALLER,
            "Called": DID,
            "CallerName": "PETROVA ANNA",
        },
    )


def dial(
    call: str,
    status: str,
    *,
    leg: str = "",
    duration: int = 0,
    parent_status: str = "in-progress",
    recording: bool = False,
) -> Delivery:
    params = {
        "AccountSid": SID,
        "CallSid": call,
        "CallStatus": parent_status,
        "Direction": "inbound",
        "From": CALLER,
        "To": DID,
        "DialCallStatus": status,
        "DialCallDuration": str(duration),
    }
    if leg:
        params |= {"DialCallSid": leg, "DialBridged": "true" if duration else "false"}
    if recording:
        params |= {
            "RecordingSid": "RE" + "7" * 32,
            "RecordingDuration": str(duration),
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Recordings/RE{'7' * 32}",
        }
    return "/dial-action", "", params


def recording(call: str, status: str = "completed") -> Delivery:
    return (
        "/status",
        "",
        {
            "AccountSid": SID,
            "CallSid": call,
            "RecordingSid": "RE" + "7" * 32,
            "RecordingStatus": status,
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Recordings/RE{'7' * 32}",
            "RecordingDuration": "60",
            "RecordingChannels": "1",
            "RecordingSource": "DialVerb",
            "RecordingStartTime": stamp(12),
        },
    )


def inbound_answered(call: str = "CA" + "a" * 32) -> list[Delivery]:
    legs = ("CA" + "b" * 32, "CA" + "c" * 32)
    return [
        voice(call),
        child(call, legs[0], "101", 0, 2, "initiated"),
        child(call, legs[1], "102", 0, 2, "initiated"),
        child(call, legs[0], "101", 1, 3, "ringing"),
        child(call, legs[1], "102", 1, 4, "ringing"),
        child(call, legs[0], "101", 2, 12, "in-progress"),
        child(call, legs[1], "102", 2, 12, "canceled", duration=0),
        child(call, legs[0], "101", 3, 72, "completed", duration=60),
        dial(call, "completed", leg=legs[0], duration=60, recording=True),
        recording(call),
        parent(call, 0, 73, "completed", duration=73),
    ]


def inbound_caller_gave_up(call: str = "CA" + "d" * 32) -> list[Delivery]:
    legs = ("CA" + "e" * 32, "CA" + "f" * 32)
    return [
        voice(call),
        child(call, legs[0], "101", 0, 3, "ringing"),
        child(call, legs[1], "102", 0, 4, "ringing"),
        child(call, legs[0], "101", 1, 20, "canceled", duration=0),
        child(call, legs[1], "102", 1, 20, "canceled", duration=0),
        dial(call, "no-answer", parent_status="completed"),
        parent(call, 0, 20, "completed", duration=20),
    ]


def request(
    path: str, params: dict[str, str], *, base: str, query: str = "", sign_url: str | None = None
) -> WebhookRequest:
    url = sign_url or base + "/webhooks/twilio" + path + (f"?{query}" if query else "")
    payload = url + "".join(k + v for k, v in sorted(params.items()))
    signature = base64.b64encode(hmac.new(TOKEN.encode(), payload.encode(), hashlib.sha1).digest()).decode()
    return WebhookRequest(
        method="POST",
        path=path,
        raw_query=query,
        headers={"x-twilio-signature": signature},
        body=urlencode(params).encode(),
        content_type="application/x-www-form-urlencoded",
        remote="127.0.0.1",
        received_at=T0,
    )
