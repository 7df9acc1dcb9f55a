"""What every cloud PBX adapter shares: the request it is given, the events it emits, how it refuses.

Adapters are pure: bytes and headers in, verified events (or a refusal) out; stored events in, a call
record out. No aiohttp, no SQL, no clock of their own (the request carries the time it arrived), so each
provider's signature scheme and mapping is tested in milliseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import unquote_plus

from pbx.call_record import Direction, Disposition, MissedWhere, PbxCallRecord, Transfer, outcome
from pbx.live import LiveCall, LiveState
from pbx.untrusted import Unusable, fitted, invalid_text, load_json, text_problem

# Turns whatever a PBX sends as a number into E.164, or None for extensions and garbage.
ToE164 = Callable[[str | None], str | None]

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# Form bodies with more fields than this are not a PBX talking.
MAX_FORM_FIELDS = 200

# What the inbox and the call log hold (kolokol.storage.tables): an event that does not fit is refused
# with 400, a live call is fitted, a record is fitted by the call pipeline (tests keep these equal to the
# columns).
MAX_CALL_ID_CHARS = 200
MAX_DEDUPE_KEY_CHARS = 400
MAX_KIND_CHARS = 40
MAX_NUMBER_CHARS = 100  # caller, called: E.164, or what the PBX sent when it is no phone number
MAX_CALLER_NAME_CHARS = 200
MAX_EXTENSION_CHARS = 40  # operator, answered_by, rang, transfers
# One event's data as the inbox stores it (JSON, non-ASCII escaped); most are under 2 KiB. The database
# refuses more (migration 0005).
MAX_EVENT_DATA_CHARS = 1_000_000

# A time a PBX reports is plausible from 2000 until a day after it arrived (clocks drift; a call of
# the year 3000 would sit at the top of the call log for good).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SLACK = timedelta(days=1)


class Rejected(Exception):
    """The request is refused: nothing is stored, the client gets ``status`` and a JSON error; ``field``
    names the offending field when there is one."""

    def __init__(self, status: int, slug: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.slug = slug
        self.message = message
        self.field = field


def unauthenticated(message: str) -> Rejected:
    return Rejected(401, "bad-signature", message)


def bad_request(message: str, slug: str = "malformed-event", field: str | None = None) -> Rejected:
    return Rejected(400, slug, message, field)


def unusable(exc: Unusable, where: str = "") -> Rejected:
    """A field that is not valid text, nested too deep, a number out of range: 400 naming the field."""
    name = f"{where}.{exc.field}" if where and exc.field else exc.field or where or None
    message = f"field {exc.message}" if exc.field else f"the {where or 'body'} is unusable: {exc.message}"
    return bad_request(message, "invalid-text" if exc.field else "invalid-json", name)


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    method: str
    # The part of the path under the adapter's mount, always starting with "/".
    path: str
    # The query string exactly as sent (signatures may cover it), without the leading "?".
    raw_query: str
    # Header names in lower case.
    headers: Mapping[str, str]
    body: bytes
    content_type: str
    remote: str | None
    received_at: datetime

    def query(self) -> dict[str, str]:
        """The query string's fields (the last value of a repeated one wins); 400 for text that is not
        valid UTF-8 or holds NUL."""
        return dict(_pairs(self.raw_query, "query string", strict=False))

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True, slots=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"

    @staticmethod
    def json(value: Any, status: int = 200) -> Reply:
        return Reply(status, json.dumps(value, ensure_ascii=False).encode(), JSON)


OK = Reply()


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """One verified provider event, as stored in the inbox and folded into a call record later."""

    # The provider's id of the whole call (the call record's pbx_call_id).
    call_id: str
    # Unique per provider: the same delivery sent twice has the same key and is stored once.
    dedupe_key: str
    kind: str
    # The provider's authoritative end-of-call event: the call record can be built once it is in.
    final: bool
    # The provider's own time for the event, or the time it arrived when the provider sends none.
    occurred_at: datetime
    # The provider's fields as sent (JSON-able), so the record can be rebuilt from the inbox.
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Accepted:
    events: tuple[CloudEvent, ...] = ()
    reply: Reply = OK
    # Set when the provider waits for the caller's name in the reply (MegaFon contact, Zadarma start):
    # the service looks the number up and asks the adapter for the reply with ``lookup_reply``.
    lookup_number: str | None = None


class WebhookAdapter(Protocol):
    provider: str

    def handle(self, request: WebhookRequest) -> Accepted:
        """Verify and parse one request; raise ``Rejected`` to refuse it."""
        ...

    def assemble(
        self, call_id: str, events: Sequence[CloudEvent], *, timed_out: bool
    ) -> PbxCallRecord | None:
        """The call record from every event stored for the call, given in no particular order.

        Called whenever a new event arrives for a call that has had a final event, so the same set of
        events must always give the same record. Return None while the call is not finished (no final
        event yet, or the provider needs more than its final event, e.g. every leg's hang-up). With
        ``timed_out`` the call's events stopped long ago: build the record from what arrived; mark it
        ``closed_by_timeout`` unless the final information is there after all.
        """
        ...

    def lookup_reply(self, names: Sequence[str]) -> Reply:
        """The synchronous answer to a lookup (the matching contacts' names, maybe none)."""
        ...

    def live(self, call_id: str, events: Sequence[CloudEvent]) -> LiveCall | None:
        """The call as the operators' screens should show it now, from the events received so far.

        Same contract as ``assemble``: any order, duplicates possible, the same set gives the same
        snapshot. None while there is nothing for a screen (only the IVR so far). Once the provider's
        final event is in, the snapshot is ``ended`` and agrees with the record.
        """
        ...


# ---- authenticity helpers -------------------------------------------------------------------------


def same_secret(given: str | bytes | None, expected: str | bytes) -> bool:
    """Constant-time comparison that treats a missing value (or one no UTF-8 can spell) as a mismatch."""
    if given is None:
        return False
    try:
        a = given.encode() if isinstance(given, str) else given
    except UnicodeEncodeError:
        return False
    b = expected.encode() if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)


class IpAllowList:
    """Optional defence in depth: only these addresses or networks may deliver (empty: anyone)."""

    def __init__(self, entries: Iterable[str]) -> None:
        self._networks = tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())

    def check(self, remote: str | None) -> None:
        if not self._networks:
            return
        try:
            address = ipaddress.ip_address(remote or "")
        except ValueError:
            raise Rejected(403, "address-not-allowed", "the sender's address is not allowed") from None
        if not any(address in network for network in self._networks):
            raise Rejected(403, "address-not-allowed", f"{address} may not deliver to this webhook")


