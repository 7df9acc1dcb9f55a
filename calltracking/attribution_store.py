"""What the attribution scorer needs, read from the database: what kolokol tracks about the called
numbers, their lease history around the ring, and the callers' earlier attributed calls.

Two forms: ``load`` on a synchronous session for the call pipeline's batches (two queries for the
whole batch, whatever its size: what is tracked, then lease history and earlier calls together), and
``load_one`` on an async session for the caller card at the ring (the same two; one for an untracked
number). Both read the same rows for the same call, so the card and the call record agree: the scorer uses
only what began before the ring (``calltracking.attribution``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BindParameter,
    Select,
    and_,
    bindparam,
    cast,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from calltracking.attribution import (
    LOOKBACK,
    EarlierCall,
    LeaseRow,
    Place,
    StaticNumber,
    Tracked,
    Visit,
    attribute,
)
from kolokol.storage.tables import (
    Call,
    Lease,
    PoolNumber,
    TrackingNumber,
    TrackingPool,
    TrackingSite,
    VisitorSession,
)


@dataclass(frozen=True, slots=True)
class Ring:
    """A call as attribution sees it: the number dialled, who dialled it (None: withheld), when it rang."""

    called: str
    caller: str | None
    at: datetime


@dataclass(slots=True)
class Inputs:
    """Everything the scorer needs for a batch of rings, by number and by caller."""

    tracked: dict[str, Tracked] = field(default_factory=dict)
    leases: dict[str, list[LeaseRow]] = field(default_factory=dict)
    history: dict[str, list[EarlierCall]] = field(default_factory=dict)

    def source(self, ring: Ring) -> dict[str, Any]:
        """The ring's ``source``."""
        caller = ring.caller if ring.caller and ring.caller.startswith("+") else None
        return attribute(
            ring.called,
            caller,
            ring.at,
            self.tracked.get(ring.called),
            self.leases.get(ring.called, ()),
            self.history.get(caller, ()) if caller else (),
        )

    def remember(self, ring: Ring, source: dict[str, Any]) -> None:
        """A call attributed in this batch is history for the caller's later calls in it."""
        caller = ring.caller if ring.caller and ring.caller.startswith("+") else None
        visit_id = source.get("session")
        if caller is None or not visit_id or not source.get("site") or not source.get("pool"):
            return
        visit = Visit(visit_id, **{name: source.get(name) for name in _VISIT_COLUMNS})
        self.history.setdefault(caller, []).append(
            EarlierCall(
                ring.at,
                visit,
                source["site"],
                source["pool"],
                source.get("tracking_number"),
                source["confidence"],
            )
        )


def load(session: Session, rings: Sequence[Ring]) -> Inputs:
    """The batch's inputs on a synchronous session: two queries, whatever the batch's size."""
    inputs = Inputs()
    numbers = _numbers(r.called for r in rings)
    if not numbers:
        return inputs
    _take_tracked(inputs, session.execute(_TRACKED, {"numbers": numbers}).all())
    watched = sorted(n for n, t in inputs.tracked.items() if t.static is None)
    if not watched:
        return inputs
    since, until = _window(rings)
    callers = _numbers(r.caller for r in rings if r.called in watched)
    params = {"numbers": watched, "callers": callers, "since": since, "until": until}
    _take_history(inputs, session.execute(_HISTORY, params).all())
    return inputs


async def load_one(session: AsyncSession, ring: Ring) -> Inputs:
    """One ring's inputs (the caller card): one query for an untracked number, two for a tracked one."""
    inputs = Inputs()
    if not ring.called.startswith("+"):
        return inputs
    numbers = [ring.called]
    _take_tracked(inputs, (await session.execute(_TRACKED, {"numbers": numbers})).all())
    tracked = inputs.tracked.get(ring.called)
    if tracked is None or tracked.static is not None:
        return inputs
    since, until = _window([ring])
    callers = _numbers([ring.caller])
    params = {"numbers": numbers, "callers": callers, "since": since, "until": until}
    _take_history(inputs, (await session.execute(_HISTORY, params)).all())
    return inputs


# --- the statements, built once ---------------------------------------------------------------------

_NUMBERS: BindParameter[Any] = bindparam("numbers", expanding=True)
_SINCE = bindparam("since", type_=Lease.started_at.type)
_UNTIL = bindparam("until", type_=Lease.started_at.type)


def _tracked_statement() -> Select[Any]:
    static = select(
        literal("static").label("kind"),
        TrackingNumber.number.label("number"),
        null().label("site"),
        null().label("pool"),
        TrackingNumber.branch.label("branch"),
        cast(null(), JSON).label("replaces"),
        TrackingNumber.channel.label("channel"),
        TrackingNumber.source.label("source"),
        TrackingNumber.medium.label("medium"),
        TrackingNumber.campaign.label("campaign"),
        TrackingNumber.content.label("content"),
        TrackingNumber.term.label("term"),
    ).where(TrackingNumber.number.in_(_NUMBERS))
    pool = (
        select(
            literal("pool"),
            PoolNumber.number,
            TrackingPool.site_id,
            TrackingPool.name,
            TrackingPool.branch,
            cast(null(), JSON),
            null(),
            null(),
            null(),
            null(),
            null(),
            null(),
        )
        .join(TrackingPool, TrackingPool.id == PoolNumber.pool_id)
        .where(PoolNumber.number.in_(_NUMBERS))
    )
    # A fallback's pools and what they replace: a fallback that is also a replaced clinic number is
    # dialled by everyone, not only by overflow visitors.
    fallback = select(
        literal("fallback"),
        TrackingPool.fallback,
        TrackingPool.site_id,
        TrackingPool.name,
        TrackingPool.branch,
        TrackingPool.replaces,
        null(),
        null(),
        null(),
        null(),
        null(),
        null(),
    ).where(TrackingPool.fallback.in_(_NUMBERS))
    return select(union_all(static, pool, fallback).subquery())


