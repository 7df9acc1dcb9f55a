"""Pool health over REST on SQLite and PostgreSQL: per pool its size, quarantined and leased numbers,
overflows in the window, occupancy and the recommended size; unknown sites, bad windows and roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from kolokol.app_keys import SESSIONS
from kolokol.storage.tables import PoolNumber
from tests.support.clock import Clock
from tests.support.logins import Client, ClientMaker, start_app
from tests.support.tracking_reports import lease, site_with_pool, store, tokens

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


class Api:
    def __init__(self, app: web.Application, client: Client, tokens: dict[str, str]) -> None:
        self.app = app
        self.client = client
        self.tokens = tokens

    async def get(self, path: str, role: str = "marketer") -> tuple[int, Any]:
        async with self.client.get(path, headers={"Authorization": f"Bearer {self.tokens[role]}"}) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def api(db_url: str, aiohttp_client: ClientMaker) -> Api:
    app, client = await start_app(db_url, aiohttp_client, Clock(NOW), tracking={"overflow_target": 0.01})
    return Api(app, client, await tokens(app, "marketer", "manager", "operator"))


async def test_a_busy_pool_is_told_how_many_numbers_to_add(api: Api) -> None:
    pool = await site_with_pool(api.app, "clinic-main", "center", 6, quarantined=2)
    rows = []
    for day in range(1, 11):
        # 60 visitors from 09:00 to 10:00 Moscow (06:00 UTC), 5 minutes each: 5 erlangs at the busy hour.
        begin = NOW - timedelta(days=day) - timedelta(hours=3, minutes=30)
        rows += [lease(pool, begin + timedelta(minutes=i), 300, overflow=i % 20 == 0) for i in range(60)]
    await store(api.app, rows)
    # Two numbers held right now.
    async with api.app[SESSIONS].begin() as session:
        numbers = (await session.scalars(select(PoolNumber).where(PoolNumber.pool_id == pool))).all()
        for number in numbers[:2]:
            number.leased_until = NOW + timedelta(minutes=3)
        # A number whose lease ran out a moment ago is free.
        numbers[2].leased_until = NOW - timedelta(seconds=1)

    status, body = await api.get("/api/tracking/sites/clinic-main/health")
    assert status == 200
    assert (body["site"], body["timezone"], body["target_overflow_share"]) == (
        "clinic-main",
        "Europe/Moscow",
        0.01,
    )
    assert body["to"] == "2026-12-01T09:30:00Z" and body["from"] == "2026-11-01T09:30:00Z"
    [center] = body["pools"]
    assert (center["pool"], center["size"], center["quarantined"], center["leased_now"]) == (
        "center",
        6,
        2,
        2,
    )
    assert (center["leases"], center["overflows"], center["overflow_share"]) == (600, 30, 0.05)
    assert center["mean_lease_seconds"] == 300.0
    assert center["peak"]["offered_load"] == 5.0
    assert (center["recommended_size"], center["verdict"], center["add"]) == (11, "add-numbers", 5)
    assert center["advice"]["en"].startswith("Add 5 numbers")
    assert center["advice"]["ru"].startswith("Добавьте 5 номеров")
    assert center["occupancy"]["interval"] == "hour"
    peaks = [p["peak_leased"] for p in center["occupancy"]["points"]]
    # Overflow rows hold no pool number: 57 of each hour's 60 leases, 5 minutes apiece, one a minute.
    assert max(peaks) == 5


async def test_a_new_site_has_not_enough_traffic_and_a_window_can_be_chosen(api: Api) -> None:
    pool = await site_with_pool(api.app, "new-site", "all", 3)
    await store(api.app, [lease(pool, NOW - timedelta(days=40), 200)])
    status, body = await api.get("/api/tracking/sites/new-site/health")
    [only] = body["pools"]
    assert (status, only["leases"], only["verdict"]) == (200, 0, "not-enough-traffic")
    assert "Not enough traffic" in only["advice"]["en"]
    status, body = await api.get("/api/tracking/sites/new-site/health?from=2026-10-20&to=2026-10-25")
    [only] = body["pools"]
    assert (status, only["leases"]) == (200, 1)
    assert body["from"] == "2026-10-19T21:00:00Z" and body["to"] == "2026-10-25T21:00:00Z"


@pytest.mark.parametrize(
    ("query", "slug"),
    [
        ("from=2026-11-30&to=2026-11-01", "invalid-parameter"),
        ("from=2026-01-01&to=2026-11-01", "invalid-parameter"),
        ("from=yesterday", "invalid-parameter"),
        ("to=2026-02-31", "invalid-parameter"),
        ("from=%00", "invalid-text"),
    ],
)
async def test_bad_windows_get_400(api: Api, query: str, slug: str) -> None:
    await site_with_pool(api.app, "clinic-main", "center", 2)
    status, body = await api.get(f"/api/tracking/sites/clinic-main/health?{query}")
    assert (status, body["error"]) == (400, slug)


async def test_unknown_sites_and_roles(api: Api) -> None:
    await site_with_pool(api.app, "clinic-main", "center", 2)
    status, body = await api.get("/api/tracking/sites/nope/health")
    assert (status, body["error"]) == (404, "no-such-site")
    status, body = await api.get("/api/tracking/sites/" + "x" * 500 + "/health")
    assert (status, body["error"]) == (404, "no-such-site")
    status, body = await api.get("/api/tracking/sites/clinic-main/health", "operator")
    assert (status, body["error"]) == (403, "forbidden")
    status, _ = await api.get("/api/tracking/sites/clinic-main/health", "manager")
    assert status == 200
