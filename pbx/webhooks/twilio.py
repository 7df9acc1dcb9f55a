"""Twilio Programmable Voice: signed form posts to ``/voice``, ``/dial-action`` and ``/status``.

Every request carries ``X-Twilio-Signature = base64(HMAC-SHA1(auth_token, URL + sorted name+value))`` over
the public URL Twilio called (query included) and the decoded form parameters. On an incoming call Twilio
asks ``/voice`` for TwiML and answers the parent call itself, so the parent's ``completed`` says nothing about
a person: who took the call comes from the ``<Dial>`` action and from the status callbacks of the child legs
(one per ring target, each tagged ``?extension=``). The parent's terminal status callback is the final event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit
from xml.etree.ElementTree import Element, SubElement, tostring

from pbx.call_record import Disposition, PbxCallRecord
from pbx.live import LiveCall
from pbx.untrusted import ascii_digits
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
    first_value,
    form_pairs,
    live_snapshot,
    number_or_raw,
    plausible,
    require_method,
    same_secret,
    still_ringing,
    text_field,
    unauthenticated,
)

PROVIDER = "twilio"
MOUNT = "/webhooks/twilio"
_PATHS = ("/voice", "/dial-action", "/status")
_CALL_STATUSES = frozenset(
    {"queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer", "failed", "canceled"}
)
_TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
_DIAL_STATUSES = frozenset({"completed", "answered", "busy", "no-answer", "failed", "canceled"})
# A child leg with one of these statuses reached the phone (busy/failed legs never rang).
_RANG = frozenset({"ringing", "in-progress", "completed", "no-answer", "canceled"})
# A leg's progress, so its latest status is known whatever order its callbacks came in (ended: 4).
# "initiated" counts as ringing: the phone rings a moment later, and the card should not wait for it.
_LEG_PROGRESS = {"queued": 0, "initiated": 1, "ringing": 2, "in-progress": 3}
_UNANSWERED: dict[str, Disposition] = {
    "busy": "busy",
    "no-answer": "no_answer",
    "canceled": "caller_hangup",
    "failed": "failed",
}
_LEG_EVENTS = "initiated ringing answered completed"
# The ``extension`` query parameter of a status callback, kept next to the provider's own fields.
EXTENSION = "_extension"


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's request signature: the URL, then every parameter sorted by name (then value) as name+value."""
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> list[str]:
    """The URL as configured, plus the same URL with the default port written out or dropped.

    Twilio signs the URL as it was entered in the console or TwiML, which may or may not spell the port.
    """
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return [url]
    if default is None or parts.hostname is None:
        return [url]
    if port is None:
        other = parts._replace(netloc=f"{parts.netloc}:{default}")
    elif port == default:
        other = parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])
    else:
        return [url]
    return [url, urlunsplit(other)]


