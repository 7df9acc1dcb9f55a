"""The Telnyx adapter on its own: the key, the signature window, client_state, and the pure mapping."""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
from datetime import timedelta
from typing import Any

import pytest

from kolokol.app import make_app
from kolokol.settings import Settings
from pbx.webhooks.base import CloudEvent, Rejected
from pbx.webhooks.telnyx import Telnyx, _client_extension, _sip_user
from tests.support.providers.telnyx import KEY, PUBLIC_KEY, T0, adapter, e164, request


def envelope(kind: str, leg: str, at: float, event_id: str, **payload: Any) -> dict[str, Any]:
    return {
        "data": {
            "record_type": "event",
            "event_type": kind,
            "id": event_id,
            "occurred_at": (T0 + timedelta(seconds=at)).isoformat().replace("+00:00", "Z"),
            "payload": {"call_leg_id": leg, "call_session_id": "S", **payload},
        },
        "meta": {"attempt": 1},
    }


BODY = json.dumps(envelope("call.hangup", "A", 0, "e1", hangup_cause="normal_clearing")).encode()


@pytest.mark.parametrize(
    "key", ["", "not base64 at all!!", base64.b64encode(b"k" * 31).decode(), PUBLIC_KEY + "AAAA"]
)
def test_a_key_that_is_not_32_bytes_of_base64_is_refused_at_start(key: str) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Telnyx(key, e164, tolerance_seconds=300, app_answers_inbound=True)


def test_the_app_refuses_to_start_with_a_bad_key() -> None:
    settings = Settings.model_validate({"pbx": {"telnyx": {"public_key": "x" * 44}}})
    with pytest.raises(ValueError, match="public_key"):
        make_app(settings)


@pytest.mark.parametrize(
    ("arrived_after", "accepted"), [(0, True), (300, True), (-300, True), (301, False), (-301, False)]
)
def test_the_timestamp_window_is_the_tolerance_on_both_sides(arrived_after: float, accepted: bool) -> None:
    hook = adapter()
    if accepted:
        [event] = hook.handle(request(BODY, arrived_after=arrived_after)).events
        assert (event.call_id, event.dedupe_key, event.final) == ("S", "e1", True)
    else:
        with pytest.raises(Rejected) as refused:
            hook.handle(request(BODY, arrived_after=arrived_after))
        assert (refused.value.status, refused.value.slug) == (401, "stale-timestamp")


def test_a_non_numeric_timestamp_is_refused_even_when_signed() -> None:
    headers = {
        "telnyx-timestamp": "1e9",
        "telnyx-signature-ed25519": base64.b64encode(KEY.sign(b"1e9|" + BODY)).decode(),
    }
    forged = dataclasses.replace(request(BODY, arrived_after=0), headers=headers)
    with pytest.raises(Rejected) as refused:
        adapter().handle(forged)
    assert refused.value.slug == "bad-signature"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("client_state", "extension"),
    [
        (b64('{"extension": "101", "step": "ring"}'), "101"),
        (b64('{"extension": 205}'), "205"),
        (b64("101"), "101"),
        (b64("have a nice day =]"), None),
        (b64('{"step": "greeting"}'), None),
        (b64('{"extension": true}'), None),
        ("%%% not base64", None),
        (base64.b64encode(b"\xff\xfe").decode(), None),
        (None, None),
    ],
)
def test_client_state_carries_the_operator_extension(client_state: str | None, extension: str | None) -> None:
    assert _client_extension(client_state) == extension


@pytest.mark.parametrize(
    ("uri", "user"),
    [
        ("sip:101@clinic.sip.telnyx.com", "101"),
        ("<sips:reception;transport=tls@example.com>", "reception"),
        ("+74951110001", None),
        ("sip:clinic.example.com", None),
        (None, None),
    ],
)
def test_sip_user_part(uri: str | None, user: str | None) -> None:
    assert _sip_user(uri) == user


def stored(raw: dict[str, Any]) -> CloudEvent:
    [event] = adapter().handle(request(json.dumps(raw).encode(), arrived_after=0)).events
    return event


def answered_inbound() -> list[CloudEvent]:
    return [
        stored(
            envelope(
                "call.initiated",
                "A",
                0,
                "1",
                direction="incoming",
                **{"from": "+79161234567", "to": "+74951110001"},
            )
        ),
        stored(envelope("call.answered", "A", 1, "2")),
        stored(envelope("call.initiated", "B", 5, "3", direction="outgoing", to="sip:101@x")),
        stored(envelope("call.bridged", "B", 5, "4")),
        stored(envelope("call.answered", "B", 9, "5")),
        stored(envelope("call.hangup", "B", 60, "6", hangup_cause="normal_clearing")),
        stored(envelope("call.hangup", "A", 60, "7", hangup_cause="normal_clearing")),
    ]


def test_every_order_of_the_events_gives_the_same_record() -> None:
    hook = adapter()
    events = answered_inbound()
    records = {hook.assemble("S", list(order), timed_out=False) for order in itertools.permutations(events)}
    [record] = records
    assert record is not None
    assert (record.status, record.answered_by, record.rang) == ("answered", "101", ("101",))
    assert record.answered_at == T0 + timedelta(seconds=9)


def test_record_waits_for_every_leg_and_needs_a_call_initiated() -> None:
    hook = adapter()
    events = answered_inbound()
    assert hook.assemble("S", events[:-1], timed_out=False) is None
    hangups_only = [e for e in events if e.kind == "call.hangup"]
    assert hook.assemble("S", hangups_only, timed_out=False) is None
    timed_out = hook.assemble("S", hangups_only, timed_out=True)
    assert timed_out is not None and timed_out.closed_by_timeout


def test_a_bridge_with_a_lost_answer_counts_when_the_leg_ended_normally() -> None:
    events = [e for e in answered_inbound() if e.dedupe_key != "5"]
    record = adapter().assemble("S", events, timed_out=False)
    assert record is not None and record.status == "answered"
    assert record.answered_at == T0 + timedelta(seconds=5)


def test_the_callers_leg_comes_first_when_legs_start_in_the_same_moment() -> None:
    # "Z" sorts after "B": only the direction puts the caller's leg first.
    events = [
        stored(envelope("call.initiated", "B", 0, "1", direction="outgoing", to="sip:101@x")),
        stored(
            envelope(
                "call.initiated", "Z", 0, "2", direction="incoming", **{"from": "+79161234567", "to": "+7495"}
            )
        ),
        stored(envelope("call.hangup", "B", 9, "3", hangup_cause="timeout")),
        stored(envelope("call.hangup", "Z", 9, "4", hangup_cause="originator_cancel")),
    ]
    record = adapter().assemble("S", events, timed_out=False)
    assert record is not None and (record.direction, record.caller) == ("inbound", "+79161234567")
    assert (record.status, record.rang, record.disposition) == ("missed", ("101",), "no_answer")
