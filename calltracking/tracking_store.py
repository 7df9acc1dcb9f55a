"""Tracking numbers, sites, pools and pool numbers in the database: what the marketers' REST API changes.

Every change runs in a write transaction (``write_transaction``): on SQLite it holds the write lock; on
PostgreSQL it first takes one advisory lock shared by every tracking-settings change, so two changes at
once (two sites claiming one number) run one after the other and the second sees the first. Settings
change rarely; the public endpoints never take this lock.

Nothing is deleted that explains a call: a pool left out of its site's settings is retired (kept, never
leased again), a number removed from its pool becomes ``retired``, and lease history stays.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from calltracking.site_settings import SiteSettings, StaticNumber
from kolokol.storage.tables import PoolNumber, TrackingNumber, TrackingPool, TrackingSite

# pg_advisory_xact_lock's key for tracking settings ("kolokol-tracking" as a number of its own).
_SETTINGS_LOCK = 0x6B6F6C74726B


class Conflict(Exception):
    def __init__(self, slug: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.slug = slug
        self.message = message
        self.details = details


class NotFound(LookupError):
    pass


async def settings_lock(db: AsyncSession) -> None:
    connection = await db.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SETTINGS_LOCK})


# ---- sites ----------------------------------------------------------------------------------------


async def upsert_site(db: AsyncSession, site_id: str, settings: SiteSettings, now: datetime) -> bool:
    """Create or replace a site's settings; True when it was created. ``Conflict`` when a number of its
    pools is a static number or in another pool."""
    await settings_lock(db)
    site = await db.get(TrackingSite, site_id)
    created = site is None
    if site is None:
        site = TrackingSite(id=site_id, created_at=now)
        db.add(site)
    site.origins = list(settings.origins)
    site.hold_seconds = settings.hold_seconds
    site.heartbeat_seconds = settings.heartbeat_seconds
    site.max_lease_seconds = settings.max_lease_seconds
    site.source_numbers = [dict(entry) for entry in settings.source_numbers]
    site.updated_at = now
    await db.flush()

    pools = {
        p.name: p for p in (await db.scalars(select(TrackingPool).where(TrackingPool.site_id == site_id)))
    }
    wanted = {pool.name for pool in settings.pools}
    for name, pool in pools.items():
        if name not in wanted and pool.retired_at is None:
            pool.retired_at = now
            pool.updated_at = now
            await _retire_numbers(db, pool.id, keep=frozenset(), now=now)
    await db.flush()
    await _check_numbers(db, site_id, settings)
    for wanted_pool in settings.pools:
        pool = pools.get(wanted_pool.name) or TrackingPool(
            site_id=site_id, name=wanted_pool.name, created_at=now
        )
        db.add(pool)
        pool.branch = wanted_pool.branch
        pool.replaces = list(wanted_pool.replaces)
        pool.fallback = wanted_pool.fallback
        pool.channel = wanted_pool.channel
        pool.retired_at = None
        pool.updated_at = now
        await db.flush()
        await _place_numbers(db, pool.id, wanted_pool.numbers, now)
    await db.flush()
    return created


async def _check_numbers(db: AsyncSession, site_id: str, settings: SiteSettings) -> None:
    owner: dict[str, str] = {}
    for pool in settings.pools:
        for number in pool.numbers:
            if number in owner:
                raise Conflict(
                    "number-in-another-pool",
                    f"{number} is in pools {owner[number]!r} and {pool.name!r}: a number serves one pool",
                    {"number": number, "pool": owner[number]},
                )
            owner[number] = pool.name
    if not owner:
        return
    static = await db.scalar(
        select(TrackingNumber.number).where(TrackingNumber.number.in_(list(owner))).limit(1)
    )
    if static is not None:
        raise Conflict(
            "number-is-static",
            f"{static} is a static tracking number; delete it there before it joins a pool",
            {"number": static},
        )
    rows = await db.execute(
        select(PoolNumber.number, TrackingPool.site_id, TrackingPool.name)
        .join(TrackingPool, TrackingPool.id == PoolNumber.pool_id)
        .where(PoolNumber.number.in_(list(owner)), PoolNumber.state != "retired")
    )
    for number, other_site, other_pool in rows:
        if other_site != site_id:
            raise Conflict(
                "number-in-another-pool",
                f"{number} is in pool {other_pool!r} of site {other_site!r}; remove it there first",
                {"number": number, "site": other_site, "pool": other_pool},
            )


async def _place_numbers(db: AsyncSession, pool_id: int, numbers: tuple[str, ...], now: datetime) -> None:
    await _retire_numbers(db, pool_id, keep=frozenset(numbers), now=now)
    existing = {
        row.number: row
        for row in await db.scalars(select(PoolNumber).where(PoolNumber.number.in_(list(numbers))))
    }
    for number in numbers:
        row = existing.get(number)
        if row is None:
            db.add(PoolNumber(number=number, pool_id=pool_id, state="active", state_changed_at=now))
            continue
        if row.pool_id != pool_id or row.state == "retired":
            # Moving between pools of this site, or coming back: a live lease on it runs out as it was
            # (leased_until stays), so the number is never shown to two visitors at once.
            row.pool_id = pool_id
            if row.state == "retired":
                row.state, row.state_reason, row.state_changed_at = "active", None, now


async def _retire_numbers(db: AsyncSession, pool_id: int, keep: frozenset[str], now: datetime) -> None:
    rows = await db.scalars(
        select(PoolNumber).where(PoolNumber.pool_id == pool_id, PoolNumber.state != "retired")
    )
    for row in rows:
        if row.number not in keep:
            row.state, row.state_reason, row.state_changed_at = "retired", "removed from the pool", now
    await db.flush()


async def site_json(db: AsyncSession, site_id: str, now: datetime) -> dict[str, Any] | None:
    site = await db.get(TrackingSite, site_id)
    if site is None:
        return None
    pools = list(
        await db.scalars(
            select(TrackingPool)
            .where(TrackingPool.site_id == site_id, TrackingPool.retired_at.is_(None))
            .order_by(TrackingPool.id)
        )
    )
    numbers = list(
        await db.scalars(
            select(PoolNumber)
            .where(PoolNumber.pool_id.in_([p.id for p in pools]), PoolNumber.state != "retired")
            .order_by(PoolNumber.number)
        )
    )
    by_pool: dict[int, list[PoolNumber]] = {}
    for number in numbers:
        by_pool.setdefault(number.pool_id, []).append(number)
    return {
        "site": site.id,
        "origins": list(site.origins or ()),
        "hold_seconds": site.hold_seconds,
        "heartbeat_seconds": site.heartbeat_seconds,
        "max_lease_seconds": site.max_lease_seconds,
        "source_numbers": list(site.source_numbers or ()),
        "pools": [_pool_json(pool, by_pool.get(pool.id, []), now) for pool in pools],
        "created_at": site.created_at.isoformat(),
        "updated_at": site.updated_at.isoformat(),
    }


def _pool_json(pool: TrackingPool, numbers: list[PoolNumber], now: datetime) -> dict[str, Any]:
    return {
        "name": pool.name,
        "branch": pool.branch,
        "channel": pool.channel,
        "replaces": list(pool.replaces or ()),
        "fallback": pool.fallback,
        # In rotation or quarantined (a PUT of this object keeps them); retired numbers are left out.
        "numbers": [n.number for n in numbers],
        "number_states": [pool_number_json(n, now) for n in numbers],
    }


def pool_number_json(row: PoolNumber, now: datetime) -> dict[str, Any]:
    leased = row.leased_until is not None and row.leased_until > now
    return {
        "number": row.number,
        "state": row.state,
        "state_reason": row.state_reason,
        "state_changed_at": row.state_changed_at.isoformat() if row.state_changed_at else None,
        "leased": leased,
        "leased_until": row.leased_until.isoformat() if leased and row.leased_until else None,
    }


async def site_ids(db: AsyncSession) -> list[str]:
    return list(await db.scalars(select(TrackingSite.id).order_by(TrackingSite.id)))


# ---- static numbers -------------------------------------------------------------------------------


async def upsert_number(
    db: AsyncSession, number: str, wanted: StaticNumber, now: datetime
) -> tuple[TrackingNumber, bool]:
    await settings_lock(db)
    in_pool = await db.execute(
        select(TrackingPool.site_id, TrackingPool.name)
        .join(PoolNumber, PoolNumber.pool_id == TrackingPool.id)
        .where(PoolNumber.number == number, PoolNumber.state != "retired")
    )
    found = in_pool.first()
    if found is not None:
        raise Conflict(
            "number-in-pool",
            f"{number} is in pool {found.name!r} of site {found.site_id!r}; remove it there first",
            {"number": number, "site": found.site_id, "pool": found.name},
        )
    row = await db.get(TrackingNumber, number)
    created = row is None
    if row is None:
        row = TrackingNumber(number=number, created_at=now)
        db.add(row)
    row.name, row.branch, row.channel = wanted.name, wanted.branch, wanted.channel
    row.source, row.medium, row.campaign = wanted.source, wanted.medium, wanted.campaign
    row.content, row.term = wanted.content, wanted.term
    row.updated_at = now
    await db.flush()
    return row, created


def number_json(row: TrackingNumber) -> dict[str, Any]:
    return {
        "number": row.number,
        "name": row.name,
        "branch": row.branch,
        "channel": row.channel,
        "source": {
            "source": row.source,
            "medium": row.medium,
            "campaign": row.campaign,
            "content": row.content,
            "term": row.term,
        },
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


async def delete_number(db: AsyncSession, number: str) -> bool:
    await settings_lock(db)
    row = await db.get(TrackingNumber, number)
    if row is None:
        return False
    # Calls keep the source they were given (calls.source holds it whole).
    await db.delete(row)
    await db.flush()
    return True


# ---- quarantine -----------------------------------------------------------------------------------


async def set_pool_number_state(
    db: AsyncSession, number: str, state: str, reason: str | None, now: datetime
) -> PoolNumber:
    """Quarantine (``state`` "quarantined") or release ("active") a pool number."""
    await settings_lock(db)
    row = await db.get(PoolNumber, number)
    if row is None:
        raise NotFound(number)
    if row.state == "retired":
        raise Conflict(
            "number-retired",
            f"{number} was removed from its pool; add it to a pool again first",
            {"number": number},
        )
    if row.state != state:
        row.state, row.state_changed_at = state, now
    row.state_reason = reason if state == "quarantined" else None
    await db.flush()
    return row
