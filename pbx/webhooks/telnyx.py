"""Telnyx Call Control (Voice API v2): Ed25519-signed JSON events, one per call-leg change.

Every request carries ``telnyx-signature-ed25519`` (base64 of a 64-byte signature) and
``telnyx-timestamp`` (unix seconds); the signed message is ``"{timestamp}|"`` + the raw body, verified
with the account's public key. The legs of one call share ``call_session_id``; Telnyx does not keep
events in order and re-delivers (``meta.attempt`` > 1, same ``data.id``). Every leg ends with its own
``call.hangup``, so a call is complete once every leg that appeared has hung up.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pbx.call_record import Direction, Disposition, PbxCallRecord
from pbx.live import LiveCall
from pbx.untrusted import Unusable, ascii_digits, load_json
from pbx.webhooks.base import (
    JSON,
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
    iso_time,
    json_object,
    live_snapshot,
    number_or_raw,
    require_content_type,
    require_method,
    still_ringing,
    text_field,
    unauthenticated,
)

PROVIDER = "telnyx"
INITIATED, ANSWERED, BRIDGED, HANGUP = "call.initiated", "call.answered", "call.bridged", "call.hangup"
RECORDING_SAVED = "call.recording.saved"
_LEG_EVENTS = (INITIATED, ANSWERED, BRIDGED, HANGUP)
# Pre-signed recording links (S3, X-Amz-Expires=600) die this long after call.recording.saved.
_RECORDING_LINK_LIFETIME = timedelta(minutes=10)
_PLAIN_EXTENSION = re.compile(r"[0-9]{1,15}")


class Telnyx:
    provider = PROVIDER

    def __init__(
        self,
        public_key: str,
        to_e164: ToE164,
        *,
        tolerance_seconds: int,
        app_answers_inbound: bool,
        allow_ips: Sequence[str] = (),
    ) -> None:
        self._key = _public_key(public_key)
        self._e164 = to_e164
        self._tolerance = tolerance_seconds
        self._app_answers = app_answers_inbound
        self._allowed = IpAllowList(allow_ips)

    # ---- requests -----------------------------------------------------------------------------

    def handle(self, request: WebhookRequest) -> Accepted:
        if (request.path.rstrip("/") or "/") != "/":
            raise Rejected(404, "unknown-event", "Telnyx posts to the mount itself: /webhooks/telnyx/")
        require_method(request, "POST")
        self._allowed.check(request.remote)
        require_content_type(request, JSON)
        self._verify(request)
        envelope = json_object(request.body)
        data = envelope.get("data")
        if not isinstance(data, dict):
            raise bad_request("field data must be an object")
        kind = text_field(data, "event_type", max_length=100)
        if kind not in (*_LEG_EVENTS, RECORDING_SAVED):
            # call.dtmf.received, call.speak.*, call.machine.*, …: acknowledged so Telnyx stops retrying.
            return Accepted()
        return Accepted(events=(_event(kind, data, request.received_at),))

    def _verify(self, request: WebhookRequest) -> None:
        signature = request.header("telnyx-signature-ed25519")
        timestamp = request.header("telnyx-timestamp")
        if not signature or not timestamp:
            raise unauthenticated("telnyx-signature-ed25519 and telnyx-timestamp are required")
        # ASCII digits of a sane length before anything uses it: int() refuses 5,000 digits.
        if not ascii_digits(timestamp, 12):
            raise unauthenticated("telnyx-timestamp must be unix seconds")
        try:
            raw_signature = base64.b64decode(signature, validate=True)
            self._key.verify(raw_signature, timestamp.encode() + b"|" + request.body)
        except (binascii.Error, ValueError, InvalidSignature):
            raise unauthenticated("telnyx-signature-ed25519 does not match the account public key") from None
        # Checked after the signature so "stale" always means a genuine but old (replayed) delivery.
        if abs(request.received_at.timestamp() - int(timestamp)) > self._tolerance:
            raise Rejected(401, "stale-timestamp", f"telnyx-timestamp is more than {self._tolerance}s off")

    def lookup_reply(self, names: Sequence[str]) -> Reply:
        return OK

    # ---- the call record ----------------------------------------------------------------------

    def assemble(
        self, call_id: str, events: Sequence[CloudEvent], *, timed_out: bool
    ) -> PbxCallRecord | None:
        ordered = by_time(events)
        legs = _legs(ordered)
        if not legs:
            return None
        complete = any(leg.initiated for leg in legs) and all(leg.hangup for leg in legs)
        if not complete and not timed_out:
            return None
        first = legs[0]
        direction: Direction = "outbound" if first.direction == "outgoing" else "inbound"
        times = [e.occurred_at for leg in legs for e in leg.events]
        hangups = [leg.hangup.occurred_at for leg in legs if leg.hangup]
        facts = CallFacts(
            pbx=PROVIDER,
            call_id=call_id,
            direction=direction,
            caller=number_or_raw(self._e164, first.value("from")),
            called=number_or_raw(self._e164, first.value("to")),
            caller_name=first.value("caller_id_name") or None,
            started_at=first.initiated.occurred_at if first.initiated else min(times),
            ended_at=max(hangups) if complete else max(times),
            recording_ref=_recording(ordered),
            closed_by_timeout=not complete,
        )
        if direction == "inbound":
            self._inbound(facts, first, [leg for leg in legs if leg.direction == "outgoing"])
        else:
            facts.answered_at = first.connected_at
            facts.unanswered = _cause(first.hangup) or "no_answer"
            facts.operator = next((ext for leg in legs if (ext := leg.client_extension)), None)
        return facts.record()

    def _inbound(self, facts: CallFacts, incoming: _Leg, operator_legs: list[_Leg]) -> None:
        """Operator legs are the outgoing legs the application dialled to clinic phones."""
        extensions = {leg.id: self._extension(leg) for leg in operator_legs}
        facts.rang = [extensions[leg.id] for leg in operator_legs]
        facts.answered_at, facts.answered_by, facts.operator = self._answer(incoming, operator_legs)
        if operator_legs:
            facts.missed_where = "ringing"
        else:
            facts.missed_where = "ivr" if incoming.answered is not None else "ringing"
        facts.unanswered = _inbound_miss(incoming, operator_legs)

    def _answer(
        self, incoming: _Leg, operator_legs: list[_Leg]
    ) -> tuple[datetime | None, str | None, str | None]:
        """When a person took the call, who first, and who holds it last."""
        took = sorted((leg for leg in operator_legs if leg.connected_at), key=lambda leg: leg.sort_connected)
        answers = [leg.sort_connected[0] for leg in took]
        # When the application answers the caller itself (greeting, IVR), that answer is no person.
        if not self._app_answers and incoming.answered is not None:
            answers.append(incoming.answered.occurred_at)
        answered_at = min(answers, default=None)
        if took:
            return answered_at, self._extension(took[0]), self._extension(took[-1])
        if answered_at is not None:
            return answered_at, incoming.client_extension, incoming.client_extension
        return None, None, None

    # ---- the live snapshot --------------------------------------------------------------------

    def live(self, call_id: str, events: Sequence[CloudEvent]) -> LiveCall | None:
        ordered = distinct_by_time(events)
        return live_snapshot(self, self._live(call_id, ordered), ordered)

    def _live(self, call_id: str, ordered: list[CloudEvent]) -> LiveFacts | None:
        legs = _legs(ordered)
        if not legs:
            return None
        first = legs[0]
        facts = LiveFacts(
            PROVIDER,
            call_id,
            "outbound" if first.direction == "outgoing" else "inbound",
            caller=number_or_raw(self._e164, first.value("from")),
            called=number_or_raw(self._e164, first.value("to")),
            started_at=first.sort_start[0],
            caller_name=first.value("caller_id_name") or None,
        )
        # The caller's leg (outbound: the patient's) hanging up ends the call for the screens; the
        # record waits for every leg's hang-up.
        facts.ended_at = first.hangup.occurred_at if first.hangup else None
        if facts.direction == "outbound":
            facts.operator = first.client_extension
            facts.answered_at = first.connected_at
            facts.talking = [facts.operator] if facts.operator and facts.answered_at else []
        else:
            self._live_inbound(facts, first, [leg for leg in legs if leg.direction == "outgoing"])
        return facts

    def _live_inbound(self, facts: LiveFacts, incoming: _Leg, operator_legs: list[_Leg]) -> None:
        """An operator leg rings its phone until call.answered, then talks until its hang-up."""
        facts.rang = [self._extension(leg) for leg in operator_legs]
        facts.answered_at, facts.answered_by, facts.operator = self._answer(incoming, operator_legs)
        live = [leg for leg in operator_legs if leg.hangup is None]
        rings = [(self._extension(leg), leg.sort_start[0]) for leg in live if leg.answered is None]
        picked_up = max((leg.answered.occurred_at for leg in operator_legs if leg.answered), default=None)
        facts.ringing = still_ringing(rings, picked_up)
        facts.talking = [self._extension(leg) for leg in live if leg.answered is not None]
        if not operator_legs and not self._app_answers:
            # A SIP connection rings the clinic's phones directly: which phone is not told, so the card
            # goes to supervisors only, and talks once the incoming leg is answered.
            facts.waiting = True
            if facts.answered_at is not None and incoming.hangup is None and facts.operator:
                facts.talking = [facts.operator]

    def _extension(self, leg: _Leg) -> str:
        to = leg.value("to")
        return leg.client_extension or _sip_user(to) or number_or_raw(self._e164, to)


# ---- parsing ------------------------------------------------------------------------------------


def _public_key(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(
            "pbx.telnyx.public_key must be the base64 Ed25519 public key from Mission Control "
            "(Keys & Credentials → Public Key): 32 bytes once decoded"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def _event(kind: str, data: dict[str, Any], received_at: datetime) -> CloudEvent:
    event_id = text_field(data, "id")
    at = iso_time(data.get("occurred_at"), "occurred_at", received_at)
    payload = data.get("payload")
    if not isinstance(payload, dict):
        raise bad_request("field payload must be an object")
    session = text_field(payload, "call_session_id")
    if kind in _LEG_EVENTS:
        text_field(payload, "call_leg_id")
    for name in ("from", "to", "caller_id_name", "hangup_cause", "sip_hangup_cause", "hangup_source"):
        text_field(payload, name, required=False, max_length=500)
    if not isinstance(payload.get("client_state") or "", str):
        raise bad_request("field client_state must be a string")
    if kind == INITIATED and payload.get("direction") not in ("incoming", "outgoing"):
        raise bad_request("field direction must be incoming or outgoing")
    for name in ("recording_urls", "public_recording_urls"):
        if kind == RECORDING_SAVED and not isinstance(payload.get(name) or {}, dict):
            raise bad_request(f"field {name} must be an object")
    # A retry has the same data.id: it is stored once.
    return CloudEvent(
        call_id=session, dedupe_key=event_id, kind=kind, final=kind == HANGUP, occurred_at=at, data=data
    )


def _payload(event: CloudEvent) -> Mapping[str, Any]:
    payload = event.data.get("payload")
    return payload if isinstance(payload, Mapping) else {}


def _client_extension(encoded: Any) -> str | None:
    """The operator's extension the application put into client_state: {"extension": "101"} or "101"."""
    if not isinstance(encoded, str) or not encoded:
        return None
    try:
        text = base64.b64decode(encoded, validate=True).decode("utf-8").strip()
    except (binascii.Error, ValueError):
        return None
    try:
        state = load_json(text)
    except Unusable:
        state = text
    if isinstance(state, dict):
        value = state.get("extension")
        ok = isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip()
        return str(value).strip()[:40] if ok else None
    plain = str(state) if isinstance(state, str | int) and not isinstance(state, bool) else ""
    # Plain text is only trusted when it looks like an extension: apps keep other state there too.
    return plain if _PLAIN_EXTENSION.fullmatch(plain) else None


