"""Zadarma through the real app: signed form posts in, call records, contacts and tasks out.

Zadarma sends no answer or end time: kolokol takes them from when the notifications arrive, so here
those times are "now"; the exact time mapping is unit-tested in tests/unit/test_webhook_zadarma.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from tests.support.clock import Clock
from tests.support.providers.zadarma import (
    ARRIVAL,
    CALLER,
    DID,
    FORM,
    KEY,
    MOSCOW,
    SECRET,
    Event,
    call_start,
    deliver,
    inbound,
    inbound_answered,
    post,
    sign,
    signature_string,
)
from tests.support.webhooks import ClientMaker, Hook, make_hook, shuffled


def outbound(call: str, disposition: str, duration: int) -> list[Event]:
    common = {
        "pbx_call_id": call,
        "internal": "101",
        "destination": CALLER,
        "call_start": call_start(90, now=ARRIVAL),
    }
    return [
        {**common, "event": "NOTIFY_OUT_START"},
        {
            **common,
            "event": "NOTIFY_OUT_END",
            "caller_id": DID,
            "duration": str(duration),
            "disposition": disposition,
            "status_code": "16",
            "is_recorded": "0",
            "call_id_with_rec": "",
        },
    ]


@pytest.fixture
async def zadarma(db_url: str, aiohttp_client: ClientMaker) -> Hook:
    settings = {"api_key": KEY, "api_secret": SECRET}
    return await make_hook(aiohttp_client, db_url, "zadarma", settings, clock=Clock(ARRIVAL))


def seconds(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


async def test_inbound_answered_becomes_one_call_with_operator_and_recording(zadarma: Hook) -> None:
    await zadarma.add_contact("p1", "Анна Петрова", ["+7 916 123-45-67"])
    events = inbound_answered(now=ARRIVAL)
    await deliver(zadarma, events)
    [call] = await zadarma.calls()
    assert (call["pbx"], call["pbx_call_id"]) == ("zadarma", "in_answered1")
    assert (call["direction"], call["status"], call["disposition"]) == ("inbound", "answered", "answered")
    assert (call["caller"], call["called"]) == ("+79161234567", "+74951110001")
    assert (call["answered_by"], call["operator"], call["rang"]) == ("101", "101", ["101", "102"])
    local_start = datetime.strptime(events[0]["call_start"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=MOSCOW)
    assert seconds(call["started_at"]) == local_start.astimezone(UTC)
    # Delivered all at once 40 s after call_start: the END's duration (30 s) is the talk time, and the
    # talk ends when the END arrived (arrival times alone would have made it 0 s).
    assert (call["talk_seconds"], call["wait_seconds"]) == (30, 10)
    assert seconds(call["started_at"]) < seconds(call["answered_at"]) <= seconds(call["ended_at"])
    assert [c["name"] for c in call["contacts"]] == ["Анна Петрова"]
    ref = call["recording"]["provider_ref"]
    assert ref == {
        "provider": "zadarma",
        "pbx_call_id": "in_answered1",
        "call_id_with_rec": "1700000000.12345",
        "fetch": "zadarma_pbx_record_request",
        "ready": True,
    }
    assert SECRET not in json.dumps(call) and KEY not in json.dumps(call)
    assert call["callback_task"] is None and call["closed_by_timeout"] is False


async def test_recording_is_pending_until_notify_record(zadarma: Hook) -> None:
    await deliver(zadarma, inbound_answered("in_rec", now=ARRIVAL)[:-1])
    [call] = await zadarma.calls()
    assert call["recording"]["provider_ref"]["ready"] is False
    await deliver(zadarma, inbound_answered("in_rec", now=ARRIVAL)[-1:])
    [call] = await zadarma.calls()
    assert call["recording"]["provider_ref"]["ready"] is True


async def test_notify_start_gets_the_contact_name_for_the_phones(zadarma: Hook) -> None:
    start = inbound("in_lookup", call_start(now=ARRIVAL), {"event": "NOTIFY_START"})[0]
    status, body = await post(zadarma, start)
    assert (status, body) == (200, b"")
    await zadarma.add_contact("p1", "Анна Петрова", ["8 (916) 123-45-67"])
    again = {**start, "pbx_call_id": "in_lookup2"}
    status, body = await post(zadarma, again)
    assert status == 200 and json.loads(body) == {"caller_name": "Анна Петрова"}


async def test_missed_while_ringing_opens_a_callback_task(zadarma: Hook) -> None:
    await deliver(
        zadarma,
        inbound(
            "in_missed",
            call_start(now=ARRIVAL),
            {"event": "NOTIFY_START"},
            {"event": "NOTIFY_INTERNAL", "internal": "101"},
            {"event": "NOTIFY_INTERNAL", "internal": "102"},
            {
                "event": "NOTIFY_END",
                "duration": "0",
                "disposition": "no answer",
                "status_code": "19",
                "is_recorded": "0",
            },
        ),
    )
    [call] = await zadarma.calls()
    assert (call["status"], call["disposition"], call["missed_where"]) == ("missed", "no_answer", "ringing")
    assert call["operator"] is None and call["answered_by"] is None and call["rang"] == ["101", "102"]
    assert call["talk_seconds"] == 0 and call["answered_at"] is None
    assert call["callback_task"]["status"] == "open" and call["callback_task"]["number"] == "+79161234567"
    assert [t["number"] for t in await zadarma.tasks()] == ["+79161234567"]


async def test_caller_hanging_up_in_the_ivr_is_missed_in_the_ivr(zadarma: Hook) -> None:
    await deliver(
        zadarma,
        inbound(
            "in_ivr",
            call_start(now=ARRIVAL),
            {"event": "NOTIFY_START"},
            {"event": "NOTIFY_IVR", "wait_dtmf[name]": "menu", "wait_dtmf[digits]": ""},
            {
                "event": "NOTIFY_END",
                "duration": "0",
                "disposition": "cancel",
                "status_code": "16",
                "is_recorded": "0",
            },
        ),
    )
    [call] = await zadarma.calls()
    assert (call["status"], call["disposition"], call["missed_where"]) == ("missed", "caller_hangup", "ivr")
    assert call["rang"] == [] and call["callback_task"]["status"] == "open"


async def test_answered_by_the_voice_menu_alone_is_not_answered(zadarma: Hook) -> None:
    # Zadarma reports "answered" when its IVR took the channel; no extension ever did.
    await deliver(
        zadarma,
        inbound(
            "in_menu_only",
            call_start(now=ARRIVAL),
            {"event": "NOTIFY_START"},
            {
                "event": "NOTIFY_END",
                "duration": "25",
                "disposition": "answered",
                "status_code": "16",
                "is_recorded": "0",
            },
        ),
    )
    [call] = await zadarma.calls()
    assert (call["status"], call["disposition"], call["missed_where"]) == ("missed", "caller_hangup", "ivr")
    assert call["operator"] is None and call["callback_task"]["status"] == "open"


async def test_busy_inbound_is_missed_busy(zadarma: Hook) -> None:
    await deliver(
        zadarma,
        inbound(
            "in_busy",
            call_start(now=ARRIVAL),
            {"event": "NOTIFY_START"},
            {"event": "NOTIFY_INTERNAL", "internal": "101"},
            {
                "event": "NOTIFY_END",
                "duration": "0",
                "disposition": "busy",
                "status_code": "17",
                "is_recorded": "0",
            },
        ),
    )
    [call] = await zadarma.calls()
    assert (call["status"], call["disposition"], call["missed_where"]) == ("missed", "busy", "ringing")


async def test_outbound_answered_and_unanswered(zadarma: Hook) -> None:
    await deliver(zadarma, outbound("out_ok", "answered", 60))
    await deliver(zadarma, outbound("out_busy", "busy", 0))
    await deliver(zadarma, outbound("out_noans", "no answer", 0))
    await deliver(zadarma, outbound("out_cancel", "cancel", 0))
    await deliver(zadarma, outbound("out_fail", "no money", 0))
    calls = {c["pbx_call_id"]: c for c in await zadarma.calls()}
    ok = calls["out_ok"]
    assert (ok["direction"], ok["status"], ok["disposition"]) == ("outbound", "answered", "answered")
    assert (ok["caller"], ok["called"], ok["operator"]) == ("+74951110001", "+79161234567", "101")
    assert ok["talk_seconds"] == 60.0 and ok["answered_by"] is None and ok["missed_where"] is None
    got = {k: (c["status"], c["disposition"]) for k, c in calls.items() if k != "out_ok"}
    assert got == {
        "out_busy": ("unanswered", "busy"),
        "out_noans": ("unanswered", "no_answer"),
        "out_cancel": ("unanswered", "caller_hangup"),
        "out_fail": ("unanswered", "failed"),
    }
    assert all(c["callback_task"] is None for c in calls.values()) and await zadarma.tasks() == []


async def test_outbound_without_a_line_number_is_placed_by_the_extension(zadarma: Hook) -> None:
    events = outbound("out_ext", "answered", 5)
    events[1]["caller_id"] = "101"
    await deliver(zadarma, events)
    [call] = await zadarma.calls()
    assert (call["caller"], call["operator"]) == ("101", "101")


async def test_answered_outbound_closes_the_callback_task(zadarma: Hook) -> None:
    await deliver(
        zadarma,
        inbound(
            "in_miss2",
            call_start(200, now=ARRIVAL),
            {"event": "NOTIFY_START"},
            {"event": "NOTIFY_END", "duration": "0", "disposition": "cancel", "is_recorded": "0"},
        ),
    )
    assert [t["status"] for t in await zadarma.tasks()] == ["open"]
    await deliver(zadarma, outbound("out_back", "answered", 30))
    assert [t["status"] for t in await zadarma.tasks()] == ["done"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_any_order_and_duplicates_give_one_record(zadarma: Hook, seed: int) -> None:
    events = inbound_answered("in_shuffled", now=ARRIVAL)
    await deliver(zadarma, shuffled(events + events[:3] + events[-2:], seed))
    [call] = await zadarma.calls()
    assert (call["status"], call["answered_by"], call["operator"]) == ("answered", "101", "101")
    # Zadarma numbers nothing: the ring order is the arrival order, which the shuffle changed.
    assert sorted(call["rang"]) == ["101", "102"]
    assert call["recording"]["provider_ref"]["ready"] is True and call["closed_by_timeout"] is False
    assert call["answered_at"] <= call["ended_at"]
    assert await zadarma.stored_events() == len(events)


async def test_call_without_end_is_closed_by_timeout_then_corrected(zadarma: Hook) -> None:
    events = inbound_answered("in_late", now=ARRIVAL)
    await deliver(zadarma, [e for e in events if e["event"] not in ("NOTIFY_END", "NOTIFY_RECORD")])
    assert await zadarma.calls() == []
    assert await zadarma.sweep(ARRIVAL + timedelta(minutes=1)) == 0, "not overdue yet"
    assert await zadarma.sweep(ARRIVAL + timedelta(hours=5)) == 1
    [call] = await zadarma.calls()
    assert call["closed_by_timeout"] is True and call["status"] == "answered" and call["answered_by"] == "101"
    await deliver(zadarma, [e for e in events if e["event"] == "NOTIFY_END"])
    [call] = await zadarma.calls()
    assert call["closed_by_timeout"] is False and call["recording"]["provider_ref"]["ready"] is False


async def test_timed_out_miss_corrected_by_a_late_answer_cancels_its_task(zadarma: Hook) -> None:
    events = inbound_answered("in_late2", now=ARRIVAL)
    await deliver(zadarma, events[:2])  # START, INTERNAL 101
    await zadarma.sweep(ARRIVAL + timedelta(hours=5))
    [call] = await zadarma.calls()
    assert call["status"] == "missed" and call["closed_by_timeout"] is True
    assert call["callback_task"]["status"] == "open"
    await deliver(zadarma, events[2:])
    [call] = await zadarma.calls()
    assert call["status"] == "answered" and call["operator"] == "101" and call["closed_by_timeout"] is False
    assert [t["status"] for t in await zadarma.tasks()] == ["cancelled"]


def raw_digest_signature(event: Event) -> str:
    """The usual porting bug: base64 of the 20 raw HMAC bytes instead of the 40 hex characters."""
    digest = hmac.new(SECRET.encode(), signature_string(event).encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


END = inbound(
    "in_forged",
    "2026-11-23 11:00:00",
    {"event": "NOTIFY_END", "duration": "5", "disposition": "answered", "internal": "101"},
)[0]


@pytest.mark.parametrize(
    ("event", "signature"),
    [
        (END, raw_digest_signature(END)),
        (END, sign(END, secret="someone-elses-secret")),
        (END, sign({**END, "caller_id": "70000000000"})),  # signed, then the caller was swapped
        (END, "bm90IGEgc2lnbmF0dXJl"),
        (END, None),
        (END, ""),
        ({"event": "NOTIFY_RECORD", "pbx_call_id": "in_x", "call_id_with_rec": "1.2"}, None),
        ({"event": "NOTIFY_SOMETHING_NEW", "pbx_call_id": "in_x"}, None),
    ],
)
async def test_forged_and_unsigned_requests_are_refused_and_change_nothing(
    zadarma: Hook, event: Event, signature: str | None
) -> None:
    status, reply = await post(zadarma, event, signature)
    assert (status, json.loads(reply)["error"]) == (401, "bad-signature")
    assert await zadarma.calls() == [] and await zadarma.stored_events() == 0


def signed_body(event: Event) -> tuple[bytes, dict[str, str]]:
    return urlencode(event).encode(), {"Signature": sign(event)}


@pytest.mark.parametrize(
    ("event", "status", "error"),
    [
        ({**END, "pbx_call_id": ""}, 400, "malformed-event"),
        ({**END, "call_start": "23.11.2026 11:00"}, 400, "malformed-event"),
        ({**END, "duration": "ten"}, 400, "malformed-event"),
        ({k: v for k, v in END.items() if k != "disposition"}, 400, "malformed-event"),
        (
            {"event": "NOTIFY_OUT_START", "pbx_call_id": "out_x", "call_start": "2026-11-23 11:00:00"},
            400,
            "malformed-event",
        ),
        ({k: v for k, v in END.items() if k != "event"}, 400, "malformed-event"),
    ],
)
async def test_signed_but_malformed_events_get_400(
    zadarma: Hook, event: Event, status: int, error: str
) -> None:
    got, reply = await post(zadarma, event)
    assert (got, json.loads(reply)["error"]) == (status, error)
    assert await zadarma.stored_events() == 0


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status"),
    [
        ("POST", "/", b"caller_id", FORM, 400),
        ("POST", "/", b"%FF%FE=1", FORM, 400),
        ("POST", "/", json.dumps(END).encode(), "application/json", 415),
        ("POST", "/", b"event=" + b"x" * 70000, FORM, 413),
        ("POST", "/calls", urlencode(END).encode(), FORM, 404),
        ("PUT", "/", urlencode(END).encode(), FORM, 405),
        ("POST", "/", b"--nope\r\n\r\n", "multipart/form-data; boundary=zzz", 400),
    ],
)
async def test_bad_requests_get_a_clear_4xx(
    zadarma: Hook, method: str, path: str, body: bytes, content_type: str, status: int
) -> None:
    got, reply = await zadarma.send(
        method, path, body=body, content_type=content_type, headers={"Signature": sign(END)}
    )
    assert got == status, reply
    assert "error" in json.loads(reply)
    assert await zadarma.stored_events() == 0


async def test_unknown_events_get_200_and_are_not_stored(zadarma: Hook) -> None:
    for event in ({"event": "SMS", "caller_id": CALLER, "text": "hi"}, {"event": "NOTIFY_SOMETHING_NEW"}):
        status, body = await post(zadarma, event, signature="c29tZXRoaW5n")
        assert (status, body) == (200, b"")
    assert await zadarma.stored_events() == 0


@pytest.mark.parametrize("value", ["a1b2C3_-", "e3b0c44298fc1c149afbf4c8996fb924"])
async def test_zd_echo_check_echoes_the_value(zadarma: Hook, value: str) -> None:
    async with zadarma.client.get("/webhooks/zadarma/", params={"zd_echo": value}) as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        assert await resp.text() == value
    assert await zadarma.stored_events() == 0


@pytest.mark.parametrize("query", ["", "zd_echo=", "zd_echo=%3Cscript%3E", "zd_echo=" + "a" * 65, "other=1"])
async def test_get_without_a_proper_zd_echo_is_400(zadarma: Hook, query: str) -> None:
    status, body = await zadarma.send("GET", "/", query=query)
    assert status == 400 and b"<script>" not in body


async def test_multipart_deliveries_are_read_like_forms(zadarma: Hook) -> None:
    events = outbound("out_multipart", "answered", 12)
    for event in events:
        boundary = "----zadarmaBoundary7MA4YWxk"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in event.items()
        ]
        body = ("".join(parts) + f"--{boundary}--\r\n").encode()
        status, reply = await zadarma.send(
            "POST",
            "/",
            body=body,
            content_type=f"multipart/form-data; boundary={boundary}",
            headers={"Signature": sign(event)},
        )
        assert status == 200, reply
    [call] = await zadarma.calls()
    assert (call["pbx_call_id"], call["status"], call["talk_seconds"]) == ("out_multipart", "answered", 12.0)


async def test_only_allowed_addresses_may_deliver(db_url: str, aiohttp_client: ClientMaker) -> None:
    hook = await make_hook(
        aiohttp_client,
        db_url,
        "zadarma",
        {"api_key": KEY, "api_secret": SECRET, "allow_ips": ["185.45.152.42"]},
        clock=Clock(ARRIVAL),
    )
    status, reply = await post(hook, outbound("out_ip", "answered", 5)[0])
    assert (status, json.loads(reply)["error"]) == (403, "address-not-allowed")
    assert await hook.stored_events() == 0
