"""The marketers' REST API for static numbers, sites and pools on SQLite and PostgreSQL: upserts in any
spelling, conflicts between pools and static numbers, retiring instead of deleting, quarantine, roles and
validation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from kolokol.app_keys import SESSIONS
from kolokol.storage.tables import PoolNumber, TrackingPool
from tests.support.clock import Clock
from tests.support.logins import ClientMaker, start_app
from tests.support.tracking_sites import (
    CLINIC,
    ORIGIN,
    SITE,
    TrackingApi,
    pool_numbers,
    site_body,
    tracking_tokens,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def api(db_url: str, aiohttp_client: ClientMaker) -> TrackingApi:
    clock = Clock(NOW)
    app, client = await start_app(
        db_url,
        aiohttp_client,
        clock,
        tracking={"public_requests_per_minute": 100_000, "unconfirmed_per_address": 0},
    )
    tokens = await tracking_tokens(app, "admin", "marketer", "manager", "operator")
    return TrackingApi(app, client, tokens, clock)


async def test_a_static_number_in_any_spelling_is_created_then_updated(api: TrackingApi) -> None:
    body = {
        "name": "Billboard on Tverskaya",
        "branch": "center",
        "source": {"source": "billboard", "medium": "offline", "campaign": "spring-2027"},
    }
    status, created = await api.call("PUT", "/api/tracking/numbers/8 (495) 111-00-77", body)
    assert status == 201
    assert created["number"] == "+74951110077"
    assert created["channel"] == "offline"
    assert created["source"] == {
        "source": "billboard",
        "medium": "offline",
        "campaign": "spring-2027",
        "content": None,
        "term": None,
    }
    status, updated = await api.call(
        "PUT", "/api/tracking/numbers/+74951110077", {**body, "name": "Billboard 2"}
    )
    assert (status, updated["name"]) == (200, "Billboard 2")
    status, listed = await api.call("GET", "/api/tracking/numbers", role="manager")
    assert (status, [item["number"] for item in listed["items"]]) == (200, ["+74951110077"])
    assert (await api.call("DELETE", "/api/tracking/numbers/84951110077"))[0] == 204
    status, gone = await api.call("DELETE", "/api/tracking/numbers/84951110077")
    assert (status, gone["error"]) == (404, "no-such-number")


async def test_a_site_is_created_then_replaced_and_shows_each_numbers_state(api: TrackingApi) -> None:
    body = site_body(["8 495 111-00-20", "+7 (495) 111-00-21"], max_lease_seconds=7200)
    body["pools"][0]["branch"] = "center"
    status, created = await api.put_site(body=body)
    assert status == 201
    assert created["origins"] == [ORIGIN]
    assert (created["hold_seconds"], created["heartbeat_seconds"], created["max_lease_seconds"]) == (
        300,
        30,
        7200,
    )
    [pool] = created["pools"]
    assert (pool["name"], pool["branch"], pool["replaces"], pool["fallback"]) == (
        "center",
        "center",
        [CLINIC],
        CLINIC,
    )
    assert pool["numbers"] == ["+74951110020", "+74951110021"]
    assert [s["state"] for s in pool["number_states"]] == ["active", "active"]
    assert [s["leased"] for s in pool["number_states"]] == [False, False]

    page = await api.open()
    status, shown = await api.call("GET", f"/api/tracking/sites/{SITE}", role="manager")
    assert status == 200
    leased = {s["number"]: s["leased"] for s in shown["pools"][0]["number_states"]}
    assert leased == {page["numbers"][CLINIC]: True} | {
        n: False for n in leased if n != page["numbers"][CLINIC]
    }

    status, replaced = await api.put_site(body=site_body(["+74951110021", "+74951110022"]))
    assert status == 200
    assert replaced["pools"][0]["numbers"] == ["+74951110021", "+74951110022"]
    async with api.app[SESSIONS]() as db:
        states = {
            row.number: row.state for row in await db.execute(select(PoolNumber.number, PoolNumber.state))
        }
    assert states == {"+74951110020": "retired", "+74951110021": "active", "+74951110022": "active"}
    status, listed = await api.call("GET", "/api/tracking/sites")
    assert (status, [item["site"] for item in listed["items"]]) == (200, [SITE])


async def test_a_pool_left_out_is_retired_and_comes_back_by_name(api: TrackingApi) -> None:
    two = site_body(
        [],
        pools=[
            {"name": "center", "replaces": [CLINIC], "numbers": pool_numbers(2)},
            {"name": "north", "replaces": ["+74951110002"], "numbers": pool_numbers(2, first=40)},
        ],
    )
    await api.put_site(body=two)
    _, one = await api.put_site(body={**two, "pools": two["pools"][:1]})
    assert [p["name"] for p in one["pools"]] == ["center"]
    async with api.app[SESSIONS]() as db:
        north = await db.scalar(select(TrackingPool).where(TrackingPool.name == "north"))
        assert north is not None and north.retired_at == NOW
        north_id = north.id
    assert (await api.open())["numbers"].keys() == {CLINIC}
    _, back = await api.put_site(body=two)
    assert [p["name"] for p in back["pools"]] == ["center", "north"]
    async with api.app[SESSIONS]() as db:
        again = await db.scalar(select(TrackingPool).where(TrackingPool.name == "north"))
        assert again is not None and (again.id, again.retired_at) == (north_id, None)
    assert back["pools"][1]["numbers"] == pool_numbers(2, first=40)


async def test_a_number_serves_one_pool_and_is_not_static_at_once(api: TrackingApi) -> None:
    await api.put_site(body=site_body(pool_numbers(2)))
    other = site_body(pool_numbers(1, first=21), origins=["https://other.example"])
    status, refused = await api.put_site("other-site", other)
    assert (status, refused["error"]) == (409, "number-in-another-pool")
    assert refused["details"] == {"number": "+74951110021", "site": SITE, "pool": "center"}

    status, refused = await api.call("PUT", "/api/tracking/numbers/+74951110020", {"name": "x"})
    assert (status, refused["error"]) == (409, "number-in-pool")

    await api.call("PUT", "/api/tracking/numbers/+74951110077", {"name": "leaflet"})
    status, refused = await api.put_site(body=site_body(["+74951110077"]))
    assert (status, refused["error"], refused["details"]) == (
        409,
        "number-is-static",
        {"number": "+74951110077"},
    )

    both = site_body(
        [],
        pools=[
            {"name": "a", "replaces": [CLINIC], "numbers": ["+74951110030"]},
            {"name": "b", "replaces": [CLINIC], "numbers": ["+74951110030"]},
        ],
    )
    status, refused = await api.put_site(body=both)
    assert (status, refused["error"]) == (409, "number-in-another-pool")
    # Refused settings change nothing.
    status, kept = await api.call("GET", f"/api/tracking/sites/{SITE}")
    assert kept["pools"][0]["numbers"] == pool_numbers(2)


async def test_a_number_removed_from_one_site_may_join_another(api: TrackingApi) -> None:
    await api.put_site(body=site_body(pool_numbers(2)))
    await api.put_site(body=site_body(pool_numbers(1)))
    status, other = await api.put_site("other-site", site_body(pool_numbers(1, first=21)))
    assert status == 201
    assert other["pools"][0]["numbers"] == ["+74951110021"]


async def test_concurrent_sites_claiming_one_number_one_wins(api: TrackingApi) -> None:
    answers = await asyncio.gather(
        *(
            api.put_site(f"site-{n}", site_body(pool_numbers(1), origins=[f"https://s{n}.example"]))
            for n in range(6)
        )
    )
    assert sorted(status for status, _ in answers) == [201] + [409] * 5


async def test_quarantine_and_release(api: TrackingApi) -> None:
    numbers = pool_numbers(2)
    await api.put_site(body=site_body(numbers))
    status, item = await api.call(
        "POST", f"/api/tracking/pool-numbers/{numbers[0]}/quarantine", {"reason": "spam calls"}
    )
    assert (status, item["state"], item["state_reason"]) == (200, "quarantined", "spam calls")
    status, shown = await api.call("GET", f"/api/tracking/sites/{SITE}")
    assert shown["pools"][0]["numbers"] == numbers  # kept in the settings: a PUT of them keeps it quarantined
    await api.put_site(body=site_body(numbers))
    assert [
        s["state"]
        for s in (await api.call("GET", f"/api/tracking/sites/{SITE}"))[1]["pools"][0]["number_states"]
    ] == [
        "quarantined",
        "active",
    ]
    status, item = await api.call("POST", f"/api/tracking/pool-numbers/{numbers[0]}/release")
    assert (status, item["state"], item["state_reason"]) == (200, "active", None)
    status, missing = await api.call("POST", "/api/tracking/pool-numbers/+74951119999/quarantine", {})
    assert (status, missing["error"]) == (404, "no-such-pool-number")
    await api.put_site(body=site_body(numbers[1:]))
    status, retired = await api.call("POST", f"/api/tracking/pool-numbers/{numbers[0]}/quarantine", {})
    assert (status, retired["error"]) == (409, "number-retired")


def _pool(**fields: Any) -> dict[str, Any]:
    return {"pools": [{"name": "a", "replaces": [CLINIC], "numbers": [], **fields}]}


def _source(**fields: Any) -> dict[str, Any]:
    return {"source_numbers": [{"number": "+74951110090", "replaces": [CLINIC], **fields}]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"origins": ["https://clinic.example/path"]}, "origins[0]"),
        ({"origins": "https://clinic.example"}, "origins"),
        ({"hold_seconds": 5}, "hold_seconds"),
        ({"hold_seconds": "300"}, "hold_seconds"),
        ({"heartbeat_seconds": 300}, "heartbeat_seconds"),
        ({"max_lease_seconds": 100}, "max_lease_seconds"),
        ({"pools": [{"replaces": [CLINIC], "numbers": []}]}, "pools[0].name"),
        (_pool(replaces=[]), "pools[0].replaces"),
        (_pool(numbers=["+7495111002x"]), "pools[0].numbers[0]"),
        (_pool(numbers=["84951110020", "+74951110020"]), "pools[0].numbers[1]"),
        (_pool(numbers=["+74951110020"], fallback="84951110020"), "pools[0].fallback"),
        (_pool(channel="tv"), "pools[0].channel"),
        (
            {"pools": [{"name": "a", "replaces": [CLINIC]}, {"name": "a", "replaces": [CLINIC]}]},
            "pools[1].name",
        ),
        (_source(match={"utm": "x"}), "source_numbers[0].match.utm"),
        (_source(number="x"), "source_numbers[0].number"),
    ],
)
async def test_bad_site_settings_name_the_field_and_change_nothing(
    api: TrackingApi, change: dict[str, Any], field: str
) -> None:
    status, answer = await api.put_site(body={**site_body(pool_numbers(1)), **change})
    assert (status, answer["error"], answer["details"]) == (400, "invalid-field", {"field": field})
    status, _ = await api.call("GET", f"/api/tracking/sites/{SITE}")
    assert status == 404


async def test_bad_paths_and_bodies(api: TrackingApi) -> None:
    status, answer = await api.call("PUT", "/api/tracking/sites/-bad key", site_body([]))
    assert (status, answer["details"]) == (400, {"field": "site"})
    status, answer = await api.call("PUT", "/api/tracking/numbers/not-a-number", {})
    assert (status, answer["details"]) == (400, {"field": "number"})
    status, answer = await api.call("PUT", "/api/tracking/numbers/+74951110077", {"channel": "tv"})
    assert (status, answer["details"]) == (400, {"field": "channel"})
    status, answer = await api.call("PUT", "/api/tracking/numbers/+74951110077", {"source": {"campaign": 5}})
    assert (status, answer["details"]) == (400, {"field": "source.campaign"})
    status, answer = await api.call("GET", "/api/tracking/sites/nowhere")
    assert (status, answer["error"]) == (404, "no-such-site")


@pytest.mark.parametrize(
    ("method", "path", "role", "expected"),
    [
        ("PUT", f"/api/tracking/sites/{SITE}", "manager", 403),
        ("PUT", f"/api/tracking/sites/{SITE}", "admin", 201),
        ("GET", "/api/tracking/sites", "operator", 403),
        ("GET", "/api/tracking/sites", "manager", 200),
        ("PUT", "/api/tracking/numbers/+74951110077", "operator", 403),
        ("GET", "/api/tracking/numbers", "operator", 403),
        ("POST", "/api/tracking/pool-numbers/+74951110020/quarantine", "manager", 403),
    ],
)
async def test_roles(api: TrackingApi, method: str, path: str, role: str, expected: int) -> None:
    body = site_body(pool_numbers(1)) if "sites/" in path else {} if method != "GET" else None
    status, _ = await api.call(method, path, body, role=role)
    assert status == expected
    async with api.client.request(method, path, json=body) as resp:
        assert resp.status == 401
