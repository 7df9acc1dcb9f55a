"""Which visit brought a call: the call's ``source``, scored at ring time. Pure: plain data in, the
contract's object out (no SQL, no clock); ``calltracking.attribution_store`` reads the inputs.

The called number decides the kind of answer:

- **Untracked number** (neither a static number, nor a pool number, nor a pool's fallback):
  ``kind "direct"``, channel ``direct``, confidence 1.0, reasons ``["untracked-number"]``.
- **Static number**: its source, confidence 1.0, ``["static-number"]``.
- **Pool number**: a session from the number's lease history (``LeaseRow``: who held it, from when until
  when) and the caller's history (``EarlierCall``: this caller's earlier calls to the same pool and the
  session each went to). Only leases that began at or before the ring count: what happened after the
  ring never changes the answer, so the caller card at the ring and the call record when the call ended
  say the same.
- **A pool's fallback number** (shown to visitors when the pool had no free number): the sessions shown
  the fallback around the ring (overflow leases), or none.

Every session candidate gets a weight, and the confidence is the chosen candidate's share of all of
them plus ``STRANGER`` (callers who are none of them: a number found elsewhere, a wrong number):

- a lease live at the ring weighs ``ACTIVE_WEIGHT`` (1): a call during the visit is by far the likeliest
  call; ``YOUNG`` times that while the page has not heartbeat yet (a visitor calling at once, or a bot);
- a lease live at the ring whose page had stopped heartbeating more than ``QUIET_BEATS`` intervals
  before it (the visitor left and the number waits out the hold) weighs as a lease that ended when the
  next heartbeat was due: a visitor who taps the number calls within seconds of the page's last
  heartbeat, and one who left is no likelier to call than others who left about then. A heartbeat after
  the ring (the call record is scored when the call ended) means the page was open;
- a lease that ended before the ring, its visitor having left the page ``d`` before it (when the
  heartbeat after the last one was due; the lease's end when heartbeats are not known), weighs
  ``LATE_SHARE · exp(-d / LATE_TAU) + SAVED_SHARE``: people call back after leaving the page, fewer as
  time passes (``LATE_TAU``, 40 minutes), and a few dial the number from their phone's history days
  later (the flat ``SAVED_SHARE``);
- an ended lease never confirmed by a heartbeat weighs ``UNCONFIRMED`` times as much (bots and bounces
  rarely call).

The figures follow from how often people call during a visit, after it the same day and days later
(calls per minute of lease, compared with calls per minute after leaving); they are the ones that score
best (Brier) on the attribution harness's simulated traffic (tests/support/attribution_harness.py),
whose call rates were set beforehand, and they round the rates that traffic implies.

The session named is the weightiest of the source (channel, source, medium, campaign) whose sessions
weigh most together: when several visitors who left may be calling back, the advertising most of them
came from is the likeliest, and a report by source is then right more often even when the session is
not. (A live lease outweighs any crowd of visitors who left.)

Reasons (the first is the main one) and confidence by case:

- ``lease-active``: a lease live at the ring — its session; about 0.9–1 (less when others left the
  page lately: they may be calling back); ``lease-unconfirmed`` added when its page had not heartbeat yet.
- ``lease-on-hold``: the likeliest is a lease live at the ring whose page had gone quiet — its session,
  as sure as a visitor who left that long ago (``ambiguous`` when others left about then).
- ``lease-expired``: no live lease, and the last holder is the only one whose lease ended within
  ``SAVED_AFTER`` (a day) before the ring — that holder; confidence falls with the time since its
  visitor left.
- ``lease-moved-on``: no live lease, and several holders ended within that day — the most recent
  holder, low, ``ambiguous``.
- ``saved-number``: every lease ended more than ``SAVED_AFTER`` before the ring (a number saved in the
  phone) — the last holder's session and channel, low, ``ambiguous``.
- ``no-lease-history``: a pool number nobody held within the look-back (``LOOKBACK``) — the pool, no
  session, confidence 0.
- ``repeat-caller``: this caller's earlier call to the same pool went to a session S. When they dial the
  very number of that earlier call (a saved number) or a number S itself held, S is preferred even when
  the number is leased to someone else now (then ``ambiguous``, with ``lease-active-other``); the
  confidence is the earlier call's own times ``REPEAT_TRUST`` (combined with the lease's when both name
  S). When they dial a number S never held, they saw it on another visit: the usual answer stands,
  ``ambiguous``, with ``repeat-caller-elsewhere``.
- ``overflow-fallback``: the fallback's candidates are the sessions shown it (overflow leases), weighed
  as above against the fallback's stranger weight: ``FALLBACK_STRANGER`` for a number shown only to
  overflow visitors, ``PUBLIC_FALLBACK_STRANGER`` when the fallback is also one of the clinic numbers the
  pool replaces (dialled by everyone, so one overflow session is no more than a guess). Several
  sessions are ``ambiguous``; when no session outweighs ``FALLBACK_STRANGER`` (nobody was shown it
  lately: ``no-overflow-session``) the call is ``kind "direct"`` with the pool's site, pool and branch
  and no session.
- ``caller-hidden`` is added when the caller's number was withheld (no caller history to use).

A call is ``ambiguous`` when its confidence is below ``AMBIGUOUS_BELOW``, another candidate weighs at
least ``RIVAL_SHARE`` of the chosen one, the number moved on or was saved (``lease-moved-on``,
``saved-number``), or a repeat caller's session is not the one holding the number at the ring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

LOOKBACK = timedelta(days=30)
ACTIVE_WEIGHT = 1.0
LATE_SHARE = 0.04
LATE_TAU = timedelta(minutes=40)
SAVED_SHARE = 0.0002
UNCONFIRMED = 0.3
STRANGER = 0.002
FALLBACK_STRANGER = 0.01
PUBLIC_FALLBACK_STRANGER = 3.0
SAVED_AFTER = timedelta(days=1)
REPEAT_TRUST = 0.95
YOUNG = 0.8
QUIET_BEATS = 2
AMBIGUOUS_BELOW = 0.5
RIVAL_SHARE = 1 / 3

SOURCE_FIELDS = ("source", "medium", "campaign", "content", "term")
VISIT_FIELDS = (
    *SOURCE_FIELDS,
    "referrer",
    "landing_page",
    "gclid",
    "yclid",
    "ga_client_id",
    "ym_client_id",
)


@dataclass(frozen=True, slots=True)
class Visit:
    """A visitor session and the source it was opened with."""

    id: str
    channel: str | None = None
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    content: str | None = None
    term: str | None = None
    referrer: str | None = None
    landing_page: str | None = None
    gclid: str | None = None
    yclid: str | None = None
    ga_client_id: str | None = None
    ym_client_id: str | None = None


@dataclass(frozen=True, slots=True)
class Place:
    """A pool: its site, name and branch. ``public_fallback``: its fallback is also one of the clinic
    numbers it replaces (dialled by everyone, not only by overflow visitors)."""

    site: str
    pool: str
    branch: str | None = None
    public_fallback: bool = False


@dataclass(frozen=True, slots=True)
class StaticNumber:
    number: str
    branch: str | None = None
    channel: str = "offline"
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    content: str | None = None
    term: str | None = None


@dataclass(frozen=True, slots=True)
class Tracked:
    """What kolokol tracks about a called number (at most one of the three, static first)."""

    static: StaticNumber | None = None
    pool: Place | None = None
    fallback_of: tuple[Place, ...] = ()


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """One lease of the called number (or, for a fallback, one overflow: a session shown it)."""

    visit: Visit
    place: Place
    started_at: datetime
    ends_at: datetime
    confirmed_at: datetime | None
    overflow: bool = False
    # The page's last heartbeat (None: not known) and the site's heartbeat interval.
    last_heartbeat_at: datetime | None = None
    heartbeat: timedelta | None = None


@dataclass(frozen=True, slots=True)
class EarlierCall:
    """An earlier call from the same caller, attributed to a session of a pool."""

    started_at: datetime
    visit: Visit
    site: str
    pool: str
    tracking_number: str | None
    confidence: float


def attribute(
    called: str,
    caller: str | None,
    at: datetime,
    tracked: Tracked | None,
    leases: Sequence[LeaseRow] = (),
    history: Sequence[EarlierCall] = (),
) -> dict[str, Any]:
    """The call's ``source``: ``called`` rang at ``at`` from ``caller`` (None: withheld)."""
    if tracked is None or (tracked.static is None and tracked.pool is None and not tracked.fallback_of):
        return untracked()
    if tracked.static is not None:
        return _static(tracked.static)
    extra = [] if caller else ["caller-hidden"]
    if tracked.pool is not None:
        rows = [r for r in leases if not r.overflow and r.started_at <= at]
        return _pool(called, at, tracked.pool, rows, _history_of(history, [tracked.pool], at), extra)
    rows = [r for r in leases if r.overflow and r.started_at <= at]
    places = list(tracked.fallback_of)
    return _fallback(called, at, places, rows, _history_of(history, places, at), extra)


