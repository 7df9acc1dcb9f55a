"""MegaFon VPBX: the ITooLabs "CRM API" (also spoken by Gravitel and other ITooLabs-based VPBXs).

The VPBX posts every notification to the one "CRM URL" set in its cabinet, as a form (some builds send
JSON with the same names). ``cmd`` says what it is: ``event`` (a call leg rings, is picked up, ends; no
time is sent), ``history`` (once, after the call: its final word), ``contact`` (a synchronous "who is
calling?") or ``rating``. There is no signature: the body carries the ``crm_token`` from the cabinet,
compared in constant time; the source address can be restricted on top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from pbx.call_record import Direction, Disposition, PbxCallRecord, Transfer
from pbx.live import LiveCall
from pbx.webhooks.base import (
    FORM,
    JSON,
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
    form_fields,
    json_object,
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

PROVIDER = "megafon_vats"
_EVENT_TYPES = frozenset({"INCOMING", "ACCEPTED", "COMPLETED", "CANCELLED", "OUTGOING", "TRANSFERRED"})
# The text fields of events and histories: checked to be short strings so bad input is a 400, not a 500.
_TEXT_FIELDS = ("phone", "diversion", "user", "ext", "telnum", "direction", "groupRealName", "status")
# history.status, lower case -> how an unanswered call ended ("success" is the one answered status).
# "missed" is the VPBX's generic miss; "cancel" means the caller gave up (the clinic, on outbound).
_UNANSWERED: dict[str, Disposition] = {
    "missed": "no_answer",
    "cancel": "caller_hangup",
    "busy": "busy",
    "notavailable": "failed",
    "notallowed": "failed",
    "notfound": "failed",
}
# Events carry no time, so their arrival stands in for it. One that arrives later than this after the
# call's reported span (a delivery backlog) says nothing about when the call was answered or ended.
_MAX_RING = timedelta(minutes=10)
# An employee's events after which their phone neither rings nor talks in this call any more.
_GONE = frozenset({"COMPLETED", "CANCELLED", "TRANSFERRED"})
_MAX_SECONDS = 7 * 86400


class MegafonVats:
    provider = PROVIDER

    def __init__(self, crm_token: str, to_e164: ToE164, allow_ips: Sequence[str] = ()) -> None:
        if not crm_token:
            # An empty token would let any empty crm_token field through.
            raise ValueError("[pbx.megafon_vats] crm_token must not be empty")
        self._token = crm_token
        self._e164 = to_e164
        self._allowed = IpAllowList(allow_ips)

    # ---- requests -----------------------------------------------------------------------------

    def handle(self, request: WebhookRequest) -> Accepted:
        if request.path.rstrip("/"):
            raise Rejected(404, "unknown-path", "the MegaFon VPBX posts to / only")
        require_method(request, "POST")
        self._allowed.check(request.remote)
        fields = _fields(request)
        token = fields.get("crm_token")
        if not same_secret(token if isinstance(token, str) else None, self._token):
            raise unauthenticated("crm_token is missing or is not the one set for this clinic")
        cmd = text_field(fields, "cmd", max_length=20).lower()
        if cmd == "event":
            return _event(fields, request.received_at)
        if cmd == "history":
            return Accepted(events=(_history(fields, request.received_at),))
        if cmd == "contact":
            phone = text_field(fields, "phone", max_length=64)
            # Without a usable number there is nothing to look up: the empty object means "unknown".
            return Accepted(reply=Reply.json({}), lookup_number=self._e164(phone))
        # "rating" and commands kolokol does not use: 200, so the VPBX does not send them again.
        return Accepted()

    def lookup_reply(self, names: Sequence[str]) -> Reply:
        return Reply.json({"contact_name": names[0]} if names else {})

    # ---- the call record ----------------------------------------------------------------------

    def assemble(
        self, call_id: str, events: Sequence[CloudEvent], *, timed_out: bool
    ) -> PbxCallRecord | None:
        histories = sorted(
            (e for e in events if e.kind == "history"), key=lambda e: (e.data["started_at"], e.dedupe_key)
        )
        legs = by_time([e for e in events if e.kind == "event"])
        if histories:
            facts = self._from_history(call_id, histories, legs)
        elif timed_out and legs:
            facts = self._from_events(call_id, legs)
        else:
            return None
        return facts.record()

    def _from_history(self, call_id: str, reports: list[CloudEvent], legs: list[CloudEvent]) -> CallFacts:
        """The call as the history reports it; the events add who rang and who picked up first."""
        # One history per call is documented; should a build send one per leg, the call spans them all.
        spans = [_span(h, legs) for h in reports]
        histories = [h.data for h in reports]
        answered = [(h, at) for h, (at, _) in zip(histories, spans, strict=True) if at is not None]
        last = histories[-1]
        direction: Direction = "inbound" if str(histories[0]["type"]).lower() == "in" else "outbound"
        facts = CallFacts(
            pbx=PROVIDER,
            call_id=call_id,
            direction=direction,
            caller="",
            called="",
            started_at=stored_time(histories[0]["started_at"]),
            ended_at=max(end for _, end in spans),
            answered_at=answered[0][1] if answered else None,
            unanswered=_UNANSWERED.get(_status(last), "failed"),
            recording_ref=_recording(histories),
        )
        person = _person(answered[-1][0]) if answered else _person(last)
        self._parties(facts, [*histories, *(leg.data for leg in legs)], legs, person)
        return facts

    def _from_events(self, call_id: str, legs: list[CloudEvent]) -> CallFacts:
        """No history came: the call as far as its events tell (times are their arrival times)."""
        accepted = [leg for leg in legs if leg.data["type"] == "ACCEPTED"]
        cancelled = any(leg.data["type"] == "CANCELLED" for leg in legs)
        direction = _direction(legs)
        facts = CallFacts(
            pbx=PROVIDER,
            call_id=call_id,
            direction=direction,
            caller="",
            called="",
            started_at=legs[0].occurred_at,
            ended_at=legs[-1].occurred_at,
            answered_at=accepted[0].occurred_at if accepted else None,
            unanswered="caller_hangup" if cancelled and direction == "inbound" else "no_answer",
            closed_by_timeout=True,
        )
        self._parties(facts, [leg.data for leg in legs], legs, "")
        return facts

    def _parties(
        self, facts: CallFacts, sources: list[Mapping[str, Any]], legs: list[CloudEvent], person: str
    ) -> None:
        """Numbers and extensions; ``person`` is the ext/user the history names (if any)."""
        phone, diversion = _first(sources, "phone"), _first(sources, "diversion")
        if facts.direction == "outbound":
            facts.called = number_or_raw(self._e164, phone)
            starter = next((_person(leg.data) for leg in legs if leg.data["type"] == "OUTGOING"), "")
            person = person or starter
            facts.operator = person or None
            line = next((n for n in (diversion, _first(sources, "telnum")) if self._e164(n)), None)
            facts.caller = number_or_raw(self._e164, line) if line else person
            return
        facts.caller = number_or_raw(self._e164, phone)
        facts.called = number_or_raw(self._e164, diversion)
        rang = [p for leg in legs if leg.data["type"] == "INCOMING" and (p := _person(leg.data))]
        facts.missed_where = "ringing" if rang else "ivr"
        if facts.answered_at is None:
            facts.rang = rang
            return
        takers = _takers(legs)
        facts.transfers = _transfers(legs)
        facts.answered_by = takers[0][0] if takers else person or None
        # After a transfer the last one to pick up holds the call; otherwise trust the history.
        facts.operator = takers[-1][0] if facts.transfers else person or facts.answered_by
        facts.rang = [*rang, *(p for p in (facts.answered_by, facts.operator) if p)]

    # ---- the live snapshot --------------------------------------------------------------------

    def live(self, call_id: str, events: Sequence[CloudEvent]) -> LiveCall | None:
        ordered = distinct_by_time(events)
        return live_snapshot(self, self._live(call_id, ordered), ordered)

    def _live(self, call_id: str, ordered: list[CloudEvent]) -> LiveFacts | None:
        """Each employee's events: INCOMING rings their phone, ACCEPTED connects it, the rest end it.

        Employees are named by ``ext``, else by their VPBX login: a login matches no phone, so such a
        card reaches queue subscribers and supervisors only. ``groupRealName`` (the department the
        call was routed to) is the queue.
        """
        legs = [e for e in ordered if e.kind == "event"]
        if not legs:
            return None
        sources = [leg.data for leg in legs]
        facts = LiveFacts(PROVIDER, call_id, _direction(legs), "", "", legs[0].occurred_at)
        facts.queue = _first(sources, "groupRealName") or None
        seen: dict[str, set[str]] = {}
        for leg in legs:
            seen.setdefault(_person(leg.data), set()).add(str(leg.data["type"]))
        here = {person for person, kinds in seen.items() if person and not kinds & _GONE}
        takers = _takers(legs)
        facts.answered_at = takers[0][1] if takers else None
        facts.talking = [person for person, _ in takers if person in here]
        phone = _first(sources, "phone")
        if facts.direction == "outbound":
            starter = next((_person(leg.data) for leg in legs if leg.data["type"] == "OUTGOING"), "")
            facts.operator = facts.caller = starter or (takers[0][0] if takers else "")
            facts.called = number_or_raw(self._e164, phone)
            return facts
        facts.caller = number_or_raw(self._e164, phone)
        facts.called = number_or_raw(self._e164, _first(sources, "diversion"))
        rings = [
            (who, leg.occurred_at)
            for leg in legs
            if leg.data["type"] == "INCOMING" and (who := _person(leg.data))
        ]
        facts.rang = [who for who, _ in rings]
        # Events carry no time: their arrival order tells a ring from a later pick-up.
        unanswered = [(who, at) for who, at in rings if who in here and "ACCEPTED" not in seen[who]]
        facts.ringing = still_ringing(unanswered, takers[-1][1] if takers else None)
        if takers:
            facts.answered_by, facts.operator = takers[0][0], takers[-1][0]
        return facts


# ---- parsing ------------------------------------------------------------------------------------


def _fields(request: WebhookRequest) -> dict[str, Any]:
    require_content_type(request, FORM, JSON)
    if request.content_type == JSON:
        return json_object(request.body)
    return dict(form_fields(request))


def _event(fields: dict[str, Any], received_at: datetime) -> Accepted:
    kind = text_field(fields, "type", max_length=20).upper()
    if kind not in _EVENT_TYPES:
        # A type this build of the VPBX added: accepted, so it is not sent again, and not stored.
        return Accepted()
    call = text_field(fields, "callid")
    data = _as_sent(fields) | {"type": kind}
    key = f"event:{kind}:{call}:{_person(data)}"
    # The VPBX sends no time with an event: when it arrived is the best there is.
    event = CloudEvent(call, key, "event", False, received_at, data)
    return Accepted(events=(event,))


def _history(fields: dict[str, Any], received_at: datetime) -> CloudEvent:
    call = text_field(fields, "callid")
    if text_field(fields, "type", max_length=10).lower() not in ("in", "out"):
        raise bad_request("history type must be in or out")
    text_field(fields, "status", max_length=40)
    start = _utc_stamp(fields.get("start"), received_at)
    duration = _seconds(fields.get("duration"), "duration", required=True)
    wait = _seconds(fields.get("wait"), "wait", required=False)
    text_field(fields, "link", required=False, max_length=2000)
    data = _as_sent(fields) | {
        "started_at": start.isoformat(),
        "duration_seconds": duration,
        "wait_seconds": wait,
    }
    return CloudEvent(call, f"history:{call}:{_person(data)}", "history", True, received_at, data)


def _as_sent(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The provider's fields as text, without the token (it is a secret and never stored)."""
    for name in _TEXT_FIELDS:
        text_field(fields, name, required=False)
    return {
        name: str(value)
        for name, value in fields.items()
        if name != "crm_token" and not isinstance(value, bool) and isinstance(value, str | int | float)
    }


