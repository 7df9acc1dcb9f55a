"""Live caller cards from kolokol's generic format and the dialects (Sipuni, Telfin, OnlinePBX), without
the app."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from kolokol.phones import PhoneNormalizer
from pbx.webhooks.base import CloudEvent, WebhookRequest
from pbx.webhooks.generic import Generic
from tests.support.live_calls import assert_dialing, assert_order_free, kinds, replay, the
from tests.support.providers.generic import CALLER, LINE, answered_with_transfer, ev
from tests.support.providers.generic_dialects import (
    TOKEN,
    T,
    opbx_inbound_answered,
    sipuni_inbound_answered,
    telfin_inbound_answered,
    telfin_leg,
)

# After the last event of these calls (a PBX time more than a day after its arrival is refused).
ARRIVED = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
GENERIC = Generic(PhoneNormalizer().e164, secret=None, url_token=TOKEN)


def posted(items: Sequence[dict[str, Any]]) -> list[CloudEvent]:
    """Events in kolokol's JSON, each in its own request to the secret URL."""
    return [
        e for item in items for e in GENERIC.handle(_request("POST", f"/{TOKEN}", json.dumps(item))).events
    ]


def dialect(name: str, requests: Sequence[dict[str, Any]]) -> list[CloudEvent]:
    """A dialect's own requests (OnlinePBX posts JSON, the others GET a query)."""
    out: list[CloudEvent] = []
    for fields in requests:
        if name == "onlinepbx":
            request = _request("POST", f"/{TOKEN}/{name}", json.dumps(fields))
        else:
            request = _request("GET", f"/{TOKEN}/{name}", "", query=urlencode(fields))
        out.extend(GENERIC.handle(request).events)
    return out


def _request(method: str, path: str, body: str, *, query: str = "") -> WebhookRequest:
    return WebhookRequest(
        method=method,
        path=path,
        raw_query=query,
        headers={},
        body=body.encode(),
        content_type="application/json" if body else "",
        remote="127.0.0.1",
        received_at=ARRIVED,
    )


def test_call_ringing_pops_the_card_and_the_ivr_does_not() -> None:
    changes = replay(GENERIC, "c1", posted(answered_with_transfer()))
    first = changes[0].call
    assert (changes[0].kind, first.pbx, first.ringing, first.state) == (
        "call.ringing",
        "generic",
        ("101",),
        "ringing",
    )
    assert (first.caller, first.caller_name, first.called, first.number) == (CALLER, "Пётр", LINE, CALLER)
    assert GENERIC.live("c1", posted(answered_with_transfer()[:2])) is None


def test_call_answered_connects_and_a_transfer_moves_the_call() -> None:
    changes = replay(GENERIC, "c1", posted(answered_with_transfer()))
    answered = the(changes, "call.answered")
    assert (answered.answered_by, answered.talking, answered.ringing) == ("102", ("102",), ())
    assert "101" in answered.extensions
    transferred = changes[kinds(changes).index("call.answered") + 1].call
    assert (transferred.talking, transferred.operator) == (("103",), "103")


def test_call_ended_ends_the_card_once() -> None:
    changes = replay(GENERIC, "c1", posted(answered_with_transfer()))
    assert kinds(changes).count("call.ended") == 1 and changes[-1].kind == "call.ended"
    assert (changes[-1].call.answered_by, changes[-1].call.operator) == ("102", "103")


def test_a_queued_call_goes_to_the_queue_it_names_before_any_phone_rings() -> None:
    items = [
        ev("q1", 1, "call.started", "00:00", direction="inbound", **{"from": CALLER, "to": LINE}),
        ev("q1", 2, "call.queued", "00:05", queue="reception"),
    ]
    call = GENERIC.live("q1", posted(items))
    assert call is not None
    assert (call.state, call.queue, call.ringing, call.extensions) == (
        "ringing",
        "reception",
        (),
        frozenset(),
    )


def test_outbound_is_dialing_for_the_operator() -> None:
    items = [
        ev(
            "o1",
            1,
            "call.started",
            "00:00",
            direction="outbound",
            extension="101",
            **{"from": LINE, "to": CALLER},
        ),
        ev("o1", 2, "call.answered", "00:09", direction="outbound"),
    ]
    dialing, answered = replay(GENERIC, "o1", posted(items))
    assert_dialing(dialing, "101", CALLER)
    assert (answered.kind, answered.call.talking, answered.call.answered_by) == (
        "call.answered",
        ("101",),
        None,
    )


def test_telfin_the_group_member_that_lost_the_race_closes_nothing() -> None:
    changes = replay(GENERIC, "t1", dialect("telfin", telfin_inbound_answered()))
    assert kinds(changes) == ["call.ringing", "call.ringing", "call.answered", "call.ended"]
    assert the(changes, "call.answered").talking == ("102",)
    ended_at = changes[-1].call.ended_at
    assert ended_at is not None and int(ended_at.timestamp()) == T + 70, "102's hang-up, not 101's"


def test_telfin_a_phone_that_stopped_ringing_rings_no_more() -> None:
    events = dialect(
        "telfin",
        [
            telfin_leg("dial-in", "101", T),
            telfin_leg("hangup", "101", T + 20, CallStatus="NOANSWER"),
            telfin_leg("dial-in", "102", T + 20),
        ],
    )
    call = GENERIC.live("t1", events)
    assert call is not None and (call.ringing, call.rang, call.state) == (("102",), ("101", "102"), "ringing")


def test_telfin_a_queue_extension_is_the_queue() -> None:
    call = GENERIC.live("t1", dialect("telfin", [telfin_leg("dial-in", "099", T, Bridged="no")]))
    assert call is not None and (call.queue, call.ringing) == ("099", ())


def test_sipuni_and_onlinepbx_ring_answer_and_end() -> None:
    sipuni = replay(GENERIC, "s1", dialect("sipuni", sipuni_inbound_answered()))
    assert kinds(sipuni) == ["call.ringing", "call.ringing", "call.answered", "call.ended"]
    assert the(sipuni, "call.answered").answered_by == "202"
    opbx = replay(GENERIC, "p1", dialect("onlinepbx", opbx_inbound_answered()))
    assert kinds(opbx) == ["call.ringing", "call.answered", "call.ended"]
    assert opbx[0].call.ringing == ("101",)


def test_any_order_and_duplicates_give_the_same_snapshot() -> None:
    assert assert_order_free(GENERIC, "c1", posted(answered_with_transfer())).state == "ended"
    telfin = dialect("telfin", telfin_inbound_answered())
    assert assert_order_free(GENERIC, "t1", telfin).state == "ended"
    assert assert_order_free(GENERIC, "t1", telfin[:-3]).talking == ("102",)