# ---- parsing helpers ------------------------------------------------------------------------------


def require_method(request: WebhookRequest, *allowed: str) -> None:
    if request.method not in allowed:
        raise Rejected(405, "method-not-allowed", f"use {' or '.join(allowed)}")


def require_content_type(request: WebhookRequest, *allowed: str) -> None:
    if request.content_type not in allowed:
        raise Rejected(415, "unsupported-media-type", f"send {' or '.join(allowed)}")


def form_fields(request: WebhookRequest) -> dict[str, str]:
    """The form body (``application/x-www-form-urlencoded``), each name once (the last value wins)."""
    return dict(form_pairs(request))


def form_pairs(request: WebhookRequest) -> list[tuple[str, str]]:
    """The form body as ordered pairs, repeats kept (signatures that cover every value need them); 400
    naming the field for a value that is not UTF-8 text or holds NUL."""
    require_content_type(request, FORM)
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad_request(f"the form body is not UTF-8 text: {exc.reason}", "malformed-body") from exc
    return _pairs(text, "form body", strict=True)


def _pairs(text: str, what: str, *, strict: bool) -> list[tuple[str, str]]:
    """``a=1&b=2`` with percent-escapes that must spell UTF-8 (no silent U+FFFD) and no NUL. ``strict``:
    every part must be ``name=value`` (a form body); else empty parts are skipped and a bare name has an
    empty value (query strings as people type them)."""
    if not text:
        return []
    parts = text.split("&")
    if len(parts) > MAX_FORM_FIELDS:
        raise bad_request(f"the {what} has more than {MAX_FORM_FIELDS} fields", "malformed-body")
    pairs: list[tuple[str, str]] = []
    for part in parts:
        if not part and not strict:
            continue
        raw_name, equals, raw_value = part.partition("=")
        if not equals and strict:
            raise bad_request(f"the {what} cannot be read: a field without '='", "malformed-body")
        try:
            name = unquote_plus(raw_name, errors="strict")
        except UnicodeDecodeError:
            raise bad_request(f"a field name in the {what} is not UTF-8 text", "invalid-text") from None
        if text_problem(name) is not None:
            raise bad_request(f"a field name in the {what} holds a NUL character", "invalid-text")
        shown = name if len(name) <= 64 else name[:64] + "…"
        try:
            value = unquote_plus(raw_value, errors="strict")
        except UnicodeDecodeError:
            raise bad_request(f"field {shown} is not UTF-8 text", "invalid-text", shown) from None
        if (problem := text_problem(value)) is not None:
            raise bad_request(f"field {shown} {problem}", "invalid-text", shown)
        pairs.append((name, value))
    return pairs


