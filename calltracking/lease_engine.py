"""Visitor sessions and pool leases in SQL: what ``POST /t/v1/session`` and ``/t/v1/heartbeat`` do.

Each function here is one request's work on a synchronous connection inside a transaction (lease_book
runs it in a thread; on SQLite several requests may share a transaction, so a refusal (``Refused``) is
always raised before a request writes anything). A pool number is never leased to two live sessions,
however many processes ask at once:
- PostgreSQL: the free number is taken with ``SELECT … FOR UPDATE SKIP LOCKED LIMIT 1``; a second
  transaction skips the row the first one holds, and once the first commits the row is no longer free
  (PostgreSQL checks the condition again on the row's newest version before locking it);
- SQLite: every transaction holds the database's write lock from its start (``BEGIN IMMEDIATE``).
A live lease is renewed by an ``UPDATE`` that names the lease it extends: once the number went to
another session the update changes nothing and the session takes a new lease. Nothing lives in memory:
any number of processes may serve the endpoints.

Lease life (ct_design.md): unconfirmed leases are short; heartbeats renew them up to the site's longest
lease; an expired lease is never revived (a new one is taken, the same number when it is still free);
overflow leases record the fallback shown when a pool had no free number.

The statements are built once (below) and run on the transaction's connection: building SQLAlchemy
statements and going through the ORM's unit of work cost more than the database does here.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from calltracking.lease_rules import (
    LeaseTimes,
    same_campaign,
    session_expired,
    shown_for_pool,
    source_numbers_for,
)
from calltracking.visit_source import VisitSource
from kolokol.storage.tables import Lease, PoolNumber, TrackingPool, TrackingSite, UtcDateTime, VisitorSession
from pbx.untrusted import fitted

# What session ids look like (secrets.token_urlsafe(16)); anything else is no session of ours.
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{16,32}$")
ADDRESS_CHARS = 64
NO_FALLBACK = ""


class Refused(Exception):
    """A request the engine turns down. Always raised before the transaction wrote anything, so the
    rest of a batch of requests in the same transaction goes on unharmed."""


class NoSuchSite(Refused, LookupError):
    pass


class NoSuchSession(Refused, LookupError):
    pass


class OriginNotAllowed(Refused, PermissionError):
    """The page asking is not one of the site's origins."""


