"""Twilio Programmable Voice through the real app: signed form posts in, TwiML, call records and tasks out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest

from tests.support.providers.twilio import (
    BASE,
    CALLER,
    DID,
    RING,
    SID,
    SIP101,
    TOKEN,
    Delivery,
    child,
    dial,
    inbound_answered,
    inbound_caller_gave_up,
    parent,
    stamp,
    voice,
)
from tests.support.webhooks import ClientMaker, Hook, make_hook, shuffled

FORM = "application/x-www-form-urlencoded"


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    payload = url + "".join(name + value for name, value in sorted(params.items()))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


@pytest.fixture
async def twilio(db_url: str, aiohttp_client: ClientMaker) -> Hook:
    settings = {
        "account_sid": SID,
        "auth_token": TOKEN,
        "public_base_url": BASE + "/",
        "ring": RING,
        "dial_timeout_seconds": 20,
        "record": True,
    }
    return await make_hook(aiohttp_client, db_url, "twilio", settings)


async def post(hook: Hook, delivery: Delivery, *, signature: str | None = None) -> tuple[int, bytes]:
    path, query, params = delivery
    url = f"{BASE}/webhooks/twilio{path}" + (f"?{query}" if query else "")
    headers = {"X-Twilio-Signature": signature if signature is not None else sign(url, params)}
    return await hook.send(
        "POST", path, body=urlencode(params).encode(), content_type=FORM, headers=headers, query=query
    )


async def deliver(hook: Hook, deliveries: list[Delivery]) -> None:
    for delivery in deliveries:
        status, body = await post(hook, delivery)
        assert status == 200, body


async def test_inbound_answered_names_the_operator_and_keeps_the_recording_reference(twilio: Hook) -> None:
    await twilio.add_contact("p1", "Анна Петрова", ["8 916 123-45-67"])
    await deliver(twilio, inbound_answered())
    [call] = await twilio.calls()
    assert call["pbx"] == "twilio" and call["pbx_call_id"] == "CA" + "a" * 32
    assert (call["direction"], call["status"], call["disposition"]) == ("inbound", "answered", "answered")
    assert (call["caller"], call["called"], call["caller_name"]) == (CALLER, DID, "PETROVA ANNA")
    assert (call["answered_by"], call["operator"], call["rang"]) == ("101", "101", ["101", "102"])
    assert (call["started_at"], call["answered_at"]) == (
        "2026-11-23T08:00:00.000Z",
        "2026-11-23T08:00:12.000Z",
    )
    assert call["ended_at"] == "2026-11-23T08:01:13.000Z"
    assert (call["wait_seconds"], call["talk_seconds"]) == (12.0, 61.0)
    assert [c["name"] for c in call["contacts"]] == ["Анна Петрова"]
    ref = call["recording"]["provider_ref"]
    assert (ref["recording_sid"], ref["status"], ref["duration_seconds"]) == (
        "RE" + "7" * 32,
        "completed",
        60,
    )
    assert ref["url"].startswith("https://api.twilio.com/") and ref["account_sid"] == SID
    assert TOKEN not in json.dumps(call)
    assert call["callback_task"] is None and call["closed_by_timeout"] is False


async def test_voice_replies_with_twiml_that_rings_every_extension(twilio: Hook) -> None:
    status, body = await post(twilio, voice("CA" + "1" * 32))
    assert status == 200
    [dial_verb] = list(ElementTree.fromstring(body))  # noqa: S314 -- kolokol's own TwiML
    assert dial_verb.attrib["action"] == f"{BASE}/webhooks/twilio/dial-action"
    assert (dial_verb.attrib["timeout"], dial_verb.attrib["record"]) == ("20", "record-from-answer")
    assert [(n.tag, n.text, n.attrib["statusCallback"]) for n in dial_verb] == [
        ("Sip", SIP101, f"{BASE}/webhooks/twilio/status?extension=101"),
        ("Client", "anna", f"{BASE}/webhooks/twilio/status?extension=102"),
    ]
    status, body = await post(twilio, dial("CA" + "1" * 32, "busy"))
    assert status == 200 and b"<Hangup/>" in body
    assert await twilio.stored_events() == 2 and await twilio.calls() == []


async def test_without_ring_targets_voice_is_not_served(db_url: str, aiohttp_client: ClientMaker) -> None:
    hook = await make_hook(
        aiohttp_client, db_url, "twilio", {"account_sid": SID, "auth_token": TOKEN, "public_base_url": BASE}
    )
    status, body = await post(hook, voice("CA" + "1" * 32))
    assert (status, json.loads(body)["error"]) == (404, "no-ring-targets")
    assert await hook.stored_events() == 0


async def test_caller_hanging_up_while_phones_ring_is_a_missed_call_with_a_task(twilio: Hook) -> None:
    await twilio.add_contact("p1", "Анна Петрова", [CALLER])
    await deliver(twilio, inbound_caller_gave_up())
    [call] = await twilio.calls()
    assert (call["status"], call["disposition"], call["missed_where"]) == (
        "missed",
        "caller_hangup",
        "ringing",
    )
    assert (call["operator"], call["answered_by"], call["rang"]) == (None, None, ["101", "102"])
    assert call["wait_seconds"] == 20.0 and call["talk_seconds"] == 0
    assert [c["name"] for c in call["contacts"]] == ["Анна Петрова"]
    assert call["callback_task"]["status"] == "open" and call["callback_task"]["number"] == CALLER
    assert [t["number"] for t in await twilio.tasks()] == [CALLER]


@pytest.mark.parametrize(
    ("dial_status", "disposition"), [("no-answer", "no_answer"), ("busy", "busy"), ("failed", "failed")]
)
async def test_dial_outcome_decides_how_a_ringing_miss_ended(
    twilio: Hook, dial_status: str, disposition: str
) -> None:
    call, leg = "CA" + "2" * 32, "CA" + "3" * 32
    await deliver(
        twilio,
        [
            voice(call),
            child(call, leg, "101", 0, 1, "ringing"),
            child(call, leg, "101", 1, 21, dial_status),
            dial(call, dial_status, leg=leg),
            parent(call, 0, 25, "completed", duration=25),
        ],
    )
    [record] = await twilio.calls()
    assert (record["status"], record["disposition"], record["missed_where"]) == (
        "missed",
        disposition,
        "ringing",
    )
    assert record["callback_task"]["status"] == "open"


async def test_caller_leaving_before_any_phone_rang_is_missed_in_the_ivr(twilio: Hook) -> None:
    # The clinic's own TwiML played a menu; only the number's status callback points at kolokol.
    call = "CA" + "4" * 32
    await deliver(twilio, [parent(call, 0, 15, "completed", duration=15)])
    [record] = await twilio.calls()
    assert (record["status"], record["disposition"], record["missed_where"]) == (
        "missed",
        "caller_hangup",
        "ivr",
    )
    assert (record["started_at"], record["ended_at"]) == (
        "2026-11-23T08:00:00.000Z",
        "2026-11-23T08:00:15.000Z",
    )
    assert record["callback_task"]["status"] == "open"


async def test_own_twiml_legs_without_extension_tag_are_recognised_by_ring_target(twilio: Hook) -> None:
    call, leg = "CA" + "5" * 32, "CA" + "6" * 32
    await deliver(
        twilio,
        [
            child(call, leg, "101", 0, 2, "ringing", tagged=False),
            child(call, leg, "101", 1, 6, "in-progress", tagged=False),
            child(call, leg, "101", 2, 36, "completed", duration=30, tagged=False),
            parent(call, 0, 36, "completed", duration=36),
        ],
    )
    [record] = await twilio.calls()
    assert (record["status"], record["answered_by"], record["rang"]) == ("answered", "101", ["101"])
    assert record["talk_seconds"] == 30.0


async def test_outbound_answered_names_the_extension_from_the_callback_url(twilio: Hook) -> None:
    call = "CA" + "7" * 32
    out: dict[str, Any] = {"direction": "outbound-api", "query": "extension=103", "frm": DID, "to": CALLER}
    await deliver(
        twilio,
        [
            parent(call, 0, 0, "initiated", **out),
            parent(call, 1, 2, "ringing", **out),
            parent(call, 2, 9, "in-progress", **out),
            parent(call, 3, 99, "completed", duration=90, **out),
        ],
    )
    [record] = await twilio.calls()
    assert (record["direction"], record["status"], record["disposition"]) == (
        "outbound",
        "answered",
        "answered",
    )
    assert (record["caller"], record["called"], record["operator"]) == (DID, CALLER, "103")
    assert (record["wait_seconds"], record["talk_seconds"]) == (9.0, 90.0)
    assert record["answered_by"] is None and record["callback_task"] is None


@pytest.mark.parametrize(
    ("final", "disposition"),
    [("busy", "busy"), ("no-answer", "no_answer"), ("canceled", "caller_hangup"), ("failed", "failed")],
)
async def test_outbound_unanswered(twilio: Hook, final: str, disposition: str) -> None:
    call = "CA" + "8" * 32
    out: dict[str, Any] = {"direction": "outbound-api", "query": "extension=103", "frm": DID, "to": CALLER}
    await deliver(
        twilio, [parent(call, 0, 0, "initiated", **out), parent(call, 1, 30, final, duration=0, **out)]
    )
    [record] = await twilio.calls()
    assert (record["status"], record["disposition"], record["operator"]) == ("unanswered", disposition, "103")
    assert record["missed_where"] is None and record["callback_task"] is None and await twilio.tasks() == []


async def test_answered_outbound_call_closes_the_task_of_an_earlier_miss(twilio: Hook) -> None:
    await deliver(twilio, inbound_caller_gave_up())
    call = "CA" + "9" * 32
    out: dict[str, Any] = {"direction": "outbound-api", "query": "extension=101", "frm": DID, "to": CALLER}
    await deliver(
        twilio,
        [parent(call, 0, 600, "in-progress", **out), parent(call, 1, 660, "completed", duration=60, **out)],
    )
    assert [t["status"] for t in await twilio.tasks()] == ["done"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_any_order_and_duplicates_give_the_same_record(twilio: Hook, seed: int) -> None:
    deliveries = inbound_answered()
    await deliver(twilio, shuffled(deliveries + deliveries[:5] + deliveries[-3:], seed))
    [call] = await twilio.calls()
    assert (call["status"], call["answered_by"], call["rang"]) == ("answered", "101", ["101", "102"])
    assert (call["started_at"], call["talk_seconds"]) == ("2026-11-23T08:00:00.000Z", 61.0)
    assert call["recording"]["provider_ref"]["status"] == "completed"
    assert await twilio.stored_events() == len(deliveries)


def forged(delivery: Delivery, **change: str) -> tuple[Delivery, str]:
    """The delivery as an attacker sends it: signed honestly, then changed (or the other way round)."""
    path, query, params = delivery
    signature = sign(f"{BASE}/webhooks/twilio{path}" + (f"?{query}" if query else ""), params)
    return (path, change.pop("query", query), {**params, **change}), signature


@pytest.mark.parametrize(
    ("delivery", "signature", "status", "error"),
    [
        (inbound_answered()[-1], "", 401, "bad-signature"),
        (
            inbound_answered()[-1],
            sign(f"{BASE}/webhooks/twilio/status", inbound_answered()[-1][2], "wrong"),
            401,
            "bad-signature",
        ),
        (*forged(inbound_answered()[-1], CallStatus="busy"), 401, "bad-signature"),
        (
            *forged(child("CAp", "CAc", "101", 1, 5, "in-progress"), query="extension=102"),
            401,
            "bad-signature",
        ),
        (*forged(inbound_answered()[-1], AccountSid="AC" + "f" * 32), 401, "bad-signature"),
    ],
)
async def test_forged_requests_are_refused_and_change_nothing(
    twilio: Hook, delivery: Delivery, signature: str, status: int, error: str
) -> None:
    got, body = await post(twilio, delivery, signature=signature)
    assert (got, json.loads(body)["error"]) == (status, error)
    assert await twilio.calls() == [] and await twilio.stored_events() == 0


async def test_a_signed_request_for_another_account_is_forbidden(twilio: Hook) -> None:
    path, query, params = inbound_answered()[-1]
    got, body = await post(twilio, (path, query, {**params, "AccountSid": "AC" + "f" * 32}))
    assert (got, json.loads(body)["error"]) == (403, "unknown-account")
    assert await twilio.stored_events() == 0


def signed_raw(path: str, body: bytes, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": sign(f"{BASE}/webhooks/twilio{path}", params)}


@pytest.mark.parametrize(
    ("method", "path", "params", "status"),
    [
        ("POST", "/status", {"AccountSid": SID, "CallStatus": "completed"}, 400),
        ("POST", "/status", {**parent("CAx", 0, 0, "completed")[2], "Timestamp": "yesterday-ish"}, 400),
        ("POST", "/status", {**parent("CAx", 0, 0, "completed")[2], "CallStatus": "exploded"}, 400),
        ("POST", "/status", {**parent("CAx", 0, 0, "completed")[2], "CallDuration": "12s"}, 400),
        ("POST", "/dial-action", {**dial("CAx", "busy")[2], "DialCallStatus": "maybe"}, 400),
        ("POST", "/dial-action", {"AccountSid": SID, "DialCallStatus": "busy"}, 400),
        ("POST", "/sms", {"AccountSid": SID}, 404),
        ("GET", "/status", {}, 405),
    ],
)
async def test_bad_input_gets_a_clear_4xx(
    twilio: Hook, method: str, path: str, params: dict[str, str], status: int
) -> None:
    body = urlencode(params).encode()
    got, reply = await twilio.send(
        method, path, body=body, content_type=FORM, headers=signed_raw(path, body, params)
    )
    assert got == status, reply
    assert json.loads(reply)["error"]
    assert await twilio.stored_events() == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"CallSid": "CA1"}', "application/json", 415),
        (b"CallSid=CA1", "text/plain", 415),
        (b"CallSid=\xff\xfe", FORM, 400),
        (b"CallSid=CA1&&=x", FORM, 400),
        (b"CallSid=" + b"x" * 70000, FORM, 413),
    ],
)
async def test_unreadable_bodies_are_refused(
    twilio: Hook, body: bytes, content_type: str, status: int
) -> None:
    got, reply = await twilio.send(
        "POST", "/status", body=body, content_type=content_type, headers={"X-Twilio-Signature": "x"}
    )
    assert got == status, reply
    assert await twilio.stored_events() == 0


async def test_callbacks_that_are_not_call_progress_get_200_and_are_ignored(twilio: Hook) -> None:
    amd = {
        "AccountSid": SID,
        "CallSid": "CA1",
        "AnsweredBy": "machine_start",
        "MachineDetectionDuration": "2100",
    }
    status, _ = await post(twilio, ("/status", "", amd))
    assert status == 200
    conference = {
        "AccountSid": SID,
        "ConferenceSid": "CF1",
        "StatusCallbackEvent": "participant-join",
        "CallSid": "CA1",
        "Timestamp": stamp(0),
    }
    status, _ = await post(twilio, ("/status", "", conference))
    assert status == 200 and await twilio.stored_events() == 0


async def test_call_without_its_final_status_is_closed_by_timeout_then_corrected(twilio: Hook) -> None:
    deliveries = inbound_answered("CA" + "0" * 32)
    await deliver(twilio, deliveries[:-1])
    assert await twilio.calls() == []
    assert await twilio.sweep(datetime.now(UTC) + timedelta(hours=5)) == 1
    [call] = await twilio.calls()
    assert call["closed_by_timeout"] is True
    assert (call["status"], call["answered_by"], call["answered_at"]) == (
        "answered",
        "101",
        "2026-11-23T08:00:12.000Z",
    )
    await deliver(twilio, deliveries[-1:])
    [call] = await twilio.calls()
    assert call["closed_by_timeout"] is False and call["ended_at"] == "2026-11-23T08:01:13.000Z"
    assert call["talk_seconds"] == 61.0


async def test_timed_out_miss_corrected_by_late_events_cancels_its_task(twilio: Hook) -> None:
    call, leg = "CA" + "ab" * 16, "CA" + "cd" * 16
    await deliver(twilio, [voice(call), child(call, leg, "102", 0, 2, "ringing")])
    await twilio.sweep(datetime.now(UTC) + timedelta(hours=5))
    [record] = await twilio.calls()
    assert (record["status"], record["closed_by_timeout"]) == ("missed", True)
    assert record["callback_task"]["status"] == "open"
    await deliver(
        twilio,
        [
            child(call, leg, "102", 1, 8, "in-progress"),
            child(call, leg, "102", 2, 48, "completed", duration=40),
            parent(call, 0, 50, "completed", duration=50),
        ],
    )
    [record] = await twilio.calls()
    assert (record["status"], record["operator"], record["closed_by_timeout"]) == ("answered", "102", False)
    assert [t["status"] for t in await twilio.tasks()] == ["cancelled"]
