"""Mango Office VPBX "API Realtime": signed form posts, one per call-leg change, then a summary.

Every request is a form with ``vpbx_api_key``, ``sign`` and ``json``; ``sign`` is
``sha256_hex(vpbx_api_key + json + vpbx_api_salt)`` over the ``json`` text exactly as sent. Legs of one
call share ``entry_id``; Mango sends notifications in parallel, so they arrive in any order (``seq``
orders a leg's own events). ``/events/summary`` is the final word on the call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pbx.call_record import Direction, Disposition, MissedWhere, PbxCallRecord, Transfer
from pbx.live import LiveCall
from pbx.webhooks.base import (
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
    form_fields,
    json_object,
    live_snapshot,
    number_or_raw,
    require_method,
    same_secret,
    still_ringing,
    stored_time,
    text_field,
    unauthenticated,
    unix_time,
)

PROVIDER = "mango_office"
_KINDS = {
    "/events/call": "call",
    "/events/summary": "summary",
    "/events/recording": "recording",
    "/events/record/added": "record_added",
}
# Other notifications Mango may be configured to send; accepted and ignored so it does not retry them.
_IGNORED = ("/events/dtmf", "/events/sms", "/events/record/tagged", "/events/recognized/offline")
_DIRECTIONS: dict[int, Direction] = {0: "internal", 1: "inbound", 2: "outbound"}
# A leg still connected: on hold the employee has the caller waiting, not gone.
_CONNECTED = ("Connected", "OnHold")


class MangoOffice:
    provider = PROVIDER

    def __init__(
        self, vpbx_api_key: str, vpbx_api_salt: str, to_e164: ToE164, allow_ips: Sequence[str] = ()
    ) -> None:
        self._key = vpbx_api_key
        self._salt = vpbx_api_salt
        self._e164 = to_e164
        self._allowed = IpAllowList(allow_ips)

    # ---- requests -----------------------------------------------------------------------------

    def handle(self, request: WebhookRequest) -> Accepted:
        path = request.path.rstrip("/") or "/"
        if path not in _KINDS and path not in _IGNORED:
            raise Rejected(404, "unknown-event", f"Mango Office sends no {path}")
        require_method(request, "POST")
        self._allowed.check(request.remote)
        form = form_fields(request)
        given_key, sign, payload = form.get("vpbx_api_key"), form.get("sign"), form.get("json")
        if payload is None and sign is None:
            # The cabinet's "check connection" button posts without an event.
            return Accepted()
        if not same_secret(given_key, self._key):
            raise Rejected(403, "unknown-vpbx", "vpbx_api_key is not this clinic's")
        expected = hashlib.sha256(f"{self._key}{payload or ''}{self._salt}".encode()).hexdigest()
        if not same_secret((sign or "").lower(), expected):
            raise unauthenticated("sign does not match vpbx_api_key + json + vpbx_api_salt")
        if path in _IGNORED:
            return Accepted()
        event = json_object(payload or "", "json field", field="json")
        return Accepted(events=(_event(_KINDS[path], event, request.received_at),))

    def lookup_reply(self, names: Sequence[str]) -> Reply:
        return OK

    # ---- the call record ----------------------------------------------------------------------

    def assemble(
        self, call_id: str, events: Sequence[CloudEvent], *, timed_out: bool
    ) -> PbxCallRecord | None:
        summary = next((e for e in events if e.kind == "summary"), None)
        if summary is None and not timed_out:
            return None
        legs = sorted(
            (e for e in events if e.kind == "call"),
            key=lambda e: (e.occurred_at, _int(e.data.get("seq")), e.dedupe_key),
        )
        facts = (
            self._from_summary(call_id, summary.data, legs)
            if summary is not None
            else self._from_legs(call_id, legs, events)
        )
        if facts is None:
            return None
        facts.recording_ref = _recording(events)
        return facts.record()

    def _from_summary(self, call_id: str, data: Mapping[str, Any], legs: list[CloudEvent]) -> CallFacts:
        direction = _DIRECTIONS.get(_int(data.get("call_direction")), "inbound")
        frm, to = _party(data, "from"), _party(data, "to")
        line = str(data.get("line_number") or "")
        talk_start = data.get("talk_time")
        started = stored_time(data["create_time"])
        ended = stored_time(data["end_time"])
        # Mango reports entry_result 1 for a call that only reached the IVR: it counts only with talk time.
        talked = isinstance(talk_start, str) and (
            direction != "inbound" or _int(data.get("entry_result")) == 1
        )
        answered_at = stored_time(talk_start) if isinstance(talk_start, str) and talked else None
        reason = _int(data.get("disconnect_reason"))
        operators = _connected_extensions(legs)
        facts = CallFacts(
            pbx=PROVIDER,
            call_id=call_id,
            direction=direction,
            caller="",
            called="",
            started_at=started,
            ended_at=ended,
            answered_at=answered_at,
            unanswered=_disposition(reason, direction),
            rang=_rang(legs),
            transfers=_transfers(legs),
        )
        if direction == "inbound":
            facts.caller = number_or_raw(self._e164, frm.get("number"))
            facts.called = number_or_raw(self._e164, line or to.get("number"))
            if talked:
                facts.answered_by = operators[0] if operators else to.get("extension") or None
                facts.operator = operators[-1] if operators else facts.answered_by
            elif to.get("extension"):
                # On a missed call the summary names the first employee who missed it.
                facts.rang = [*facts.rang, to["extension"]]
            facts.missed_where = _missed_where(legs, facts.rang)
        elif direction == "outbound":
            facts.operator = frm.get("extension") or None
            facts.caller = number_or_raw(self._e164, line) if line else frm.get("extension", "")
            facts.called = number_or_raw(self._e164, to.get("number"))
        else:
            facts.operator = frm.get("extension") or None
            facts.caller = frm.get("extension") or number_or_raw(self._e164, frm.get("number"))
            facts.called = to.get("extension") or number_or_raw(self._e164, to.get("number"))
        return facts

    def _from_legs(
        self, call_id: str, legs: list[CloudEvent], events: Sequence[CloudEvent]
    ) -> CallFacts | None:
        """No summary came: rebuild the call from its legs, as far as they tell."""
        if not legs:
            return None
        first = legs[0].data
        frm, to = _party(first, "from"), _party(first, "to")
        outside_from = self._e164(frm.get("number")) if not frm.get("extension") else None
        if outside_from is not None:
            direction: Direction = "inbound"
        elif frm.get("extension") and to.get("extension"):
            direction = "internal"
        else:
            direction = "outbound"
        # Inbound, only an employee's leg connecting is a person answering (the IVR connects too).
        answered_at = next(
            (
                leg.occurred_at
                for leg in legs
                if leg.data.get("call_state") == "Connected"
                and (direction != "inbound" or _party(leg.data, "to").get("extension"))
            ),
            None,
        )
        operators = _connected_extensions(legs)
        last_reason = next(
            (
                _int(leg.data.get("disconnect_reason"))
                for leg in reversed(legs)
                if leg.data.get("disconnect_reason")
            ),
            0,
        )
        facts = CallFacts(
            pbx=PROVIDER,
            call_id=call_id,
            direction=direction,
            caller="",
            called="",
            started_at=legs[0].occurred_at,
            ended_at=max(e.occurred_at for e in events),
            answered_at=answered_at,
            unanswered=_disposition(last_reason, direction),
            rang=_rang(legs),
            transfers=_transfers(legs),
            closed_by_timeout=True,
        )
        if direction == "inbound":
            facts.caller = outside_from or ""
            facts.called = number_or_raw(self._e164, to.get("line_number") or to.get("number"))
            facts.answered_by = operators[0] if operators else None
            facts.operator = operators[-1] if operators else None
            facts.missed_where = _missed_where(legs, facts.rang)
        else:
            facts.operator = frm.get("extension") or None
            facts.caller = (
                number_or_raw(self._e164, frm.get("line_number"))
                if frm.get("line_number")
                else frm.get("extension", "")
            )
            facts.called = to.get("extension") or number_or_raw(self._e164, to.get("number"))
        return facts

    # ---- the live snapshot --------------------------------------------------------------------

    def live(self, call_id: str, events: Sequence[CloudEvent]) -> LiveCall | None:
        ordered = distinct_by_time(events)
        return live_snapshot(self, self._live(call_id, ordered), ordered)

    def _live(self, call_id: str, ordered: list[CloudEvent]) -> LiveFacts | None:
        """Each leg's latest state: an employee's leg rings while Appeared, talks while Connected."""
        legs = _legs_now([e for e in ordered if e.kind == "call"])
        if not legs:
            return None
        facts = LiveFacts(PROVIDER, call_id, "inbound", "", "", legs[0].first.occurred_at)
        # The caller's side is the leg from an outside number; without one, an extension placed the call.
        outside = next(
            (n for leg in legs if not leg.frm.get("extension") and (n := self._e164(leg.frm.get("number")))),
            None,
        )
        if outside is not None:
            self._live_inbound(facts, legs, outside)
        else:
            self._live_placed(facts, legs)
        return facts

    def _live_inbound(self, facts: LiveFacts, legs: list[_LegNow], caller: str) -> None:
        employees = [leg for leg in legs if leg.extension]
        line = next((leg.to["line_number"] for leg in legs if leg.to.get("line_number")), "")
        facts.caller = caller
        facts.called = number_or_raw(self._e164, line or legs[0].to.get("number"))
        # Mango names the ring group (ACD group) on the legs it rings for it.
        facts.queue = next((leg.to["acd_group"] for leg in legs if leg.to.get("acd_group")), None)
        facts.rang = [leg.extension for leg in employees]
        took = sorted((leg for leg in employees if leg.connected_at), key=_connected_order)
        rings = [(leg.extension, leg.first.occurred_at) for leg in employees if leg.state == "Appeared"]
        facts.ringing = still_ringing(rings, took[-1].connected_at if took else None)
        facts.talking = [leg.extension for leg in employees if leg.state in _CONNECTED]
        if took:
            facts.answered_at = took[0].connected_at
            facts.answered_by = took[0].extension
            facts.operator = took[-1].extension

    def _live_placed(self, facts: LiveFacts, legs: list[_LegNow]) -> None:
        """An employee's call: to another extension (internal) or to an outside number (outbound)."""
        placer = next((leg.frm["extension"] for leg in legs if leg.frm.get("extension")), "")
        callees = [leg for leg in legs if leg.extension and leg.extension != placer]
        connected = [leg for leg in (callees or legs) if leg.connected_at]
        facts.operator = placer or None
        facts.answered_at = min((leg.connected_at for leg in connected if leg.connected_at), default=None)
        on_line = any(leg.state in _CONNECTED for leg in (callees or legs))
        facts.talking = [placer] if on_line else []
        if callees:
            facts.direction = "internal"
            facts.caller, facts.called = placer, callees[0].extension
            facts.rang = [leg.extension for leg in callees]
            facts.ringing = [leg.extension for leg in callees if leg.state == "Appeared"]
            facts.talking += [leg.extension for leg in callees if leg.state in _CONNECTED]
            facts.answered_by = connected[0].extension if connected else None
            return
        facts.direction = "outbound"
        line = next((leg.frm["line_number"] for leg in legs if leg.frm.get("line_number")), "")
        facts.caller = number_or_raw(self._e164, line) if line else placer
        patient = next((leg.to["number"] for leg in legs if leg.to.get("number")), "")
        facts.called = number_or_raw(self._e164, patient)