def json_object(raw: bytes | str, what: str = "body", field: str = "") -> dict[str, Any]:
    """A JSON object, its nesting and numbers bounded and its text valid (400 naming the field, under
    ``field`` when the JSON sits in a field of its own, like Mango's ``json``)."""
    try:
        value = load_json(raw)
    except Unusable as exc:
        raise unusable(exc, field) from None
    if not isinstance(value, dict):
        raise bad_request(f"the {what} must be a JSON object", "invalid-json")
    return value


def text_field(data: Mapping[str, Any], name: str, *, required: bool = True, max_length: int = 200) -> str:
    """A field that must be a short string (numbers are accepted: some PBXs send extensions as ints)."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f"missing field {name}", field=name)
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad_request(f"field {name} must be a string", field=name)
    if isinstance(value, int) and not -(10**18) < value < 10**18:
        raise bad_request(f"field {name} is too long", field=name)
    text = str(value)
    if len(text) > max_length:
        raise bad_request(f"field {name} is too long (at most {max_length} characters)", field=name)
    if (problem := text_problem(text)) is not None:
        raise bad_request(f"field {name} {problem}", "invalid-text", name)
    return text


def plausible(moment: datetime, name: str, now: datetime | None) -> datetime:
    """`moment` when a PBX could have meant it: from 2000 until a day after ``now`` (the arrival)."""
    latest = now + CLOCK_SLACK if now is not None else datetime(2200, 1, 1, tzinfo=UTC)
    if not EARLIEST <= moment <= latest:
        raise bad_request(f"field {name} is not a plausible time ({moment:%Y-%m-%d})", field=name)
    return moment


def unix_time(value: Any, name: str, now: datetime | None = None) -> datetime:
    """A unix time (seconds, maybe fractional) that is `plausible` against ``now``."""
    if isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        raise bad_request(f"field {name} must be a unix time", field=name)
    if isinstance(value, str) and len(value) > 24:
        raise bad_request(f"field {name} must be a unix time", field=name)
    try:
        moment = datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise bad_request(f"field {name} must be a unix time", field=name) from exc
    return plausible(moment, name, now)


def iso_time(value: Any, name: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time with a zone, `plausible` against ``now``."""
    if not isinstance(value, str) or len(value) > 40:
        raise bad_request(f"field {name} must be an ISO 8601 time", field=name)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise bad_request(f"field {name} must carry a time zone", field=name)
        # Years 1 and 9999 with an offset have no UTC time at all.
        in_utc = moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise bad_request(f"field {name} must be an ISO 8601 time", field=name) from exc
    return plausible(in_utc, name, now)


def stored_time(value: str) -> datetime:
    """Times the adapters put into ``CloudEvent.data`` (ISO with zone) read back."""
    return datetime.fromisoformat(value).astimezone(UTC)


