"""Fixed formats of PBXs that sign nothing, translated into kolokol's generic events.

Each dialect turns one request into generic event objects (the same fields as the documented JSON
format, validated by ``generic``) and the reply that PBX expects. A dialect sees one request at a time
and keeps no state, so every request must carry enough to be folded into the record on its own; event
ids are built from the request's content, so a re-delivery gets the same id and is stored once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pbx.untrusted import ascii_digits
from pbx.webhooks.base import (
    OK,
    Reply,
    WebhookRequest,
    bad_request,
    form_fields,
    json_object,
    require_content_type,
    require_method,
    stored_time,
    text_field,
    unix_time,
)

Dialect = Callable[[WebhookRequest], tuple[list[dict[str, Any]], Reply]]
Item = dict[str, Any]

# Sipuni suspends sending when a reply lacks this, so it goes out for ignored events too.
SIPUNI_OK = Reply.json({"success": True})
_REASONS = {
    "BUSY": "busy",
    "NOANSWER": "no_answer",
    "CANCEL": "caller_hangup",
    "CONGESTION": "failed",
    "CHANUNAVAIL": "failed",
}


# ---- shared helpers -----------------------------------------------------------------------------


def _params(request: WebhookRequest) -> dict[str, str]:
    """GET sends the query; POST a form body (some senders put everything in the query anyway)."""
    if request.method == "GET" or not request.body:
        return request.query()
    return {**request.query(), **form_fields(request)}


def _text(params: Mapping[str, Any], name: str, *, required: bool = False, max_length: int = 200) -> str:
    return text_field(params, name, required=required, max_length=max_length).strip()


def _at(params: Mapping[str, Any], name: str, request: WebhookRequest, scale: float = 1) -> str:
    """The PBX's own unix time (``scale`` turns micro- into seconds), else the arrival time."""
    raw = _text(params, name, max_length=24)
    if not raw:
        return request.received_at.isoformat()
    if not ascii_digits(raw, 24):
        raise bad_request(f"field {name} must be a unix time", field=name)
    return unix_time(int(raw) / scale, name).isoformat()


def _event(call_id: str, event_id: str, kind: str, at: str, **fields: Any) -> Item:
    """One generic event; empty fields are left out so generic's checks see what is really known."""
    item: Item = {"event_id": event_id, "call_id": call_id, "type": kind, "at": at}
    item.update({name.rstrip("_"): value for name, value in fields.items() if value not in (None, "")})
    return item


def _reason(status: str) -> str | None:
    return _REASONS.get(status.upper())


# ---- Sipuni: GET or POST form, ``event`` 1 start/ringing, 3 answered, 2 hang-up, 4 a leg's hang-up ----


def sipuni(request: WebhookRequest) -> tuple[list[Item], Reply]:
    params = _params(request)
    kind = _text(params, "event", max_length=4)
    if kind not in ("1", "2", "3"):
        return [], SIPUNI_OK  # 4 (a secondary leg hung up) says nothing the hang-up event does not
    call_id = _text(params, "call_id", required=True)
    at = _at(params, "timestamp", request)
    direction = _sipuni_direction(params)
    parties = _sipuni_parties(params, direction)
    ext = parties.get("extension")
    event_id = f"sipuni:{kind}:{_text(params, 'timestamp', max_length=24) or at}:{ext or ''}"
    if kind == "1":
        items = [_event(call_id, f"{event_id}:started", "call.started", at, **parties)] if direction else []
        if direction == "inbound" and ext:
            items.append(_event(call_id, f"{event_id}:ringing", "call.ringing", at, extension=ext))
        return items, SIPUNI_OK
    if kind == "3":
        return _sipuni_answered(call_id, event_id, at, direction, ext), SIPUNI_OK
    return _sipuni_hangup(request, params, call_id, event_id, direction, parties, ext), SIPUNI_OK


def _sipuni_direction(params: Mapping[str, Any]) -> str | None:
    src, dst = _text(params, "src_type", max_length=2), _text(params, "dst_type", max_length=2)
    if src == "1":
        return "inbound"
    if src == "2":
        return "internal" if dst == "2" else "outbound"
    return None  # sparse repeats (seen: a bare event 3 or 2 with only times and the channel)