class TooManySessions(Refused):
    """One address holds too many sessions whose pages never heartbeat (a bot): no new one for now."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many unconfirmed sessions from this address")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class EngineLimits:
    # A session whose page has been silent this long is over (a heartbeat gets 404, a page opens anew).
    session_idle_seconds: int = 30 * 60
    # Sessions one address may hold whose pages have not heartbeated yet (0: no limit).
    unconfirmed_per_address: int = 10


@dataclass(frozen=True, slots=True)
class SessionRequest:
    site_id: str
    session_id: str | None
    visit: VisitSource
    ga_client_id: str | None = None
    ym_client_id: str | None = None
    consent: bool = True
    address: str | None = None
    # The asking page's origin (normalized), None when the request named none (not a browser).
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    session: str | None
    heartbeat_seconds: int
    numbers: dict[str, str]


@dataclass(frozen=True, slots=True)
class PoolRules:
    id: int
    replaces: tuple[str, ...]
    fallback: str | None
    # Leased only to visitors of this channel; None: to every visitor.
    channel: str | None


@dataclass(frozen=True, slots=True)
class SiteRules:
    id: str
    origins: tuple[str, ...]
    times: LeaseTimes
    source_numbers: tuple[dict[str, Any], ...]
    # The pools in rotation, in id order: two transactions renewing one session's leases lock their
    # numbers in the same order and never deadlock.
    pools: tuple[PoolRules, ...] = ()

    def pools_for(self, channel: str) -> list[PoolRules]:
        return [pool for pool in self.pools if pool.channel is None or pool.channel == channel]


# The sites one transaction has read, by id (None: no such site). On SQLite a transaction serves a batch of
# requests, mostly for a few sites, and holds the write lock: no one changes a site meanwhile, so each is
# read once per transaction rather than once per request.
SitesRead = dict[str, SiteRules | None]


def new_session_id() -> str:
    return secrets.token_urlsafe(16)


def _now(name: str = "now") -> Any:
    return bindparam(name, type_=UtcDateTime())


# The site with its pools in rotation, in one statement (a site without pools: one row of nulls).
_SITE = (
    select(
        TrackingSite.id,
        TrackingSite.origins,
        TrackingSite.hold_seconds,
        TrackingSite.heartbeat_seconds,
        TrackingSite.max_lease_seconds,
        TrackingSite.source_numbers,
        TrackingPool.id.label("pool_id"),
        TrackingPool.replaces,
        TrackingPool.fallback,
        TrackingPool.channel,
    )
    .select_from(TrackingSite)
    .outerjoin(TrackingPool, and_(TrackingPool.site_id == TrackingSite.id, TrackingPool.retired_at.is_(None)))
    .where(TrackingSite.id == bindparam("site"))
    .order_by(TrackingPool.id)
)
_SESSION_COLUMNS = (
    VisitorSession.id,
    VisitorSession.created_at,
    VisitorSession.last_seen_at,
    VisitorSession.channel,
    VisitorSession.source,
    VisitorSession.medium,
    VisitorSession.campaign,
    VisitorSession.content,
    VisitorSession.term,
    VisitorSession.gclid,
    VisitorSession.yclid,
    VisitorSession.fbclid,
    VisitorSession.landing_page,
    VisitorSession.referrer,
)
# Locked so that two tabs of one visitor renewing at once take one lease per pool, not two.
_SESSION = (
    select(*_SESSION_COLUMNS)
    .where(VisitorSession.id == bindparam("session"), VisitorSession.site_id == bindparam("site"))
    .with_for_update()
)
_SEEN = (
    update(VisitorSession)
    .where(VisitorSession.id == bindparam("session"))
    .values(
        last_seen_at=_now(),
        # The analytics cookies may have appeared since the first page (the counters load late).
        ga_client_id=func.coalesce(VisitorSession.ga_client_id, bindparam("ga")),
        ym_client_id=func.coalesce(VisitorSession.ym_client_id, bindparam("ym")),
    )
)
# A heartbeat's session, seen now, while it lives (the row locked until the transaction ends).
_BEAT_SESSION = (
    update(VisitorSession)
    .where(
        VisitorSession.id == bindparam("session"),
        VisitorSession.site_id == bindparam("site"),
        VisitorSession.last_seen_at > _now("idle_since"),
        VisitorSession.created_at > _now("max_since"),
    )
    .values(last_seen_at=_now())
    .returning(*_SESSION_COLUMNS)
)
_NEW_SESSION = insert(VisitorSession)
_UNCONFIRMED = (
    select(func.count(func.distinct(VisitorSession.id)))
    .join(Lease, Lease.session_id == VisitorSession.id)
    .where(
        VisitorSession.site_id == bindparam("site"),
        VisitorSession.created_at >= _now("since"),
        VisitorSession.address == bindparam("address"),
        Lease.confirmed_at.is_(None),
        Lease.overflow.is_(False),
        Lease.ends_at > _now(),
    )
)
# PostgreSQL: one transaction at a time counts (and then opens) one address's sessions on a site, until
# it commits; without it two opens at once both count the same sessions and both pass the limit.
_ADDRESS_TURN = select(func.pg_advisory_xact_lock(func.hashtextextended(bindparam("key"), 0)))
_LAST_LEASE = (
    select(Lease.id, Lease.number, Lease.overflow, Lease.started_at, Lease.confirmed_at, Lease.ends_at)
    .where(Lease.session_id == bindparam("session"), Lease.pool_id == bindparam("pool"))
    .order_by(Lease.id.desc())
    .limit(1)
)
# Move a number's lease end, only while this very lease holds it and it is in rotation.
_EXTEND_NUMBER = (
    update(PoolNumber)
    .where(
        PoolNumber.number == bindparam("num"),
        PoolNumber.lease_id == bindparam("lease"),
        PoolNumber.state == "active",
        PoolNumber.leased_until > _now(),
    )
    .values(leased_until=_now("end"))
)
_RENEW = update(Lease).where(Lease.id == bindparam("lease")).values(ends_at=_now("end"))
_RENEW_BEAT = (
    update(Lease)
    .where(Lease.id == bindparam("lease"))
    .values(
        ends_at=_now("end"), last_heartbeat_at=_now(), confirmed_at=func.coalesce(Lease.confirmed_at, _now())
    )
)
_IN_ROTATION = (
    PoolNumber.pool_id == bindparam("pool"),
    PoolNumber.state == "active",
    or_(PoolNumber.leased_until.is_(None), PoolNumber.leased_until <= _now()),
)
# PostgreSQL: a number another transaction is taking is skipped, not waited for; SQLite: no FOR UPDATE
# (the write lock is held already).
_PREFERRED = (
    select(PoolNumber.number)
    .where(PoolNumber.number == bindparam("number"), *_IN_ROTATION)
    .with_for_update(skip_locked=True)
)
_FREE_LONGEST = (
    select(PoolNumber.number)
    .where(*_IN_ROTATION)
    .order_by(PoolNumber.last_leased_at.asc().nulls_first(), PoolNumber.number)
    .limit(1)
    .with_for_update(skip_locked=True)
)
_NEW_LEASE = insert(Lease).returning(Lease.id)
_NEW_OVERFLOW = insert(Lease)
_HOLD = (
    update(PoolNumber)
    .where(PoolNumber.number == bindparam("num"))
    .values(
        session_id=bindparam("session"),
        lease_id=bindparam("lease"),
        leased_until=_now("end"),
        last_leased_at=_now(),
    )
)


def load_site(db: Connection, site_id: str, read: SitesRead | None = None) -> SiteRules | None:
    if read is not None and site_id in read:
        return read[site_id]
    site = _read_site(db, site_id)
    if read is not None:
        read[site_id] = site
    return site


def _read_site(db: Connection, site_id: str) -> SiteRules | None:
    rows = db.execute(_SITE, {"site": site_id}).all()
    if not rows:
        return None
    site = rows[0]
    pools = tuple(
        PoolRules(
            row.pool_id,
            tuple(r for r in row.replaces or () if isinstance(r, str)),
            row.fallback,
            row.channel,
        )
        for row in rows
        if row.pool_id is not None
    )
    return SiteRules(
        id=site.id,
        origins=tuple(site.origins or ()),
        times=LeaseTimes(site.hold_seconds, site.heartbeat_seconds, site.max_lease_seconds),
        source_numbers=tuple(e for e in site.source_numbers or () if isinstance(e, dict)),
        pools=pools,
    )


def allowed_site(
    db: Connection, site_id: str, origin: str | None, read: SitesRead | None = None
) -> SiteRules:
    """The site, when the asking page may ask for it: ``NoSuchSite``, ``OriginNotAllowed``."""
    site = load_site(db, site_id, read)
    if site is None:
        raise NoSuchSite(site_id)
    if origin is not None and origin not in site.origins:
        raise OriginNotAllowed(origin)
    return site


def open_session(
    db: Connection,
    request: SessionRequest,
    now: datetime,
    limits: EngineLimits,
    sites: SitesRead | None = None,
) -> Answer:
    """Open a session (or resume the one the page had) and lease each of its pools' numbers to it.
    ``sites``: the sites this transaction has read already."""
    site = allowed_site(db, request.site_id, request.origin, sites)
    heartbeat_seconds = site.times.heartbeat_seconds
    if not request.consent:
        # Nothing stored, nothing leased: numbers by the visit's source alone.
        return Answer(None, heartbeat_seconds, source_numbers_for(site.source_numbers, request.visit))
    found = _resumable(db, site, request, now, limits)
    fresh = found is None
    if found is None:
        _check_address(db, site, request.address, now, limits)
        session_id, source = _new_session(db, site, request, now), request.visit
    else:
        session_id, source = found
    numbers = source_numbers_for(site.source_numbers, source)
    for pool in site.pools_for(source.channel):
        numbers.update(_lease(db, site, pool, session_id, now, heartbeat=False, fresh=fresh))
    return Answer(session_id, heartbeat_seconds, numbers)


def heartbeat(
    db: Connection,
    site_id: str,
    session_id: str | None,
    now: datetime,
    limits: EngineLimits,
    origin: str | None = None,
    sites: SitesRead | None = None,
) -> Answer:
    """The page is still open: renew the session's leases (or take new ones where they lapsed)."""
    site = allowed_site(db, site_id, origin, sites)
    if not session_id or not SESSION_ID.fullmatch(session_id):
        raise NoSuchSession(session_id)
    # Ended sessions (session_expired) are not matched: nothing is written for them.
    visitor = db.execute(
        _BEAT_SESSION,
        {
            "session": session_id,
            "site": site.id,
            "now": now,
            "idle_since": now - timedelta(seconds=limits.session_idle_seconds),
            "max_since": now - timedelta(seconds=site.times.max_lease_seconds),
        },
    ).first()
    if visitor is None:
        raise NoSuchSession(session_id)
    source = _source_of(visitor)
    numbers = source_numbers_for(site.source_numbers, source)
    for pool in site.pools_for(source.channel):
        numbers.update(_lease(db, site, pool, session_id, now, heartbeat=True, fresh=False))
    return Answer(session_id, site.times.heartbeat_seconds, numbers)