class Twilio:
    provider = PROVIDER

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        public_base_url: str,
        to_e164: ToE164,
        *,
        ring: Mapping[str, str],
        dial_timeout_seconds: int,
        record: bool,
        allow_ips: Sequence[str] = (),
    ) -> None:
        self._account_sid = account_sid
        self._token = auth_token
        self._base = public_base_url.rstrip("/") + MOUNT
        self._e164 = to_e164
        self._ring = dict(ring)
        # Child legs the clinic's own TwiML dials carry no ?extension=: recognise the ring targets instead.
        self._ext_by_target = {target.strip().lower(): ext for ext, target in self._ring.items()}
        self._timeout = dial_timeout_seconds
        self._record = record
        self._allowed = IpAllowList(allow_ips)

    # ---- requests -----------------------------------------------------------------------------

    def handle(self, request: WebhookRequest) -> Accepted:
        path = request.path.rstrip("/") or "/"
        if path not in _PATHS:
            raise Rejected(404, "unknown-path", f"Twilio webhooks are {', '.join(_PATHS)}")
        require_method(request, "POST")
        if path == "/voice" and not self._ring:
            raise Rejected(
                404, "no-ring-targets", "no [pbx.twilio] ring targets: route calls in your own TwiML"
            )
        self._allowed.check(request.remote)
        if request.content_type == JSON:
            raise Rejected(415, "unsupported-media-type", "Twilio Voice callbacks are form posts, not JSON")
        pairs = form_pairs(request)
        self._verify(request, pairs)
        form = dict(pairs)
        if not same_secret(form.get("AccountSid"), self._account_sid):
            raise Rejected(403, "unknown-account", "AccountSid is not this clinic's Twilio account")
        extension = request.query().get("extension", "")
        at = request.received_at
        if path == "/voice":
            return Accepted(events=(_voice_event(form, at),), reply=Reply(200, self.dial_twiml(), "text/xml"))
        if path == "/dial-action":
            hangup = b'<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'
            return Accepted(events=(_dial_event(form, at),), reply=Reply(200, hangup, "text/xml"))
        if form.get("RecordingSid") and form.get("RecordingStatus"):
            return Accepted(events=(_recording_event(form, at),))
        if "CallStatus" not in form:
            # AMD, conference, stream or SIPREC callbacks pointed here: not call progress, nothing to keep.
            return Accepted()
        return Accepted(events=(_status_event(form, extension, at),))

    def _verify(self, request: WebhookRequest, pairs: list[tuple[str, str]]) -> None:
        given = request.header("x-twilio-signature")
        if not given:
            raise unauthenticated("X-Twilio-Signature is missing")
        query = f"?{request.raw_query}" if request.raw_query else ""
        for url in url_variants(self._base + request.path + query):
            if same_secret(given, twilio_signature(self._token, url, pairs)):
                return
        raise unauthenticated(
            "X-Twilio-Signature does not match the URL and parameters (check public_base_url)"
        )

    def dial_twiml(self) -> bytes:
        """Ring every configured target at once; each leg reports its progress tagged with its extension."""
        response = Element("Response")
        dial = SubElement(
            response, "Dial", {"action": f"{self._base}/dial-action", "timeout": str(self._timeout)}
        )
        if self._record:
            dial.set("record", "record-from-answer")
            dial.set("recordingStatusCallback", f"{self._base}/status")
        for extension, target in self._ring.items():
            noun, text = _noun(target)
            leg = SubElement(
                dial,
                noun,
                {
                    "statusCallback": f"{self._base}/status?{urlencode({'extension': extension})}",
                    "statusCallbackEvent": _LEG_EVENTS,
                },
            )
            leg.text = text
        return b'<?xml version="1.0" encoding="UTF-8"?>' + tostring(response, encoding="unicode").encode()

    def lookup_reply(self, names: Sequence[str]) -> Reply:
        return OK

    # ---- the call record ----------------------------------------------------------------------

    def assemble(
        self, call_id: str, events: Sequence[CloudEvent], *, timed_out: bool
    ) -> PbxCallRecord | None:
        ordered = by_time(events)
        parent = [e for e in ordered if e.kind == "status" and not e.data.get("ParentCallSid")]
        final = next((e for e in reversed(parent) if e.data.get("CallStatus") in _TERMINAL), None)
        if final is None and not timed_out:
            return None
        progress = [e for e in ordered if e.kind != "recording"]
        if not progress:
            return None
        if any(e.data.get("Direction") == "outbound-api" for e in parent):
            facts = self._outbound(call_id, parent, final, progress)
        else:
            facts = self._inbound(call_id, ordered, final, progress)
        facts.recording_ref = _recording(ordered, self._account_sid)
        facts.closed_by_timeout = final is None
        return facts.record()

    def _inbound(
        self, call_id: str, ordered: list[CloudEvent], final: CloudEvent | None, progress: list[CloudEvent]
    ) -> CallFacts:
        about_parent = [e for e in progress if not e.data.get("ParentCallSid")] or progress
        dialled = self._dialled(ordered)
        legs, dials, rang = dialled.legs, dialled.dials, dialled.rang
        answered_at, talked = _person_answer(dialled.answers, dials, dialled.extension, final)
        # Twilio answered the parent when it fetched /voice: its CallDuration reaches back to the start.
        starts = [e.occurred_at for e in progress]
        if final is not None:
            starts.append(final.occurred_at - timedelta(seconds=_secs(final, "CallDuration")))
        return CallFacts(
            pbx=PROVIDER,
            call_id=call_id,
            direction="inbound",
            caller=number_or_raw(self._e164, first_value(about_parent, "From")),
            caller_name=first_value(about_parent, "CallerName") or None,
            called=number_or_raw(self._e164, first_value(about_parent, "To")),
            started_at=min(starts),
            ended_at=final.occurred_at if final is not None else progress[-1].occurred_at,
            answered_at=answered_at,
            unanswered=_inbound_miss(dials, legs, final),
            missed_where="ringing" if rang or dials or legs else "ivr",
            answered_by=talked[0] if talked else None,
            operator=next((ext for ext in reversed(talked) if ext), None),
            rang=rang,
        )

    def _outbound(
        self, call_id: str, parent: list[CloudEvent], final: CloudEvent | None, progress: list[CloudEvent]
    ) -> CallFacts:
        picked_up = next((e for e in parent if e.data.get("CallStatus") == "in-progress"), None)
        answered_at = picked_up.occurred_at if picked_up is not None else None
        status = str(final.data.get("CallStatus")) if final is not None else ""
        if (
            answered_at is None
            and final is not None
            and status == "completed"
            and _secs(final, "CallDuration")
        ):
            answered_at = final.occurred_at - timedelta(seconds=_secs(final, "CallDuration"))
        return CallFacts(
            pbx=PROVIDER,
            call_id=call_id,
            direction="outbound",
            caller=number_or_raw(self._e164, first_value(parent, "From")),
            called=number_or_raw(self._e164, first_value(parent, "To")),
            started_at=parent[0].occurred_at,
            ended_at=final.occurred_at if final is not None else progress[-1].occurred_at,
            answered_at=answered_at,
            unanswered=_UNANSWERED.get(status, "no_answer"),
            operator=first_value(parent, EXTENSION) or None,
        )

    def _dialled(self, ordered: list[CloudEvent]) -> _Dialled:
        legs = _legs(ordered)
        extension = {sid: self._leg_extension(events) for sid, events in legs.items()}
        rang = [
            ext
            for sid, events in legs.items()
            if (ext := extension[sid]) and any(e.data.get("CallStatus") in _RANG for e in events)
        ]
        answers = [e for events in legs.values() for e in events if e.data.get("CallStatus") == "in-progress"]
        answers.sort(key=lambda e: (e.occurred_at, e.dedupe_key))
        return _Dialled(legs, extension, rang, answers, [e for e in ordered if e.kind == "dial"])

    # ---- the live snapshot --------------------------------------------------------------------

    def live(self, call_id: str, events: Sequence[CloudEvent]) -> LiveCall | None:
        ordered = distinct_by_time(events)
        return live_snapshot(self, self._live(call_id, ordered), ordered)

    def _live(self, call_id: str, ordered: list[CloudEvent]) -> LiveFacts | None:
        progress = [e for e in ordered if e.kind != "recording"]
        if not progress:
            return None
        parent = [e for e in progress if e.kind == "status" and not e.data.get("ParentCallSid")]
        about = [e for e in progress if not e.data.get("ParentCallSid")] or progress
        facts = LiveFacts(
            PROVIDER,
            call_id,
            "inbound",
            caller=number_or_raw(self._e164, first_value(about, "From")),
            called=number_or_raw(self._e164, first_value(about, "To")),
            started_at=progress[0].occurred_at,
            caller_name=first_value(about, "CallerName") or None,
        )
        if any(e.data.get("Direction") == "outbound-api" for e in parent):
            # The patient's phone rings (dialing) until the call itself reports in-progress.
            facts.direction = "outbound"
            facts.operator = first_value(parent, EXTENSION) or None
            picked_up = next((e for e in parent if e.data.get("CallStatus") == "in-progress"), None)
            facts.answered_at = picked_up.occurred_at if picked_up is not None else None
            facts.talking = [facts.operator] if facts.operator and picked_up is not None else []
            return facts
        self._live_dial(facts, self._dialled(ordered))
        return facts

    def _live_dial(self, facts: LiveFacts, dialled: _Dialled) -> None:
        """Each leg of the <Dial> rings one extension (its ``?extension=`` tag) until it answers or ends."""
        facts.answered_at, talked = _person_answer(dialled.answers, dialled.dials, dialled.extension, None)
        facts.answered_by = talked[0] if talked else None
        facts.operator = next((ext for ext in reversed(talked) if ext), None)
        facts.rang = list(dialled.rang)
        if dialled.dials:
            return  # the Dial action came: the <Dial> is over, no leg rings or talks any more
        rings = []
        for sid, events in dialled.legs.items():
            ext = dialled.extension[sid]
            progress = max(_LEG_PROGRESS.get(str(e.data.get("CallStatus")), 4) for e in events)
            if ext and progress in (1, 2):
                rings.append((ext, events[0].occurred_at))
            elif ext and progress == 3:
                facts.talking.append(ext)
        picked_up = dialled.answers[-1].occurred_at if dialled.answers else None
        facts.ringing = still_ringing(rings, picked_up)

    def _leg_extension(self, events: list[CloudEvent]) -> str | None:
        tagged = first_value(events, EXTENSION)
        if tagged:
            return tagged
        return self._ext_by_target.get(first_value(events, "To").strip().lower())