def _sip_user(uri: str | None) -> str | None:
    text = (uri or "").strip().strip("<>")
    scheme, _, rest = text.partition(":")
    if scheme.lower() not in ("sip", "sips") or "@" not in rest:
        return None
    return rest.split("@", 1)[0].split(";", 1)[0] or None


# ---- legs ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Leg:
    id: str
    events: list[CloudEvent] = field(default_factory=list)
    initiated: CloudEvent | None = None
    answered: CloudEvent | None = None
    bridged: CloudEvent | None = None
    hangup: CloudEvent | None = None

    @property
    def direction(self) -> str | None:
        return self.value("direction") or None

    def value(self, name: str) -> str:
        """The first non-empty value of a payload field, the leg's call.initiated first."""
        for event in ([self.initiated] if self.initiated else []) + self.events:
            value = _payload(event).get(name)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)
        return ""

    @property
    def client_extension(self) -> str | None:
        return next(
            (ext for e in self.events if (ext := _client_extension(_payload(e).get("client_state")))), None
        )

    @property
    def connected_at(self) -> datetime | None:
        """When this leg's far end picked up.

        call.bridged alone is no proof: a transfer bridges the new leg before it rings out, so it only
        counts when call.answered is missing and the leg then ended as a normal conversation does.
        """
        if self.answered is not None:
            return self.answered.occurred_at
        if (
            self.bridged is not None
            and self.hangup is not None
            and _payload(self.hangup).get("hangup_cause") == "normal_clearing"
        ):
            return self.bridged.occurred_at
        return None

    @property
    def sort_connected(self) -> tuple[datetime, str]:
        return (self.connected_at or datetime.max.replace(tzinfo=UTC), self.id)

    @property
    def sort_start(self) -> tuple[datetime, bool, str]:
        start = self.initiated.occurred_at if self.initiated else self.events[0].occurred_at
        # The caller's leg comes first when the application dialled out in the same millisecond.
        return (start, self.direction != "incoming", self.id)


