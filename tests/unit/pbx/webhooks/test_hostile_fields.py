"""Every field of every provider's typical call, replaced in turn by hostile values and validly signed:
the adapter refuses the request (a 4xx naming the problem) or accepts events the inbox can hold, and
every record and live snapshot built from them is one the call log and the feed can carry.

The values are what a broken or hostile sender can put in a signed request: text no database can store
(lone surrogates, NUL, bytes that are not UTF-8), numbers int() refuses (5,000 digits, "²", "①"),
floats beyond range (1e999), times at the edges of the calendar or far in the future, deep nesting,
huge strings, wrong types.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest

from kolokol.calls.record_fit import fitted_record
from kolokol.phones import PhoneNormalizer
from kolokol.storage.tables import Call
from pbx.call_record import PbxCallRecord
from pbx.live import LiveCall
from pbx.untrusted import text_problem
from pbx.webhooks.base import (
    CLOCK_SLACK,
    EARLIEST,
    CloudEvent,
    Rejected,
    WebhookAdapter,
    WebhookRequest,
    storable,
)
from pbx.webhooks.generic import Generic
from pbx.webhooks.mango_office import MangoOffice
from pbx.webhooks.megafon_vats import MegafonVats
from pbx.webhooks.twilio import Twilio
from pbx.webhooks.zadarma import Zadarma
from tests.support.providers import (
    generic,
    generic_dialects,
    mango_office,
    megafon_vats,
    telnyx,
    twilio,
    zadarma,
)

E164 = PhoneNormalizer().e164
Path = tuple[str | int, ...]


class Raw(str):
    """A value spliced into the body exactly as written (JSON literals, percent-escapes)."""


DEEP: Any = "x"
for _ in range(40):
    DEEP = {"a": DEEP}

# For JSON bodies: any JSON value, and raw literals json.dumps would not write.
JSON_VALUES: list[Any] = [
    "\ud800",
    "a\udfffb",
    "NUL\x00",
    "Я" * 1000,  # longer than any column
    "Ж" * 150,  # longer than some (numbers, extensions), shorter than others
    "9" * 5000,
    "²",
    "①",
    Raw("1e999"),
    Raw("-1e999"),
    Raw("9" * 5000),
    10**30,
    1.5e300,
    -1,
    0,
    True,
    None,
    [],
    {},
    ["\ud800"],
    DEEP,
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "3000-01-01T00:00:00Z",
    32503680000,  # the year 3000 in unix seconds
    "32503680000",
    "20990101T000000Z",
]
# For forms: text, and percent-escapes that spell no UTF-8 or a surrogate.
FORM_VALUES: list[str] = [
    Raw("%ED%A0%80"),
    Raw("%FF%FE"),
    "NUL\x00",
    "Я" * 1000,
    "Ж" * 150,
    "9" * 5000,
    "²",
    "①",
    "1e999",
    "-1",
    "",
    "9999-12-31 23:59:59",
    "0001-01-01 00:00:00",
    "30000101T000000Z",
    "Fri, 31 Dec 9999 23:59:59 -2359",
    "Mon, 01 Jan 0001 00:00:00 +2359",
    "32503680000",
]


def leaves(value: Any, path: Path = ()) -> Iterator[Path]:
    """The path to every value inside `value` (containers too: they can be replaced whole)."""
    if path:
        yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaves(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from leaves(child, (*path, index))


def replaced(value: Any, path: Path, new: Any) -> Any:
    out = copy.deepcopy(value)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return out


def json_text(value: Any) -> str:
    """JSON as a hostile sender may write it: `Raw` values spliced in, lone surrogates as escapes."""
    raws: dict[str, str] = {}

    def mark(item: Any) -> Any:
        if isinstance(item, Raw):
            key = f"@@raw{len(raws)}@@"
            raws[key] = str(item)
            return key
        if isinstance(item, dict):
            return {k: mark(v) for k, v in item.items()}
        if isinstance(item, list):
            return [mark(v) for v in item]
        return item

    text = json.dumps(mark(value))
    for key, raw in raws.items():
        text = text.replace(f'"{key}"', raw)
    return text


def form_text(fields: dict[str, Any]) -> str:
    raws: dict[str, str] = {}
    plain: dict[str, str] = {}
    for name, value in fields.items():
        if isinstance(value, Raw):
            raws[name] = str(value)
        else:
            plain[name] = str(value)
    return "&".join([urlencode(plain), *(f"{name}={raw}" for name, raw in raws.items())]).strip("&")


@dataclass
class Provider:
    adapter: WebhookAdapter
    deliveries: list[Any]
    values: list[Any]
    request: Callable[[Any, int], WebhookRequest]
    # The part of a delivery that is mutated (a path into it).
    payload: Callable[[Any], Any] = lambda delivery: delivery
    with_payload: Callable[[Any, Any], Any] = lambda delivery, payload: payload


# ---- the providers, each with the signed requests of one typical call ---------------------------

GENERIC_SECRET = "test-generic-secret"
GENERIC_SENT = datetime(2026, 11, 23, 9, 5, tzinfo=UTC)


def _generic_request(item: dict[str, Any], _n: int) -> WebhookRequest:
    body = json_text(item).encode()
    stamp = str(int(GENERIC_SENT.timestamp()))
    mac = hmac.new(GENERIC_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return WebhookRequest(
        "POST",
        "/",
        "",
        {"x-kolokol-timestamp": stamp, "x-kolokol-signature": f"sha256={mac}"},
        body,
        "application/json",
        "127.0.0.1",
        GENERIC_SENT,
    )


def _dialect_request(dialect: str, method: str) -> Callable[[dict[str, Any], int], WebhookRequest]:
    def request(fields: dict[str, Any], _n: int) -> WebhookRequest:
        at = datetime.fromtimestamp(generic_dialects.T + 120, UTC)
        path = f"/{generic_dialects.TOKEN}/{dialect}"
        if method == "JSON":
            body = json_text(fields).encode()
            return WebhookRequest("POST", path, "", {}, body, "application/json", "127.0.0.1", at)
        text = form_text(fields)
        if method == "GET":
            return WebhookRequest("GET", path, text, {}, b"", "", "127.0.0.1", at)
        form = "application/x-www-form-urlencoded"
        return WebhookRequest("POST", path, "", {}, text.encode(), form, "127.0.0.1", at)

    return request


def _mango_request(delivery: tuple[str, dict[str, Any]], _n: int) -> WebhookRequest:
    path, payload = delivery
    text = json_text(payload)
    sign = hashlib.sha256(f"{mango_office.KEY}{text}{mango_office.SALT}".encode("utf-8", "surrogatepass"))
    body = urlencode({"vpbx_api_key": mango_office.KEY, "sign": sign.hexdigest(), "json": text}).encode()
    at = datetime.fromtimestamp(mango_office.T0 + 100, UTC)
    form = "application/x-www-form-urlencoded"
    return WebhookRequest("POST", path, "", {}, body, form, "81.88.80.132", at)


def _zadarma_request(delivery: tuple[int, dict[str, Any]], _n: int) -> WebhookRequest:
    seconds, fields = delivery
    plain = {k: str(v) for k, v in fields.items() if not isinstance(v, Raw)}
    signature = zadarma.adapter().signature(zadarma._s({"event": "", **plain}))
    request = zadarma.request(plain, zadarma.T0 + timedelta(seconds=seconds), signature=signature)
    body = form_text(fields).encode()
    return WebhookRequest(
        request.method,
        request.path,
        "",
        request.headers,
        body,
        request.content_type,
        request.remote,
        request.received_at,
    )


def _megafon_request(fields: dict[str, Any], n: int) -> WebhookRequest:
    at = megafon_vats.T0 + timedelta(seconds=n)
    body = form_text({**fields, "crm_token": megafon_vats.TOKEN}).encode()
    form = "application/x-www-form-urlencoded"
    return WebhookRequest("POST", "/", "", {}, body, form, "193.201.230.155", at)


def _twilio_request(delivery: tuple[str, str, dict[str, Any]], n: int) -> WebhookRequest:
    path, query, params = delivery
    plain = {k: str(v) for k, v in params.items() if not isinstance(v, Raw)}
    signed = twilio.request(path, plain, base=twilio.BASE, query=query)
    return WebhookRequest(
        "POST",
        path,
        query,
        signed.headers,
        form_text(params).encode(),
        signed.content_type,
        signed.remote,
        twilio.T0 + timedelta(seconds=120),
    )


def _telnyx_request(event: dict[str, Any], n: int) -> WebhookRequest:
    return telnyx.request(json_text(event).encode(), arrived_after=n)


PROVIDERS: dict[str, Callable[[], Provider]] = {
    "generic": lambda: Provider(
        Generic(E164, secret=GENERIC_SECRET, url_token=None),
        generic.answered_with_transfer(),
        JSON_VALUES,
        _generic_request,
    ),
    "sipuni": lambda: Provider(
        Generic(E164, secret=None, url_token=generic_dialects.TOKEN),
        generic_dialects.sipuni_inbound_answered(),
        FORM_VALUES,
        _dialect_request("sipuni", "POST"),
    ),
    "telfin": lambda: Provider(
        Generic(E164, secret=None, url_token=generic_dialects.TOKEN),
        generic_dialects.telfin_inbound_answered(),
        FORM_VALUES,
        _dialect_request("telfin", "GET"),
    ),
    "onlinepbx": lambda: Provider(
        Generic(E164, secret=None, url_token=generic_dialects.TOKEN),
        generic_dialects.opbx_inbound_answered(),
        JSON_VALUES,
        _dialect_request("onlinepbx", "JSON"),
    ),
    "mango_office": lambda: Provider(
        MangoOffice(mango_office.KEY, mango_office.SALT, E164),
        [*mango_office.inbound_answered(), *mango_office.inbound_missed()],
        JSON_VALUES,
        _mango_request,
        payload=lambda delivery: delivery[1],
        with_payload=lambda delivery, payload: (delivery[0], payload),
    ),
    "zadarma": lambda: Provider(
        Zadarma(zadarma.KEY, zadarma.SECRET, "Europe/Moscow", E164),
        zadarma.answered_call(),
        FORM_VALUES,
        _zadarma_request,
        payload=lambda delivery: delivery[1],
        with_payload=lambda delivery, payload: (delivery[0], payload),
    ),
    "megafon_vats": lambda: Provider(
        MegafonVats(megafon_vats.TOKEN, E164),
        [*megafon_vats.inbound_answered(), *megafon_vats.inbound_missed()],
        FORM_VALUES,
        _megafon_request,
    ),
    "twilio": lambda: Provider(
        Twilio(
            twilio.SID,
            twilio.TOKEN,
            twilio.BASE,
            E164,
            ring=twilio.RING,
            dial_timeout_seconds=20,
            record=True,
        ),
        twilio.inbound_answered(),
        FORM_VALUES,
        _twilio_request,
        payload=lambda delivery: delivery[2],
        with_payload=lambda delivery, payload: (delivery[0], delivery[1], payload),
    ),
    "telnyx": lambda: Provider(
        telnyx.adapter(),
        telnyx.inbound_answered(),
        JSON_VALUES,
        _telnyx_request,
    ),
}


# ---- what the call log and the feed can carry ------------------------------------------------------


def _limit(column: str) -> int:
    length = getattr(Call.__table__.c[column].type, "length", None)
    assert isinstance(length, int)
    return length


def _text_ok(value: Any, limit: int | None = None) -> bool:
    if value is None:
        return True
    if not isinstance(value, str) or text_problem(value) is not None:
        return False
    return limit is None or len(value) <= limit


def record_problems(record: PbxCallRecord, latest: datetime) -> list[str]:
    ext = _limit("operator")
    checks = {
        "pbx_call_id": _text_ok(record.pbx_call_id, _limit("pbx_call_id")),
        "caller": _text_ok(record.caller, _limit("caller")),
        "called": _text_ok(record.called, _limit("called")),
        "caller_name": _text_ok(record.caller_name, _limit("caller_name")),
        "operator": _text_ok(record.operator, ext),
        "answered_by": _text_ok(record.answered_by, _limit("answered_by")),
        "rang": all(_text_ok(r, ext) for r in record.rang),
        "transfers": all(_text_ok(t.from_ext, ext) and _text_ok(t.to_ext, ext) for t in record.transfers),
        "times": EARLIEST <= record.started_at <= record.ended_at <= latest + CLOCK_SLACK,
    }
    try:
        json.dumps(record.recording_ref, allow_nan=False).encode()
    except (TypeError, ValueError):
        checks["recording_ref"] = False
    return [name for name, ok in checks.items() if not ok]


def live_problems(live: LiveCall) -> list[str]:
    texts = [live.caller, live.called, live.caller_name, live.queue, live.operator, live.answered_by]
    texts += [*live.ringing, *live.talking, *live.rang]
    return [] if all(_text_ok(t) for t in texts) else ["text"]


def accepted_events(provider: Provider, request: WebhookRequest) -> list[CloudEvent] | Rejected:
    """What the inbox would store of one request: its events, or the refusal."""
    try:
        return list(storable(provider.adapter.handle(request).events, request.received_at))
    except Rejected as exc:
        return exc


def outcome(provider: Provider, stored: Sequence[list[CloudEvent]], request: WebhookRequest) -> str | None:
    """None when the outcome of one more `request` (next to the `stored` deliveries) is acceptable, else
    what went wrong."""
    try:
        mine = accepted_events(provider, request)
    except Exception as exc:  # the finding: anything but a refusal
        return f"handle raised {type(exc).__name__}: {exc}"[:300]
    if isinstance(mine, Rejected):
        return None if 400 <= mine.status < 500 else f"refused with {mine.status}: {mine.message}"
    for event in mine:
        try:
            json.dumps(dict(event.data), ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            return f"stored data cannot be written: {exc}"[:300]
    events = [e for delivered in stored for e in delivered] + mine
    for call_id in {e.call_id for e in mine}:
        of_call = [e for e in events if e.call_id == call_id]
        try:
            for timed_out in (False, True):
                record = provider.adapter.assemble(call_id, of_call, timed_out=timed_out)
                # As the call pipeline stores it (kolokol.calls.record_fit fits every PBX's records).
                stored_record = fitted_record(record) if record is not None else None
                problems = record_problems(stored_record, request.received_at) if stored_record else []
                if problems:
                    return f"the record does not fit: {problems}"
            live = provider.adapter.live(call_id, of_call)
            if live is not None and live_problems(live):
                return "the live snapshot holds invalid text"
        except Exception as exc:  # a build that fails leaves the call unbuilt for good
            return f"building raised {type(exc).__name__}: {exc}"[:300]
    return None


# Fields that decide how a delivery is read: two deliveries alike in these and in their fields' places
# take the same paths through the adapter, so hostile values are tried on the first of them only.
_KIND_FIELDS = ("type", "event_type", "event", "cmd", "call_state", "EventType", "CallStatus", "status")


def shape(payload: Any) -> str:
    kinds: dict[str, Any] = {}
    for path in leaves(payload):
        if path[-1] in _KIND_FIELDS:
            value = payload
            for step in path:
                value = value[step]
            kinds[".".join(map(str, path))] = value
    return json.dumps([sorted(".".join(map(str, p)) for p in leaves(payload)), kinds], default=str)


def stored_deliveries(provider: Provider) -> list[list[CloudEvent]]:
    stored = []
    for n, delivery in enumerate(provider.deliveries):
        events = accepted_events(provider, provider.request(delivery, n))
        assert not isinstance(events, Rejected), f"the untouched delivery {n} was refused: {events}"
        stored.append(events)
    return stored


@pytest.mark.parametrize("name", list(PROVIDERS))
def test_every_field_holding_hostile_values_is_refused_or_stored_safely(name: str) -> None:
    provider = PROVIDERS[name]()
    stored = stored_deliveries(provider)
    last = len(stored) - 1
    assert outcome(provider, stored[:last], provider.request(provider.deliveries[last], last)) is None
    findings: list[str] = []
    tried = 0
    shapes: set[str] = set()
    for n, delivery in enumerate(provider.deliveries):
        others = stored[:n] + stored[n + 1 :]
        payload = provider.payload(delivery)
        if shape(payload) in shapes:
            continue
        shapes.add(shape(payload))
        for path in list(leaves(payload)):
            for value in provider.values:
                mutated = provider.with_payload(delivery, replaced(payload, path, value))
                try:
                    request = provider.request(mutated, n)
                except (TypeError, ValueError, UnicodeError):
                    continue  # a value this provider's encoding cannot even carry
                tried += 1
                problem = outcome(provider, others, request)
                if problem is not None:
                    where = ".".join(map(str, path))
                    findings.append(f"delivery {n} {where} = {str(value)[:40]!r}: {problem}")
    assert tried > 100
    assert findings == [], f"{len(findings)} of {tried}:\n" + "\n".join(findings[:40])
