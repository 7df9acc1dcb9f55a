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

The statements are SQL text per database (calltracking.lease_sql), run on the transaction's DBAPI
cursor: SQLAlchemy's per-statement machinery cost the lease thread several times what the database did.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from calltracking.lease_rules import (
    LeaseTimes,
    same_campaign,
    session_expired,
    shown_for_pool,
    source_numbers_for,
)
from calltracking.lease_sql import LeaseCursor
from calltracking.visit_source import VisitSource
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
# read once per transaction rather than once per request. It starts with the sites earlier transactions
# read that are still good (calltracking.lease_sites).
SitesRead = dict[str, SiteRules | None]


def new_session_id() -> str:
    return secrets.token_urlsafe(16)


def load_site(db: LeaseCursor, site_id: str, read: SitesRead | None = None) -> SiteRules | None:
    if read is not None and site_id in read:
        return read[site_id]
    site = _read_site(db, site_id)
    if read is not None:
        read[site_id] = site
    return site


def _read_site(db: LeaseCursor, site_id: str) -> SiteRules | None:
    # The site with its pools in rotation, in one statement (a site without pools: one row of nulls).
    rows = db.all(db.sql.site, (site_id,))
    if not rows:
        return None
    site = rows[0]
    pools = tuple(
        PoolRules(
            pool_id,
            tuple(r for r in db.read_json(replaces) or () if isinstance(r, str)),
            fallback,
            channel,
        )
        for *_, pool_id, replaces, fallback, channel in rows
        if pool_id is not None
    )
    return SiteRules(
        id=site[0],
        origins=tuple(db.read_json(site[1]) or ()),
        times=LeaseTimes(site[2], site[3], site[4]),
        source_numbers=tuple(e for e in db.read_json(site[5]) or () if isinstance(e, dict)),
        pools=pools,
    )


def allowed_site(
    db: LeaseCursor, site_id: str, origin: str | None, read: SitesRead | None = None
) -> SiteRules:
    """The site, when the asking page may ask for it: ``NoSuchSite``, ``OriginNotAllowed``."""
    site = load_site(db, site_id, read)
    if site is None:
        raise NoSuchSite(site_id)
    if origin is not None and origin not in site.origins:
        raise OriginNotAllowed(origin)
    return site


def open_session(
    connection: Connection,
    request: SessionRequest,
    now: datetime,
    limits: EngineLimits,
    sites: SitesRead | None = None,
) -> Answer:
    """Open a session (or resume the one the page had) and lease each of its pools' numbers to it.
    ``sites``: the sites this transaction has read already."""
    with LeaseCursor(connection) as db:
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
    connection: Connection,
    site_id: str,
    session_id: str | None,
    now: datetime,
    limits: EngineLimits,
    origin: str | None = None,
    sites: SitesRead | None = None,
) -> Answer:
    """The page is still open: renew the session's leases (or take new ones where they lapsed)."""
    with LeaseCursor(connection) as db:
        site = allowed_site(db, site_id, origin, sites)
        if not session_id or not SESSION_ID.fullmatch(session_id):
            raise NoSuchSession(session_id)
        # Ended sessions (session_expired) are not matched: nothing is written for them.
        visitor = db.one(
            db.sql.beat_session,
            (
                db.time(now),
                session_id,
                site.id,
                db.time(now - timedelta(seconds=limits.session_idle_seconds)),
                db.time(now - timedelta(seconds=site.times.max_lease_seconds)),
            ),
        )
        if visitor is None:
            raise NoSuchSession(session_id)
        source = _source_of(visitor)
        last = _last_leases(db, visitor[-1])  # after the session's columns
        numbers = source_numbers_for(site.source_numbers, source)
        for pool in site.pools_for(source.channel):
            numbers.update(
                _lease(db, site, pool, session_id, now, heartbeat=True, fresh=False, last=last.get(pool.id))
            )
        return Answer(session_id, site.times.heartbeat_seconds, numbers)


