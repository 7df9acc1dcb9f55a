"""Advertising costs per month and source: ``PUT /api/tracking/costs``, ``GET /api/tracking/costs`` and
``POST /api/tracking/costs/import`` (CSV). The report divides them by calls and target calls.

A change is all or nothing: one bad row (named with its field or line) and nothing is stored.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web
from sqlalchemy import delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from calltracking.cost_rows import MAX_CSV_BYTES, BadRows, CostRow, rows_from_csv, rows_from_json, valid_month
from kolokol.app_keys import CLOCK, SESSIONS
from kolokol.auth.api_guard import requires
from kolokol.auth.roles import MANAGE_TRACKING, READ_TRACKING
from kolokol.http.body import read_body
from kolokol.http.errors import MAX_JSON_BODY_BYTES, ApiError
from kolokol.http.json_response import json_response
from kolokol.storage.tables import TrackingCost
from kolokol.storage.write_lock import write_transaction
from pbx.untrusted import Unusable, load_json

routes = web.RouteTableDef()


def cost_json(row: TrackingCost) -> dict[str, Any]:
    return {
        "month": row.month,
        "channel": row.channel,
        "source": row.source,
        "medium": row.medium,
        "campaign": row.campaign,
        "amount": float(Decimal(row.amount)),
        "currency": row.currency,
        "updated_at": row.updated_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


async def _store(request: web.Request, rows: list[CostRow]) -> dict[str, int]:
    now: datetime = request.app[CLOCK]()

    async def work(session: AsyncSession) -> dict[str, int]:
        keys = [row.key for row in rows]
        found = await session.scalars(
            select(TrackingCost).where(
                tuple_(
                    TrackingCost.month,
                    TrackingCost.channel,
                    TrackingCost.source,
                    TrackingCost.medium,
                    TrackingCost.campaign,
                ).in_(keys)
            )
        )
        stored = {(c.month, c.channel, c.source, c.medium, c.campaign): c for c in found}
        counts = {"created": 0, "updated": 0, "removed": 0}
        for row in rows:
            existing = stored.get(row.key)
            if row.amount is None:
                if existing is not None:
                    await session.execute(delete(TrackingCost).where(TrackingCost.id == existing.id))
                    counts["removed"] += 1
                continue
            if existing is None:
                session.add(
                    TrackingCost(
                        month=row.month,
                        channel=row.channel,
                        source=row.source,
                        medium=row.medium,
                        campaign=row.campaign,
                        amount=row.amount,
                        currency=row.currency,
                        updated_at=now,
                    )
                )
                counts["created"] += 1
            else:
                existing.amount = row.amount
                existing.currency = row.currency
                existing.updated_at = now
                counts["updated"] += 1
        return counts

    return await write_transaction(request.app[SESSIONS], work)


def _refused(problems: BadRows, slug: str) -> ApiError:
    first = problems.problems[0]
    return ApiError(
        400,
        slug,
        f"{first.where}: {first.message}"
        + (f" (and {len(problems.problems) - 1} more)" if len(problems.problems) > 1 else ""),
        {"errors": [{"where": p.where, "message": p.message} for p in problems.problems[:100]]},
    )


@routes.put("/api/tracking/costs")
@requires(MANAGE_TRACKING)
async def put_costs(request: web.Request) -> web.Response:
    """One cost, a list, or ``{"costs": [...]}``; ``"amount": null`` removes the cost under that key."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported-media-type", "send application/json")
    raw = await read_body(request, MAX_JSON_BODY_BYTES)
    try:
        body = load_json(raw)
    except Unusable as exc:
        raise ApiError(400, "invalid-json", f"body is not usable JSON: {exc.message}") from None
    try:
        rows = rows_from_json(body)
    except BadRows as bad:
        raise _refused(bad, "invalid-field") from None
    counts = await _store(request, rows)
    return json_response(counts)


@routes.post("/api/tracking/costs/import")
@requires(MANAGE_TRACKING)
async def import_costs(request: web.Request) -> web.Response:
    """A CSV file as the body (``text/csv`` or any type): every row stored, or none."""
    data = await read_body(request, MAX_CSV_BYTES)
    try:
        rows = rows_from_csv(data)
    except BadRows as bad:
        raise _refused(bad, "invalid-csv") from None
    counts = await _store(request, rows)
    return json_response({"imported": len(rows), **counts})


def _month_param(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if not value:
        return None
    month = valid_month(value[:7]) if len(value) in (7, 10) else None
    if month is None:
        raise ApiError(
            400, "invalid-parameter", f"{name} must be YYYY-MM (or a day, YYYY-MM-DD)", {"parameter": name}
        )
    return month


@routes.get("/api/tracking/costs")
@requires(READ_TRACKING)
async def list_costs(request: web.Request) -> web.Response:
    """Costs of the months ``from`` … ``to`` (YYYY-MM, both included; either may be left out)."""
    first = _month_param(request, "from")
    last = _month_param(request, "to")
    if first and last and first > last:
        raise ApiError(400, "invalid-parameter", "from must not be after to", {"parameter": "from"})
    stmt = select(TrackingCost)
    if first:
        stmt = stmt.where(TrackingCost.month >= first)
    if last:
        stmt = stmt.where(TrackingCost.month <= last)
    stmt = stmt.order_by(
        TrackingCost.month,
        TrackingCost.channel,
        TrackingCost.source,
        TrackingCost.medium,
        TrackingCost.campaign,
    )
    async with request.app[SESSIONS]() as session:
        rows = (await session.scalars(stmt)).all()
    return json_response({"costs": [cost_json(r) for r in rows]})