def _sipuni_parties(params: Mapping[str, Any], direction: str | None) -> Item:
    src, dst = _text(params, "src_num"), _text(params, "dst_num").split("_id")[0]
    short_src, short_dst = _text(params, "short_src_num"), _text(params, "short_dst_num")
    line = _text(params, "pbxdstnum") or dst
    if direction == "inbound":
        internal = _text(params, "dst_type", max_length=2) == "2"
        return {
            "direction": direction,
            "from_": src,
            "to": None if internal else line,
            "extension": short_dst if internal else None,
        }
    if direction == "outbound":
        return {"direction": direction, "from_": short_src or src, "to": line, "extension": short_src or src}
    if direction == "internal":
        return {"direction": direction, "from_": short_src, "to": short_dst, "extension": short_src}
    return {}


def _sipuni_answered(
    call_id: str, event_id: str, at: str, direction: str | None, ext: str | None
) -> list[Item]:
    if ext:
        return [_event(call_id, f"{event_id}:answered", "call.answered", at, extension=ext)]
    if direction == "inbound":
        return []  # who answered is unknown; the hang-up (event 2) brings it with the answer time
    # The bare event 3 seen on outbound calls: only the callee's channel, which is nobody's extension.
    return [_event(call_id, f"{event_id}:answered", "call.answered", at, direction="outbound")]


def _sipuni_hangup(
    request: WebhookRequest,
    params: Mapping[str, Any],
    call_id: str,
    event_id: str,
    direction: str | None,
    parties: Item,
    ext: str | None,
) -> list[Item]:
    at = _at(params, "timestamp", request)
    status = _text(params, "status", max_length=20).upper()
    last_called = _text(params, "last_called") or None
    # The last extension called is the operator after any transfer; outbound it is the caller's.
    operator = last_called if direction == "inbound" else ext
    reason = _reason(status)
    ended = {**parties, "extension": operator, "reason": reason}
    items = [_event(call_id, f"{event_id}:ended", "call.ended", at, **ended)]
    if direction and _text(params, "call_start_timestamp", max_length=24):
        started = _at(params, "call_start_timestamp", request)
        items.append(_event(call_id, f"{event_id}:started", "call.started", started, **parties))
    if direction == "inbound" and last_called:
        items.append(_event(call_id, f"{event_id}:ringing", "call.ringing", at, extension=last_called))
    answered_at = _sipuni_answer_time(params) if status == "ANSWER" else None
    if answered_at and (operator or direction != "inbound"):
        # Event 3 can be lost; the hang-up still says when the call was answered.
        who = {"extension": operator} if operator else {"direction": "outbound"}
        items.append(_event(call_id, f"{event_id}:answered", "call.answered", answered_at, **who))
    link = _text(params, "call_record_link", max_length=2000)
    if status == "ANSWER" and link:
        recording = {"id": call_id, "url": link}
        items.append(_event(call_id, f"{event_id}:recording", "recording.ready", at, recording=recording))
    return items


def _sipuni_answer_time(params: Mapping[str, Any]) -> str | None:
    """call_answer_timestamp, when it falls inside the call: Sipuni has been seen sending it equal to
    the start on unanswered calls and a second before the start on answered ones."""
    start, answer, end = (
        _text(params, name, max_length=24)
        for name in ("call_start_timestamp", "call_answer_timestamp", "timestamp")
    )
    if not (ascii_digits(start, 24) and ascii_digits(answer, 24) and ascii_digits(end, 24)):
        return None
    if not int(start) <= int(answer) <= int(end):
        return None
    return unix_time(int(answer), "call_answer_timestamp").isoformat()


# ---- Telfin: per-extension subscriptions, GET or POST form ---------------------------------------


