"""Records that match the provider: a call delivered late, or re-delivered after kolokol was unreachable,
keeps the talk time the provider reported (Zadarma and MegaFon `duration`, OnlinePBX `dialog_duration`,
Telfin `Duration`), and providers whose events carry their own times (Mango, Twilio, Telnyx, generic) give
the same record however late their deliveries came."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from kolokol.phones import PhoneNormalizer
from pbx.call_record import PbxCallRecord
from pbx.webhooks.base import CloudEvent, WebhookAdapter, WebhookRequest
from pbx.webhooks.generic import Generic
from pbx.webhooks.twilio import Twilio
from tests.support.providers import generic_dialects as dialects
from tests.support.providers import mango_office as mango
from tests.support.providers import megafon_vats as megafon
from tests.support.providers import telnyx, twilio, zadarma
from tests.support.providers.generic import answered_with_transfer

TALK = 95
HOUR = 3600


def later(request: WebhookRequest, seconds: float) -> WebhookRequest:
    return dataclasses.replace(request, received_at=request.received_at + timedelta(seconds=seconds))


# ---- Zadarma: no answer or end time, the END's duration -------------------------------------------------

ZADARMA_CALL = zadarma.CALL  # call_start 11:00:00 Moscow = zadarma.T0


def zadarma_answered(answer_at: float, end_at: float) -> PbxCallRecord:
    """A 95-second call answered by 101; its ANSWER and END arrive so many seconds after its start."""
    adapter = zadarma.adapter()
    end = {
        **ZADARMA_CALL,
        "event": "NOTIFY_END",
        "internal": "101",
        "duration": str(TALK),
        "disposition": "answered",
    }
    steps: list[tuple[float, dict[str, str]]] = [
        (0, {**ZADARMA_CALL, "event": "NOTIFY_START"}),
        (1, {**ZADARMA_CALL, "event": "NOTIFY_INTERNAL", "internal": "101"}),
        (answer_at, {**ZADARMA_CALL, "event": "NOTIFY_ANSWER", "internal": "101", "destination": "101"}),
        (end_at, end),
    ]
    arrived = [
        e
        for seconds, f in steps
        for e in adapter.handle(zadarma.request(f, zadarma.T0 + timedelta(seconds=seconds))).events
    ]
    record = adapter.assemble("in_1", arrived, timed_out=False)
    assert record is not None
    return record


@pytest.mark.parametrize(
    ("answer_at", "end_at", "answered", "why"),
    [
        (9, 104, 9, "on time"),
        (9, 104 + 240, 9, "the END came four minutes late"),
        (300, 300.2, 205.2, "ANSWER and END re-delivered together after kolokol was unreachable"),
        (HOUR, HOUR + 1, 0, "an hour's backlog: the wait is unknown"),
    ],
)
def test_zadarma_talk_time_is_the_end_duration_however_late_the_deliveries(
    answer_at: float, end_at: float, answered: float, why: str
) -> None:
    record = zadarma_answered(answer_at, end_at)
    assert record.talk_seconds == TALK, why
    assert record.started_at == zadarma.T0
    assert record.answered_at == zadarma.T0 + timedelta(seconds=answered), why
    assert record.ended_at == record.answered_at + timedelta(seconds=TALK)


def test_zadarma_outgoing_call_whose_end_came_late_keeps_its_duration() -> None:
    adapter = zadarma.adapter()
    out = {**ZADARMA_CALL, "pbx_call_id": "out_1", "internal": "101", "destination": "79031112233"}
    end = {**out, "event": "NOTIFY_OUT_END", "duration": str(TALK), "disposition": "answered"}
    steps = [(0, {**out, "event": "NOTIFY_OUT_START"}), (8 + TALK + 200, end)]
    record = adapter.assemble("out_1", zadarma.events(adapter, *steps), timed_out=False)
    assert record is not None and record.direction == "outbound"
    assert (record.status, record.talk_seconds) == ("answered", TALK)


def test_zadarma_missed_call_ends_when_its_end_arrived() -> None:
    # A miss has duration 0 (evidence that duration is talk time, not the whole call): nothing to place.
    adapter = zadarma.adapter()
    end = {**ZADARMA_CALL, "event": "NOTIFY_END", "duration": "0", "disposition": "no answer"}
    steps = [(0, {**ZADARMA_CALL, "event": "NOTIFY_START"}), (31, end)]
    record = adapter.assemble("in_1", zadarma.events(adapter, *steps), timed_out=False)
    assert record is not None
    assert (record.status, record.ended_at, record.talk_seconds) == (
        "missed",
        zadarma.T0 + timedelta(seconds=31),
        0,
    )


# ---- MegaFon: no event times, the history's duration ----------------------------------------------------

MEGAFON_START = "20261123T080000Z"  # = megafon.T0


def megafon_event(kind: str, arrived: float) -> CloudEvent:
    fields = {
        "cmd": "event",
        "type": kind,
        "callid": "C1",
        "ext": "101",
        "phone": megafon.CALLER,
        "diversion": megafon.DID,
        "direction": "in",
    }
    [event] = megafon.HOOK.handle(megafon.request(fields, megafon.T0 + timedelta(seconds=arrived))).events
    return event


def megafon_history(arrived: float) -> CloudEvent:
    fields = {
        "cmd": "history",
        "type": "in",
        "callid": "C1",
        "ext": "101",
        "status": "Success",
        "phone": megafon.CALLER,
        "diversion": megafon.DID,
        "start": MEGAFON_START,
        "duration": TALK,
    }
    [event] = megafon.HOOK.handle(megafon.request(fields, megafon.T0 + timedelta(seconds=arrived))).events
    return event


@pytest.mark.parametrize(
    ("accepted_at", "history_at", "answered", "why"),
    [
        (9, 104.5, 9, "on time"),
        (9, 104 + 300, 9, "the history came five minutes late"),
        (240, 240.3, 145.3, "ACCEPTED and history re-delivered together"),
        (None, 104.5, 9.5, "events not subscribed: the history's arrival places the talk"),
        (HOUR, HOUR + 1, 0, "an hour's backlog: the wait is unknown"),
    ],
)
def test_megafon_talk_time_is_the_history_duration_however_late_the_deliveries(
    accepted_at: float | None, history_at: float, answered: float, why: str
) -> None:
    events = [megafon_event("INCOMING", 1), megafon_history(history_at)]
    if accepted_at is not None:
        events.append(megafon_event("ACCEPTED", accepted_at))
    record = megafon.HOOK.assemble("C1", events, timed_out=False)
    assert record is not None
    assert record.talk_seconds == TALK, why
    assert record.answered_at == megafon.T0 + timedelta(seconds=answered), why


# ---- OnlinePBX and Telfin (generic dialects): their talk time when their clock is missing ----------------

GENERIC = Generic(PhoneNormalizer().e164, secret=None, url_token=dialects.TOKEN)


def dialect_events(name: str, requests: Sequence[tuple[dict[str, Any], float]]) -> list[CloudEvent]:
    out: list[CloudEvent] = []
    for fields, arrived in requests:
        at = datetime.fromtimestamp(dialects.T + arrived, UTC)
        if name == "onlinepbx":
            body, query, kind = json.dumps(fields).encode(), "", "application/json"
            method = "POST"
        else:
            body, query, kind, method = b"", urlencode(fields), "", "GET"
        request = WebhookRequest(method, f"/{dialects.TOKEN}/{name}", query, {}, body, kind, None, at)
        out.extend(GENERIC.handle(request).events)
    return out


def test_onlinepbx_end_without_date_keeps_its_dialog_duration() -> None:
    start = dialects.opbx("call_start", dialects.T)
    end = dialects.opbx("call_end", dialects.T, dialog_duration=TALK, hangup_cause="NORMAL_CLEARING")
    del end["date"]  # the end is then placed by its arrival, 200 s late
    record = GENERIC.assemble(
        "p1", dialect_events("onlinepbx", [(start, 0), (end, 10 + TALK + 200)]), timed_out=False
    )
    assert record is not None
    assert (record.status, record.talk_seconds) == ("answered", TALK)


def test_telfin_hangup_without_event_time_keeps_its_duration() -> None:
    ring = dialects.telfin_leg("dial-in", "101", dialects.T)
    hangup = dialects.telfin_leg("hangup", "101", dialects.T, CallStatus="ANSWER", Duration=TALK * 1_000_000)
    del hangup["EventTime"]
    record = GENERIC.assemble(
        "t1", dialect_events("telfin", [(ring, 0), (hangup, 10 + TALK + 200)]), timed_out=False
    )
    assert record is not None
    assert (record.status, record.talk_seconds) == ("answered", TALK)


# ---- providers with their own clocks: the arrival changes nothing -------------------------------------


def mango_requests() -> list[WebhookRequest]:
    return [
        WebhookRequest(
            "POST",
            path,
            "",
            {},
            mango.form(payload),
            "application/x-www-form-urlencoded",
            None,
            datetime.fromtimestamp(mango.T0, UTC),
        )
        for path, payload in mango.inbound_answered()
    ]


def twilio_requests() -> list[WebhookRequest]:
    call = "CA" + "9" * 32
    deliveries = [
        twilio.parent(call, 0, 0, "initiated", direction="outbound-api", query="extension=101"),
        twilio.parent(call, 1, 3, "ringing", direction="outbound-api", query="extension=101"),
        twilio.parent(call, 2, 10, "in-progress", direction="outbound-api", query="extension=101"),
        twilio.parent(
            call, 3, 10 + TALK, "completed", direction="outbound-api", duration=TALK, query="extension=101"
        ),
    ]
    return [twilio.request(path, params, base=twilio.BASE, query=query) for path, query, params in deliveries]


def telnyx_requests(delay: float) -> list[WebhookRequest]:
    events = telnyx.outbound("sess-late", answered_at=10, cause="normal_clearing", end=10 + TALK)
    return [
        telnyx.request(json.dumps(e).encode(), arrived_after=delay, timestamp=telnyx.SENT + int(delay))
        for e in events
    ]


def generic_requests() -> list[WebhookRequest]:
    sent = datetime(2026, 11, 23, 9, 5, tzinfo=UTC)
    return [
        WebhookRequest(
            "POST", f"/{dialects.TOKEN}", "", {}, json.dumps(item).encode(), "application/json", None, sent
        )
        for item in answered_with_transfer("late")
    ]


Adapter = WebhookAdapter
PROVIDERS: dict[str, tuple[Callable[[], Adapter], str, Callable[[float], list[WebhookRequest]]]] = {
    "mango_office": (lambda: mango.MANGO, "MTAxOjExMQ==", lambda d: [later(r, d) for r in mango_requests()]),
    "twilio": (lambda: _twilio(), "CA" + "9" * 32, lambda d: [later(r, d) for r in twilio_requests()]),
    "telnyx": (lambda: telnyx.adapter(), "sess-late", telnyx_requests),
    "generic": (lambda: GENERIC, "late", lambda d: [later(r, d) for r in generic_requests()]),
}


def _twilio() -> Adapter:
    return Twilio(
        twilio.SID,
        twilio.TOKEN,
        twilio.BASE,
        PhoneNormalizer().e164,
        ring={"101": twilio.SIP101},
        dial_timeout_seconds=30,
        record=False,
    )


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_providers_with_their_own_times_give_the_same_record_however_late_the_deliveries(
    provider: str,
) -> None:
    make, call_id, requests = PROVIDERS[provider]
    adapter = make()

    def record(delay: float) -> PbxCallRecord:
        events = [e for r in requests(delay) for e in adapter.handle(r).events]
        built = adapter.assemble(call_id, events, timed_out=False)
        assert built is not None
        return built

    on_time, late = record(0), record(HOUR)
    assert late == on_time
    assert on_time.status == "answered" and on_time.talk_seconds > 0