# ---- parsing ------------------------------------------------------------------------------------


def _event(kind: str, data: dict[str, Any], received_at: datetime) -> CloudEvent:
    entry = text_field(data, "entry_id")
    stored = dict(data)
    if kind == "call":
        leg = text_field(data, "call_id")
        state = text_field(data, "call_state", max_length=20)
        if state not in ("Appeared", "Connected", "OnHold", "Disconnected"):
            raise bad_request(f"unknown call_state {state}")
        seq = text_field(data, "seq", max_length=12)
        at = unix_time(data.get("timestamp"), "timestamp", received_at)
        for side in ("from", "to"):
            if not isinstance(data.get(side, {}), dict):
                raise bad_request(f"field {side} must be an object")
        key = f"call:{leg}:{seq}:{state}"
    elif kind == "summary":
        at = unix_time(data.get("end_time"), "end_time", received_at)
        for name in ("create_time", "end_time"):
            stored[name] = unix_time(data.get(name), name, received_at).isoformat()
        talk = data.get("talk_time") or 0
        stored["talk_time"] = unix_time(talk, "talk_time", received_at).isoformat() if _int(talk) else 0
        if _int(data.get("call_direction"), -1) not in _DIRECTIONS:
            raise bad_request("call_direction must be 0, 1 or 2")
        for side in ("from", "to"):
            if not isinstance(data.get(side, {}), dict):
                raise bad_request(f"field {side} must be an object")
        key = f"summary:{entry}"
    elif kind == "recording":
        recording = text_field(data, "recording_id")
        state = text_field(data, "recording_state", max_length=20)
        at = unix_time(data.get("timestamp"), "timestamp", received_at)
        seq = text_field(data, "seq", required=False, max_length=12)
        key = f"recording:{recording}:{seq}:{state}"
    else:
        recording = text_field(data, "recording_id")
        at = unix_time(data.get("timestamp"), "timestamp", received_at)
        key = f"record_added:{recording}"
    return CloudEvent(
        call_id=entry, dedupe_key=key, kind=kind, final=kind == "summary", occurred_at=at, data=stored
    )


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: 1e999 is infinity
        return default