# ---- sessions -------------------------------------------------------------------------------------

# A row of _SESSION_COLUMNS (read by name).
_SessionRow = Any


def _locked_session(db: Connection, site_id: str, session_id: str | None) -> _SessionRow | None:
    if not session_id or not SESSION_ID.fullmatch(session_id):
        return None
    return db.execute(_SESSION, {"session": session_id, "site": site_id}).first()


def _expired(visitor: _SessionRow, site: SiteRules, now: datetime, limits: EngineLimits) -> bool:
    return session_expired(
        visitor.created_at,
        visitor.last_seen_at,
        now,
        idle_seconds=limits.session_idle_seconds,
        max_lease_seconds=site.times.max_lease_seconds,
    )


def _resumable(
    db: Connection, site: SiteRules, request: SessionRequest, now: datetime, limits: EngineLimits
) -> tuple[str, VisitSource] | None:
    visitor = _locked_session(db, site.id, request.session_id)
    if visitor is None or _expired(visitor, site, now, limits):
        return None
    source = _source_of(visitor)
    if not same_campaign(source, request.visit):
        return None
    db.execute(
        _SEEN, {"session": visitor.id, "now": now, "ga": request.ga_client_id, "ym": request.ym_client_id}
    )
    return visitor.id, source


def _new_session(db: Connection, site: SiteRules, request: SessionRequest, now: datetime) -> str:
    visit = request.visit
    session_id = new_session_id()
    db.execute(
        _NEW_SESSION,
        {
            "id": session_id,
            "site_id": site.id,
            "created_at": now,
            "last_seen_at": now,
            "consent": True,
            "channel": visit.channel,
            "source": visit.source,
            "medium": visit.medium,
            "campaign": visit.campaign,
            "content": visit.content,
            "term": visit.term,
            "landing_page": visit.landing_page,
            "referrer": visit.referrer,
            "gclid": visit.gclid,
            "yclid": visit.yclid,
            "fbclid": visit.fbclid,
            "ga_client_id": request.ga_client_id,
            "ym_client_id": request.ym_client_id,
            "address": fitted(request.address, ADDRESS_CHARS) or None,
        },
    )
    return session_id