def storable(events: Sequence[CloudEvent], received_at: datetime) -> tuple[CloudEvent, ...]:
    """The events as the inbox can hold them, whatever an adapter let through: 400 naming the field for
    an id that is empty, too long or not valid text, a time that is not `plausible`, data that holds
    text no database can store or is too big; a dedupe key too long for its column is replaced by its
    digest (the same delivery still gets the same key)."""
    checked: list[CloudEvent] = []
    for event in events:
        if not event.call_id or len(event.call_id) > MAX_CALL_ID_CHARS:
            raise bad_request(
                f"the call id must have 1 to {MAX_CALL_ID_CHARS} characters", "malformed-event", "call_id"
            )
        for name, text in (("call id", event.call_id), ("event id", event.dedupe_key), ("kind", event.kind)):
            if (problem := text_problem(text)) is not None:
                raise bad_request(f"the {name} {problem}", "invalid-text", name.replace(" ", "_"))
        if len(event.kind) > MAX_KIND_CHARS:
            raise bad_request("the event kind is too long", "malformed-event", "kind")
        plausible(event.occurred_at, "time", received_at)
        problem_in_data = invalid_text(dict(event.data))
        if problem_in_data is not None:
            raise unusable(problem_in_data)
        if len(json.dumps(event.data)) > MAX_EVENT_DATA_CHARS:
            raise bad_request("the event is too big to store", "malformed-event")
        if len(event.dedupe_key) > MAX_DEDUPE_KEY_CHARS:
            digest = hashlib.sha256(event.dedupe_key.encode()).hexdigest()
            event = replace(event, dedupe_key=f"sha256:{digest}")
        checked.append(event)
    return tuple(checked)


# ---- building the record --------------------------------------------------------------------------


@dataclass(slots=True)
class CallFacts:
    """What an adapter worked out about a call; ``record()`` applies the contract's definitions."""

    pbx: str
    call_id: str
    direction: Direction
    caller: str
    called: str
    started_at: datetime
    ended_at: datetime
    # When a person (an operator's phone, or the patient on an outbound call) picked up; None if nobody.
    answered_at: datetime | None = None
    caller_name: str | None = None
    # How an unanswered call ended; ignored when answered.
    unanswered: Disposition = "no_answer"
    # Where an inbound call that nobody answered was lost; ignored when answered.
    missed_where: MissedWhere | None = None
    operator: str | None = None
    answered_by: str | None = None
    rang: list[str] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    recording_ref: dict[str, Any] | None = None
    closed_by_timeout: bool = False

    def record(self) -> PbxCallRecord:
        answered = self.answered_at is not None
        started = self.started_at
        ended = max(self.ended_at, started)
        answered_at = None
        if self.answered_at is not None:
            answered_at = min(max(self.answered_at, started), ended)
        status, disposition, missed_where = outcome(
            self.direction, answered, self.unanswered, self.missed_where or "ringing"
        )
        # The call pipeline fits every record to the call log's columns (kolokol.calls.record_fit).
        return PbxCallRecord(
            pbx=self.pbx,
            pbx_call_id=self.call_id,
            direction=self.direction,
            caller=self.caller,
            caller_name=self.caller_name or None,
            called=self.called,
            status=status,
            disposition=disposition,
            missed_where=missed_where,
            operator=self.operator or None,
            answered_by=self.answered_by or None if self.direction == "inbound" and answered else None,
            rang=tuple(unique(self.rang)),
            transfers=tuple(self.transfers),
            started_at=started,
            answered_at=answered_at,
            ended_at=ended,
            recording_ref=self.recording_ref,
            closed_by_timeout=self.closed_by_timeout,
        )


def unique(items: Iterable[str]) -> list[str]:
    """First occurrences in order, empties dropped."""
    seen: dict[str, None] = {}
    for item in items:
        if item:
            seen.setdefault(item, None)
    return list(seen)


def number_or_raw(to_e164: ToE164, raw: str | None) -> str:
    """E.164 for a phone number; otherwise what the PBX sent (an extension, "anonymous"), trimmed."""
    e164 = to_e164(raw)
    return e164 if e164 is not None else (raw or "").strip()


def first_value(events: Iterable[CloudEvent], name: str) -> str:
    """The first non-empty value of a field among events (put them in the order that should win)."""
    return next((str(value) for event in events if (value := event.data.get(name))), "")


def by_time(events: Sequence[CloudEvent]) -> list[CloudEvent]:
    """A deterministic order whatever order the events arrived in."""
    return sorted(events, key=lambda e: (e.occurred_at, e.dedupe_key))


def distinct_by_time(events: Sequence[CloudEvent]) -> list[CloudEvent]:
    """Each event once (a re-delivery has the same dedupe key), in ``by_time`` order."""
    return by_time(list({event.dedupe_key: event for event in events}.values()))


# ---- the live snapshot ----------------------------------------------------------------------------


