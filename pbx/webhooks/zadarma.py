"""Zadarma (and Novofon v1, the same platform): signed form posts, one per step of a call.

Every notification is a form post to one URL; ``event`` names the step. The ``Signature`` header is
``base64(hmac_sha1_hex(api_secret, S))`` where S concatenates a few *decoded* form values that depend on
the event, and the base64 covers the 40-character hex text (PHP's ``hash_hmac``), not the raw digest.
Zadarma sends no answer or end time: the END's ``duration`` is the talk time, placed by when the
notifications arrived (``pbx.webhooks.talk_time``); ``call_start`` is local time in the account's zone.
All steps of one call share ``pbx_call_id``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from typing import Any
from zoneinfo import ZoneInfo

from pbx.call_record import Direction, Disposition, MissedWhere, PbxCallRecord, Transfer
from pbx.live import LiveCall
from pbx.untrusted import ascii_digits
from pbx.webhooks.base import (
    FORM,
    MAX_FORM_FIELDS,
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
    form_fields,
    live_snapshot,
    number_or_raw,
    plausible,
    require_content_type,
    require_method,
    same_secret,
    still_ringing,
    stored_time,
    text_field,
    unauthenticated,
)
from pbx.webhooks.talk_time import place_talk

PROVIDER = "zadarma"
MULTIPART = "multipart/form-data"
# The form fields each event's signature string concatenates, in order (the official SDK's
# getSignatureString()).
_SIGNED: dict[str, tuple[str, ...]] = {
    "NOTIFY_START": ("caller_id", "called_did", "call_start"),
    "NOTIFY_INTERNAL": ("caller_id", "called_did", "call_start"),
    "NOTIFY_IVR": ("caller_id", "called_did", "call_start"),
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}
_FINAL = ("NOTIFY_END", "NOTIFY_OUT_END")
_OUTBOUND = ("NOTIFY_OUT_START", "NOTIFY_OUT_END")
_DISPOSITIONS: dict[str, Disposition] = {
    "answered": "answered",
    "busy": "busy",
    "no answer": "no_answer",
    "cancel": "caller_hangup",
}
_ECHO = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LOCAL_TIME = "%Y-%m-%d %H:%M:%S"


class Zadarma:
    provider = PROVIDER

    def __init__(
        self, api_key: str, api_secret: str, timezone: str, to_e164: ToE164, allow_ips: Sequence[str] = ()
    ) -> None:
        # Notifications carry no key: api_key is only needed for the API calls that fetch recordings.
        self._key = api_key
        self._secret = api_secret.encode()
        self._zone = ZoneInfo(timezone)
        self._e164 = to_e164
        self._allowed = IpAllowList(allow_ips)

    # ---- requests -----------------------------------------------------------------------------

    def handle(self, request: WebhookRequest) -> Accepted:
        if request.path.rstrip("/"):
            raise Rejected(404, "unknown-path", "Zadarma notifications go to / only")
        require_method(request, "GET", "POST")
        self._allowed.check(request.remote)
        if request.method == "GET":
            return Accepted(reply=_echo(request))
        fields = _fields(request)
        signature = (request.header("signature") or "").strip()
        if not signature:
            raise unauthenticated("the Signature header is missing")
        event = text_field(fields, "event", max_length=40)
        signed = _SIGNED.get(event)
        if signed is None:
            # No known signature string to check, and nothing of it is stored: 200 stops the retries.
            return Accepted()
        if not same_secret(signature, self.signature("".join(fields.get(name, "") for name in signed))):
            raise unauthenticated(f"Signature does not match {event}'s fields signed with api_secret")
        cloud = self._event(event, fields, request.received_at)
        if event == "NOTIFY_START":
            return Accepted(events=(cloud,), lookup_number=self._e164(fields.get("caller_id")))
        return Accepted(events=(cloud,))

    def signature(self, text: str) -> str:
        """What Zadarma puts in the Signature header for this signature string."""
        hex_text = hmac.new(self._secret, text.encode(), hashlib.sha1).hexdigest()
        return base64.b64encode(hex_text.encode()).decode()

    def lookup_reply(self, names: Sequence[str]) -> Reply:
        # An empty 200 leaves the routing to the PBX; caller_name shows the patient on the phones.
        return Reply.json({"caller_name": names[0]}) if names else OK

    def _event(self, event: str, fields: dict[str, str], received_at: datetime) -> CloudEvent:
        call = text_field(fields, "pbx_call_id", max_length=100)
        internal = text_field(fields, "internal", required=False, max_length=40)
        destination = text_field(fields, "destination", required=False, max_length=100)
        for name in ("caller_id", "called_did", "call_id_with_rec"):
            text_field(fields, name, required=False, max_length=100)
        stored: dict[str, Any] = dict(fields)
        started = None
        if event != "NOTIFY_RECORD":
            started = self._local_time(text_field(fields, "call_start", max_length=19), received_at)
            stored["call_start_utc"] = started.isoformat()
        if event in _FINAL:
            text_field(fields, "disposition", max_length=40)
            stored["duration"] = _seconds(fields.get("duration"))
        if event == "NOTIFY_ANSWER" and not internal:
            raise bad_request("missing field internal")
        if event in _OUTBOUND and not (internal and destination):
            raise bad_request("outgoing calls need internal and destination")
        # The steps of the call that happen later than its start carry no time of their own.
        occurred = started if event in ("NOTIFY_START", "NOTIFY_OUT_START") and started else received_at
        return CloudEvent(
            call_id=call,
            dedupe_key=_dedupe_key(event, call, internal, destination, fields),
            kind=event,
            final=event in _FINAL,
            occurred_at=occurred,
            data=stored,
        )

    def _local_time(self, text: str, received_at: datetime) -> datetime:
        try:
            local = datetime.strptime(text, _LOCAL_TIME).replace(tzinfo=self._zone)
            moment = local.astimezone(UTC)
        except (ValueError, OverflowError) as exc:
            raise bad_request("field call_start must be YYYY-MM-DD HH:MM:SS", field="call_start") from exc
        return plausible(moment, "call_start", received_at)

    # ---- the call record ----------------------------------------------------------------------

    def assemble(
        self, call_id: str, events: Sequence[CloudEvent], *, timed_out: bool
    ) -> PbxCallRecord | None:
        ordered = by_time(events)
        end = next((e for e in reversed(ordered) if e.final), None)
        steps = [e for e in ordered if e.kind != "NOTIFY_RECORD"]
        if (end is None and not timed_out) or not steps:
            return None
        outbound = any(e.kind in _OUTBOUND for e in steps)
        facts = self._outbound(call_id, steps, end) if outbound else self._inbound(call_id, steps, end)
        facts.recording_ref = _recording(call_id, ordered)
        facts.closed_by_timeout = end is None
        return facts.record()

    def _inbound(self, call_id: str, steps: list[CloudEvent], end: CloudEvent | None) -> CallFacts:
        answers = [e for e in steps if e.kind == "NOTIFY_ANSWER"]
        rang = [str(e.data.get("internal", "")) for e in steps if e.kind == "NOTIFY_INTERNAL"]
        end_ext = str(end.data.get("internal", "")) if end else ""
        disposition = _disposition(end) if end else "caller_hangup"
        # Zadarma says "answered" also when an IVR or voicemail took the channel: only an extension
        # (NOTIFY_ANSWER, or the END's internal) makes it a person.
        person = bool(answers or end_ext) and (end is None or disposition == "answered")
        machine = disposition == "answered" and not person
        facts = self._base(call_id, "inbound", steps, end, answers, answered=person)
        facts.caller = number_or_raw(self._e164, first_value(steps, "caller_id"))
        facts.called = number_or_raw(self._e164, first_value(steps, "called_did"))
        facts.unanswered = "caller_hangup" if machine else disposition
        talked = _runs([str(e.data["internal"]) for e in answers])
        if person:
            facts.answered_by = talked[0] if talked else end_ext
            facts.operator = end_ext or talked[-1]
            facts.transfers = _transfers(answers)
        elif end_ext:
            rang.append(end_ext)  # the END of a miss names the extension that rang last
        facts.rang = rang
        facts.missed_where = _missed_where(steps, rang, machine)
        return facts

    def _outbound(self, call_id: str, steps: list[CloudEvent], end: CloudEvent | None) -> CallFacts:
        internal, destination, direction = self._placed(steps)
        inside = direction == "internal"
        answers = [e for e in steps if e.kind == "NOTIFY_ANSWER"]
        disposition = _disposition(end) if end else "no_answer"
        answered = disposition == "answered" if end else bool(answers)
        facts = self._base(call_id, direction, steps, end, answers, answered=answered)
        line = str(end.data.get("caller_id", "")) if end else ""
        facts.caller = self._e164(line) or internal
        facts.called = destination if inside else number_or_raw(self._e164, destination)
        facts.operator = internal or None
        facts.unanswered = disposition if disposition != "answered" else "no_answer"
        return facts

    def _base(
        self,
        call_id: str,
        direction: Direction,
        steps: list[CloudEvent],
        end: CloudEvent | None,
        answers: list[CloudEvent],
        *,
        answered: bool,
    ) -> CallFacts:
        started = _started(steps)
        ended = end.occurred_at if end else max(e.occurred_at for e in steps)
        answered_at = None
        talk = timedelta(seconds=int(end.data.get("duration") or 0)) if end else timedelta(0)
        if answered and end is not None and talk:
            # The END's duration is the talk time; arrivals only place it (pbx.webhooks.talk_time).
            first_answer = answers[0].occurred_at if answers else None
            answered_at, ended = place_talk(
                started=started, talk=talk, answer_arrived=first_answer, end_arrived=end.occurred_at
            )
        elif answered:
            answered_at = _answered_at(end, answers, ended)
        return CallFacts(
            pbx=PROVIDER,
            call_id=call_id,
            direction=direction,
            caller="",
            called="",
            started_at=started,
            ended_at=ended,
            answered_at=answered_at,
        )

    def _placed(self, steps: list[CloudEvent]) -> tuple[str, str, Direction]:
        """Who placed an outgoing call, where to, and whether that is another extension."""
        start = next((e for e in steps if e.kind in _OUTBOUND), steps[0]).data
        internal = str(start.get("internal", ""))
        destination = str(start.get("destination", ""))
        inside = self._e164(destination) is None and ascii_digits(destination, 40)
        return internal, destination, "internal" if inside else "outbound"

    # ---- the live snapshot --------------------------------------------------------------------

    def live(self, call_id: str, events: Sequence[CloudEvent]) -> LiveCall | None:
        ordered = distinct_by_time(events)
        return live_snapshot(self, self._live(call_id, ordered), ordered)

    def _live(self, call_id: str, ordered: list[CloudEvent]) -> LiveFacts | None:
        steps = [e for e in ordered if e.kind != "NOTIFY_RECORD"]
        if not steps:
            return None
        facts = LiveFacts(PROVIDER, call_id, "inbound", "", "", _started(steps))
        if any(e.kind in _OUTBOUND for e in steps):
            self._live_placed(facts, steps)
        else:
            facts.caller = number_or_raw(self._e164, first_value(steps, "caller_id"))
            facts.called = number_or_raw(self._e164, first_value(steps, "called_did"))
            _live_rings(facts, steps)
        return facts

    def _live_placed(self, facts: LiveFacts, steps: list[CloudEvent]) -> None:
        internal, destination, facts.direction = self._placed(steps)
        facts.operator = facts.caller = internal
        facts.called = (
            destination if facts.direction == "internal" else number_or_raw(self._e164, destination)
        )
        # Zadarma is not known to report the far end answering an outgoing call (NOTIFY_ANSWER is
        # documented for incoming ones): without it the call shows as dialing until it ends.
        answer = next((e for e in steps if e.kind == "NOTIFY_ANSWER"), None)
        facts.answered_at = answer.occurred_at if answer else None
        if facts.direction == "internal":
            facts.rang = [destination]
            facts.ringing = [] if answer else [destination]
            facts.answered_by = destination if answer else None
        facts.talking = [internal, *facts.rang] if answer else []


def _live_rings(facts: LiveFacts, steps: list[CloudEvent]) -> None:
    """An incoming call: NOTIFY_INTERNAL rings an extension, NOTIFY_ANSWER connects one.

    Zadarma never says that a phone stopped ringing: one that rang keeps ringing on the screens until
    somebody answers or the call ends (so a phone passed over by a sequential hunt shows ringing too).
    Queues are not reported either.
    """
    rings = _steps(steps, "NOTIFY_INTERNAL")
    answers = _steps(steps, "NOTIFY_ANSWER")
    facts.rang = [ext for ext, _ in rings]
    facts.ringing = still_ringing(rings, answers[-1][1] if answers else None)
    if answers:
        facts.answered_by, facts.answered_at = answers[0]
        facts.operator = answers[-1][0]
        facts.talking = [answers[-1][0]]


def _steps(steps: list[CloudEvent], kind: str) -> list[tuple[str, datetime]]:
    """The extension each step of this kind names, and when it arrived."""
    return [
        (ext, s.occurred_at) for s in steps if s.kind == kind and (ext := str(s.data.get("internal") or ""))
    ]


# ---- parsing ------------------------------------------------------------------------------------


def _echo(request: WebhookRequest) -> Reply:
    """Zadarma checks a new notification URL with GET ?zd_echo=<value> and wants the value back."""
    value = request.query().get("zd_echo")
    if value is None:
        raise bad_request("GET is only for the zd_echo check", "missing-zd-echo")
    if not _ECHO.fullmatch(value):
        raise bad_request("zd_echo must be 1-64 letters, digits, '-' or '_'", "bad-zd-echo")
    return Reply(200, value.encode(), "text/plain")


def _fields(request: WebhookRequest) -> dict[str, str]:
    if request.content_type == MULTIPART:
        return _multipart_fields(request)
    require_content_type(request, FORM, MULTIPART)
    return form_fields(request)


def _multipart_fields(request: WebhookRequest) -> dict[str, str]:
    """Some deliveries are reported to come as multipart/form-data: its text fields, the last one wins."""
    header = request.header("content-type") or ""
    try:
        head = f"Content-Type: {header}\r\n\r\n".encode("ascii")
        message = BytesParser(policy=policy.HTTP).parsebytes(head + request.body)
        parts = list(message.iter_parts()) if message.is_multipart() else []
        if not parts or len(parts) > MAX_FORM_FIELDS:
            raise bad_request("the multipart body has no readable fields", "malformed-body")
        fields: dict[str, str] = {}
        for part in parts:
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes) and part.get_filename() is None:
                fields[name] = payload.decode("utf-8")
        return fields
    except (UnicodeError, ValueError, TypeError, LookupError) as exc:
        raise bad_request(f"the multipart body cannot be read: {exc}", "malformed-body") from exc


def _seconds(value: str | None) -> int:
    text = (value or "0").strip() or "0"
    # ASCII digits only: "²" passes str.isdigit() but not int().
    if not ascii_digits(text, 7):
        raise bad_request("field duration must be a whole number of seconds")
    return int(text)


def _dedupe_key(event: str, call: str, internal: str, destination: str, fields: Mapping[str, str]) -> str:
    key = f"{event}:{call}:{internal}"
    if event in ("NOTIFY_ANSWER", *_OUTBOUND):
        key += f":{destination}"
    elif event == "NOTIFY_RECORD":
        key += f":{fields.get('call_id_with_rec', '')}"
    elif event == "NOTIFY_IVR":
        # One call passes several IVR steps that differ only in their menu fields.
        canonical = json.dumps(sorted(fields.items()), ensure_ascii=False)
        key += ":" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return key


# ---- mapping ------------------------------------------------------------------------------------


def _started(steps: list[CloudEvent]) -> datetime:
    starts = [stored_time(str(e.data["call_start_utc"])) for e in steps if e.data.get("call_start_utc")]
    return min(starts) if starts else steps[0].occurred_at


def _disposition(end: CloudEvent) -> Disposition:
    return _DISPOSITIONS.get(str(end.data.get("disposition", "")).strip().lower(), "failed")


def _answered_at(end: CloudEvent | None, answers: list[CloudEvent], ended: datetime) -> datetime:
    """An answered call without a talk time (no END yet, or a zero duration): the first NOTIFY_ANSWER's
    arrival, unless it arrived after the END (deliveries overtook each other: it tells nothing)."""
    if answers and (end is None or answers[0].occurred_at <= ended):
        return answers[0].occurred_at
    return ended


def _runs(items: list[str]) -> list[str]:
    """Consecutive repeats collapsed: who held the call, in turn."""
    return [item for i, item in enumerate(items) if item and (i == 0 or items[i - 1] != item)]


def _transfers(answers: list[CloudEvent]) -> list[Transfer]:
    # Zadarma does not say how a call was passed on: a new extension answering means a transfer,
    # and the blind kind is the usual one at a clinic's front desk.
    transfers: list[Transfer] = []
    holder: str | None = None
    for answer in answers:
        ext = str(answer.data.get("internal", ""))
        if holder is not None and ext and ext != holder:
            transfers.append(Transfer(holder, ext, "blind", answer.occurred_at))
        holder = ext or holder
    return transfers


def _missed_where(steps: list[CloudEvent], rang: list[str], machine: bool) -> MissedWhere:
    if rang:
        return "ringing"
    if machine or any(e.kind == "NOTIFY_IVR" for e in steps):
        return "ivr"
    return "ringing"


def _recording(call_id: str, events: list[CloudEvent]) -> dict[str, Any] | None:
    ready = next((e for e in events if e.kind == "NOTIFY_RECORD"), None)
    ended = next(
        (
            e
            for e in events
            if e.final and str(e.data.get("is_recorded", "0")) == "1" and e.data.get("call_id_with_rec")
        ),
        None,
    )
    source = ready or ended
    if source is None:
        return None
    return {
        "provider": PROVIDER,
        "pbx_call_id": call_id,
        "call_id_with_rec": str(source.data["call_id_with_rec"]),
        # GET /v1/pbx/record/request/?call_id=<call_id_with_rec> (signed with the API key) gives a link
        # that lives `lifetime` seconds (180 .. 5 184 000, default 1800).
        "fetch": "zadarma_pbx_record_request",
        # NOTIFY_RECORD: the file is stored at Zadarma; before it, a fetch may find nothing yet.
        "ready": ready is not None,
    }