def _source_of(visitor: _SessionRow) -> VisitSource:
    return VisitSource(
        channel=visitor.channel,
        source=visitor.source,
        medium=visitor.medium,
        campaign=visitor.campaign,
        content=visitor.content,
        term=visitor.term,
        gclid=visitor.gclid,
        yclid=visitor.yclid,
        fbclid=visitor.fbclid,
        landing_page=visitor.landing_page,
        referrer=visitor.referrer,
    )


def _check_address(
    db: Connection, site: SiteRules, address: str | None, now: datetime, limits: EngineLimits
) -> None:
    """Refuse a new session to an address that already holds ``unconfirmed_per_address`` sessions whose
    pages never heartbeated: a bot opening sessions in a loop cannot drain a pool. Counted in the
    database, so it holds across every process serving the endpoints."""
    if not address or limits.unconfirmed_per_address <= 0:
        return
    span = site.times.unconfirmed_seconds
    since = now - timedelta(seconds=span)
    address = fitted(address, ADDRESS_CHARS)
    if db.dialect.name == "postgresql":  # SQLite: the write lock is held already
        db.execute(_ADDRESS_TURN, {"key": f"{site.id} {address}"})
    held = db.scalar(_UNCONFIRMED, {"site": site.id, "since": since, "address": address, "now": now})
    if (held or 0) >= limits.unconfirmed_per_address:
        raise TooManySessions(retry_after=span)