def telfin(request: WebhookRequest) -> tuple[list[Item], Reply]:
    params = _params(request)
    kind = _text(params, "EventType", max_length=20)
    if kind not in ("dial-in", "dial-out", "answer", "hangup"):
        return [], OK
    call_id = _text(params, "CallID", required=True)
    at = _at(params, "EventTime", request, scale=1_000_000)
    direction = _telfin_direction(params, kind)
    ext = _telfin_extension(params, direction)
    # IVR and queue extensions carry Bridged (yes/no); operators' own extensions do not.
    routing = "Bridged" in params
    leg = _text(params, "SubCallID") or ext or ""
    event_id = f"telfin:{kind}:{leg}:{_text(params, 'EventTime', max_length=24) or at}"
    parties = _telfin_parties(params, direction, ext)
    if kind in ("dial-in", "dial-out"):
        items = [_event(call_id, f"{event_id}:started", "call.started", at, **parties)]
        if direction == "inbound" and routing:
            # The IVR/queue extension's short number is the only name Telfin gives the queue.
            items.append(_event(call_id, f"{event_id}:queued", "call.queued", at, queue=ext))
        elif direction == "inbound" and ext:
            items.append(_event(call_id, f"{event_id}:ringing", "call.ringing", at, extension=ext))
        return items, OK
    if kind == "answer":
        if routing or not ext:
            return [], OK  # the operator's own subscription reports who answered
        return [_telfin_answer(call_id, f"{event_id}:answered", at, direction, ext)], OK
    return _telfin_hangup(params, call_id, event_id, at, direction, parties, ext, routing), OK


def _telfin_direction(params: Mapping[str, Any], kind: str) -> str:
    flow = _text(params, "CallFlow", max_length=8).lower()
    if flow in ("in", "out"):
        return "inbound" if flow == "in" else "outbound"
    if flow:
        raise bad_request("CallFlow must be in or out")
    return "outbound" if kind == "dial-out" else "inbound"


def _telfin_extension(params: Mapping[str, Any], direction: str) -> str | None:
    """``3515*101@sipproxy.telphin.ru`` or ``3515*101`` → ``101`` (the short number people dial)."""
    names = (
        ("CalledExtension", "CalledNumber") if direction == "inbound" else ("CallerExtension", "CallerIDNum")
    )
    for name in names:
        value = _text(params, name).split("@")[0]
        if "*" in value:
            return value.rsplit("*", 1)[1] or None
        if _short(value):
            return value
    return None


def _telfin_parties(params: Mapping[str, Any], direction: str, ext: str | None) -> Item:
    if direction == "inbound":
        number, name = _text(params, "CallerIDNum"), _text(params, "CallerIDName")
        return {
            "direction": direction,
            "from_": number,
            "to": _text(params, "CalledDID"),
            "caller_name": name if name != number else None,
        }
    return {"direction": direction, "from_": ext, "to": _text(params, "CalledNumber"), "extension": ext}


def _telfin_answer(call_id: str, event_id: str, at: str, direction: str, ext: str) -> Item:
    return _event(call_id, event_id, "call.answered", at, extension=ext, direction=direction)


def _telfin_hangup(
    params: Mapping[str, Any],
    call_id: str,
    event_id: str,
    at: str,
    direction: str,
    parties: Item,
    ext: str | None,
    routing: bool,
) -> list[Item]:
    status = _text(params, "CallStatus", max_length=20).upper()
    talked = status == "ANSWER" and (not routing or _text(params, "Bridged", max_length=8).lower() == "yes")
    items: list[Item] = []
    if talked and ext:
        # Also when the answer event was lost: the talk began Duration (µs) before this hang-up.
        duration = _text(params, "Duration", max_length=20)
        began = at
        if ascii_digits(duration, 20):
            stamp = _text(params, "EventTime", max_length=24)
            if ascii_digits(stamp, 24):
                began = unix_time((int(stamp) - int(duration)) / 1_000_000, "EventTime").isoformat()
            else:
                # No EventTime: the hang-up is placed by its arrival, but the talk time is still Telfin's.
                hung_up = stored_time(at).timestamp()
                began = unix_time(hung_up - int(duration) / 1_000_000, "Duration").isoformat()
        items.append(_telfin_answer(call_id, f"{event_id}:answered", began, direction, ext))
    elif direction == "inbound" and ext and not routing:
        # The ring is over (this is its phone's hang-up): kept so the record lists the phone as rang.
        ringing = {"extension": ext, "from_extension": ext}
        items.append(_event(call_id, f"{event_id}:ringing", "call.ringing", at, **ringing))
    # One extension giving up (NOANSWER/BUSY/...) does not end an inbound call: the next one may ring.
    # The call is over when the talk ends, the caller gives up, the IVR/queue lets go, or an outbound
    # call's only leg ends.
    if status in ("ANSWER", "CANCEL") or routing or direction == "outbound":
        ended = {**parties, "reason": None if status == "ANSWER" else _reason(status)}
        if direction == "inbound":
            ended.pop("extension", None)  # generic's operator is then whoever answered
            # Whose hang-up this is: a group member that lost the race to answer ends nothing on screens.
            ended["from_extension"] = None if routing else ext
        items.append(_event(call_id, f"{event_id}:ended", "call.ended", at, **ended))
    rec_id = _text(params, "RecID")
    if talked and rec_id:
        recording = {"id": rec_id}
        items.append(_event(call_id, f"{event_id}:recording", "recording.ready", at, recording=recording))
    return items