@dataclass(slots=True)
class LiveFacts:
    """What an adapter worked out about a call in progress; ``snapshot()`` applies ``pbx.live``'s rules."""

    pbx: str
    call_id: str
    direction: Direction
    caller: str
    called: str
    started_at: datetime
    caller_name: str | None = None
    # Extensions: ringing now, connected now, and every one that rang so far (each in order).
    ringing: list[str] = field(default_factory=list)
    talking: list[str] = field(default_factory=list)
    rang: list[str] = field(default_factory=list)
    queue: str | None = None
    operator: str | None = None
    answered_by: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    # The provider says the call waits for, or rings, phones it does not name (a queue, a SIP trunk):
    # worth a card for queue subscribers and supervisors although no extension can be told.
    waiting: bool = False

    def finish(self, record: PbxCallRecord) -> None:
        """The call is over: the record, built from the same events, has the final word."""
        self.direction = record.direction
        self.caller = record.caller or self.caller
        self.called = record.called or self.called
        self.caller_name = record.caller_name or self.caller_name
        self.started_at = record.started_at
        self.ended_at = record.ended_at
        # Every phone that showed the card must hear that it ended, also one the record does not list.
        self.rang = [*self.rang, *self.ringing, *record.rang]
        self.answered_at = record.answered_at
        self.answered_by = (record.answered_by or self.answered_by) if record.answered_at else None
        self.operator = record.operator or self.operator

    def snapshot(self) -> LiveCall | None:
        inbound = self.direction == "inbound"
        talking = unique(self.talking)
        ringing = [ext for ext in unique(self.ringing) if ext not in talking]
        rang = unique([*self.rang, *ringing, *(talking if inbound else ())])
        if self.direction != "outbound" and not (rang or talking or self.answered_at or self.waiting):
            return None  # only the IVR so far; outbound calls show from the start: the operator dials
        operator = self.operator or (talking[-1] if inbound and talking else None)
        state: LiveState
        if self.ended_at is not None:
            state, ringing, talking = "ended", [], []
        elif talking or (self.answered_at is not None and not ringing):
            # Answered and nobody rings: still the conversation (between transfer steps, or a hang-up
            # whose final event is on its way), not back to ringing.
            state = "talking"
        else:
            state = "ringing" if self.direction != "outbound" else "dialing"
        caller, called = fitted(self.caller, MAX_NUMBER_CHARS), fitted(self.called, MAX_NUMBER_CHARS)
        number = caller if inbound else called if self.direction == "outbound" else None
        ext = MAX_EXTENSION_CHARS
        return LiveCall(
            pbx=self.pbx,
            pbx_call_id=self.call_id,
            direction=self.direction,
            state=state,
            caller=caller,
            caller_name=fitted(self.caller_name, MAX_CALLER_NAME_CHARS) or None,
            called=called,
            number=number if number and number.startswith("+") else None,
            ringing=tuple(fitted(e, ext) for e in ringing),
            talking=tuple(fitted(e, ext) for e in talking),
            rang=tuple(fitted(e, ext) for e in rang),
            queue=fitted(self.queue, MAX_CALLER_NAME_CHARS) or None,
            operator=fitted(operator, ext) or None,
            answered_by=fitted(self.answered_by, ext) or None if self.answered_at is not None else None,
            started_at=self.started_at,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
        )


def still_ringing(rings: Iterable[tuple[str, datetime]], picked_up: datetime | None) -> list[str]:
    """Of the phones that rang (extension, when), those ringing now.

    A pick-up ends the ring on every other phone at once: the cards close then, not when each phone's
    own "stopped" report arrives (most providers send none). A ring after the last pick-up (a transfer,
    a consultation) is a new one.
    """
    return [ext for ext, at in rings if picked_up is None or at > picked_up]


def live_snapshot(
    adapter: WebhookAdapter,
    facts: LiveFacts | None,
    events: Sequence[CloudEvent],
    *,
    over: bool | None = None,
) -> LiveCall | None:
    """The snapshot of ``facts``; once the call is ``over`` (by default: the provider's final event is
    in), ended and in line with the record."""
    if facts is None:
        return None
    if any(event.final for event in events) if over is None else over:
        record = adapter.assemble(facts.call_id, events, timed_out=False)
        if record is not None:
            facts.finish(record)
    return facts.snapshot()