# ---- leases ---------------------------------------------------------------------------------------


def _lease(
    db: Connection,
    site: SiteRules,
    pool: PoolRules,
    session_id: str,
    now: datetime,
    *,
    heartbeat: bool,
    fresh: bool,
) -> dict[str, str]:
    """The session's number for this pool: its live lease renewed, else a new lease."""
    last = None if fresh else db.execute(_LAST_LEASE, {"session": session_id, "pool": pool.id}).first()
    if last is not None and last.ends_at > now:
        confirmed = heartbeat or last.confirmed_at is not None
        end = site.times.renewed_end(last.started_at, last.ends_at, now, confirmed=confirmed)
        kept = last.overflow or _rows(
            db.execute(_EXTEND_NUMBER, {"num": last.number, "lease": last.id, "now": now, "end": end})
        )
        if kept:
            db.execute(_RENEW_BEAT if heartbeat else _RENEW, {"lease": last.id, "now": now, "end": end})
            return shown_for_pool(pool.replaces, last.number or None)
        # The number was taken out of rotation meanwhile: its lease runs out, the session moves on.
    preferred = last.number if last is not None and not last.overflow else None
    return _take(db, site, pool, session_id, now, confirmed=heartbeat, preferred=preferred)


def _rows(result: Any) -> bool:
    return bool(getattr(result, "rowcount", 0))


def _take(
    db: Connection,
    site: SiteRules,
    pool: PoolRules,
    session_id: str,
    now: datetime,
    *,
    confirmed: bool,
    preferred: str | None,
) -> dict[str, str]:
    """A new lease: the session's previous number when free, else the number free the longest; the
    fallback (an overflow lease) when none is free."""
    number: str | None = None
    if preferred is not None:
        number = db.scalar(_PREFERRED, {"number": preferred, "pool": pool.id, "now": now})
    if number is None:
        number = db.scalar(_FREE_LONGEST, {"pool": pool.id, "now": now})
    end = site.times.first_end(now, confirmed=confirmed)
    lease = {
        "pool_id": pool.id,
        "session_id": session_id,
        "started_at": now,
        "confirmed_at": now if confirmed else None,
        "last_heartbeat_at": now,
        "ends_at": end,
    }
    if number is None:
        # Overflow: counted for pool health; the page shows the fallback, if the pool has one.
        db.execute(_NEW_OVERFLOW, {**lease, "number": pool.fallback or NO_FALLBACK, "overflow": True})
        return shown_for_pool(pool.replaces, pool.fallback)
    lease_id = db.execute(_NEW_LEASE, {**lease, "number": number, "overflow": False}).scalar_one()
    db.execute(_HOLD, {"num": number, "session": session_id, "lease": lease_id, "end": end, "now": now})
    return shown_for_pool(pool.replaces, number)