# ---- OnlinePBX: POST JSON, call_start / call_answered / call_end ----------------------------------


def onlinepbx(request: WebhookRequest) -> tuple[list[Item], Reply]:
    require_method(request, "POST")
    require_content_type(request, "application/json")
    body = json_object(request.body)
    kind = _text(body, "event", max_length=40)
    if kind not in ("call_start", "call_answered", "call_end"):
        return [], OK
    call_id = _text(body, "uuid", required=True)
    at = _at(body, "date", request)
    direction = _text(body, "direction", max_length=10).lower()
    if direction not in ("inbound", "outbound"):
        raise bad_request("direction must be inbound or outbound")
    caller, callee, line = _text(body, "caller"), _text(body, "callee"), _text(body, "gateway")
    inbound = direction == "inbound"
    # The operator's side is the short number; the outside side goes as sent (generic makes it E.164).
    ext = _short(callee) if inbound else _short(caller) or caller
    parties = (
        {"direction": direction, "from_": caller, "to": line or None}
        if inbound
        else {"direction": direction, "from_": line or caller, "to": callee, "extension": ext}
    )
    event_id = f"onlinepbx:{kind}:{_text(body, 'date', max_length=24) or at}:{callee}"
    if kind == "call_start":
        items = [_event(call_id, f"{event_id}:started", "call.started", at, **parties)]
        if inbound and ext:
            items.append(_event(call_id, f"{event_id}:ringing", "call.ringing", at, extension=ext))
        return items, OK
    if kind == "call_answered":
        answerer = (ext or callee) if inbound else ext
        if inbound and not answerer:
            raise bad_request("call_answered needs the callee who answered")
        answered = {"extension": answerer, "direction": direction}
        return [_event(call_id, f"{event_id}:answered", "call.answered", at, **answered)], OK
    return _onlinepbx_end(body, call_id, event_id, at, parties, ext), OK


_ONLINEPBX_REASONS = {
    "USER_BUSY": "busy",
    "NO_ANSWER": "no_answer",
    "NO_USER_RESPONSE": "no_answer",
    "ALLOTTED_TIMEOUT": "no_answer",
    "ORIGINATOR_CANCEL": "caller_hangup",
    "NORMAL_CLEARING": "caller_hangup",
}


def _onlinepbx_end(
    body: Mapping[str, Any], call_id: str, event_id: str, at: str, parties: Item, ext: str | None
) -> list[Item]:
    cause = _text(body, "hangup_cause", max_length=60).upper()
    reason = _ONLINEPBX_REASONS.get(cause, "failed") if cause else None
    items = [_event(call_id, f"{event_id}:ended", "call.ended", at, reason=reason, **parties)]
    talk, date = _text(body, "dialog_duration", max_length=12), _text(body, "date", max_length=24)
    direction = parties["direction"]
    if ascii_digits(talk, 12) and int(talk) > 0 and (ext or direction == "outbound"):
        # A talk time means somebody answered, even if call_answered was lost.
        # Without date the end is placed by its arrival; the talk time is OnlinePBX's either way.
        hung_up = int(date) if ascii_digits(date, 24) else stored_time(at).timestamp()
        began = unix_time(hung_up - int(talk), "dialog_duration").isoformat()
        answered = {"extension": ext, "direction": direction}
        items.append(_event(call_id, f"{event_id}:answered", "call.answered", began, **answered))
    link = _text(body, "download_url", max_length=2000)
    if link:
        items.append(_event(call_id, f"{event_id}:recording", "recording.ready", at, recording={"url": link}))
    return items


def _short(number: str) -> str | None:
    """Internal numbers are short (2-5 digits); anything longer is an outside number."""
    digits = number.strip()
    return digits if ascii_digits(digits, 5) and len(digits) >= 2 else None


DIALECTS: dict[str, Dialect] = {"sipuni": sipuni, "telfin": telfin, "onlinepbx": onlinepbx}