def untracked() -> dict[str, Any]:
    return _answer("direct", None, None, channel="direct", confidence=1.0, reasons=["untracked-number"])


def report_columns(source: dict[str, Any] | None) -> dict[str, Any]:
    """The call's ``attr_*`` columns: copies of the source's fields that reports group by."""
    if source is None:
        return {f"attr_{name}": None for name in _COLUMNS}
    return {f"attr_{name}": source.get(name) for name in _COLUMNS}


_COLUMNS = (
    "kind",
    "channel",
    *SOURCE_FIELDS,
    "landing_page",
    "tracking_number",
    "site",
    "pool",
    "branch",
    "session",
    "confidence",
)


# --- the cases --------------------------------------------------------------------------------------


def _static(number: StaticNumber) -> dict[str, Any]:
    fields = {name: getattr(number, name) for name in SOURCE_FIELDS}
    return _answer(
        "static",
        number.number,
        None,
        branch=number.branch,
        channel=number.channel,
        confidence=1.0,
        reasons=["static-number"],
        **fields,
    )


@dataclass(slots=True)
class _Candidate:
    row: LeaseRow
    weight: float
    active: bool
    # Live at the ring, but its page had stopped heartbeating: the visitor had left (the hold).
    quiet: bool = False


def _pool(
    called: str,
    at: datetime,
    place: Place,
    rows: list[LeaseRow],
    history: list[EarlierCall],
    extra: list[str],
) -> dict[str, Any]:
    if not rows:
        repeat = history[0] if history else None
        if repeat is not None and repeat.tracking_number == called:
            # Nobody held it lately, but this caller dialled this very number before.
            conf = repeat.confidence * REPEAT_TRUST
            return _session_answer(
                called, place, repeat.visit, conf, ["repeat-caller", *extra], conf < AMBIGUOUS_BELOW
            )
        return _answer(
            "pool",
            called,
            place,
            channel=None,
            confidence=0.0,
            reasons=["no-lease-history", *extra],
            ambiguous=True,
        )
    candidates = _weigh(rows, at)
    best = _likeliest(candidates)
    # Anyone who left the page lately could still be the caller: the chosen one's share of them all.
    confidence = best.weight / (sum(c.weight for c in candidates) + STRANGER)
    if best.active and not best.quiet:
        reasons = ["lease-active"]
        if not _confirmed(best.row, at):
            reasons.append("lease-unconfirmed")
    elif best.active:
        reasons = ["lease-on-hold"]
    else:
        gap = at - best.row.ends_at
        recent = {c.row.visit.id for c in candidates if at - c.row.ends_at <= SAVED_AFTER}
        if gap > SAVED_AFTER:
            reasons = ["saved-number"]
        elif len(recent) > 1:
            reasons = ["lease-moved-on"]
        else:
            reasons = ["lease-expired"]
    rivals = _rivals(candidates, best)
    ambiguous = confidence < AMBIGUOUS_BELOW or rivals or reasons[0] in ("lease-moved-on", "saved-number")
    repeat = history[0] if history else None
    if repeat is not None:
        return _with_repeat(called, place, candidates, best, repeat, confidence, reasons, extra, ambiguous)
    return _session_answer(called, place, best.row.visit, confidence, [*reasons, *extra], ambiguous)


