"""MegaFon VPBX (ITooLabs CRM API) through the real app: token-bearing posts in, call records, tasks out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.providers.megafon_vats import (
    CALLER,
    FORM,
    LINE,
    TOKEN,
    Fields,
    deliver,
    event,
    form,
    history,
    inbound_answered,
    inbound_missed,
    post,
)
from tests.support.webhooks import ClientMaker, Hook, make_hook, shuffled


@pytest.fixture
async def megafon(db_url: str, aiohttp_client: ClientMaker) -> Hook:
    return await make_hook(aiohttp_client, db_url, "megafon_vats", {"crm_token": TOKEN})


async def test_inbound_answered_becomes_one_call_with_operator_times_and_recording(megafon: Hook) -> None:
    await megafon.add_contact("p1", "Анна Петрова", ["+7 916 123-45-67"])
    await deliver(megafon, inbound_answered())
    [call] = await megafon.calls()
    assert call["pbx"] == "megafon_vats" and call["pbx_call_id"] == "CALL-1"
    assert (call["direction"], call["status"], call["disposition"]) == ("inbound", "answered", "answered")
    assert (call["caller"], call["called"]) == ("+79161234567", "+74951110001")
    assert (call["answered_by"], call["operator"], call["rang"]) == ("101", "101", ["101", "102"])
    assert (call["started_at"], call["answered_at"], call["ended_at"]) == (
        "2026-11-20T08:00:00.000Z",
        "2026-11-20T08:00:12.000Z",
        "2026-11-20T08:01:12.000Z",
    )
    assert (call["wait_seconds"], call["talk_seconds"]) == (12.0, 60.0)
    assert [c["name"] for c in call["contacts"]] == ["Анна Петрова"]
    assert call["recording"]["provider_ref"] == {
        "provider": "megafon_vats",
        "url": "https://clinic.megapbx.ru/rec/1.mp3",
        "fetch": "GET with the VPBX X-API-KEY header",
    }
    assert call["callback_task"] is None and call["closed_by_timeout"] is False


async def test_missed_while_ringing_opens_a_callback_task(megafon: Hook) -> None:
    await deliver(megafon, inbound_missed())
    [call] = await megafon.calls()
    assert (call["status"], call["disposition"], call["missed_where"]) == ("missed", "no_answer", "ringing")
    assert call["operator"] is None and call["answered_by"] is None and call["rang"] == ["101", "102"]
    assert (call["wait_seconds"], call["talk_seconds"]) == (25.0, 0.0)
    assert call["callback_task"]["status"] == "open" and call["callback_task"]["number"] == "+79161234567"
    [task] = await megafon.tasks()
    assert task["status"] == "open"


async def test_caller_who_gives_up_before_any_phone_rang_is_missed_in_the_ivr(megafon: Hook) -> None:
    await deliver(megafon, [history("IVR-1", "Cancel", duration=0, wait=18)])
    [call] = await megafon.calls()
    assert (call["status"], call["disposition"], call["missed_where"]) == ("missed", "caller_hangup", "ivr")
    assert call["rang"] == [] and call["callback_task"]["status"] == "open"


@pytest.mark.parametrize(
    ("status", "disposition"),
    [("Busy", "busy"), ("missed", "no_answer"), ("NotAvailable", "failed"), ("notfound", "failed")],
)
async def test_outbound_not_answered(megafon: Hook, status: str, disposition: str) -> None:
    await deliver(
        megafon,
        [
            event("OUT-1", "OUTGOING", "101", direction="out"),
            history("OUT-1", status, type_="out", ext="101", telnum=LINE),
        ],
    )
    [call] = await megafon.calls()
    assert (call["direction"], call["status"], call["disposition"]) == ("outbound", "unanswered", disposition)
    assert (call["caller"], call["called"], call["operator"]) == ("+74951110002", "+79161234567", "101")
    assert call["missed_where"] is None and call["callback_task"] is None


async def test_outbound_answered_closes_the_open_callback_task(megafon: Hook) -> None:
    await deliver(megafon, inbound_missed())
    await deliver(
        megafon,
        [
            event("OUT-2", "OUTGOING", "102", direction="out"),
            event("OUT-2", "ACCEPTED", "102", direction="out"),
            event("OUT-2", "COMPLETED", "102", direction="out"),
            history(
                "OUT-2",
                "SUCCESS",
                type_="out",
                ext="102",
                duration=90,
                wait=7,
                diversion=LINE,
                start="20261120T090000Z",
            ),
        ],
    )
    missed, outbound = sorted(await megafon.calls(), key=lambda c: c["direction"])
    assert (outbound["direction"], outbound["status"], outbound["operator"]) == (
        "outbound",
        "answered",
        "102",
    )
    assert (outbound["caller"], outbound["called"]) == ("+74951110002", "+79161234567")
    assert (outbound["wait_seconds"], outbound["talk_seconds"]) == (7.0, 90.0)
    assert outbound["answered_by"] is None
    assert [t["status"] for t in await megafon.tasks()] == ["done"]
    assert missed["status"] == "missed"


async def test_outbound_without_a_line_number_is_placed_by_the_extension(megafon: Hook) -> None:
    await deliver(megafon, [history("OUT-3", "Success", type_="out", ext="103", duration=30)])
    [call] = await megafon.calls()
    assert (call["caller"], call["called"], call["operator"]) == ("103", "+79161234567", "103")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_any_order_and_duplicates_give_the_same_record(megafon: Hook, seed: int) -> None:
    fields = inbound_answered()
    await deliver(megafon, shuffled(fields + fields[:3] + fields[-2:], seed))
    [call] = await megafon.calls()
    assert (call["status"], call["answered_by"], call["operator"]) == ("answered", "101", "101")
    assert sorted(call["rang"]) == ["101", "102"]
    assert (call["wait_seconds"], call["talk_seconds"]) == (12.0, 60.0)
    assert call["recording"]["provider_ref"]["url"].endswith("/rec/1.mp3")
    assert await megafon.stored_events() == len(fields)


async def test_json_bodies_are_read_like_forms(megafon: Hook) -> None:
    for fields in inbound_missed("JSON-1"):
        body = json.dumps({**fields, "crm_token": TOKEN}, ensure_ascii=False).encode()
        status, reply = await megafon.send("POST", "/", body=body, content_type="application/json")
        assert status == 200, reply
    [call] = await megafon.calls()
    assert (call["pbx_call_id"], call["status"], call["rang"]) == ("JSON-1", "missed", ["101", "102"])


@pytest.mark.parametrize(
    "body",
    [
        form(history("F1", "Success", duration=5), token="not-the-token"),
        form(history("F1", "Success", duration=5), token=None),
        form(history("F1", "Success", duration=5), token=""),
        form(history("F1", "Success", duration=5), token=TOKEN + "x"),
    ],
)
async def test_wrong_or_missing_token_is_refused_and_changes_nothing(megafon: Hook, body: bytes) -> None:
    status, reply = await megafon.send("POST", "/", body=body, content_type=FORM)
    assert (status, json.loads(reply)["error"]) == (401, "bad-signature")
    assert TOKEN not in reply.decode()
    assert await megafon.calls() == [] and await megafon.stored_events() == 0


async def test_wrong_token_in_json_is_refused(megafon: Hook) -> None:
    body = json.dumps({**history("F2", "Success", duration=5), "crm_token": 12345}).encode()
    status, _ = await megafon.send("POST", "/", body=body, content_type="application/json")
    assert status == 401 and await megafon.stored_events() == 0


async def test_a_sender_outside_allow_ips_is_refused(db_url: str, aiohttp_client: ClientMaker) -> None:
    hook = await make_hook(
        aiohttp_client, db_url, "megafon_vats", {"crm_token": TOKEN, "allow_ips": ["193.201.230.155"]}
    )
    status, reply = await post(hook, history("IP-1", "Success", duration=5))
    assert (status, json.loads(reply)["error"]) == (403, "address-not-allowed")
    assert await hook.stored_events() == 0


def with_token(text: str) -> bytes:
    return (text + "&crm_token=" + TOKEN).encode()


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status"),
    [
        ("POST", "/", b'{"cmd": "history", "crm_token": "', "application/json", 400),
        ("POST", "/", b'["cmd", "history"]', "application/json", 400),
        (
            "POST",
            "/",
            with_token("cmd=history&type=in&status=Success&start=20261120T080000Z&duration=5"),
            FORM,
            400,
        ),
        ("POST", "/", with_token("cmd=history&callid=x&type=in&status=Success&duration=5"), FORM, 400),
        (
            "POST",
            "/",
            with_token("cmd=history&callid=x&type=in&status=Success&start=2026-11-20&duration=5"),
            FORM,
            400,
        ),
        (
            "POST",
            "/",
            with_token("cmd=history&callid=x&type=in&status=Success&start=20261120T080000Z&duration=-1"),
            FORM,
            400,
        ),
        (
            "POST",
            "/",
            with_token("cmd=history&callid=x&type=sideways&status=Success&start=20261120T080000Z&duration=1"),
            FORM,
            400,
        ),
        ("POST", "/", with_token("cmd=event&type=INCOMING&ext=101"), FORM, 400),
        ("POST", "/", with_token("type=INCOMING&callid=x"), FORM, 400),
        ("POST", "/", b"crm_token=" + TOKEN.encode() + b"&cmd=event&%ZZ", FORM, 400),
        ("POST", "/", with_token("cmd=event&type=INCOMING&callid=x"), "text/plain", 415),
        ("POST", "/", b"crm_token=" + b"x" * 70000, FORM, 413),
        ("GET", "/", b"", None, 405),
        ("POST", "/events", with_token("cmd=event&type=INCOMING&callid=x"), FORM, 404),
    ],
)
async def test_bad_input_gets_a_clear_4xx(
    megafon: Hook, method: str, path: str, body: bytes, content_type: str | None, status: int
) -> None:
    got, reply = await megafon.send(method, path, body=body, content_type=content_type)
    assert got == status, reply
    assert "error" in json.loads(reply)
    assert await megafon.stored_events() == 0


async def test_json_field_of_the_wrong_type_is_a_400(megafon: Hook) -> None:
    body = json.dumps(
        {**history("J1", "Success", duration=5), "phone": {"n": 1}, "crm_token": TOKEN}
    ).encode()
    status, reply = await megafon.send("POST", "/", body=body, content_type="application/json")
    assert status == 400 and "phone" in json.loads(reply)["message"]


@pytest.mark.parametrize(
    "fields",
    [
        {"cmd": "rating", "callid": "R1", "rating": "5", "phone": CALLER, "user": "user101", "ext": "101"},
        {"cmd": "something_new", "callid": "R1"},
        event("R1", "HOLD", "101"),
    ],
)
async def test_rating_and_unknown_notifications_get_200_and_are_not_stored(
    megafon: Hook, fields: Fields
) -> None:
    status, _ = await post(megafon, fields)
    assert status == 200
    assert await megafon.stored_events() == 0 and await megafon.calls() == []


async def test_contact_lookup_answers_with_the_patients_name(megafon: Hook) -> None:
    await megafon.add_contact("p1", "Анна Петрова", ["+7 916 123-45-67"])
    fields = {"cmd": "contact", "phone": CALLER, "callid": "C1"}
    status, reply = await post(megafon, fields)
    assert status == 200 and json.loads(reply) == {"contact_name": "Анна Петрова"}
    status, reply = await post(megafon, {**fields, "phone": "79990000000"})
    assert status == 200 and json.loads(reply) == {}
    status, reply = await post(megafon, {**fields, "phone": "anonymous"})
    assert status == 200 and json.loads(reply) == {}
    assert await megafon.stored_events() == 0


async def test_contact_lookup_needs_the_token(megafon: Hook) -> None:
    await megafon.add_contact("p1", "Анна Петрова", ["+7 916 123-45-67"])
    status, reply = await post(megafon, {"cmd": "contact", "phone": CALLER}, token="guess")
    assert status == 401 and "Анна".encode() not in reply


async def test_call_without_history_is_closed_by_timeout_then_corrected(megafon: Hook) -> None:
    fields = inbound_answered("LATE-1")
    await deliver(megafon, fields[:-1])
    assert await megafon.calls() == []
    assert await megafon.sweep(datetime.now(UTC) + timedelta(minutes=5)) == 0, "not overdue yet"
    assert await megafon.sweep(datetime.now(UTC) + timedelta(hours=5)) == 1
    [call] = await megafon.calls()
    assert call["closed_by_timeout"] is True
    assert (call["status"], call["answered_by"], call["operator"]) == ("answered", "101", "101")
    assert (call["caller"], call["called"], call["rang"]) == ("+79161234567", "+74951110001", ["101", "102"])
    await deliver(megafon, fields[-1:])
    [call] = await megafon.calls()
    assert call["closed_by_timeout"] is False and call["started_at"] == "2026-11-20T08:00:00.000Z"
    assert call["talk_seconds"] == 60.0 and call["recording"] is not None


async def test_timed_out_miss_corrected_by_a_late_history_cancels_its_task(megafon: Hook) -> None:
    await deliver(megafon, [event("LATE-2", "INCOMING", "101"), event("LATE-2", "CANCELLED", "101")])
    await megafon.sweep(datetime.now(UTC) + timedelta(hours=5))
    [call] = await megafon.calls()
    assert (call["status"], call["disposition"], call["closed_by_timeout"]) == (
        "missed",
        "caller_hangup",
        True,
    )
    assert call["callback_task"]["status"] == "open"
    await deliver(megafon, [history("LATE-2", "Success", duration=40, wait=5, ext="103")])
    [call] = await megafon.calls()
    assert (call["status"], call["operator"], call["closed_by_timeout"]) == ("answered", "103", False)
    assert [t["status"] for t in await megafon.tasks()] == ["cancelled"]


async def test_transfer_makes_the_last_taker_the_operator(megafon: Hook) -> None:
    callid = "XFER-1"
    await deliver(
        megafon,
        [
            event(callid, "INCOMING", "101"),
            event(callid, "ACCEPTED", "101"),
            event(callid, "TRANSFERRED", "101"),
            event(callid, "INCOMING", "104"),
            event(callid, "ACCEPTED", "104"),
            event(callid, "COMPLETED", "104"),
            history(callid, "Success", duration=100, wait=10, ext="101"),
        ],
    )
    [call] = await megafon.calls()
    assert (call["answered_by"], call["operator"], call["rang"]) == ("101", "104", ["101", "104"])
    assert [(t["from"], t["to"], t["kind"]) for t in call["transfers"]] == [("101", "104", "blind")]
