"""``GET /api/tracking/sites/{site}/health``: each pool's occupancy, overflows and recommended size.

The window is the last 30 days unless ``from``/``to`` say otherwise: days (``YYYY-MM-DD``, in the clinic's
time zone, both included) or ISO 8601 instants.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import case, func, select

from calltracking.local_dates import BadDay, local_midnight, parse_day
from calltracking.pool_health import LeaseSpan, PoolFacts, Window, pool_health
from kolokol.app_keys import CLOCK, SESSIONS, SETTINGS
from kolokol.auth.api_guard import requires
from kolokol.auth.roles import READ_TRACKING
from kolokol.http import query
from kolokol.http.errors import ApiError
from kolokol.http.json_response import json_response
from kolokol.storage.tables import Lease, PoolNumber, TrackingPool, TrackingSite

routes = web.RouteTableDef()
DEFAULT_WINDOW = timedelta(days=30)
# Every lease of the window is read: a bound keeps a year of a busy site from being read at once.
MAX_WINDOW = timedelta(days=62)
_MAX_SITE = 64
# Leases taken under an older, longer max_lease_seconds are still found.
_LONGEST_LEASE_FLOOR = timedelta(days=7)


def _edge(request: web.Request, name: str, zone: ZoneInfo, *, end: bool) -> datetime | None:
    value = request.query.get(name)
    if not value:
        return None
    if len(value) == 10:
        try:
            day = parse_day(value)
        except BadDay as exc:
            raise ApiError(400, "invalid-parameter", f"{name}: {exc}", {"parameter": name}) from None
        # A day given as "to" is included whole.
        return local_midnight(day + timedelta(days=1) if end else day, zone)
    return query.moment(request, name)


def window_of(request: web.Request, now: datetime, zone: ZoneInfo) -> Window:
    start = _edge(request, "from", zone, end=False)
    end = _edge(request, "to", zone, end=True)
    if end is None:
        end = now if start is None else start + DEFAULT_WINDOW
    if start is None:
        start = end - DEFAULT_WINDOW
    if start >= end:
        raise ApiError(400, "invalid-parameter", "from must be before to", {"parameter": "from"})
    if end - start > MAX_WINDOW:
        raise ApiError(
            400,
            "invalid-parameter",
            f"the window is at most {MAX_WINDOW.days} days",
            {"parameter": "from"},
        )
    return Window(start=start, end=end, now=now, zone=zone)


@routes.get("/api/tracking/sites/{site}/health")
@requires(READ_TRACKING)
async def site_health(request: web.Request) -> web.Response:
    site_id = request.match_info["site"]
    settings = request.app[SETTINGS].tracking
    zone = ZoneInfo(settings.timezone)
    now = request.app[CLOCK]()
    window = window_of(request, now, zone)
    async with request.app[SESSIONS]() as session:
        site = await session.get(TrackingSite, site_id) if len(site_id) <= _MAX_SITE else None
        if site is None:
            raise ApiError(
                404, "no-such-site", "no tracking site with this id", {"site": site_id[:_MAX_SITE]}
            )
        pools = (
            await session.scalars(
                select(TrackingPool)
                .where(TrackingPool.site_id == site_id, TrackingPool.retired_at.is_(None))
                .order_by(TrackingPool.name)
            )
        ).all()
        numbers = await session.execute(
            select(
                PoolNumber.pool_id,
                func.sum(case((PoolNumber.state == "active", 1), else_=0)),
                func.sum(case((PoolNumber.state == "quarantined", 1), else_=0)),
                func.sum(
                    case(
                        (PoolNumber.state != "retired", case((PoolNumber.leased_until > now, 1), else_=0)),
                        else_=0,
                    )
                ),
            )
            .where(PoolNumber.pool_id.in_([p.id for p in pools]))
            .group_by(PoolNumber.pool_id)
        )
        counts = {row[0]: tuple(int(v or 0) for v in row[1:]) for row in numbers}
        earliest = window.start - max(timedelta(seconds=site.max_lease_seconds), _LONGEST_LEASE_FLOOR)
        result = []
        for pool in pools:
            spans = await session.execute(
                select(Lease.started_at, Lease.ends_at, Lease.overflow).where(
                    Lease.pool_id == pool.id,
                    # A lease lasts at most the site's longest lease: this bound keeps the index scan to
                    # the window instead of the pool's whole history.
                    Lease.started_at >= earliest,
                    Lease.started_at < window.end,
                    Lease.ends_at > window.start,
                )
            )
            size, quarantined, leased_now = counts.get(pool.id, (0, 0, 0))
            facts = PoolFacts(
                id=pool.id,
                name=pool.name,
                branch=pool.branch,
                channel=pool.channel,
                fallback=pool.fallback,
                size=size,
                quarantined=quarantined,
                leased_now=leased_now,
            )
            leases = [LeaseSpan(s, e, bool(o)) for s, e, o in spans]
            result.append(pool_health(facts, leases, window, settings.overflow_target))
    return json_response(
        {
            "site": site_id,
            "from": _iso(window.start),
            "to": _iso(window.end),
            "timezone": settings.timezone,
            "target_overflow_share": settings.overflow_target,
            "pools": result,
        }
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