# ---- parsing ------------------------------------------------------------------------------------


def _noun(target: str) -> tuple[str, str]:
    if target.lower().startswith("sip:"):
        return "Sip", target
    if target.lower().startswith("client:"):
        return "Client", target[len("client:") :]
    return "Number", target


def _voice_event(form: dict[str, str], at: datetime) -> CloudEvent:
    sid = text_field(form, "CallSid", max_length=64)
    return CloudEvent(sid, f"voice:{sid}", "voice", False, at, form)


def _dial_event(form: dict[str, str], at: datetime) -> CloudEvent:
    sid = text_field(form, "CallSid", max_length=64)
    status = text_field(form, "DialCallStatus", max_length=20)
    if status not in _DIAL_STATUSES:
        raise bad_request(f"unknown DialCallStatus {status}")
    _check_seconds(form, "DialCallDuration", "RecordingDuration")
    child = text_field(form, "DialCallSid", required=False, max_length=64)
    return CloudEvent(sid, f"dial:{sid}:{child}", "dial", False, at, form)


def _status_event(form: dict[str, str], extension: str, received_at: datetime) -> CloudEvent:
    sid = text_field(form, "CallSid", max_length=64)
    status = text_field(form, "CallStatus", max_length=20)
    if status not in _CALL_STATUSES:
        raise bad_request(f"unknown CallStatus {status}")
    parent = text_field(form, "ParentCallSid", required=False, max_length=64)
    sequence = text_field(form, "SequenceNumber", required=False, max_length=12)
    _check_seconds(form, "CallDuration", "SequenceNumber")
    data: dict[str, Any] = dict(form)
    if extension:
        data[EXTENSION] = text_field({"extension": extension}, "extension", max_length=64)
    key = f"status:{sid}:{sequence}:{status}" if sequence else f"status:{sid}:{status}"
    return CloudEvent(
        parent or sid, key, "status", not parent and status in _TERMINAL, _when(form, received_at), data
    )