def _last_leases(db: LeaseCursor, found: Any) -> dict[int, _LeaseRow]:
    """beat_session's leases (JSON) by pool."""
    return {int(pool_id): tuple(rest) for pool_id, *rest in db.read_json(found) or ()}


# ---- sessions -------------------------------------------------------------------------------------

# A row of lease_sql.SESSION_COLUMNS: id, created_at, last_seen_at, then the visit's source.
_SessionRow = tuple[Any, ...]
# A session's last lease in a pool: id, number, overflow, started_at, confirmed_at, ends_at.
_LeaseRow = tuple[Any, ...]
_NOT_READ: _LeaseRow = ()


def _locked_session(db: LeaseCursor, site_id: str, session_id: str | None) -> _SessionRow | None:
    if not session_id or not SESSION_ID.fullmatch(session_id):
        return None
    return db.one(db.sql.session, (session_id, site_id))


def _expired(
    db: LeaseCursor, visitor: _SessionRow, site: SiteRules, now: datetime, limits: EngineLimits
) -> bool:
    created_at, last_seen_at = db.read_time(visitor[1]), db.read_time(visitor[2])
    assert created_at is not None and last_seen_at is not None
    return session_expired(
        created_at,
        last_seen_at,
        now,
        idle_seconds=limits.session_idle_seconds,
        max_lease_seconds=site.times.max_lease_seconds,
    )


def _resumable(
    db: LeaseCursor, site: SiteRules, request: SessionRequest, now: datetime, limits: EngineLimits
) -> tuple[str, VisitSource] | None:
    visitor = _locked_session(db, site.id, request.session_id)
    if visitor is None or _expired(db, visitor, site, now, limits):
        return None
    source = _source_of(visitor)
    if not same_campaign(source, request.visit):
        return None
    session_id: str = visitor[0]
    db.execute(db.sql.seen, (db.time(now), request.ga_client_id, request.ym_client_id, session_id))
    return session_id, source


def _new_session(db: LeaseCursor, site: SiteRules, request: SessionRequest, now: datetime) -> str:
    visit = request.visit
    session_id = new_session_id()
    at = db.time(now)
    db.execute(
        db.sql.new_session,
        (
            session_id,
            site.id,
            at,
            at,
            True,
            visit.channel,
            visit.source,
            visit.medium,
            visit.campaign,
            visit.content,
            visit.term,
            visit.landing_page,
            visit.referrer,
            visit.gclid,
            visit.yclid,
            visit.fbclid,
            request.ga_client_id,
            request.ym_client_id,
            fitted(request.address, ADDRESS_CHARS) or None,
        ),
    )
    return session_id


def _source_of(visitor: _SessionRow) -> VisitSource:
    return VisitSource(
        channel=visitor[3],
        source=visitor[4],
        medium=visitor[5],
        campaign=visitor[6],
        content=visitor[7],
        term=visitor[8],
        gclid=visitor[9],
        yclid=visitor[10],
        fbclid=visitor[11],
        landing_page=visitor[12],
        referrer=visitor[13],
    )


def _check_address(
    db: LeaseCursor, site: SiteRules, address: str | None, now: datetime, limits: EngineLimits
) -> None:
    """Refuse a new session to an address that already holds ``unconfirmed_per_address`` sessions whose
    pages never heartbeated: a bot opening sessions in a loop cannot drain a pool. Counted in the
    database, so it holds across every process serving the endpoints."""
    if not address or limits.unconfirmed_per_address <= 0:
        return
    span = site.times.unconfirmed_seconds
    since = now - timedelta(seconds=span)
    address = fitted(address, ADDRESS_CHARS)
    if db.postgres:  # SQLite: the write lock is held already
        db.one(db.sql.address_turn, (f"{site.id} {address}",))
    row = db.one(db.sql.unconfirmed, (site.id, db.time(since), address, db.time(now)))
    held = row[0] if row is not None else 0
    if (held or 0) >= limits.unconfirmed_per_address:
        raise TooManySessions(retry_after=span)


