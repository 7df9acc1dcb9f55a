"""Telnyx Call Control through the real app: signed JSON events in; call records, contacts, tasks out."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.clock import Clock
from tests.support.providers.telnyx import (
    CALLER,
    DID,
    KEY,
    PUBLIC_KEY,
    T0,
    Event,
    ev,
    hangup,
    inbound_answered,
    inbound_missed_ringing,
    initiated,
    operator_leg,
    outbound,
    sip_connection_call,
)
from tests.support.webhooks import ClientMaker, Hook, make_hook, shuffled

OTHER_KEY = Ed25519PrivateKey.generate()


# When these webhooks reach kolokol: the app's clock stands here, and requests are signed at it.
ARRIVAL = T0 + timedelta(minutes=2)


@pytest.fixture
async def telnyx(db_url: str, aiohttp_client: ClientMaker) -> Hook:
    return await make_hook(aiohttp_client, db_url, "telnyx", {"public_key": PUBLIC_KEY}, clock=Clock(ARRIVAL))


def body_of(event: Event) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def now() -> int:
    return int(ARRIVAL.timestamp())


def signed(body: bytes, *, timestamp: int | None = None, key: Ed25519PrivateKey = KEY) -> dict[str, str]:
    ts = str(now() if timestamp is None else timestamp)
    signature = key.sign(ts.encode() + b"|" + body)
    return {"telnyx-signature-ed25519": base64.b64encode(signature).decode(), "telnyx-timestamp": ts}


async def post(
    hook: Hook, body: bytes, headers: dict[str, str] | None = None, path: str = "/"
) -> tuple[int, bytes]:
    return await hook.send(
        "POST",
        path,
        body=body,
        content_type="application/json",
        headers=signed(body) if headers is None else headers,
    )


async def deliver(hook: Hook, events: list[Event]) -> None:
    for event in events:
        status, reply = await post(hook, body_of(event))
        assert status == 200, reply


async def test_inbound_answered_by_an_operator_with_recording(telnyx: Hook) -> None:
    await telnyx.add_contact("p1", "Анна Петрова", ["+7 916 123-45-67"])
    await deliver(telnyx, inbound_answered())
    [call] = await telnyx.calls()
    assert (call["pbx"], call["pbx_call_id"]) == ("telnyx", "sess-answered")
    assert (call["direction"], call["status"], call["disposition"]) == ("inbound", "answered", "answered")
    assert (call["caller"], call["called"], call["caller_name"]) == (CALLER, DID, "Анна")
    assert (call["answered_by"], call["operator"], call["rang"]) == ("101", "101", ["101", "102"])
    assert call["started_at"] == "2026-11-23T08:00:00.000Z" and call["ended_at"] == "2026-11-23T08:01:12.000Z"
    assert (call["wait_seconds"], call["talk_seconds"]) == (12.0, 60.0), (
        "the IVR answer at 1 s is not the answer"
    )
    assert [c["name"] for c in call["contacts"]] == ["Анна Петрова"]
    ref = call["recording"]["provider_ref"]
    assert ref["provider"] == "telnyx" and ref["recording_urls"]["mp3"].startswith(
        "https://s3.example/rec.mp3"
    )
    assert ref["expires_at"] == "2026-11-23T08:11:15.000Z"
    assert ref["recording_started_at"] == "2026-11-23T08:00:12.000Z"
    assert call["callback_task"] is None and call["closed_by_timeout"] is False


async def test_missed_while_ringing_opens_a_callback_task(telnyx: Hook) -> None:
    await telnyx.add_contact("p1", "Анна Петрова", [CALLER])
    await deliver(telnyx, inbound_missed_ringing())
    [call] = await telnyx.calls()
    assert (call["status"], call["disposition"], call["missed_where"]) == ("missed", "no_answer", "ringing")
    assert call["rang"] == ["101"] and call["operator"] is None and call["answered_by"] is None
    assert call["talk_seconds"] == 0 and call["wait_seconds"] == 40.0
    assert call["callback_task"]["status"] == "open" and call["callback_task"]["number"] == CALLER
    assert [c["name"] for c in call["contacts"]] == ["Анна Петрова"]


@pytest.mark.parametrize(
    ("cause", "sip", "disposition"),
    [
        ("user_busy", "486", "busy"),
        ("call_rejected", "603", "failed"),
        ("originator_cancel", "487", "caller_hangup"),
        ("no_answer", "", "no_answer"),
        ("not_found", "404", "failed"),
    ],
)
async def test_operator_leg_outcome_decides_the_miss(
    telnyx: Hook, cause: str, sip: str, disposition: str
) -> None:
    await deliver(telnyx, inbound_missed_ringing(f"sess-{cause}", cause, sip))
    [call] = await telnyx.calls()
    assert (call["status"], call["disposition"], call["missed_where"]) == ("missed", disposition, "ringing")


async def test_caller_leaving_the_ivr_is_missed_in_the_ivr(telnyx: Hook) -> None:
    s = "sess-ivr"
    await deliver(
        telnyx,
        [
            initiated(s, "A", 0, "incoming", CALLER, DID),
            ev("call.answered", s, "A", 1),
            ev("call.dtmf.received", s, "A", 5, digit="1"),
            hangup(s, "A", 20, "normal_clearing", "caller"),
        ],
    )
    [call] = await telnyx.calls()
    assert (call["status"], call["disposition"], call["missed_where"]) == ("missed", "caller_hangup", "ivr")
    assert call["rang"] == [] and call["callback_task"]["status"] == "open"


async def test_caller_hanging_up_before_any_answer_is_missed_while_ringing(telnyx: Hook) -> None:
    s = "sess-cancel"
    await deliver(
        telnyx,
        [
            initiated(s, "A", 0, "incoming", CALLER, DID),
            hangup(s, "A", 15, "originator_cancel", "caller", "487"),
        ],
    )
    [call] = await telnyx.calls()
    assert (call["status"], call["disposition"], call["missed_where"]) == (
        "missed",
        "caller_hangup",
        "ringing",
    )


async def test_when_the_phone_rings_directly_the_incoming_answer_counts(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    hook = await make_hook(
        aiohttp_client,
        db_url,
        "telnyx",
        {"public_key": PUBLIC_KEY, "app_answers_inbound": False},
        clock=Clock(ARRIVAL),
    )
    await deliver(hook, sip_connection_call("sess-direct"))
    [call] = await hook.calls()
    assert (call["status"], call["answered_by"], call["operator"]) == ("answered", "103", "103")
    assert (call["wait_seconds"], call["talk_seconds"]) == (10.0, 40.0)
    assert call["callback_task"] is None


async def test_when_the_app_answers_the_same_call_is_an_ivr_miss(telnyx: Hook) -> None:
    await deliver(telnyx, sip_connection_call("sess-app"))
    [call] = await telnyx.calls()
    assert (call["status"], call["missed_where"], call["operator"]) == ("missed", "ivr", None)


async def test_outbound_answered(telnyx: Hook) -> None:
    await deliver(telnyx, outbound("sess-out", answered_at=9, cause="normal_clearing", end=99))
    [call] = await telnyx.calls()
    assert (call["direction"], call["status"], call["disposition"]) == ("outbound", "answered", "answered")
    assert (call["caller"], call["called"], call["operator"]) == (DID, CALLER, "101")
    assert (call["wait_seconds"], call["talk_seconds"]) == (9.0, 90.0)
    assert call["answered_by"] is None and call["callback_task"] is None


@pytest.mark.parametrize(
    ("cause", "sip", "disposition"),
    [
        ("user_busy", "486", "busy"),
        ("timeout", "", "no_answer"),
        ("no_answer", "480", "no_answer"),
        ("originator_cancel", "487", "caller_hangup"),
        ("unspecified", "503", "failed"),
    ],
)
async def test_outbound_not_answered(telnyx: Hook, cause: str, sip: str, disposition: str) -> None:
    await deliver(telnyx, outbound(f"sess-out-{cause}", answered_at=None, cause=cause, end=20, sip=sip))
    [call] = await telnyx.calls()
    assert (call["direction"], call["status"], call["disposition"]) == ("outbound", "unanswered", disposition)
    assert call["talk_seconds"] == 0 and call["callback_task"] is None and await telnyx.tasks() == []


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_any_order_duplicates_and_retries_give_the_same_record(telnyx: Hook, seed: int) -> None:
    events = inbound_answered()
    retries = [{**e, "meta": {**e["meta"], "attempt": 2}} for e in events[::2]]
    await deliver(telnyx, shuffled(events + events[:3] + retries, seed))
    [call] = await telnyx.calls()
    assert (call["status"], call["answered_by"], call["operator"], call["rang"]) == (
        "answered",
        "101",
        "101",
        ["101", "102"],
    )
    assert (call["started_at"], call["talk_seconds"]) == ("2026-11-23T08:00:00.000Z", 60.0)
    assert call["recording"]["provider_ref"]["expires_at"] == "2026-11-23T08:11:15.000Z"
    assert call["closed_by_timeout"] is False
    assert await telnyx.stored_events() == len(events)


async def test_call_waits_for_every_leg_then_timeout_then_late_hangup_corrects(telnyx: Hook) -> None:
    events = inbound_answered("sess-late")
    callers_hangup = events[8]
    assert callers_hangup["data"]["payload"]["call_leg_id"] == "A"
    await deliver(telnyx, [e for e in events if e is not callers_hangup])
    assert await telnyx.calls() == [], "the caller's leg is still up: no record yet"
    assert await telnyx.sweep(ARRIVAL + timedelta(minutes=1)) == 0
    assert await telnyx.sweep(ARRIVAL + timedelta(hours=5)) == 1
    [call] = await telnyx.calls()
    assert call["closed_by_timeout"] is True and call["status"] == "answered" and call["answered_by"] == "101"
    await deliver(telnyx, [callers_hangup])
    [call] = await telnyx.calls()
    assert call["closed_by_timeout"] is False and call["talk_seconds"] == 60.0


async def test_timed_out_miss_corrected_by_late_events_cancels_its_task(telnyx: Hook) -> None:
    s = "sess-late2"
    await deliver(telnyx, [initiated(s, "A", 0, "incoming", CALLER, DID), ev("call.answered", s, "A", 1)])
    await telnyx.sweep(ARRIVAL + timedelta(hours=5))
    [call] = await telnyx.calls()
    assert (call["status"], call["missed_where"], call["closed_by_timeout"]) == ("missed", "ivr", True)
    assert call["callback_task"]["status"] == "open"
    await deliver(
        telnyx,
        [
            operator_leg(s, "B", 5, "104"),
            ev("call.answered", s, "B", 9),
            hangup(s, "B", 50, "normal_clearing"),
            hangup(s, "A", 50, "normal_clearing"),
        ],
    )
    [call] = await telnyx.calls()
    assert (call["status"], call["operator"], call["closed_by_timeout"]) == ("answered", "104", False)
    assert call["callback_task"]["status"] == "cancelled"
    assert [t["status"] for t in await telnyx.tasks()] == ["cancelled"]


GOOD = body_of(inbound_missed_ringing("sess-forged")[0])


FORGERIES: dict[str, tuple[Callable[[], dict[str, str]], str]] = {
    "none": (lambda: {}, "bad-signature"),
    "no-signature": (lambda: {"telnyx-timestamp": str(now())}, "bad-signature"),
    "no-timestamp": (
        lambda: {"telnyx-signature-ed25519": signed(GOOD)["telnyx-signature-ed25519"]},
        "bad-signature",
    ),
    "other-key": (lambda: signed(GOOD, key=OTHER_KEY), "bad-signature"),
    "body-changed": (lambda: signed(GOOD + b" "), "bad-signature"),
    "timestamp-changed": (lambda: {**signed(GOOD), "telnyx-timestamp": str(now() + 1)}, "bad-signature"),
    "garbage": (lambda: {**signed(GOOD), "telnyx-signature-ed25519": "not base64!"}, "bad-signature"),
    "wrong-bytes": (
        lambda: {**signed(GOOD), "telnyx-signature-ed25519": base64.b64encode(b"x" * 64).decode()},
        "bad-signature",
    ),
    "stale": (lambda: signed(GOOD, timestamp=now() - 301), "stale-timestamp"),
    "future": (lambda: signed(GOOD, timestamp=now() + 400), "stale-timestamp"),
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
async def test_forged_and_stale_requests_are_refused_and_change_nothing(telnyx: Hook, forgery: str) -> None:
    make_headers, error = FORGERIES[forgery]
    status, reply = await post(telnyx, GOOD, make_headers())
    assert (status, json.loads(reply)["error"]) == (401, error)
    assert await telnyx.calls() == [] and await telnyx.stored_events() == 0


async def test_a_replay_after_the_window_is_refused(db_url: str, aiohttp_client: ClientMaker) -> None:
    clock = Clock(ARRIVAL)
    settings = {"public_key": PUBLIC_KEY, "tolerance_seconds": 1}
    hook = await make_hook(aiohttp_client, db_url, "telnyx", settings, clock=clock)
    headers = signed(GOOD)
    assert (await post(hook, GOOD, headers))[0] == 200
    clock.advance(seconds=1)
    assert (await post(hook, GOOD, headers))[0] == 200, "at the window's edge: accepted (stored once)"
    clock.advance(seconds=1)
    status, reply = await post(hook, GOOD, headers)
    assert (status, json.loads(reply)["error"]) == (401, "stale-timestamp")
    assert await hook.stored_events() == 1


def raw_signed(text: str | bytes) -> tuple[bytes, dict[str, str]]:
    body = text.encode() if isinstance(text, str) else text
    return body, signed(body)


def broken(**changes: Any) -> str:
    event = inbound_missed_ringing("sess-bad")[0]
    data = event["data"]
    for name, value in changes.items():
        target = (
            data["payload"]
            if name in ("call_session_id", "call_leg_id", "direction", "from", "client_state")
            else data
        )
        if value is None:
            target.pop(name)
        else:
            target[name] = value
    return json.dumps(event)


@pytest.mark.parametrize(
    ("path", "text", "content_type", "status"),
    [
        ("/", "{not json", "application/json", 400),
        ("/", "[1, 2]", "application/json", 400),
        ("/", '{"data": "call.initiated"}', "application/json", 400),
        ("/", broken(call_session_id=None), "application/json", 400),
        ("/", broken(call_leg_id=None), "application/json", 400),
        ("/", broken(direction="sideways"), "application/json", 400),
        ("/", broken(occurred_at="yesterday"), "application/json", 400),
        ("/", broken(occurred_at="2026-11-23T08:00:00"), "application/json", 400),
        ("/", broken(id=None), "application/json", 400),
        ("/", broken(payload=[1]), "application/json", 400),
        ("/", broken(**{"from": {"number": CALLER}}), "application/json", 400),
        ("/", broken(client_state=17), "application/json", 400),
        ("/", broken(), "application/x-www-form-urlencoded", 415),
        ("/", "x" * 70000, "application/json", 413),
        ("/voice", broken(), "application/json", 404),
    ],
)
async def test_bad_input_gets_a_clear_4xx(
    telnyx: Hook, path: str, text: str, content_type: str, status: int
) -> None:
    body, headers = raw_signed(text)
    got, reply = await telnyx.send("POST", path, body=body, content_type=content_type, headers=headers)
    assert got == status, reply
    assert "error" in json.loads(reply)
    assert await telnyx.stored_events() == 0


async def test_wrong_method_is_refused(telnyx: Hook) -> None:
    status, reply = await telnyx.send("GET", "/", headers=signed(b""))
    assert (status, json.loads(reply)["error"]) == (405, "method-not-allowed")


@pytest.mark.parametrize(
    "kind",
    [
        "call.dtmf.received",
        "call.machine.detection.ended",
        "call.speak.ended",
        "call.playback.started",
        "call.gather.ended",
        "call.cost",
    ],
)
async def test_other_event_types_get_200_and_are_not_stored(telnyx: Hook, kind: str) -> None:
    status, _ = await post(telnyx, body_of(ev(kind, "sess-other", "A", 3)))
    assert status == 200
    assert await telnyx.stored_events() == 0 and await telnyx.calls() == []


async def test_unsigned_unknown_event_is_still_refused(telnyx: Hook) -> None:
    status, _ = await post(telnyx, body_of(ev("call.dtmf.received", "s", "A", 3)), headers={})
    assert status == 401


async def test_address_outside_the_allow_list_is_refused(db_url: str, aiohttp_client: ClientMaker) -> None:
    settings = {"public_key": PUBLIC_KEY, "allow_ips": ["10.9.8.0/24"]}
    hook = await make_hook(aiohttp_client, db_url, "telnyx", settings, clock=Clock(ARRIVAL))
    status, reply = await post(hook, GOOD)
    assert (status, json.loads(reply)["error"]) == (403, "address-not-allowed")
    assert await hook.stored_events() == 0
