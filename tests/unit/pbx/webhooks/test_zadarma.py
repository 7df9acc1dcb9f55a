"""The Zadarma adapter without the app: signature, time mapping and the record from a set of events."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from datetime import timedelta

import pytest

from pbx.webhooks.base import Rejected, WebhookRequest
from tests.support.providers.zadarma import CALL, SECRET, T0, adapter, answered_call, events, request


def test_signature_is_base64_of_the_hex_text_not_of_the_raw_digest() -> None:
    text = "79161234567749511100012026-11-23 11:00:00"
    hex_text = hmac.new(SECRET.encode(), text.encode(), hashlib.sha1).hexdigest()
    assert adapter().signature(text) == base64.b64encode(hex_text.encode()).decode()
    assert len(base64.b64decode(adapter().signature(text))) == 40
    raw = base64.b64encode(hmac.new(SECRET.encode(), text.encode(), hashlib.sha1).digest()).decode()
    start = {**CALL, "event": "NOTIFY_START"}
    with pytest.raises(Rejected) as refused:
        adapter().handle(request(start, T0, signature=raw))
    assert refused.value.status == 401 and SECRET not in refused.value.message


def test_signature_covers_the_decoded_values() -> None:
    # "+" and spaces are encoded on the wire; the signature is over what they decode to.
    fields = {**CALL, "event": "NOTIFY_START", "caller_id": "+7 916 123-45-67"}
    [event] = adapter().handle(request(fields, T0)).events
    assert event.data["caller_id"] == "+7 916 123-45-67"


@pytest.mark.parametrize(
    ("zone", "local"), [("Europe/Moscow", "11:00:00"), ("Asia/Yekaterinburg", "13:00:00")]
)
def test_call_start_is_read_in_the_accounts_time_zone(zone: str, local: str) -> None:
    fields = {**CALL, "event": "NOTIFY_START", "call_start": f"2026-11-23 {local}"}
    [event] = adapter(zone).handle(request(fields, T0 + timedelta(seconds=3))).events
    assert event.occurred_at == T0 and event.data["call_start_utc"] == T0.isoformat()


def test_answer_and_end_times_are_the_arrival_times() -> None:
    zadarma = adapter()
    record = zadarma.assemble("in_1", events(zadarma, *answered_call()), timed_out=False)
    assert record is not None
    assert (record.started_at, record.answered_at, record.ended_at) == (
        T0,
        T0 + timedelta(seconds=9),
        T0 + timedelta(seconds=69),
    )
    assert (record.wait_seconds, record.talk_seconds) == (9.0, 60.0)
    assert (record.rang, record.answered_by, record.operator) == (("101", "102"), "101", "101")
    assert record.recording_ref == {
        "provider": "zadarma",
        "pbx_call_id": "in_1",
        "call_id_with_rec": "1795420800.777",
        "fetch": "zadarma_pbx_record_request",
        "ready": False,
    }


def test_without_notify_answer_the_answer_is_end_minus_duration() -> None:
    zadarma = adapter()
    steps = [s for s in answered_call() if s[1]["event"] != "NOTIFY_ANSWER"]
    steps[-1] = (80, {**steps[-1][1], "duration": "50"})
    record = zadarma.assemble("in_1", events(zadarma, *steps), timed_out=False)
    assert record is not None and record.answered_at == T0 + timedelta(seconds=30)
    assert (record.answered_by, record.operator, record.talk_seconds) == ("101", "101", 50.0)


def test_an_answer_that_arrived_after_the_end_does_not_zero_the_talk_time() -> None:
    zadarma = adapter()
    steps = answered_call()
    steps[3] = (70, steps[3][1])  # ANSWER delivered after END (69 s)
    record = zadarma.assemble("in_1", events(zadarma, *steps), timed_out=False)
    assert record is not None and record.answered_at == T0 + timedelta(seconds=9)
    assert record.talk_seconds == 60.0


def test_a_second_answering_extension_is_a_transfer() -> None:
    zadarma = adapter()
    steps = answered_call()
    steps.insert(4, (30, {**CALL, "event": "NOTIFY_ANSWER", "internal": "103", "destination": "103"}))
    steps[-1] = (69, {**steps[-1][1], "internal": "103"})
    record = zadarma.assemble("in_1", events(zadarma, *steps), timed_out=False)
    assert record is not None
    assert (record.answered_by, record.operator) == ("101", "103")
    assert [(t.from_ext, t.to_ext, t.at) for t in record.transfers] == [
        ("101", "103", T0 + timedelta(seconds=30))
    ]


def test_the_record_depends_on_the_set_of_events_not_their_order() -> None:
    zadarma = adapter()
    stored = events(zadarma, *answered_call())
    expected = zadarma.assemble("in_1", stored, timed_out=False)
    for order in itertools.permutations(stored):
        assert zadarma.assemble("in_1", list(order), timed_out=False) == expected
    assert zadarma.assemble("in_1", [e for e in stored if not e.final], timed_out=False) is None


def test_a_redelivery_has_the_same_dedupe_key_and_other_steps_do_not() -> None:
    zadarma = adapter()
    first = events(zadarma, *answered_call())
    again = events(zadarma, *[(s + 7, f) for s, f in answered_call()])
    assert [e.dedupe_key for e in first] == [e.dedupe_key for e in again]
    assert len({e.dedupe_key for e in first}) == len(first)
    ivr = {**CALL, "event": "NOTIFY_IVR"}
    one, two = events(zadarma, (1, {**ivr, "wait_dtmf[digits]": "1"}), (5, {**ivr, "wait_dtmf[digits]": "2"}))
    assert one.dedupe_key != two.dedupe_key


def test_a_call_to_an_extension_is_internal() -> None:
    zadarma = adapter()
    common = {
        "pbx_call_id": "out_9",
        "internal": "101",
        "destination": "102",
        "call_start": "2026-11-23 11:00:00",
    }
    record = zadarma.assemble(
        "out_9",
        events(
            zadarma,
            (0, {**common, "event": "NOTIFY_OUT_START"}),
            (
                20,
                {
                    **common,
                    "event": "NOTIFY_OUT_END",
                    "caller_id": "101",
                    "duration": "15",
                    "disposition": "answered",
                },
            ),
        ),
        timed_out=False,
    )
    assert record is not None
    assert (record.direction, record.caller, record.called, record.operator) == (
        "internal",
        "101",
        "102",
        "101",
    )
    assert record.talk_seconds == 15.0


def test_lookup_reply_names_the_first_contact_or_stays_empty() -> None:
    assert adapter().lookup_reply(["Анна", "Иван"]).body.decode() == '{"caller_name": "Анна"}'
    assert (adapter().lookup_reply([]).status, adapter().lookup_reply([]).body) == (200, b"")
    accepted = adapter().handle(request({**CALL, "event": "NOTIFY_START"}, T0))
    assert accepted.lookup_number == "+79161234567"


def test_multipart_with_cyrillic_values_is_read_as_utf8() -> None:
    fields = {**CALL, "event": "NOTIFY_START", "caller_id": "Анна"}
    boundary = "b0undary"
    body = (
        "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in fields.items()
        )
        + f"--{boundary}--\r\n"
    )
    base = request(fields, T0, content_type=f"multipart/form-data; boundary={boundary}")
    multipart = WebhookRequest(
        base.method,
        base.path,
        "",
        base.headers,
        body.encode(),
        base.content_type,
        base.remote,
        base.received_at,
    )
    [event] = adapter().handle(multipart).events
    assert event.data["caller_id"] == "Анна"
