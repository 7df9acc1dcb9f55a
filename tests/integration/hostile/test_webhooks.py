"""Validly signed webhooks carrying what no database or screen can hold, numbers nobody can read and times
nobody lives in: a 400 naming the field, nothing of that request stored, and every other call built as
usual (a 503 would make the PBX deliver the same request forever)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from kolokol.app_keys import INTAKE
from pbx.webhooks.base import CloudEvent
from tests.support.hostile import exchange, request_head
from tests.support.providers import mango_office, twilio, zadarma
from tests.support.providers.generic import CALLER, LINE, answered_with_transfer, ev
from tests.support.webhooks import ClientMaker, Hook, make_hook

SECRET = "generic-test-secret-0123456789"
FORM = "application/x-www-form-urlencoded"


def signed(body: bytes, stamp: str | None = None) -> dict[str, str]:
    ts = stamp if stamp is not None else str(int(time.time()))
    mac = hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Kolokol-Timestamp": ts, "X-Kolokol-Signature": f"sha256={mac}"}


async def post_text(hook: Hook, text: str, stamp: str | None = None) -> tuple[int, Any]:
    body = text.encode()
    status, reply = await hook.send(
        "POST", "/", body=body, content_type="application/json", headers=signed(body, stamp)
    )
    return status, json.loads(reply) if reply else None


async def post(hook: Hook, payload: Any) -> tuple[int, Any]:
    return await post_text(hook, json.dumps(payload))


@pytest.fixture
async def generic(db_url: str, aiohttp_client: ClientMaker) -> Hook:
    return await make_hook(aiohttp_client, db_url, "generic", {"secret": SECRET})


def started(call: str, **fields: Any) -> dict[str, Any]:
    parties = {"from": CALLER, "to": LINE, "caller_name": "Пётр"}
    return ev(call, 1, "call.started", "00:00", direction="inbound", **{**parties, **fields})


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (started("c2", caller_name="\ud800"), "caller_name"),
        (started("\ud800"), "call_id"),
        (started("c2", caller_name="Пётр\x00"), "caller_name"),
        (started("c2", **{"from": "\udfff"}), "from"),
        (ev("c2", 2, "call.ringing", "00:05", extension="10\x001"), "extension"),
        (started("c2", caller_name="Я" * 201), "caller_name"),
        ({**started("c2"), "at": "9999-12-31T23:59:59-23:59"}, "at"),
        ({**started("c2"), "at": "0001-01-01T00:00:00+23:59"}, "at"),
        ({**started("c2"), "at": "3000-01-01T00:00:00Z"}, "at"),
        ({**started("c2"), "at": "1999-12-31T23:59:59Z"}, "at"),
        ({**started("c2"), "at": 32503680000}, "at"),
    ],
)
async def test_a_signed_event_that_cannot_be_stored_is_a_400_and_other_calls_are_built(
    generic: Hook, event: dict[str, Any], field: str
) -> None:
    assert (await post(generic, answered_with_transfer("c1")))[0] == 200
    stored = await generic.stored_events()
    status, body = await post(generic, event)
    assert (status, body["details"]) == (400, {"field": field}), body
    # In a batch the field is named by its event's place.
    status, body = await post(generic, [started("c4"), event])
    assert (status, body["details"]) == (400, {"field": f"[1].{field}"}), body
    assert await generic.stored_events() == stored, "nothing of the refused request is stored"
    assert (await post(generic, answered_with_transfer("c3")))[0] == 200
    calls = await generic.calls()
    assert [c["pbx_call_id"] for c in calls] == ["c1", "c3"]
    assert all(c["caller_name"] == "Пётр" for c in calls)


@pytest.mark.parametrize(
    "text",
    [
        '{"event_id": "e", "call_id": "c", "type": "call.started", "at": 1e999, "direction": "inbound"}',
        '{"event_id": "e", "call_id": "c", "type": "call.started", "at": ' + "9" * 5000 + "}",
        "[" * 5000 + "]" * 5000,
    ],
)
async def test_numbers_nobody_can_read_and_deep_nesting_are_400s(generic: Hook, text: str) -> None:
    status, body = await post_text(generic, text)
    assert (status, body["error"]) == (400, "invalid-json"), body
    assert await generic.stored_events() == 0


@pytest.mark.parametrize("stamp", ["9" * 5000, "²" * 10, "１７９５４２０８００"])
async def test_a_timestamp_header_that_is_no_number_is_refused_as_unauthenticated(
    generic: Hook, stamp: str
) -> None:
    status, body = await post_text(generic, json.dumps(started("c1")), stamp=stamp)
    assert (status, body["error"]) == (401, "bad-signature")


async def test_header_bytes_that_are_not_utf8_are_a_400_not_a_500(generic: Hook) -> None:
    port = generic.client.server.port
    assert port is not None
    body = json.dumps(started("c1")).encode()
    head = request_head(
        "POST",
        "/webhooks/generic/",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Connection", "close")],
    )
    raw = head[:-2] + b"X-Kolokol-Signature: sha256=\xff\xfe\r\nX-Kolokol-Timestamp: 1\r\n\r\n" + body
    reply = await exchange(port, raw)
    assert (reply.status, reply.json()["error"]) == (400, "invalid-text")
    assert reply.json()["details"] == {"header": "X-Kolokol-Signature"}


async def test_an_event_stored_before_text_was_checked_is_still_built(generic: Hook) -> None:
    """Older versions stored a lone surrogate (JSON escapes it); the call must not stay unbuilt for good."""
    events = [
        CloudEvent(
            "old",
            f"old:{n}",
            item["type"],
            item["type"] == "call.ended",
            _at(item["at"]),
            {**item, "caller_name": "\ud800Пётр"} if item["type"] == "call.started" else item,
        )
        for n, item in enumerate(answered_with_transfer("old"))
    ]
    # Straight into the inbox, as the old entry let it through.
    await generic.app[INTAKE].submit("generic", events, _at("2026-11-23T09:03:00Z"))
    [call] = await generic.calls()
    assert call["pbx_call_id"] == "old" and call["caller_name"] == "\ufffdПётр"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---- the other providers -------------------------------------------------------------------------


@pytest.fixture
async def mango(db_url: str, aiohttp_client: ClientMaker) -> Hook:
    return await make_hook(
        aiohttp_client,
        db_url,
        "mango_office",
        {"vpbx_api_key": mango_office.KEY, "vpbx_api_salt": mango_office.SALT},
    )


def mango_form(json_text: str) -> bytes:
    sign = hashlib.sha256(f"{mango_office.KEY}{json_text}{mango_office.SALT}".encode()).hexdigest()
    return urlencode({"vpbx_api_key": mango_office.KEY, "sign": sign, "json": json_text}).encode()


@pytest.mark.parametrize(
    ("replace", "by"),
    [
        ('"end_time": 1795420872', '"end_time": ' + "9" * 5000),
        ('"end_time": 1795420872', '"end_time": 1e999'),
        ('"call_direction": 1', '"call_direction": 1e999'),
        ('"create_time": 1795420800', '"create_time": 32503680000'),
        ('"line_number": "74951110001"', '"line_number": ' + "[" * 5000 + "]" * 5000),
        ('"line_number": "74951110001"', '"line_number": "\\ud800"'),
    ],
)
async def test_mango_numbers_and_times_nobody_can_read_are_400s(mango: Hook, replace: str, by: str) -> None:
    path, summary = mango_office.summary("E1", talk=12, end=72)
    text = json.dumps(summary, separators=(", ", ": "), ensure_ascii=False)
    assert replace in text
    status, body = await mango.send(
        "POST", path, body=mango_form(text.replace(replace, by)), content_type=FORM
    )
    assert status == 400, body
    assert await mango.stored_events() == 0


@pytest.fixture
async def zadarma_hook(db_url: str, aiohttp_client: ClientMaker) -> Hook:
    return await make_hook(
        aiohttp_client, db_url, "zadarma", {"api_key": zadarma.KEY, "api_secret": zadarma.SECRET}
    )


@pytest.mark.parametrize("duration", ["²", "①", "9" * 5000, "-5", "1e999"])
async def test_a_zadarma_duration_that_is_no_number_is_a_400_and_the_real_end_still_counts(
    zadarma_hook: Hook, duration: str
) -> None:
    events = zadarma.inbound_answered("z1")
    [end] = [e for e in events if e["event"] == "NOTIFY_END"]
    steps = [e for e in events if e is not end]
    await zadarma.deliver(zadarma_hook, steps)
    stored = await zadarma_hook.stored_events()
    status, body = await zadarma.post(zadarma_hook, {**end, "duration": duration})
    assert status == 400, body
    assert await zadarma_hook.stored_events() == stored
    await zadarma.deliver(zadarma_hook, [end])
    [call] = await zadarma_hook.calls()
    assert call["status"] == "answered"


async def test_a_twilio_timestamp_at_the_end_of_the_calendar_is_a_400(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    settings = {
        "account_sid": twilio.SID,
        "auth_token": twilio.TOKEN,
        "public_base_url": twilio.BASE + "/",
        "ring": twilio.RING,
        "dial_timeout_seconds": 20,
        "record": True,
    }
    hook = await make_hook(aiohttp_client, db_url, "twilio", settings)
    path, query, params = twilio.parent("CA" + "a" * 32, 0, 73, "completed", duration=73)
    params["Timestamp"] = "Fri, 31 Dec 9999 23:59:59 -2359"
    request = twilio.request(path, params, base=twilio.BASE, query=query)
    status, body = await hook.send(
        "POST", path, body=request.body, content_type=FORM, headers=dict(request.headers), query=query
    )
    assert status == 400, body
    assert await hook.stored_events() == 0
