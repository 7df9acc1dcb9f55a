"""kolokol's own webhook format, for any PBX that can send an HTTP request per call event.

Two ways in:
- ``POST /`` signed: ``X-Kolokol-Timestamp: <unix seconds>`` and
  ``X-Kolokol-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``, within a tolerance
  window (a captured request cannot be replayed later).
- ``POST /<url_token>`` for PBXs that sign nothing (UIS/CoMagic templates, Sipuni, Telfin, OnlinePBX):
  the secret is the URL itself, best combined with ``allow_ips``.

The body is one event object or an array of them; the README documents the fields.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, cast, get_args

from pbx.call_record import Direction, Disposition, PbxCallRecord, Transfer
from pbx.live import LiveCall
from pbx.untrusted import Unusable, ascii_digits, load_json
from pbx.webhooks.base import (
    JSON,
    MAX_CALLER_NAME_CHARS,
    MAX_EXTENSION_CHARS,
    MAX_NUMBER_CHARS,
    OK,
    Accepted,
    CallFacts,
    CloudEvent,
    IpAllowList,
    LiveFacts,
    Rejected,
    Reply,
    ToE164,
    WebhookRequest,
    bad_request,
    by_time,
    distinct_by_time,
    first_value,
    iso_time,
    live_snapshot,
    number_or_raw,
    require_content_type,
    require_method,
    same_secret,
    still_ringing,
    text_field,
    unauthenticated,
    unix_time,
    unusable,
)
from pbx.webhooks.generic_dialects import DIALECTS

PROVIDER = "generic"
EventType = Literal[
    "call.started",
    "call.ivr",
    "call.queued",
    "call.ringing",
    "call.answered",
    "call.transferred",
    "call.ended",
    "recording.ready",
]
_TYPES: tuple[str, ...] = get_args(EventType)
_REASONS: tuple[str, ...] = ("no_answer", "busy", "caller_hangup", "failed")
_DIRECTIONS: tuple[str, ...] = ("inbound", "outbound", "internal")
MAX_EVENTS = 100


class Generic:
    provider = PROVIDER

    def __init__(
        self,
        to_e164: ToE164,
        *,
        secret: str | None,
        url_token: str | None,
        tolerance_seconds: int = 300,
        allow_ips: Sequence[str] = (),
    ) -> None:
        if not secret and not url_token:
            raise ValueError("[pbx.generic] needs a secret (signed requests) or a url_token (secret URL)")
        self._e164 = to_e164
        self._secret = secret
        self._url_token = url_token
        self._tolerance = tolerance_seconds
        self._allowed = IpAllowList(allow_ips)

    # ---- requests -----------------------------------------------------------------------------

    def handle(self, request: WebhookRequest) -> Accepted:
        token, _, dialect = request.path.strip("/").partition("/")
        if dialect:
            # A PBX with a fixed format of its own, at its secret URL: /<url_token>/<dialect>.
            translate = DIALECTS.get(dialect)
            if translate is None:
                known = ", ".join(DIALECTS)
                raise Rejected(404, "unknown-dialect", f"no dialect {dialect!r}; known: {known}")
            require_method(request, "GET", "POST")
            self._allowed.check(request.remote)
            self._check_url_token(token)
            items, reply = translate(request)
            events = tuple(_event(item, n, request.received_at) for n, item in enumerate(items))
            return Accepted(events=events, reply=reply)
        require_method(request, "POST")
        self._allowed.check(request.remote)
        require_content_type(request, JSON)
        if token:
            self._check_url_token(token)
        else:
            self._check_signature(request)
        items = _items(request.body)
        batch = request.body.lstrip().startswith(b"[")
        return Accepted(
            events=tuple(_named(item, n, request.received_at, batch) for n, item in enumerate(items))
        )

    def _check_url_token(self, token: str) -> None:
        if self._url_token is None or not same_secret(token, self._url_token):
            raise Rejected(403, "unknown-url", "this webhook URL is not known")

    def _check_signature(self, request: WebhookRequest) -> None:
        if self._secret is None:
            raise Rejected(403, "signing-not-configured", "only the secret URL is configured for this PBX")
        stamp = request.header("x-kolokol-timestamp") or ""
        given = request.header("x-kolokol-signature") or ""
        # ASCII digits of a sane length: "²" passes str.isdigit(), and int() refuses 5,000 digits.
        if not ascii_digits(stamp, 12) or not given.startswith("sha256="):
            raise unauthenticated("send X-Kolokol-Timestamp and X-Kolokol-Signature: sha256=<hex>")
        expected = hmac.new(self._secret.encode(), stamp.encode() + b"." + request.body, hashlib.sha256)
        if not same_secret(given.removeprefix("sha256=").lower(), expected.hexdigest()):
            raise unauthenticated("X-Kolokol-Signature does not match")
        if abs(request.received_at.timestamp() - int(stamp)) > self._tolerance:
            raise Rejected(401, "stale-timestamp", "X-Kolokol-Timestamp is outside the tolerance window")

    def lookup_reply(self, names: Sequence[str]) -> Reply:
        return OK

    # ---- the call record ----------------------------------------------------------------------

    def assemble(
        self, call_id: str, events: Sequence[CloudEvent], *, timed_out: bool
    ) -> PbxCallRecord | None:
        ordered = by_time(events)
        ended = [e for e in ordered if e.kind == "call.ended"]
        if not ended and not timed_out:
            return None
        about = _about(ordered)
        direction = _direction(about)
        answers = [e for e in ordered if e.kind == "call.answered"]
        transfers = [
            Transfer(
                str(e.data.get("from_extension") or "") or None,
                str(e.data.get("to_extension") or "") or None,
                "attended" if e.data.get("kind") == "attended" else "blind",
                e.occurred_at,
            )
            for e in ordered
            if e.kind == "call.transferred"
        ]
        last = ended[-1] if ended else ordered[-1]
        facts = CallFacts(
            pbx=PROVIDER,
            call_id=call_id,
            direction=direction,
            caller=number_or_raw(self._e164, first_value(about, "from")),
            called=number_or_raw(self._e164, first_value(about, "to")),
            caller_name=first_value(about, "caller_name"),
            started_at=next(
                (e.occurred_at for e in ordered if e.kind == "call.started"), ordered[0].occurred_at
            ),
            ended_at=last.occurred_at,
            answered_at=answers[0].occurred_at if answers else None,
            unanswered=cast(Disposition, first_value(ended, "reason") or "no_answer"),
            rang=[str(e.data["extension"]) for e in ordered if e.kind == "call.ringing"],
            transfers=transfers,
            recording_ref=_recording(ordered),
            closed_by_timeout=not ended,
        )
        if direction == "inbound":
            facts.answered_by = _extension(answers[0]) if answers else None
            facts.operator = (transfers[-1].to_ext if transfers else None) or facts.answered_by
            if answers:
                facts.operator = first_value(ended, "extension") or facts.operator
            kinds = {e.kind for e in ordered}
            facts.missed_where = (
                "ringing"
                if facts.rang
                else "queue"
                if "call.queued" in kinds
                else "ivr"
                if "call.ivr" in kinds
                else None
            )
        else:
            facts.operator = first_value(about, "extension") or None
        return facts.record()

    # ---- the live snapshot --------------------------------------------------------------------

    def live(self, call_id: str, events: Sequence[CloudEvent]) -> LiveCall | None:
        ordered = distinct_by_time(events)
        facts = self._live(call_id, ordered)
        return live_snapshot(self, facts, ordered, over=facts is not None and _over(facts, ordered))

    def _live(self, call_id: str, ordered: list[CloudEvent]) -> LiveFacts | None:
        if not ordered:
            return None
        about = _about(ordered)
        facts = LiveFacts(
            PROVIDER,
            call_id,
            _direction(about),
            caller=number_or_raw(self._e164, first_value(about, "from")),
            called=number_or_raw(self._e164, first_value(about, "to")),
            started_at=next(
                (e.occurred_at for e in ordered if e.kind == "call.started"), ordered[0].occurred_at
            ),
            caller_name=first_value(about, "caller_name") or None,
        )
        if facts.direction != "inbound":
            facts.operator = first_value(about, "extension") or None
        _live_steps(facts, ordered)
        return facts


def _about(ordered: list[CloudEvent]) -> list[CloudEvent]:
    """The events that describe the whole call (its parties and direction)."""
    return [e for e in ordered if e.kind in ("call.started", "call.ended")] or ordered


def _direction(about: list[CloudEvent]) -> Direction:
    return cast(Direction, first_value(about, "direction") or "inbound")


def _live_steps(facts: LiveFacts, ordered: list[CloudEvent]) -> None:
    """``call.ringing`` rings a phone, ``call.answered`` connects one, ``call.transferred`` passes it on.

    A phone keeps ringing on the screens until somebody answers, the call ends, or an event of that
    phone's own hang-up (``from_extension``, from dialects that report per phone) comes after its ring.
    ``call.queued`` shows the card to the queue it names (and to supervisors) before any phone rings.
    """
    hung_up = {str(e.data["from_extension"]): e.occurred_at for e in ordered if _hang_up_of_one_phone(e)}
    reported = [(ext, e) for e in ordered if e.kind == "call.ringing" and (ext := _extension(e))]
    rings = [
        (ext, e.occurred_at)
        for ext, e in reported
        if not _hang_up_of_one_phone(e) and (ext not in hung_up or hung_up[ext] < e.occurred_at)
    ]
    answers = [e for e in ordered if e.kind == "call.answered"]
    # Who holds the call, in turn: whoever answered, then each transfer's target.
    holders = [
        (_extension(e) or facts.operator or "") if e.kind == "call.answered" else str(e.data["to_extension"])
        for e in ordered
        if e.kind in ("call.answered", "call.transferred")
    ]
    queued = [e for e in ordered if e.kind == "call.queued"]
    facts.waiting = bool(queued)
    facts.queue = first_value(queued[::-1], "queue") or None  # the latest, if the call moved on
    facts.rang = [ext for ext, _ in reported]
    picked_up = max(
        (e.occurred_at for e in ordered if e.kind in ("call.answered", "call.transferred")), default=None
    )
    facts.ringing = still_ringing(rings, picked_up)
    if answers:
        facts.answered_at = answers[0].occurred_at
        facts.answered_by = _extension(answers[0]) if facts.direction != "outbound" else None
        facts.talking = [facts.operator or "", holders[-1]] if facts.direction == "internal" else holders[-1:]


def _hang_up_of_one_phone(event: CloudEvent) -> bool:
    return event.kind in ("call.ringing", "call.ended") and bool(event.data.get("from_extension"))


def _over(facts: LiveFacts, ordered: list[CloudEvent]) -> bool:
    """Ended by a ``call.ended``, except one phone's hang-up while another phone holds the answered call
    (a group member that lost the race to answer, as Telfin may report it)."""
    holder = facts.talking[-1] if facts.talking else None
    return any(
        e.kind == "call.ended" and (holder is None or e.data.get("from_extension") in (None, holder))
        for e in ordered
    )


# ---- parsing ------------------------------------------------------------------------------------


def _items(body: bytes) -> list[Any]:
    try:
        value = load_json(body)
    except Unusable as exc:
        raise unusable(exc) from None
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list) or not value:
        raise bad_request("the body must be an event object or a non-empty array of them", "invalid-json")
    if len(value) > MAX_EVENTS:
        raise bad_request(f"at most {MAX_EVENTS} events per request", "too-many-events")
    return value


def _named(item: Any, index: int, received_at: datetime, batch: bool) -> CloudEvent:
    """`_event`, its refusal naming the field by the event's place in a batch ("[1].caller_name")."""
    try:
        return _event(item, index, received_at)
    except Rejected as exc:
        if batch and exc.field is not None:
            exc.field = f"[{index}].{exc.field}"
        raise