def _with_repeat(
    called: str,
    place: Place,
    candidates: list[_Candidate],
    best: _Candidate,
    repeat: EarlierCall,
    confidence: float,
    reasons: list[str],
    extra: list[str],
    ambiguous: bool,
) -> dict[str, Any]:
    """The caller called this pool before and that call went to ``repeat.visit``."""
    earlier = repeat.visit.id
    if best.row.visit.id == earlier:
        # Both say the same session.
        both = 1 - (1 - confidence) * (1 - repeat.confidence * REPEAT_TRUST)
        why = [*reasons, "repeat-caller"] if best.active else ["repeat-caller", *reasons]
        return _session_answer(called, place, best.row.visit, both, [*why, *extra], both < AMBIGUOUS_BELOW)
    held = any(c.row.visit.id == earlier for c in candidates)
    if repeat.tracking_number == called or held:
        # A saved number, or a number their own session was shown: theirs, whoever holds it now.
        conf = repeat.confidence * REPEAT_TRUST
        why = ["repeat-caller"]
        if best.active:
            why.append("lease-active-other")
            conf *= 0.8
        return _session_answer(
            called, place, repeat.visit, conf, [*why, *extra], best.active or conf < AMBIGUOUS_BELOW
        )
    return _session_answer(
        called, place, best.row.visit, confidence, [*reasons, "repeat-caller-elsewhere", *extra], True
    )


