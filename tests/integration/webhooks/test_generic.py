"""The generic format: signed with HMAC-SHA256 or delivered to a secret URL, for any other PBX."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.providers.generic import CALLER, LINE, answered_with_transfer, ev
from tests.support.webhooks import ClientMaker, Hook, make_hook, shuffled

SECRET = "generic-test-secret-0123456789"
TOKEN = "u" * 8 + "0123456789abcdef0123456789abcdef"


def signed(body: bytes, *, secret: str = SECRET, stamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if stamp is None else stamp)
    mac = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Kolokol-Timestamp": ts, "X-Kolokol-Signature": f"sha256={mac}"}


@pytest.fixture
async def hook(db_url: str, aiohttp_client: ClientMaker) -> Hook:
    return await make_hook(aiohttp_client, db_url, "generic", {"secret": SECRET, "url_token": TOKEN})


async def post(
    hook: Hook, payload: Any, path: str = "/", headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    body = json.dumps(payload).encode()
    status, reply = await hook.send(
        "POST",
        path,
        body=body,
        content_type="application/json",
        headers=signed(body) if headers is None else headers,
    )
    return status, reply


async def test_answered_call_with_transfer_and_recording(hook: Hook) -> None:
    status, _ = await post(hook, answered_with_transfer())
    assert status == 200
    [call] = await hook.calls()
    assert (call["pbx"], call["pbx_call_id"], call["direction"]) == ("generic", "c1", "inbound")
    assert (call["caller"], call["called"], call["caller_name"]) == (CALLER, LINE, "Пётр")
    assert (call["status"], call["answered_by"], call["operator"]) == ("answered", "102", "103")
    assert call["rang"] == ["101", "102"]
    assert call["transfers"] == [
        {"from": "102", "to": "103", "kind": "blind", "at": "2026-11-23T09:01:00.000Z"}
    ]
    assert (call["wait_seconds"], call["talk_seconds"]) == (15.0, 120.0)
    assert call["recording"]["provider_ref"] == {
        "provider": "generic",
        "id": "r-1",
        "url": "https://pbx.example/r-1.mp3",
        "duration_seconds": 120,
    }


@pytest.mark.parametrize(
    ("extra", "where", "disposition"),
    [
        ([ev("m", 2, "call.ivr", "00:01")], "ivr", "caller_hangup"),
        ([ev("m", 2, "call.ivr", "00:01"), ev("m", 3, "call.queued", "00:05")], "queue", "caller_hangup"),
        ([ev("m", 3, "call.ringing", "00:05", extension="101")], "ringing", "caller_hangup"),
    ],
)
async def test_missed_inbound_calls_say_where_and_open_a_task(
    hook: Hook, extra: list[dict[str, Any]], where: str, disposition: str
) -> None:
    events = [
        ev("m", 1, "call.started", "00:00", direction="inbound", **{"from": CALLER, "to": LINE}),
        *extra,
        ev("m", 9, "call.ended", "00:30", reason="caller_hangup"),
    ]
    assert (await post(hook, events))[0] == 200
    [call] = await hook.calls()
    assert (call["status"], call["missed_where"], call["disposition"]) == ("missed", where, disposition)
    assert call["callback_task"]["status"] == "open"


async def test_outbound_answered_and_busy(hook: Hook) -> None:
    out = {"direction": "outbound", "from": LINE, "to": CALLER, "extension": "101"}
    await post(
        hook,
        [
            ev("o1", 1, "call.started", "00:00", **out),
            ev("o1", 2, "call.answered", "00:07", direction="outbound"),
            ev("o1", 3, "call.ended", "01:07"),
        ],
    )
    await post(
        hook, [ev("o2", 1, "call.started", "05:00", **out), ev("o2", 2, "call.ended", "05:04", reason="busy")]
    )
    answered, busy = await hook.calls()
    assert (answered["status"], answered["operator"], answered["called"], answered["talk_seconds"]) == (
        "answered",
        "101",
        CALLER,
        60.0,
    )
    assert (busy["status"], busy["disposition"]) == ("unanswered", "busy")
    assert busy["callback_task"] is None


@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_order_and_duplicates_do_not_matter(hook: Hook, seed: int) -> None:
    events = answered_with_transfer()
    for one in shuffled(events + events[2:5], seed):
        assert (await post(hook, one))[0] == 200
    [call] = await hook.calls()
    assert (call["answered_by"], call["operator"], call["rang"]) == ("102", "103", ["101", "102"])
    assert await hook.stored_events() == len(events)


async def test_secret_url_needs_no_signature_but_the_right_token(hook: Hook) -> None:
    events = answered_with_transfer("via-url")
    assert (await post(hook, events, path=f"/{TOKEN}", headers={}))[0] == 200
    status, reply = await post(hook, events, path=f"/{TOKEN[:-1]}x", headers={})
    assert (status, json.loads(reply)["error"]) == (403, "unknown-url")
    assert [c["pbx_call_id"] for c in await hook.calls()] == ["via-url"]


async def test_signature_failures_are_refused_and_store_nothing(hook: Hook) -> None:
    body = json.dumps(answered_with_transfer()).encode()
    cases = [
        ({}, 401, "bad-signature"),
        (signed(body, secret="not-the-secret-at-all"), 401, "bad-signature"),
        (signed(body + b" "), 401, "bad-signature"),
        (signed(body, stamp=int(time.time()) - 3600), 401, "stale-timestamp"),
        (signed(body, stamp=int(time.time()) + 3600), 401, "stale-timestamp"),
    ]
    for headers, status, error in cases:
        got, reply = await hook.send("POST", "/", body=body, content_type="application/json", headers=headers)
        assert (got, json.loads(reply)["error"]) == (status, error)
    assert await hook.calls() == [] and await hook.stored_events() == 0


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"{nope", "invalid-json"),
        (b"[]", "invalid-json"),
        (b"42", "invalid-json"),
        (
            json.dumps({"event_id": "1", "call_id": "x", "type": "call.exploded", "at": 1795420800}).encode(),
            "malformed-event",
        ),
        (
            json.dumps({"event_id": "1", "call_id": "x", "type": "call.started", "at": "yesterday"}).encode(),
            "malformed-event",
        ),
        (json.dumps({"event_id": "1", "type": "call.ended", "at": 1795420800}).encode(), "malformed-event"),
        (json.dumps([ev("x", 1, "call.ended", "00:00"), {"call_id": "x"}]).encode(), "malformed-event"),
        (
            json.dumps([ev("x", n, "call.ringing", "00:00", extension="1") for n in range(101)]).encode(),
            "too-many-events",
        ),
    ],
)
async def test_malformed_bodies_get_400_and_nothing_partial(hook: Hook, payload: bytes, error: str) -> None:
    status, reply = await hook.send(
        "POST", "/", body=payload, content_type="application/json", headers=signed(payload)
    )
    assert (status, json.loads(reply)["error"]) == (400, error)
    assert await hook.stored_events() == 0


async def test_wrong_method_type_and_size(hook: Hook) -> None:
    assert (await hook.send("GET", "/"))[0] == 405
    body = b"event_id=1"
    assert (
        await hook.send(
            "POST", "/", body=body, content_type="application/x-www-form-urlencoded", headers=signed(body)
        )
    )[0] == 415
    big = b"[" + b" " * 70_000 + b"]"
    status, reply = await hook.send(
        "POST", "/", body=big, content_type="application/json", headers=signed(big)
    )
    assert (status, json.loads(reply)["error"]) == (413, "body-too-large")


async def test_lost_end_event_closes_by_timeout(hook: Hook) -> None:
    events = answered_with_transfer("lost")
    await post(hook, events[:5])
    assert await hook.calls() == []
    assert await hook.sweep(datetime.now(UTC) + timedelta(hours=5)) == 1
    [call] = await hook.calls()
    assert call["closed_by_timeout"] is True and call["status"] == "answered"
    await post(hook, events[5:])
    [call] = await hook.calls()
    assert call["closed_by_timeout"] is False and call["operator"] == "103"


async def test_only_allowed_addresses_may_deliver(db_url: str, aiohttp_client: ClientMaker) -> None:
    hook = await make_hook(
        aiohttp_client, db_url, "generic", {"secret": SECRET, "allow_ips": ["10.9.8.0/24"]}
    )
    status, reply = await post(hook, answered_with_transfer())
    assert (status, json.loads(reply)["error"]) == (403, "address-not-allowed")
    assert await hook.stored_events() == 0