# The longest each text field may be: what the call log holds.
_LIMITS = {
    "from": MAX_NUMBER_CHARS,
    "to": MAX_NUMBER_CHARS,
    "caller_name": MAX_CALLER_NAME_CHARS,
    "extension": MAX_EXTENSION_CHARS,
    "from_extension": MAX_EXTENSION_CHARS,
    "to_extension": MAX_EXTENSION_CHARS,
    "queue": MAX_CALLER_NAME_CHARS,
}


def _event(item: Any, index: int, received_at: datetime) -> CloudEvent:
    if not isinstance(item, dict):
        raise bad_request(f"event {index} must be an object")
    kind = text_field(item, "type", max_length=40)
    if kind not in _TYPES:
        raise bad_request(f"event {index}: unknown type {kind!r}; expected one of {', '.join(_TYPES)}")
    event_id = text_field(item, "event_id")
    call_id = text_field(item, "call_id")
    raw_at = item.get("at")
    if isinstance(raw_at, int | float) and not isinstance(raw_at, bool):
        at = unix_time(raw_at, "at", received_at)
    else:
        at = iso_time(raw_at, "at", received_at)
    data: dict[str, Any] = {"type": kind, "at": at.isoformat()}
    for name, limit in _LIMITS.items():
        if (value := text_field(item, name, required=False, max_length=limit)) != "":
            data[name] = value
    if kind in ("call.started", "call.ended") or "direction" in item:
        direction = text_field(item, "direction", required=kind == "call.started", max_length=10)
        if direction and direction not in _DIRECTIONS:
            raise bad_request(f"event {index}: direction must be one of {', '.join(_DIRECTIONS)}")
        if direction:
            data["direction"] = direction
    if kind in ("call.ringing",) and "extension" not in data:
        raise bad_request(f"event {index}: {kind} needs the extension that rang")
    if kind == "call.answered" and "extension" not in data and item.get("direction") != "outbound":
        raise bad_request(f"event {index}: call.answered needs the extension that answered")
    if kind == "call.transferred":
        if "to_extension" not in data:
            raise bad_request(f"event {index}: call.transferred needs to_extension")
        data["kind"] = "attended" if item.get("kind") == "attended" else "blind"
    if kind == "call.ended":
        reason = text_field(item, "reason", required=False, max_length=20) or "no_answer"
        if reason not in _REASONS:
            raise bad_request(f"event {index}: reason must be one of {', '.join(_REASONS)}")
        data["reason"] = reason
    if kind == "recording.ready":
        data["recording"] = _recording_fields(item.get("recording"), index)
    return CloudEvent(call_id, f"{call_id}:{event_id}", kind, kind == "call.ended", at, data)


def _recording_fields(value: Any, index: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"event {index}: recording.ready needs a recording object")
    out: dict[str, Any] = {}
    for name in ("id", "url"):
        if (text := text_field(value, name, required=False, max_length=2000)) != "":
            out[name] = text
    if value.get("expires_at") is not None:
        out["expires_at"] = iso_time(value["expires_at"], "recording.expires_at").isoformat()
    if not out.get("id") and not out.get("url"):
        raise bad_request(f"event {index}: the recording needs an id or a url")
    duration = value.get("duration_seconds")
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0:
            raise bad_request(f"event {index}: duration_seconds must be a number")
        out["duration_seconds"] = duration
    return out


# ---- mapping ------------------------------------------------------------------------------------


def _extension(event: CloudEvent) -> str | None:
    value = event.data.get("extension")
    return str(value) if value else None


def _recording(events: Sequence[CloudEvent]) -> dict[str, Any] | None:
    ready = [e for e in events if e.kind == "recording.ready"]
    if not ready:
        return None
    fields: Mapping[str, Any] = ready[-1].data["recording"]
    return {"provider": PROVIDER, **fields}