def _fallback(
    called: str,
    at: datetime,
    places: list[Place],
    rows: list[LeaseRow],
    history: list[EarlierCall],
    extra: list[str],
) -> dict[str, Any]:
    # Only the pools whose fallback it is (the store may find overflow rows of pools that changed theirs).
    keys = {(p.site, p.pool) for p in places}
    rows = [r for r in rows if (r.place.site, r.place.pool) in keys]
    public = any(p.public_fallback for p in places)
    stranger = PUBLIC_FALLBACK_STRANGER if public else FALLBACK_STRANGER
    candidates = _weigh(rows, at)
    repeat = history[0] if history else None
    if repeat is not None and repeat.tracking_number == called:
        conf = repeat.confidence * REPEAT_TRUST
        return _session_answer(
            called,
            _place_of(places, repeat),
            repeat.visit,
            conf,
            ["repeat-caller", *extra],
            conf < AMBIGUOUS_BELOW,
        )
    total = sum(c.weight for c in candidates) + stranger
    best = max(candidates, key=lambda c: (c.weight, c.row.ends_at), default=None)
    # A session is named when it is likelier than a stranger on a number shown only to overflow
    # visitors; on the clinic's published number it is still named (as a guess, ambiguous).
    if best is None or best.weight < FALLBACK_STRANGER:
        place = best.row.place if best is not None else places[0]
        return _answer(
            "direct",
            called,
            place,
            channel="direct",
            confidence=stranger / total,
            reasons=["overflow-fallback", "no-overflow-session", *extra],
        )
    confidence = best.weight / total
    ambiguous = confidence < AMBIGUOUS_BELOW or _rivals(candidates, best)
    reasons = ["overflow-fallback", *extra]
    return _session_answer(called, best.row.place, best.row.visit, confidence, reasons, ambiguous)


# --- helpers ----------------------------------------------------------------------------------------


def _likeliest(candidates: list[_Candidate]) -> _Candidate:
    """The weightiest session of the source whose sessions weigh most together: when several people
    may have dialled the number, the source they most likely share is the best guess for reports, and
    its weightiest session the best guess of the session."""
    by_source: dict[tuple[str | None, ...], list[_Candidate]] = {}
    for c in candidates:
        by_source.setdefault(_source_key(c.row.visit), []).append(c)
    heads = [max(g, key=lambda c: (c.weight, c.row.ends_at)) for g in by_source.values()]
    weights = [sum(c.weight for c in g) for g in by_source.values()]
    # Ties (sessions long gone weigh the same) go to the most recent.
    return max(zip(weights, heads, strict=True), key=lambda w: (w[0], w[1].weight, w[1].row.ends_at))[1]