def _legs(ordered: list[CloudEvent]) -> list[_Leg]:
    legs: dict[str, _Leg] = {}
    for event in ordered:
        if event.kind not in _LEG_EVENTS:
            continue
        leg_id = str(_payload(event).get("call_leg_id") or "")
        leg = legs.setdefault(leg_id, _Leg(leg_id))
        leg.events.append(event)
        slot = event.kind.removeprefix("call.")
        if getattr(leg, slot) is None:
            setattr(leg, slot, event)
    return sorted(legs.values(), key=lambda leg: leg.sort_start)


# ---- mapping ------------------------------------------------------------------------------------


def _cause(hangup: CloudEvent | None) -> Disposition | None:
    """How a leg that nobody answered ended; None for a plain normal_clearing (says nothing)."""
    if hangup is None:
        return None
    payload = _payload(hangup)
    cause, sip = payload.get("hangup_cause"), str(payload.get("sip_hangup_cause") or "")
    if cause == "originator_cancel":
        return "caller_hangup"
    if cause == "user_busy" or sip in ("486", "600"):
        return "busy"
    if cause in ("timeout", "no_answer") or sip == "408":
        return "no_answer"
    if cause == "normal_clearing":
        return None
    return "failed"


def _inbound_miss(incoming: _Leg, operator_legs: list[_Leg]) -> Disposition:
    """The last operator leg that said why it failed decides; else how the caller's own leg ended."""
    hangups = sorted(
        (leg.hangup for leg in operator_legs if leg.hangup), key=lambda e: (e.occurred_at, e.dedupe_key)
    )
    for hangup in reversed(hangups):
        if (reason := _cause(hangup)) is not None:
            return reason
    if (reason := _cause(incoming.hangup)) is not None:
        return reason
    if incoming.hangup is not None and _payload(incoming.hangup).get("hangup_source") == "caller":
        return "caller_hangup"
    return "no_answer"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _recording(ordered: list[CloudEvent]) -> dict[str, Any] | None:
    saved = next((e for e in ordered if e.kind == RECORDING_SAVED), None)
    if saved is None:
        return None
    payload = _payload(saved)
    return {
        "provider": PROVIDER,
        "recording_id": payload.get("recording_id"),
        "call_leg_id": payload.get("call_leg_id"),
        "recording_urls": dict(payload.get("recording_urls") or {}),
        "public_recording_urls": dict(payload.get("public_recording_urls") or {}),
        "channels": payload.get("channels"),
        "recording_started_at": payload.get("recording_started_at"),
        "recording_ended_at": payload.get("recording_ended_at"),
        # The links are pre-signed and short-lived: download at once, later only via the Recordings API.
        "fetch": "download recording_urls before expires_at; afterwards GET /v2/recordings (API key)",
        "expires_at": _iso(saved.occurred_at + _RECORDING_LINK_LIFETIME),
    }
