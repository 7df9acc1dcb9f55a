"""MegaFon VPBX (ITooLabs CRM API) as it posts to kolokol: token-bearing forms, the notifications of
typical calls, and requests for the adapter on its own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from kolokol.phones import PhoneNormalizer
from pbx.webhooks.base import WebhookRequest
from pbx.webhooks.megafon_vats import MegafonVats
from tests.support.webhooks import Hook

TOKEN = "test-crm-token"
FORM = "application/x-www-form-urlencoded"
START = "20261120T080000Z"  # 2026-11-20 08:00:00 UTC, well before the events arrive in these tests
CALLER = "79161234567"
DID = "74951110001"
LINE = "74951110002"
Fields = dict[str, Any]


def form(fields: Fields, *, token: str | None = TOKEN) -> bytes:
    body = dict(fields)
    if token is not None:
        body["crm_token"] = token
    return urlencode(body).encode()


def event(callid: str, kind: str, ext: str, *, direction: str = "in", **extra: Any) -> Fields:
    return {
        "cmd": "event",
        "type": kind,
        "phone": CALLER,
        "diversion": DID if direction == "in" else "",
        "user": f"user{ext}",
        "ext": ext,
        "groupRealName": "Регистратура",
        "telnum": "",
        "direction": direction,
        "callid": callid,
        **extra,
    }


def history(
    callid: str, status: str, *, type_: str = "in", duration: int = 0, ext: str = "", **extra: Any
) -> Fields:
    return {
        "cmd": "history",
        "type": type_,
        "user": f"user{ext}" if ext else "",
        "ext": ext,
        "groupRealName": "Регистратура",
        "telnum": "",
        "phone": CALLER,
        "diversion": DID if type_ == "in" else "",
        "start": START,
        "duration": duration,
        "callid": callid,
        "status": status,
        **extra,
    }


def inbound_answered(callid: str = "CALL-1") -> list[Fields]:
    return [
        event(callid, "INCOMING", "101"),
        event(callid, "INCOMING", "102"),
        event(callid, "ACCEPTED", "101"),
        event(callid, "CANCELLED", "102"),
        event(callid, "COMPLETED", "101"),
        history(
            callid, "Success", duration=60, wait=12, ext="101", link="https://clinic.megapbx.ru/rec/1.mp3"
        ),
    ]


def inbound_missed(callid: str = "MISS-1") -> list[Fields]:
    return [
        event(callid, "INCOMING", "101"),
        event(callid, "INCOMING", "102"),
        event(callid, "CANCELLED", "101"),
        event(callid, "CANCELLED", "102"),
        history(callid, "missed", ext="101", wait=25),
    ]


async def post(hook: Hook, fields: Fields, **kw: Any) -> tuple[int, bytes]:
    return await hook.send("POST", "/", body=form(fields, **kw), content_type=FORM)


async def deliver(hook: Hook, all_fields: list[Fields]) -> None:
    for fields in all_fields:
        status, body = await post(hook, fields)
        assert status == 200, body


T0 = datetime(2026, 11, 23, 8, 0, 0, tzinfo=UTC)
PHONES = PhoneNormalizer("RU")
HOOK = MegafonVats(TOKEN, PHONES.e164)


def request(fields: dict[str, Any], at: datetime = T0, *, token: str | None = TOKEN) -> WebhookRequest:
    body = dict(fields) | ({"crm_token": token} if token is not None else {})
    return WebhookRequest(
        method="POST",
        path="/",
        raw_query="",
        headers={"content-type": "application/x-www-form-urlencoded"},
        body=urlencode(body).encode(),
        content_type="application/x-www-form-urlencoded",
        remote="193.201.230.155",
        received_at=at,
    )
