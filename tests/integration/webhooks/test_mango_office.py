"""Mango Office through the real app: signed form posts in, call records, contacts and tasks out."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from tests.support.providers.mango_office import (
    CALLER,
    KEY,
    LINE,
    SALT,
    deliver,
    form,
    inbound_answered,
    inbound_missed,
    leg,
    summary,
)
from tests.support.webhooks import ClientMaker, Hook, make_hook, shuffled


@pytest.fixture
async def mango(db_url: str, aiohttp_client: ClientMaker) -> Hook:
    return await make_hook(
        aiohttp_client, db_url, "mango_office", {"vpbx_api_key": KEY, "vpbx_api_salt": SALT}
    )


async def test_inbound_answered_becomes_one_call_with_operator_and_recording(mango: Hook) -> None:
    await mango.add_contact("p1", "Анна Петрова", ["+7 916 123-45-67"])
    await deliver(mango, inbound_answered())
    [call] = await mango.calls()
    assert call["pbx"] == "mango_office" and call["pbx_call_id"] == "MTAxOjExMQ=="
    assert (call["direction"], call["status"], call["disposition"]) == ("inbound", "answered", "answered")
    assert (call["caller"], call["called"]) == ("+79161234567", "+74951110001")
    assert (call["answered_by"], call["operator"], call["rang"]) == ("101", "101", ["101", "102"])
    assert call["started_at"] == "2026-11-23T08:00:00.000Z"
    assert (call["wait_seconds"], call["talk_seconds"]) == (12.0, 60.0)
    assert [c["name"] for c in call["contacts"]] == ["Анна Петрова"]
    assert call["recording"]["status"] == "pending"
    assert call["recording"]["provider_ref"]["recording_id"] == "REC1"
    assert call["recording"]["provider_ref"]["ready"] is True
    assert call["callback_task"] is None and call["closed_by_timeout"] is False


async def test_missed_call_opens_a_callback_task(mango: Hook) -> None:
    await deliver(mango, inbound_missed())
    [call] = await mango.calls()
    assert (call["status"], call["disposition"], call["missed_where"]) == (
        "missed",
        "caller_hangup",
        "ringing",
    )
    assert call["operator"] is None and call["rang"] == ["101", "102"]
    assert call["callback_task"]["status"] == "open" and call["callback_task"]["number"] == "+79161234567"


async def test_ivr_only_call_with_entry_result_1_is_missed_in_the_ivr(mango: Hook) -> None:
    entry = "IVRONLY"
    await deliver(
        mango,
        [
            leg(entry, "A", 1, 0, "Appeared", "ivr"),
            leg(entry, "A", 2, 20, "Disconnected", "ivr", disconnect_reason=1110),
            summary(entry, end=20, result=1, reason=1110, to={"number": LINE}),
        ],
    )
    [call] = await mango.calls()
    assert (call["status"], call["missed_where"]) == ("missed", "ivr")


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_any_order_and_duplicates_give_the_same_record(mango: Hook, seed: int) -> None:
    events = inbound_answered()
    await deliver(mango, shuffled(events + events[:4] + events[-3:], seed))
    [call] = await mango.calls()
    assert (call["status"], call["answered_by"], call["rang"]) == ("answered", "101", ["101", "102"])
    assert call["talk_seconds"] == 60.0 and call["recording"]["provider_ref"]["ready"] is True
    assert await mango.stored_events() == len(events)


async def test_outbound_busy_and_answered(mango: Hook) -> None:
    me = {"extension": "101", "number": "sip:101@x"}
    patient = {"number": CALLER}
    await deliver(
        mango,
        [
            leg("OUT1", "X", 1, 0, "Appeared", "abonent", frm=me, to=patient),
            leg("OUT1", "X", 2, 9, "Disconnected", "abonent", frm=me, to=patient, disconnect_reason=1121),
            summary("OUT1", direction=2, end=9, result=0, reason=1121, frm=me, to=patient),
            leg("OUT2", "Y", 1, 100, "Appeared", "abonent", frm=me, to=patient),
            leg("OUT2", "Y", 2, 110, "Connected", "abonent", frm=me, to=patient),
            summary("OUT2", direction=2, talk=110, end=200, reason=1110, frm=me, to=patient),
        ],
    )
    busy, answered = await mango.calls()
    assert (busy["direction"], busy["status"], busy["disposition"]) == ("outbound", "unanswered", "busy")
    assert (busy["caller"], busy["called"], busy["operator"]) == ("+74951110001", "+79161234567", "101")
    assert (answered["status"], answered["talk_seconds"]) == ("answered", 90.0)
    assert busy["callback_task"] is None


async def test_call_without_summary_is_closed_by_timeout_then_corrected(mango: Hook) -> None:
    events = inbound_answered("LATE")
    without_summary = [e for e in events if e[0] != "/events/summary"]
    await deliver(mango, without_summary)
    assert await mango.calls() == []
    assert await mango.sweep(datetime(2026, 11, 23, 8, 1, tzinfo=UTC)) == 0, "not overdue yet"
    assert await mango.sweep(datetime.now(UTC) + timedelta(hours=5)) == 1
    [call] = await mango.calls()
    assert call["closed_by_timeout"] is True and call["status"] == "answered" and call["answered_by"] == "101"
    await deliver(mango, [e for e in events if e[0] == "/events/summary"])
    [call] = await mango.calls()
    assert call["closed_by_timeout"] is False and call["talk_seconds"] == 60.0


async def test_timed_out_miss_corrected_by_a_late_summary_cancels_its_task(mango: Hook) -> None:
    entry = "LATE2"
    await deliver(mango, [leg(entry, "A", 1, 0, "Appeared", "ivr")])
    await mango.sweep(datetime.now(UTC) + timedelta(hours=5))
    [call] = await mango.calls()
    assert call["status"] == "missed" and call["callback_task"]["status"] == "open"
    await deliver(
        mango,
        [
            leg(entry, "B", 1, 5, "Connected", "abonent", to={"extension": "103"}),
            summary(entry, talk=5, end=50, reason=1120, to={"extension": "103"}),
        ],
    )
    [call] = await mango.calls()
    assert call["status"] == "answered" and call["operator"] == "103"
    assert call["callback_task"]["status"] == "cancelled"
    assert [t["status"] for t in await mango.tasks()] == ["cancelled"]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (form(summary("F1")[1], sign="0" * 64), 401, "bad-signature"),
        (form(summary("F1")[1], salt="wrong"), 401, "bad-signature"),
        (form(summary("F1")[1], key="someone-else"), 403, "unknown-vpbx"),
        (urlencode({"vpbx_api_key": KEY, "json": "{}"}).encode(), 401, "bad-signature"),
    ],
)
async def test_forged_requests_are_refused_and_change_nothing(
    mango: Hook, body: bytes, status: int, error: str
) -> None:
    got, reply = await mango.send(
        "POST", "/events/summary", body=body, content_type="application/x-www-form-urlencoded"
    )
    assert (got, json.loads(reply)["error"]) == (status, error)
    assert await mango.calls() == [] and await mango.stored_events() == 0


def signed_raw(text: str) -> bytes:
    sign = hashlib.sha256(f"{KEY}{text}{SALT}".encode()).hexdigest()
    return urlencode({"vpbx_api_key": KEY, "sign": sign, "json": text}).encode()


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status"),
    [
        ("/events/summary", signed_raw("{not json"), "application/x-www-form-urlencoded", 400),
        ("/events/summary", signed_raw("[1,2]"), "application/x-www-form-urlencoded", 400),
        ("/events/summary", signed_raw('{"entry_id":"x"}'), "application/x-www-form-urlencoded", 400),
        (
            "/events/call",
            signed_raw(
                '{"entry_id":"x","call_id":"a","seq":1,"call_state":"Exploded","timestamp":1795420800}'
            ),
            "application/x-www-form-urlencoded",
            400,
        ),
        ("/events/summary", b'{"json": 1}', "application/json", 415),
        ("/events/summary", b"vpbx_api_key=" + b"x" * 70000, "application/x-www-form-urlencoded", 413),
        ("/events/nonsense", signed_raw("{}"), "application/x-www-form-urlencoded", 404),
    ],
)
async def test_bad_input_gets_a_clear_4xx(
    mango: Hook, path: str, body: bytes, content_type: str, status: int
) -> None:
    got, reply = await mango.send("POST", path, body=body, content_type=content_type)
    assert got == status, reply
    assert "error" in json.loads(reply)
    assert await mango.stored_events() == 0


async def test_connection_check_and_ignored_events_get_200(mango: Hook) -> None:
    assert (
        await mango.send("POST", "/events/call", body=b"", content_type="application/x-www-form-urlencoded")
    )[0] == 200
    status, _ = await mango.send(
        "POST",
        "/events/dtmf",
        body=signed_raw('{"entry_id":"x"}'),
        content_type="application/x-www-form-urlencoded",
    )
    assert status == 200 and await mango.stored_events() == 0


async def test_unconfigured_provider_is_not_found(mango: Hook) -> None:
    async with mango.client.post("/webhooks/zadarma/", data=b"x") as resp:
        assert resp.status == 404 and (await resp.json())["error"] == "not-configured"