def _utc_stamp(value: Any, received_at: datetime) -> datetime:
    """``start``: UTC as ``YYYYmmddTHHMMSSZ``, `plausible` against the arrival."""
    wrong = bad_request("field start must be a UTC time as YYYYmmddTHHMMSSZ")
    if not isinstance(value, str):
        raise wrong
    try:
        moment = datetime.strptime(value.strip().removesuffix("Z"), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        raise wrong from None
    return plausible(moment, "start", received_at)


def _seconds(value: Any, name: str, *, required: bool) -> float | None:
    if value is None or value == "":
        if required:
            raise bad_request(f"missing field {name}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise bad_request(f"field {name} must be a number of seconds")
    try:
        seconds = float(value)
    except ValueError:
        raise bad_request(f"field {name} must be a number of seconds") from None
    if not 0 <= seconds <= _MAX_SECONDS:  # also refuses NaN and infinities
        raise bad_request(f"field {name} is out of range")
    return seconds


# ---- mapping ------------------------------------------------------------------------------------


def _status(data: Mapping[str, Any]) -> str:
    # Sources disagree on the case ("missed", "Missed", "success").
    return str(data.get("status", "")).lower()


def _person(data: Mapping[str, Any]) -> str:
    """The employee a notification is about: the extension, else the VPBX login."""
    return str(data.get("ext") or data.get("user") or "")


def _first(sources: list[Mapping[str, Any]], name: str) -> str:
    return next((str(s[name]) for s in sources if s.get(name)), "")


def _span(report: CloudEvent, legs: list[CloudEvent]) -> tuple[datetime | None, datetime]:
    """When one history's call was answered (None if not) and when it ended.

    ``duration`` is the talk time (what the pull API documents; a missed call's is 0) and ``wait``, when
    a build sends it, the ring time before the answer. Without ``wait`` the talk is placed by when the
    ACCEPTED event and the history arrived (``pbx.webhooks.talk_time``), so late deliveries never
    change its length.
    """
    history = report.data
    start = stored_time(history["started_at"])
    talk = timedelta(seconds=float(history["duration_seconds"]))
    wait = history.get("wait_seconds")
    answered = _status(history) == "success"
    if wait is not None:
        ring = timedelta(seconds=float(wait))
        return (start + ring if answered else None), start + ring + talk
    latest = start + talk + _MAX_RING
    arrivals = [leg for leg in legs if start <= leg.occurred_at <= latest]
    if answered:
        picked = next((leg.occurred_at for leg in arrivals if leg.data["type"] == "ACCEPTED"), None)
        return place_talk(
            started=start,
            talk=talk,
            answer_arrived=picked,
            end_arrived=report.occurred_at,
            max_wait=_MAX_RING,
        )
    return None, max([start + talk, *(leg.occurred_at for leg in arrivals)])


def _direction(legs: list[CloudEvent]) -> Direction:
    said = next((str(leg.data["direction"]).lower() for leg in legs if leg.data.get("direction")), "")
    if said == "out" or (said != "in" and any(leg.data["type"] == "OUTGOING" for leg in legs)):
        return "outbound"
    return "inbound"


def _takers(legs: list[CloudEvent]) -> list[tuple[str, datetime]]:
    """Employees who picked the call up, in order, a repeat of the current holder dropped."""
    takers: list[tuple[str, datetime]] = []
    for leg in legs:
        who = _person(leg.data)
        if leg.data["type"] == "ACCEPTED" and who and (not takers or takers[-1][0] != who):
            takers.append((who, leg.occurred_at))
    return takers


def _transfers(legs: list[CloudEvent]) -> list[Transfer]:
    # The CRM API does not say blind or attended: a transfer is reported as blind.
    takers = _takers(legs)
    return [Transfer(a, b, "blind", at) for (a, _), (b, at) in pairwise(takers)]


def _recording(histories: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    link = _first(histories, "link")
    if not link:
        return None
    # The file lives on the clinic's *.megapbx.ru domain; the VPBX API key (not crm_token, and not
    # stored here) goes in the X-API-KEY header.
    return {"provider": PROVIDER, "url": link, "fetch": "GET with the VPBX X-API-KEY header"}
