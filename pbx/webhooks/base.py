"""What every cloud PBX adapter shares: the request it is given, the events it emits, how it refuses.

Adapters are pure: bytes and headers in, verified events (or a refusal) out; stored events in, a call
record out. No aiohttp, no SQL, no clock of their own (the request carries the time it arrived), so each
provider's signature scheme and mapping is tested in milliseconds.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl

from pbx.call_record import Direction, Disposition, MissedWhere, PbxCallRecord, Transfer
from pbx.live import LiveCall, LiveState

# Turns whatever a PBX sends as a number into E.164, or None for extensions and garbage.
ToE164 = Callable[[str | None], str | None]

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# Form bodies with more fields than this are not a PBX talking.
MAX_FORM_FIELDS = 200


class Rejected(Exception):
    """The request is refused: nothing is stored, the client gets ``status`` and a JSON error."""

    def __init__(self, status: int, slug: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.slug = slug
        self.message = message


def unauthenticated(message: str) -> Rejected:
    return Rejected(401, "bad-signature", message)


def bad_request(message: str, slug: str = "malformed-event") -> Rejected:
    return Rejected(400, slug, message)


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
        return dict(parse_qsl(self.raw_query, keep_blank_values=True))

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
    """Constant-time comparison that treats a missing value as a mismatch."""
    if given is None:
        return False
    a = given.encode() if isinstance(given, str) else given
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
    """The form body as ordered pairs, repeats kept (signatures that cover every value need them)."""
    require_content_type(request, FORM)
    try:
        text = request.body.decode("utf-8")
        return parse_qsl(
            text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad_request(f"the form body cannot be read: {exc}", "malformed-body") from exc


def json_object(raw: bytes | str, what: str = "body") -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(f"the {what} is not valid JSON: {exc}", "invalid-json") from exc
    if not isinstance(value, dict):
        raise bad_request(f"the {what} must be a JSON object", "invalid-json")
    return value


def text_field(data: Mapping[str, Any], name: str, *, required: bool = True, max_length: int = 200) -> str:
    """A field that must be a short string (numbers are accepted: some PBXs send extensions as ints)."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f"missing field {name}")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise bad_request(f"field {name} must be a string")
    text = str(value)
    if len(text) > max_length:
        raise bad_request(f"field {name} is too long")
    return text


def unix_time(value: Any, name: str) -> datetime:
    if isinstance(value, bool):
        raise bad_request(f"field {name} must be a unix time")
    try:
        seconds = float(value)
        moment = datetime.fromtimestamp(seconds, UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise bad_request(f"field {name} must be a unix time") from exc
    if not 946684800 <= seconds <= 7258118400:  # 2000 .. 2200: anything else is a broken clock or garbage
        raise bad_request(f"field {name} is not a plausible time")
    return moment


def iso_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise bad_request(f"field {name} must be an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise bad_request(f"field {name} must be an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise bad_request(f"field {name} must carry a time zone")
    return moment.astimezone(UTC)


def stored_time(value: str) -> datetime:
    """Times the adapters put into ``CloudEvent.data`` (ISO with zone) read back."""
    return datetime.fromisoformat(value).astimezone(UTC)


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
        if answered:
            status: Any = "answered"
        else:
            status = "missed" if self.direction == "inbound" else "unanswered"
        return PbxCallRecord(
            pbx=self.pbx,
            pbx_call_id=self.call_id,
            direction=self.direction,
            caller=self.caller,
            caller_name=self.caller_name or None,
            called=self.called,
            status=status,
            disposition="answered" if answered else self.unanswered,
            missed_where=(self.missed_where or "ringing")
            if self.direction == "inbound" and not answered
            else None,
            operator=self.operator,
            answered_by=self.answered_by if self.direction == "inbound" and answered else None,
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
        number = self.caller if inbound else self.called if self.direction == "outbound" else None
        return LiveCall(
            pbx=self.pbx,
            pbx_call_id=self.call_id,
            direction=self.direction,
            state=state,
            caller=self.caller,
            caller_name=self.caller_name or None,
            called=self.called,
            number=number if number and number.startswith("+") else None,
            ringing=tuple(ringing),
            talking=tuple(talking),
            rang=tuple(rang),
            queue=self.queue or None,
            operator=operator,
            answered_by=self.answered_by if self.answered_at is not None else None,
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