def _party(data: Mapping[str, Any], side: str) -> dict[str, str]:
    """``from``/``to`` with every value as text (Mango sends extensions as numbers or strings)."""
    raw = data.get(side)
    if not isinstance(raw, dict):
        return {}
    return {k: str(v) for k, v in raw.items() if v is not None and not isinstance(v, dict | list)}


# ---- mapping ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LegNow:
    """One leg as its events so far tell."""

    first: CloudEvent
    # The state of its latest event by ``seq``; Disconnected once any says so (a leg does not come back).
    state: str
    frm: dict[str, str]
    to: dict[str, str]
    # The employee's extension the leg rings (empty for the IVR, a queue, an outside number).
    extension: str
    connected_at: datetime | None


def _legs_now(calls: list[CloudEvent]) -> list[_LegNow]:
    """The legs of a call in the order they first reported, from its ``/events/call`` (time-ordered)."""
    by_leg: dict[str, list[CloudEvent]] = {}
    for event in calls:
        by_leg.setdefault(str(event.data.get("call_id")), []).append(event)
    legs = []
    for events in by_leg.values():
        states = {str(e.data.get("call_state")) for e in events}
        latest = max(events, key=lambda e: (_int(e.data.get("seq")), e.occurred_at, e.dedupe_key))
        state = "Disconnected" if "Disconnected" in states else str(latest.data.get("call_state"))
        frm: dict[str, str] = {}
        to: dict[str, str] = {}
        for event in reversed(events):  # the earliest event's fields win
            frm |= _party(event.data, "from")
            to |= _party(event.data, "to")
        connected = next((e.occurred_at for e in events if e.data.get("call_state") == "Connected"), None)
        legs.append(_LegNow(events[0], state, frm, to, to.get("extension", ""), connected))
    return legs


