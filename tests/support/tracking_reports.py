"""Calls with their attribution filled in directly (as attribution would have), costs, sites with pools and
lease history: what the report, health and export tests build on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

from aiohttp import web

from kolokol.app_keys import SESSIONS
from kolokol.auth.tokens import create_token
from kolokol.storage.tables import (
    Call,
    CallbackTask,
    Lease,
    PoolNumber,
    TrackingCost,
    TrackingPool,
    TrackingSite,
)

CLINIC = "+74951110001"
_ids = count(1)


def call(
    started: datetime,
    *,
    caller: str = "+79161234567",
    source: str | None = "yandex",
    channel: str | None = "paid",
    status: str = "answered",
    talk: float = 120,
    direction: str = "inbound",
    first_time: bool = False,
    task: str | None = None,
    **attr: Any,
) -> Call:
    n = next(_ids)
    answered = started + timedelta(seconds=10) if status == "answered" else None
    ended = answered + timedelta(seconds=talk) if answered else started + timedelta(seconds=30)
    outside = caller if direction == "inbound" else attr.pop("called", caller)
    inbound = direction == "inbound"
    fields: dict[str, Any] = {
        "id": f"c{n:031d}",
        "pbx": "asterisk",
        "pbx_call_id": f"rep.{n}",
        "direction": direction,
        "caller": caller if inbound else "101",
        "caller_name": None,
        "called": attr.pop("called_number", CLINIC) if inbound else outside,
        "outside_number": outside,
        "status": status,
        "disposition": "answered" if status == "answered" else "no_answer",
        "missed_where": "ringing" if status == "missed" else None,
        "operator": "101" if answered else None,
        "answered_by": "101" if answered else None,
        "rang": ["101"],
        "transfers": [],
        "started_at": started,
        "answered_at": answered,
        "ended_at": ended,
        "closed_by_timeout": False,
        "first_time_caller": first_time,
        "contact_ids": [],
        "callback_task_id": task,
    }
    if inbound:
        fields.update(attr_kind="pool", attr_channel=channel, attr_source=source, attr_confidence=0.9)
        fields.update({f"attr_{k}": v for k, v in attr.items()})
    return Call(**fields)


def task(
    number: str, first_missed: datetime, *, resolution: str | None, closed_at: datetime | None
) -> CallbackTask:
    n = next(_ids)
    return CallbackTask(
        id=f"t{n:031d}",
        number=number,
        status="open" if resolution is None else "done",
        missed_calls=1,
        first_missed_at=first_missed,
        last_missed_at=first_missed,
        due_at=first_missed + timedelta(minutes=15),
        first_call_id="x",
        last_call_id="x",
        closed_at=closed_at,
        resolution=resolution,
        updated_at=closed_at or first_missed,
    )


def cost(month: str, amount: str, *, currency: str = "RUB", **key: str) -> TrackingCost:
    return TrackingCost(
        month=month,
        channel=key.get("channel", ""),
        source=key.get("source", ""),
        medium=key.get("medium", ""),
        campaign=key.get("campaign", ""),
        amount=Decimal(amount),
        currency=currency,
        updated_at=datetime(2026, 12, 1, tzinfo=UTC),
    )


async def store(app: web.Application, rows: Sequence[Any]) -> None:
    async with app[SESSIONS].begin() as session:
        # Tasks first: calls point at them.
        session.add_all([r for r in rows if isinstance(r, CallbackTask)])
        await session.flush()
        session.add_all([r for r in rows if not isinstance(r, CallbackTask)])


async def tokens(app: web.Application, *roles: str) -> dict[str, str]:
    made = {}
    async with app[SESSIONS].begin() as session:
        for role in roles:
            made[role] = await create_token(session, name=f"{role}-token", role=role)
    return made


async def site_with_pool(
    app: web.Application, site: str, pool: str, numbers: int, *, quarantined: int = 0, fallback: str = CLINIC
) -> int:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with app[SESSIONS].begin() as session:
        session.add(
            TrackingSite(
                id=site,
                origins=["https://clinic.example"],
                hold_seconds=300,
                heartbeat_seconds=30,
                max_lease_seconds=86400,
                source_numbers=[],
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        row = TrackingPool(
            site_id=site, name=pool, replaces=[CLINIC], fallback=fallback, created_at=now, updated_at=now
        )
        session.add(row)
        await session.flush()
        for i in range(numbers + quarantined):
            session.add(
                PoolNumber(
                    number=f"+7495222{row.id:02d}{i:02d}",
                    pool_id=row.id,
                    state="active" if i < numbers else "quarantined",
                )
            )
        return row.id


def lease(
    pool_id: int, start: datetime, seconds: float, *, overflow: bool = False, number: str = "+74952220000"
) -> Lease:
    n = next(_ids)
    return Lease(
        pool_id=pool_id,
        number=CLINIC if overflow else number,
        session_id=f"s{n}",
        overflow=overflow,
        started_at=start,
        confirmed_at=start,
        last_heartbeat_at=start,
        ends_at=start + timedelta(seconds=seconds),
    )
