"""Dialects of the generic webhook (Sipuni, Telfin, OnlinePBX) through the real app at the secret URL."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

import pytest

from tests.support.providers.generic_dialects import (
    TOKEN,
    Fields,
    T,
    opbx,
    opbx_inbound_answered,
    sipuni_inbound_answered,
    telfin_inbound_answered,
    telfin_leg,
)
from tests.support.webhooks import ClientMaker, Hook, make_hook, shuffled

CALLER = "+79161234567"
LINE = "+74951110001"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def hook(db_url: str, aiohttp_client: ClientMaker) -> Hook:
    return await make_hook(aiohttp_client, db_url, "generic", {"url_token": TOKEN})


async def get(hook: Hook, dialect: str, fields: Fields, token: str = TOKEN) -> tuple[int, bytes]:
    return await hook.send("GET", f"/{token}/{dialect}", query=urlencode(fields))


async def post_form(hook: Hook, dialect: str, fields: Fields, token: str = TOKEN) -> tuple[int, bytes]:
    return await hook.send("POST", f"/{token}/{dialect}", body=urlencode(fields).encode(), content_type=FORM)


async def post_json(hook: Hook, fields: Fields, token: str = TOKEN) -> tuple[int, bytes]:
    body = json.dumps(fields).encode()
    return await hook.send("POST", f"/{token}/onlinepbx", body=body, content_type="application/json")


# ---- Sipuni ---------------------------------------------------------------------------------------


def sipuni_outbound(status: str, answered: bool) -> list[Fields]:
    """As captured from a live cabinet: event 1 twice a second apart, then bare events 3 and 2."""
    start = {
        "event": "1",
        "call_id": f"o-{status}",
        "src_type": "2",
        "src_num": "070196201",
        "short_src_num": "201",
        "dst_type": "1",
        "dst_num": "79161234567",
        "pbxdstnum": "+79161234567",
        "treeName": "Исходящая",
    }
    end = {
        "event": "2",
        "call_id": f"o-{status}",
        "status": status,
        "call_start_timestamp": T,
        "timestamp": T + 18,
        "last_called": "201",
    }
    events = [{**start, "timestamp": T}, {**start, "timestamp": T + 1}]
    if answered:
        events.append({"event": "3", "call_id": f"o-{status}", "timestamp": T + 10, "channel": "SIP/x-1"})
        end["call_answer_timestamp"] = T + 10
    return [*events, end]


async def test_sipuni_inbound_answered_with_recording(hook: Hook) -> None:
    for fields in sipuni_inbound_answered():
        status, reply = await get(hook, "sipuni", fields)
        assert (status, json.loads(reply)) == (200, {"success": True})
    [call] = await hook.calls()
    assert (call["pbx"], call["pbx_call_id"], call["direction"]) == ("generic", "s1", "inbound")
    assert (call["caller"], call["called"], call["status"]) == (CALLER, LINE, "answered")
    assert (call["answered_by"], call["operator"], call["rang"]) == ("202", "202", ["201", "202"])
    assert (call["wait_seconds"], call["talk_seconds"]) == (10.0, 60.0)
    assert call["recording"]["provider_ref"]["url"] == "https://sipuni.com/api/crm/record?id=s1&hash=abc"


async def test_sipuni_answer_survives_a_lost_event_3_and_a_bogus_answer_time(hook: Hook) -> None:
    lost3 = [e for e in sipuni_inbound_answered("lost3") if e["event"] != "3"]
    bogus = sipuni_inbound_answered("bogus")
    bogus[3]["call_answer_timestamp"] = T - 1  # seen live: a second before the start
    for fields in [*lost3, *bogus]:
        assert (await post_form(hook, "sipuni", fields))[0] == 200
    by_id = {c["pbx_call_id"]: c for c in await hook.calls()}
    assert (by_id["lost3"]["status"], by_id["lost3"]["answered_by"]) == ("answered", "202")
    assert by_id["lost3"]["talk_seconds"] == 60.0
    assert (by_id["bogus"]["status"], by_id["bogus"]["talk_seconds"]) == ("answered", 60.0)


async def test_sipuni_inbound_missed_opens_a_task(hook: Hook) -> None:
    ring, _, _, end, _ = sipuni_inbound_answered("m1")
    end = {**end, "status": "CANCEL", "call_answer_timestamp": T, "timestamp": T + 20, "last_called": "201"}
    for fields in (ring, end):
        assert (await get(hook, "sipuni", fields))[0] == 200
    [call] = await hook.calls()
    assert (call["status"], call["disposition"], call["missed_where"]) == (
        "missed",
        "caller_hangup",
        "ringing",
    )
    assert call["rang"] == ["201"] and call["recording"] is None
    assert call["callback_task"]["status"] == "open" and call["callback_task"]["number"] == CALLER


async def test_sipuni_outbound_answered_and_busy(hook: Hook) -> None:
    for fields in [*sipuni_outbound("ANSWER", True), *sipuni_outbound("BUSY", False)]:
        assert (await get(hook, "sipuni", fields))[0] == 200
    by_id = {c["pbx_call_id"]: c for c in await hook.calls()}
    answered, busy = by_id["o-ANSWER"], by_id["o-BUSY"]
    assert (answered["direction"], answered["status"], answered["operator"]) == (
        "outbound",
        "answered",
        "201",
    )
    assert (answered["called"], answered["talk_seconds"]) == (CALLER, 8.0)
    assert (busy["direction"], busy["status"], busy["disposition"]) == ("outbound", "unanswered", "busy")
    assert busy["callback_task"] is None


async def test_sipuni_ignored_events_still_get_success(hook: Hook) -> None:
    for fields in ({"event": "4", "call_id": "x"}, {"event": "9"}, {}):
        status, reply = await get(hook, "sipuni", fields)
        assert (status, json.loads(reply)) == (200, {"success": True})
    assert await hook.stored_events() == 0


# ---- Telfin ---------------------------------------------------------------------------------------


async def test_telfin_inbound_answered_by_one_of_a_group(hook: Hook) -> None:
    for fields in telfin_inbound_answered():
        status, reply = await get(hook, "telfin", fields)
        assert (status, reply) == (200, b"")
    [call] = await hook.calls()
    assert (call["direction"], call["status"], call["caller"], call["called"]) == (
        "inbound",
        "answered",
        CALLER,
        LINE,
    )
    assert call["caller_name"] == "Пётр"
    assert (call["answered_by"], call["operator"], call["rang"]) == ("102", "102", ["101", "102"])
    assert (call["wait_seconds"], call["talk_seconds"]) == (10.0, 60.0)
    assert call["recording"]["provider_ref"]["id"] == "102-rec"


async def test_telfin_one_extension_not_answering_does_not_end_the_call(hook: Hook) -> None:
    await post_form(hook, "telfin", telfin_leg("dial-in", "101", T))
    await post_form(hook, "telfin", telfin_leg("hangup", "101", T + 20, CallStatus="NOANSWER"))
    assert await hook.calls() == []
    for fields in (
        telfin_leg("dial-in", "102", T + 20),
        telfin_leg("answer", "102", T + 25, CallStatus="ANSWER"),
        telfin_leg("hangup", "102", T + 85, CallStatus="ANSWER", Duration=60_000_000),
    ):
        assert (await post_form(hook, "telfin", fields))[0] == 200
    [call] = await hook.calls()
    assert (call["status"], call["answered_by"], call["rang"]) == ("answered", "102", ["101", "102"])
    assert call["talk_seconds"] == 60.0


@pytest.mark.parametrize(
    ("legs", "where"),
    [
        (
            [
                telfin_leg("dial-in", "101", T),
                telfin_leg("dial-in", "102", T),
                telfin_leg("hangup", "101", T + 15, CallStatus="CANCEL"),
                telfin_leg("hangup", "102", T + 15, CallStatus="CANCEL"),
            ],
            "ringing",
        ),
        (
            [
                telfin_leg("dial-in", "099", T, Bridged="no"),
                telfin_leg("hangup", "099", T + 15, CallStatus="CANCEL", Bridged="no"),
            ],
            "queue",
        ),
    ],
)
async def test_telfin_inbound_missed_opens_a_task(hook: Hook, legs: list[Fields], where: str) -> None:
    for fields in legs:
        assert (await get(hook, "telfin", fields))[0] == 200
    [call] = await hook.calls()
    assert (call["status"], call["disposition"], call["missed_where"]) == ("missed", "caller_hangup", where)
    assert call["callback_task"]["status"] == "open"


def telfin_outbound(call: str, status: str) -> list[Fields]:
    leg = {
        "CallID": call,
        "SubCallID": f"{call}-sub",
        "CallFlow": "out",
        "CallerIDNum": "3515*101",
        "CallerExtension": "3515*101@sipproxy.telphin.ru",
        "CalledNumber": "89161234567",
    }
    events = [{**leg, "EventType": "dial-out", "CallStatus": "CALLING", "EventTime": T * 1_000_000}]
    if status == "ANSWER":
        events.append(
            {**leg, "EventType": "answer", "CallStatus": "ANSWER", "EventTime": (T + 7) * 1_000_000}
        )
    end = {**leg, "EventType": "hangup", "CallStatus": status, "EventTime": (T + 67) * 1_000_000}
    return [*events, {**end, "Duration": 60_000_000 if status == "ANSWER" else 0}]


async def test_telfin_outbound_answered_and_busy(hook: Hook) -> None:
    for fields in [*telfin_outbound("out-a", "ANSWER"), *telfin_outbound("out-b", "BUSY")]:
        assert (await post_form(hook, "telfin", fields))[0] == 200
    by_id = {c["pbx_call_id"]: c for c in await hook.calls()}
    answered, busy = by_id["out-a"], by_id["out-b"]
    assert (answered["direction"], answered["status"], answered["operator"]) == (
        "outbound",
        "answered",
        "101",
    )
    assert (answered["called"], answered["talk_seconds"]) == (CALLER, 60.0)
    assert (busy["status"], busy["disposition"], busy["callback_task"]) == ("unanswered", "busy", None)


# ---- OnlinePBX ------------------------------------------------------------------------------------


async def test_onlinepbx_inbound_answered(hook: Hook) -> None:
    for fields in opbx_inbound_answered():
        assert await post_json(hook, fields) == (200, b"")
    [call] = await hook.calls()
    assert (call["direction"], call["status"], call["caller"], call["called"]) == (
        "inbound",
        "answered",
        CALLER,
        LINE,
    )
    assert (call["answered_by"], call["operator"], call["talk_seconds"]) == ("101", "101", 60.0)
    assert call["recording"]["provider_ref"]["url"] == "https://api.onlinepbx.ru/rec/p1.mp3"


async def test_onlinepbx_inbound_missed_opens_a_task(hook: Hook) -> None:
    await post_json(hook, opbx("call_start", T, "pm"))
    await post_json(hook, opbx("call_end", T + 20, "pm", dialog_duration=0, hangup_cause="ORIGINATOR_CANCEL"))
    [call] = await hook.calls()
    assert (call["status"], call["disposition"], call["missed_where"]) == (
        "missed",
        "caller_hangup",
        "ringing",
    )
    assert call["callback_task"]["status"] == "open"


async def test_onlinepbx_outbound_answered_and_busy(hook: Hook) -> None:
    out = {"direction": "outbound", "caller": "101", "callee": "89161234567"}
    for fields in (
        opbx("call_start", T, "pa", **out),
        opbx("call_answered", T + 5, "pa", **out),
        opbx("call_end", T + 65, "pa", dialog_duration=60, hangup_cause="NORMAL_CLEARING", **out),
        opbx("call_start", T, "pb", **out),
        opbx("call_end", T + 3, "pb", dialog_duration=0, hangup_cause="USER_BUSY", **out),
    ):
        assert (await post_json(hook, fields))[0] == 200
    by_id = {c["pbx_call_id"]: c for c in await hook.calls()}
    answered, busy = by_id["pa"], by_id["pb"]
    assert (answered["status"], answered["operator"], answered["caller"], answered["called"]) == (
        "answered",
        "101",
        LINE,
        CALLER,
    )
    assert answered["talk_seconds"] == 60.0
    assert (busy["status"], busy["disposition"], busy["callback_task"]) == ("unanswered", "busy", None)


async def test_onlinepbx_unknown_event_is_ignored(hook: Hook) -> None:
    assert await post_json(hook, opbx("call_missed", T)) == (200, b"")
    assert await hook.stored_events() == 0


# ---- every dialect --------------------------------------------------------------------------------

Sender = Callable[[Hook, Fields], Awaitable[tuple[int, bytes]]]
SCENARIOS: dict[str, tuple[Sender, list[Fields], int]] = {
    # (how it is sent, the requests, how many distinct generic events they make)
    "sipuni": (lambda h, f: get(h, "sipuni", f), sipuni_inbound_answered(), 10),
    "telfin": (lambda h, f: post_form(h, "telfin", f), telfin_inbound_answered(), 10),
    "onlinepbx": (post_json, opbx_inbound_answered(), 6),
}


@pytest.mark.parametrize("dialect", list(SCENARIOS))
@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_duplicates_and_order_do_not_matter(hook: Hook, dialect: str, seed: int) -> None:
    send, requests, distinct = SCENARIOS[dialect]
    for fields in shuffled(requests + requests[1:], seed):
        assert (await send(hook, fields))[0] == 200
    [call] = await hook.calls()
    answered_by = {"sipuni": "202", "telfin": "102", "onlinepbx": "101"}[dialect]
    assert (call["status"], call["answered_by"], call["operator"]) == ("answered", answered_by, answered_by)
    assert (call["caller"], call["called"], call["talk_seconds"]) == (CALLER, LINE, 60.0)
    assert call["closed_by_timeout"] is False
    assert await hook.stored_events() == distinct


@pytest.mark.parametrize("dialect", list(SCENARIOS))
async def test_wrong_token_is_refused_and_stores_nothing(hook: Hook, dialect: str) -> None:
    _, requests, _ = SCENARIOS[dialect]
    wrong = TOKEN[:-1] + "x"
    for fields in requests:
        if dialect == "onlinepbx":
            status, reply = await post_json(hook, fields, token=wrong)
        else:
            status, reply = await get(hook, dialect, fields, token=wrong)
        assert (status, json.loads(reply)["error"]) == (403, "unknown-url")
    assert await hook.calls() == [] and await hook.stored_events() == 0


async def test_unknown_dialect_is_404(hook: Hook) -> None:
    status, reply = await get(hook, "beeline", {"event": "1"})
    assert (status, json.loads(reply)["error"]) == (404, "unknown-dialect")


async def test_allow_ips_applies_to_dialects(db_url: str, aiohttp_client: ClientMaker) -> None:
    hook = await make_hook(
        aiohttp_client, db_url, "generic", {"url_token": TOKEN, "allow_ips": ["10.9.8.0/24"]}
    )
    status, reply = await get(hook, "sipuni", sipuni_inbound_answered()[0])
    assert (status, json.loads(reply)["error"]) == (403, "address-not-allowed")
    assert await hook.stored_events() == 0


@pytest.mark.parametrize(
    ("dialect", "fields"),
    [
        ("sipuni", {"event": "2", "timestamp": T}),
        ("sipuni", {"event": "1", "call_id": "x", "timestamp": "yesterday"}),
        ("sipuni", {"event": "1", "call_id": "x", "timestamp": "12"}),
        ("telfin", {"EventType": "hangup", "EventTime": T * 1_000_000}),
        ("telfin", {"EventType": "hangup", "CallID": "x", "CallFlow": "sideways"}),
        ("telfin", {"EventType": "dial-in", "CallID": "x", "EventTime": "soon"}),
    ],
)
async def test_malformed_form_requests_get_400(hook: Hook, dialect: str, fields: Fields) -> None:
    status, reply = await get(hook, dialect, fields)
    assert (status, json.loads(reply)["error"]) == (400, "malformed-event")
    assert await hook.stored_events() == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{nope", "application/json", 400),
        (
            json.dumps({"event": "call_start", "direction": "inbound", "date": T}).encode(),
            "application/json",
            400,
        ),
        (json.dumps({"event": "call_end", "uuid": "x", "direction": "up"}).encode(), "application/json", 400),
        (b"event=call_start&uuid=x", FORM, 415),
    ],
)
async def test_malformed_onlinepbx_requests(hook: Hook, body: bytes, content_type: str, status: int) -> None:
    got, _ = await hook.send("POST", f"/{TOKEN}/onlinepbx", body=body, content_type=content_type)
    assert got == status
    assert (await hook.send("GET", f"/{TOKEN}/onlinepbx"))[0] == 405
    assert await hook.stored_events() == 0