def _source_key(visit: Visit) -> tuple[str | None, ...]:
    return visit.channel, visit.source, visit.medium, visit.campaign


def _weigh(rows: Sequence[LeaseRow], at: datetime) -> list[_Candidate]:
    """One candidate per session: its weightiest lease of the number."""
    by_session: dict[str, _Candidate] = {}
    for row in rows:
        active = row.ends_at > at
        confirmed = _confirmed(row, at)
        left = _left(row, at) if active else _gone(row)
        if left is None:
            # A page that has not heartbeat yet: a visitor who calls at once, or a bot.
            weight = ACTIVE_WEIGHT if confirmed else ACTIVE_WEIGHT * YOUNG
        else:
            weight = LATE_SHARE * math.exp(-((at - left) / LATE_TAU)) + SAVED_SHARE
            if not confirmed:
                weight *= UNCONFIRMED
        candidate = _Candidate(row, weight, active, quiet=active and left is not None)
        held = by_session.get(row.visit.id)
        if held is None or (candidate.weight, row.ends_at) > (held.weight, held.row.ends_at):
            by_session[row.visit.id] = candidate
    return list(by_session.values())


def _left(row: LeaseRow, at: datetime) -> datetime | None:
    """When the visitor holding a live lease left its page, if its heartbeats had stopped by the ring;
    None while the page is open. A heartbeat after the ring (read when the call is stored) means open."""
    if row.heartbeat is None or row.last_heartbeat_at is None:
        return None
    seen = row.last_heartbeat_at
    if seen >= at or at - seen <= row.heartbeat * QUIET_BEATS:
        return None
    # Gone by the next heartbeat that never came.
    return seen + row.heartbeat


def _gone(row: LeaseRow) -> datetime:
    """When the visitor behind an ended lease left its page: when its next heartbeat was due (the lease
    itself lasted the hold longer), or the lease's end when its heartbeats are not known."""
    if row.heartbeat is None or row.last_heartbeat_at is None:
        return row.ends_at
    return min(row.ends_at, row.last_heartbeat_at + row.heartbeat)


def _confirmed(row: LeaseRow, at: datetime) -> bool:
    return row.confirmed_at is not None and row.confirmed_at <= at


def _rivals(candidates: list[_Candidate], best: _Candidate) -> bool:
    return any(c is not best and c.weight >= best.weight * RIVAL_SHARE for c in candidates)


def _history_of(history: Sequence[EarlierCall], places: Sequence[Place], at: datetime) -> list[EarlierCall]:
    """This pool's earlier calls from the caller, the latest first."""
    keys = {(p.site, p.pool) for p in places}
    mine = [h for h in history if (h.site, h.pool) in keys and h.started_at < at]
    return sorted(mine, key=lambda h: h.started_at, reverse=True)


def _place_of(places: Sequence[Place], call: EarlierCall) -> Place:
    for place in places:
        if (place.site, place.pool) == (call.site, call.pool):
            return place
    return places[0]


def _session_answer(
    called: str, place: Place, visit: Visit, confidence: float, reasons: list[str], ambiguous: bool
) -> dict[str, Any]:
    fields = {name: getattr(visit, name) for name in VISIT_FIELDS}
    return _answer(
        "pool",
        called,
        place,
        session=visit.id,
        channel=visit.channel,
        confidence=confidence,
        reasons=reasons,
        ambiguous=ambiguous,
        **fields,
    )


def _answer(
    kind: str,
    tracking_number: str | None,
    place: Place | None,
    *,
    channel: str | None,
    confidence: float,
    reasons: list[str],
    ambiguous: bool = False,
    session: str | None = None,
    branch: str | None = None,
    **fields: str | None,
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "kind": kind,
        "tracking_number": tracking_number,
        "site": place.site if place else None,
        "pool": place.pool if place else None,
        "branch": place.branch if place else branch,
        "session": session,
        "channel": channel,
    }
    for name in VISIT_FIELDS:
        answer[name] = fields.get(name)
    answer["confidence"] = round(min(1.0, max(0.0, confidence)), 3)
    answer["reasons"] = reasons
    answer["ambiguous"] = bool(ambiguous)
    return answer