_TRACKED = _tracked_statement()
_VISIT_COLUMNS = (
    "channel",
    "source",
    "medium",
    "campaign",
    "content",
    "term",
    "referrer",
    "landing_page",
    "gclid",
    "yclid",
    "ga_client_id",
    "ym_client_id",
)
# What the history reads of the visit behind a lease or an earlier call, in that order.
_VISIT = tuple(getattr(VisitorSession, name) for name in _VISIT_COLUMNS)
# The lease history of the numbers and the callers' earlier attributed calls, in one round trip: the
# same columns for both (the first part's types decide the union's).
_LEASES = (
    select(
        # Every column named: the union's columns take the first part's names, and two unnamed nulls
        # would be one column read twice.
        literal("lease").label("kind"),
        Lease.number.label("key"),
        Lease.started_at.label("started_at"),
        Lease.ends_at.label("ends_at"),
        Lease.confirmed_at.label("confirmed_at"),
        Lease.overflow.label("overflow"),
        Lease.last_heartbeat_at.label("last_heartbeat_at"),
        TrackingSite.heartbeat_seconds.label("heartbeat_seconds"),
        TrackingPool.site_id.label("site"),
        TrackingPool.name.label("pool"),
        TrackingPool.branch.label("branch"),
        null().label("tracking_number"),
        null().label("confidence"),
        Lease.session_id.label("session_id"),
        *_VISIT,
    )
    .join(TrackingPool, TrackingPool.id == Lease.pool_id)
    .join(TrackingSite, TrackingSite.id == TrackingPool.site_id)
    .outerjoin(VisitorSession, VisitorSession.id == Lease.session_id)
    .where(Lease.number.in_(_NUMBERS), Lease.started_at >= _SINCE, Lease.started_at <= _UNTIL)
)
_EARLIER_CALLS = (
    select(
        literal("call"),
        Call.outside_number,
        Call.started_at,
        null(),
        null(),
        null(),
        null(),
        null(),
        Call.attr_site,
        Call.attr_pool,
        Call.attr_branch,
        Call.attr_tracking_number,
        Call.attr_confidence,
        Call.attr_session,
        *_VISIT,
    )
    .outerjoin(VisitorSession, VisitorSession.id == Call.attr_session)
    .where(
        Call.outside_number.in_(bindparam("callers", expanding=True)),
        Call.started_at >= _SINCE,
        Call.started_at <= _UNTIL,
        and_(Call.attr_session.is_not(None), Call.attr_pool.is_not(None), Call.attr_site.is_not(None)),
    )
)
_HISTORY = select(union_all(_LEASES, _EARLIER_CALLS).subquery())


# --- rows to the scorer's data ----------------------------------------------------------------------


def _numbers(values: Iterable[str | None]) -> list[str]:
    return sorted({v for v in values if v and v.startswith("+")})


def _window(rings: Sequence[Ring]) -> tuple[datetime, datetime]:
    return min(r.at for r in rings) - LOOKBACK, max(r.at for r in rings)


def _take_tracked(inputs: Inputs, rows: Iterable[Sequence[Any]]) -> None:
    statics: dict[str, StaticNumber] = {}
    pools: dict[str, Place] = {}
    fallbacks: dict[str, list[Place]] = {}
    for kind, number, site, pool, branch, replaces, *facts in rows:
        if kind == "static":
            channel, source, medium, campaign, content, term = facts
            statics[number] = StaticNumber(
                number, branch, channel or "offline", source, medium, campaign, content, term
            )
        elif kind == "pool":
            pools[number] = Place(site, pool, branch)
        else:
            published = number in _listed(replaces)
            fallbacks.setdefault(number, []).append(Place(site, pool, branch, published))
    for number in {*statics, *pools, *fallbacks}:
        inputs.tracked[number] = Tracked(
            statics.get(number), pools.get(number), tuple(sorted(fallbacks.get(number, []), key=_place_key))
        )


def _place_key(place: Place) -> tuple[str, str]:
    return place.site, place.pool


def _listed(replaces: object) -> list[str]:
    # The union's JSON column comes back parsed or as text, by driver.
    if isinstance(replaces, str):
        try:
            replaces = json.loads(replaces)
        except ValueError:
            return []
    return [n for n in replaces if isinstance(n, str)] if isinstance(replaces, list) else []


def _take_history(inputs: Inputs, rows: Iterable[Sequence[Any]]) -> None:
    for kind, key, started, ends, confirmed, overflow, seen, beat, site, pool, branch, *rest in rows:
        number, confidence, session_id, *visit = rest
        if kind == "lease":
            inputs.leases.setdefault(key, []).append(
                LeaseRow(
                    Visit(session_id, *visit),
                    Place(site, pool, branch),
                    _aware(started),
                    _aware(ends),
                    _aware(confirmed) if confirmed is not None else None,
                    bool(overflow),
                    _aware(seen) if seen is not None else None,
                    timedelta(seconds=beat) if beat else None,
                )
            )
        else:
            inputs.history.setdefault(key, []).append(
                EarlierCall(
                    _aware(started),
                    Visit(session_id, *visit),
                    site,
                    pool,
                    number,
                    float(confidence) if confidence is not None else 0.0,
                )
            )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
