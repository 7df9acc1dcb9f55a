"""Zadarma as it posts to kolokol: signed NOTIFY_* forms of typical calls, and requests for the adapter on
its own."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from kolokol.phones import PhoneNormalizer
from pbx.webhooks.base import CloudEvent, WebhookRequest
from pbx.webhooks.zadarma import Zadarma
from tests.support.webhooks import Hook

KEY = "test-api-key"
SECRET = "test-api-secret"
CALLER = "79161234567"
DID = "74951110001"
FORM = "application/x-www-form-urlencoded"
MOSCOW = ZoneInfo("Europe/Moscow")
Event = dict[str, str]


def call_start(seconds_ago: int = 40, *, now: datetime | None = None) -> str:
    """call_start as Zadarma writes it: the account's local time (Moscow, the default setting), this long
    before ``now`` (the app's clock in the integration tests: ARRIVAL; the wall clock for a real serve)."""
    moment = (now or datetime.now(UTC)) - timedelta(seconds=seconds_ago)
    return moment.astimezone(MOSCOW).strftime("%Y-%m-%d %H:%M:%S")


def signature_string(event: Event) -> str:
    # Written out from the research table (SDK getSignatureString), independently of the adapter.
    kind = event.get("event", "")
    if kind in ("NOTIFY_START", "NOTIFY_INTERNAL", "NOTIFY_END", "NOTIFY_IVR"):
        names = ["caller_id", "called_did", "call_start"]
    elif kind == "NOTIFY_ANSWER":
        names = ["caller_id", "destination", "call_start"]
    elif kind in ("NOTIFY_OUT_START", "NOTIFY_OUT_END"):
        names = ["internal", "destination", "call_start"]
    else:
        names = ["pbx_call_id", "call_id_with_rec"]
    return "".join(event.get(name, "") for name in names)


def sign(event: Event, secret: str = SECRET) -> str:
    hex_text = hmac.new(secret.encode(), signature_string(event).encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(hex_text.encode()).decode()


def inbound(call: str, start: str, *steps: Event) -> list[Event]:
    common = {"pbx_call_id": call, "caller_id": CALLER, "called_did": DID, "call_start": start}
    return [{**common, **step} for step in steps]


def inbound_answered(call: str = "in_answered1", *, now: datetime | None = None) -> list[Event]:
    start = call_start(now=now)
    events = inbound(
        call,
        start,
        {"event": "NOTIFY_START"},
        {"event": "NOTIFY_INTERNAL", "internal": "101"},
        {"event": "NOTIFY_INTERNAL", "internal": "102"},
        {"event": "NOTIFY_ANSWER", "internal": "101", "destination": "101"},
        {
            "event": "NOTIFY_END",
            "internal": "101",
            "duration": "30",
            "disposition": "answered",
            "status_code": "16",
            "is_recorded": "1",
            "call_id_with_rec": "1700000000.12345",
        },
    )
    for answer in events:
        if answer["event"] == "NOTIFY_ANSWER":
            del answer["called_did"]  # NOTIFY_ANSWER carries destination instead
    return [*events, {"event": "NOTIFY_RECORD", "pbx_call_id": call, "call_id_with_rec": "1700000000.12345"}]


async def post(hook: Hook, event: Event, signature: str | None = "sign") -> tuple[int, bytes]:
    headers = {} if signature is None else {"Signature": sign(event) if signature == "sign" else signature}
    return await hook.send("POST", "/", body=urlencode(event).encode(), content_type=FORM, headers=headers)


async def deliver(hook: Hook, events: list[Event]) -> None:
    for event in events:
        status, body = await post(hook, event)
        assert status == 200, body


T0 = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)  # 11:00:00 in Moscow, 13:00:00 in Yekaterinburg
# When the integration tests' notifications reach kolokol (the app's clock stands there): 40 s after
# call_start(now=ARRIVAL), all at once.
ARRIVAL = T0 + timedelta(seconds=40)
PHONES = PhoneNormalizer("RU")


def adapter(timezone: str = "Europe/Moscow") -> Zadarma:
    return Zadarma(KEY, SECRET, timezone, PHONES.e164)


def request(
    fields: dict[str, str], at: datetime, *, signature: str | None = None, content_type: str | None = None
) -> WebhookRequest:
    body = urlencode(fields).encode()
    header = signature if signature is not None else adapter().signature(_s(fields))
    return WebhookRequest(
        method="POST",
        path="/",
        raw_query="",
        headers={"signature": header, "content-type": content_type or "application/x-www-form-urlencoded"},
        body=body,
        content_type=(content_type or "application/x-www-form-urlencoded").split(";")[0],
        remote="185.45.152.42",
        received_at=at,
    )


def _s(fields: dict[str, str]) -> str:
    kind = fields["event"]
    names: tuple[str, ...]
    if kind == "NOTIFY_ANSWER":
        names = ("caller_id", "destination", "call_start")
    elif kind.startswith("NOTIFY_OUT"):
        names = ("internal", "destination", "call_start")
    elif kind == "NOTIFY_RECORD":
        names = ("pbx_call_id", "call_id_with_rec")
    else:
        names = ("caller_id", "called_did", "call_start")
    return "".join(fields.get(n, "") for n in names)


def events(zadarma: Zadarma, *steps: tuple[int, dict[str, str]]) -> list[CloudEvent]:
    """Each step arrives ``seconds`` after T0."""
    out: list[CloudEvent] = []
    for seconds, fields in steps:
        out.extend(zadarma.handle(request(fields, T0 + timedelta(seconds=seconds))).events)
    return out


CALL = {
    "pbx_call_id": "in_1",
    "caller_id": "79161234567",
    "called_did": "74951110001",
    "call_start": "2026-11-23 11:00:00",
}


def answered_call() -> list[tuple[int, dict[str, str]]]:
    return [
        (0, {**CALL, "event": "NOTIFY_START"}),
        (1, {**CALL, "event": "NOTIFY_INTERNAL", "internal": "101"}),
        (2, {**CALL, "event": "NOTIFY_INTERNAL", "internal": "102"}),
        (9, {**CALL, "event": "NOTIFY_ANSWER", "internal": "101", "destination": "101"}),
        (
            69,
            {
                **CALL,
                "event": "NOTIFY_END",
                "internal": "101",
                "duration": "60",
                "disposition": "answered",
                "is_recorded": "1",
                "call_id_with_rec": "1795420800.777",
            },
        ),
    ]