def _connected_order(leg: _LegNow) -> tuple[datetime, str]:
    return leg.connected_at or leg.first.occurred_at, leg.first.dedupe_key


def _rang(legs: list[CloudEvent]) -> list[str]:
    return [
        ext
        for leg in legs
        if leg.data.get("call_state") == "Appeared" and (ext := _party(leg.data, "to").get("extension"))
    ]


def _connected_extensions(legs: list[CloudEvent]) -> list[str]:
    """Employees who talked, in the order they were connected (the last one holds the call at the end)."""
    seen: list[str] = []
    for leg in legs:
        ext = _party(leg.data, "to").get("extension")
        if leg.data.get("call_state") == "Connected" and ext and (not seen or seen[-1] != ext):
            seen.append(ext)
    return seen


def _transfers(legs: list[CloudEvent]) -> list[Transfer]:
    transfers: list[Transfer] = []
    holder: str | None = None
    for leg in legs:
        if leg.data.get("call_state") != "Connected":
            continue
        ext = _party(leg.data, "to").get("extension")
        if not ext:
            continue
        kind = leg.data.get("transfer")
        if holder is not None and ext != holder and kind in ("blind", "consultative", "return_blind"):
            transfers.append(
                Transfer(holder, ext, "attended" if kind == "consultative" else "blind", leg.occurred_at)
            )
        holder = ext
    return transfers


def _missed_where(legs: list[CloudEvent], rang: list[str]) -> MissedWhere:
    if rang:
        return "ringing"
    if any(leg.data.get("location") == "queue" for leg in legs):
        return "queue"
    return "ivr"


def _disposition(reason: int, direction: Direction) -> Disposition:
    if reason in (1121, 1122, 1123, 1164):
        return "busy"
    if reason in (1111, 1163, 1120, 1100):
        return "no_answer"
    if reason == 1110:
        return "caller_hangup"
    if reason == 0:
        return "caller_hangup" if direction == "inbound" else "no_answer"
    return "failed"


def _recording(events: Sequence[CloudEvent]) -> dict[str, Any] | None:
    saved = [
        e
        for e in by_time(events)
        if e.kind == "record_added"
        or (
            e.kind == "recording"
            and e.data.get("recording_state") == "Completed"
            and _int(e.data.get("completion_code"), 1000) == 1000
        )
    ]
    if not saved:
        return None
    return {
        "provider": PROVIDER,
        "recording_id": str(saved[0].data["recording_id"]),
        # Mango hands the file out through its API (POST /vpbx/queries/recording/post, signed).
        "fetch": "mango_recording_post",
        # /events/record/added: the file is in Mango's cloud and can be downloaded now.
        "ready": any(e.kind == "record_added" for e in saved),
    }