def _recording_event(form: dict[str, str], received_at: datetime) -> CloudEvent:
    sid = text_field(form, "CallSid", max_length=64)
    recording = text_field(form, "RecordingSid", max_length=64)
    status = text_field(form, "RecordingStatus", max_length=20)
    _check_seconds(form, "RecordingDuration")
    call_id = form.get("ParentCallSid") or sid
    return CloudEvent(
        call_id, f"recording:{recording}:{status}", "recording", False, _when(form, received_at), form
    )


def _when(form: Mapping[str, str], received_at: datetime) -> datetime:
    """``Timestamp`` (RFC 2822, UTC) when Twilio sent one, else the arrival time."""
    raw = form.get("Timestamp")
    if not raw:
        return received_at
    try:
        moment = parsedate_to_datetime(raw)
        # Years 1 and 9999 with an extreme offset have no UTC time (OverflowError).
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        raise bad_request("Timestamp must be an RFC 2822 date", field="Timestamp") from exc
    return plausible(moment, "Timestamp", received_at)


def _check_seconds(form: Mapping[str, str], *names: str) -> None:
    for name in names:
        value = form.get(name)
        if value and not ascii_digits(value, 9):
            raise bad_request(f"field {name} must be a whole number")


# ---- mapping ------------------------------------------------------------------------------------