# ---- leases ---------------------------------------------------------------------------------------


def _lease(
    db: LeaseCursor,
    site: SiteRules,
    pool: PoolRules,
    session_id: str,
    now: datetime,
    *,
    heartbeat: bool,
    fresh: bool,
    last: _LeaseRow | None = _NOT_READ,
) -> dict[str, str]:
    """The session's number for this pool: its live lease renewed, else a new lease. ``last``: the
    session's last lease in the pool when the caller read it already (None: it has none)."""
    if fresh:
        last = None
    elif last is _NOT_READ:
        last = db.one(db.sql.last_lease, (session_id, pool.id))
    preferred: str | None = None
    if last is not None:
        lease_id, number, overflow, started_at, confirmed_at, ends_at = last
        started_at, ends_at = db.read_time(started_at), db.read_time(ends_at)
        assert started_at is not None and ends_at is not None
        if ends_at > now:
            confirmed = heartbeat or confirmed_at is not None
            end = site.times.renewed_end(started_at, ends_at, now, confirmed=confirmed)
            if _renewed(db, lease_id, number, bool(overflow), db.time(end), db.time(now), heartbeat):
                return shown_for_pool(pool.replaces, number or None)
            # The number was taken out of rotation meanwhile: its lease runs out, the session moves on.
        preferred = None if overflow else number
    return _take(db, site, pool, session_id, now, confirmed=heartbeat, preferred=preferred)


def _renewed(
    db: LeaseCursor, lease_id: int, number: str, overflow: bool, end: Any, at: Any, heartbeat: bool
) -> bool:
    """Move the lease's end (and its number's) to ``end``; False when the number is no longer held by it
    (taken out of rotation meanwhile), and then nothing is written."""
    if heartbeat and not overflow and db.sql.extend_and_renew_beat:
        return (
            db.execute(db.sql.extend_and_renew_beat, (end, number, lease_id, at, end, at, at, lease_id)) > 0
        )
    if not overflow and not db.execute(db.sql.extend_number, (end, number, lease_id, at)):
        return False
    if heartbeat:
        db.execute(db.sql.renew_beat, (end, at, at, lease_id))
    else:
        db.execute(db.sql.renew, (end, lease_id))
    return True


def _take(
    db: LeaseCursor,
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
    at, end = db.time(now), db.time(site.times.first_end(now, confirmed=confirmed))
    lease = (pool.id, session_id, at, at if confirmed else None, at, end)
    free = (pool.id, at)
    if db.postgres:
        # One statement: pick (FOR UPDATE SKIP LOCKED), insert the lease, mark the number.
        after = (session_id, end, at)
        taken = None
        if preferred is not None:
            taken = db.one(db.sql.take_preferred, (*free, preferred, *lease, *after))
        if taken is None:
            taken = db.one(db.sql.take_free, (*free, *lease, *after))
    else:
        # Under the write lock: insert the lease from the pick, then mark the number.
        taken = None
        if preferred is not None:
            taken = db.one(db.sql.take_preferred, (*lease, *free, preferred))
        if taken is None:
            taken = db.one(db.sql.take_free, (*lease, *free))
        if taken is not None:
            db.execute(db.sql.hold, (session_id, taken[0], end, at, taken[1]))
    if taken is None:
        # Overflow: counted for pool health; the page shows the fallback, if the pool has one.
        pool_id, _, started, confirmed_at, beat, ends = lease
        db.execute(
            db.sql.new_overflow,
            (pool_id, pool.fallback or NO_FALLBACK, session_id, True, started, confirmed_at, beat, ends),
        )
        return shown_for_pool(pool.replaces, pool.fallback)
    number: str = taken[1]
    return shown_for_pool(pool.replaces, number)