def _secs(event: CloudEvent, name: str) -> int:
    value = str(event.data.get(name) or "0")
    return int(value) if ascii_digits(value, 9) else 0


@dataclass(frozen=True, slots=True)
class _Dialled:
    """The legs an incoming call's <Dial> rang, by CallSid, and what they tell."""

    legs: dict[str, list[CloudEvent]]
    extension: dict[str, str | None]
    # Extensions whose leg reached the phone, in first-ring order.
    rang: list[str]
    # The legs' in-progress callbacks (a phone picked up), in time order.
    answers: list[CloudEvent]
    # Dial action callbacks: the <Dial> is over.
    dials: list[CloudEvent]


def _legs(ordered: list[CloudEvent]) -> dict[str, list[CloudEvent]]:
    """Child-leg status callbacks by the leg's CallSid, legs in the order they first reported."""
    legs: dict[str, list[CloudEvent]] = {}
    for event in ordered:
        if event.kind == "status" and event.data.get("ParentCallSid"):
            legs.setdefault(str(event.data.get("CallSid")), []).append(event)
    return legs


def _person_answer(
    answers: list[CloudEvent],
    dials: list[CloudEvent],
    extension: Mapping[str, str | None],
    final: CloudEvent | None,
) -> tuple[datetime | None, list[str | None]]:
    """When a person took the call and which extensions talked, from the child legs, else the Dial action."""
    if answers:
        return answers[0].occurred_at, [extension.get(str(e.data.get("CallSid"))) for e in answers]
    bridged = [
        d
        for d in dials
        if d.data.get("DialCallStatus") in ("completed", "answered") and _secs(d, "DialCallDuration")
    ]
    if not bridged:
        return None, []
    first = bridged[0]
    # The action comes when the bridge ends, about when the parent ends: take whichever clock says earlier.
    ended = min(first.occurred_at, final.occurred_at) if final is not None else first.occurred_at
    talked = [extension.get(str(d.data.get("DialCallSid", ""))) for d in bridged]
    return ended - timedelta(seconds=_secs(first, "DialCallDuration")), talked


def _inbound_miss(
    dials: list[CloudEvent], legs: Mapping[str, list[CloudEvent]], final: CloudEvent | None
) -> Disposition:
    if dials:
        last = dials[-1].data
        # The action's CallStatus is the parent's: "completed" means the caller had already hung up.
        if last.get("CallStatus") in ("completed", "canceled") or last.get("DialCallStatus") == "canceled":
            return "caller_hangup"
        return _UNANSWERED.get(str(last.get("DialCallStatus")), "no_answer")
    ends = [e.data.get("CallStatus") for events in legs.values() for e in events]
    ends = [s for s in ends if s in _TERMINAL]
    if "no-answer" in ends:
        return "no_answer"
    for status in ("busy", "failed"):
        if ends and all(s == status for s in ends):
            return _UNANSWERED[status]
    if not legs and final is not None and final.data.get("CallStatus") == "failed":
        return "failed"
    return "caller_hangup"


def _recording(ordered: list[CloudEvent], account_sid: str) -> dict[str, Any] | None:
    done = [e for e in ordered if e.kind == "recording" and e.data.get("RecordingStatus") == "completed"]
    announced = [
        e for e in ordered if e.kind == "dial" and e.data.get("RecordingSid") and e.data.get("RecordingUrl")
    ]
    if not done and not announced:
        return None
    source = (done or announced)[0]
    data = source.data
    return {
        "provider": PROVIDER,
        "recording_sid": data["RecordingSid"],
        "call_sid": data.get("CallSid"),
        "account_sid": account_sid,
        "url": data.get("RecordingUrl"),
        # Append a format to the URL; Basic auth (AccountSid + auth token) only when the account enforces
        # HTTP auth on media URLs. The token is in the settings, never here.
        "fetch": "GET url + '.mp3' or '.wav' (HTTP Basic AccountSid:auth_token if media auth is enforced)",
        "duration_seconds": _secs(source, "RecordingDuration"),
        # "completed" from the recording status callback; only the Dial action named it otherwise.
        "status": data.get("RecordingStatus") if source.kind == "recording" else "announced",
        "expires_at": None,
    }
