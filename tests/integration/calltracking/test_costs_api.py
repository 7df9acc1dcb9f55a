"""Costs over REST on SQLite and PostgreSQL: entered one or many at a time, replaced by key, removed,
imported from CSV all or nothing, listed by month; roles."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from tests.support.clock import Clock
from tests.support.logins import Client, ClientMaker, start_app
from tests.support.tracking_reports import tokens

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class Api:
    def __init__(self, app: web.Application, client: Client, tokens: dict[str, str]) -> None:
        self.app = app
        self.client = client
        self.tokens = tokens

    async def send(self, method: str, path: str, role: str = "marketer", **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}", **kw.pop("headers", {})}
        async with self.client.request(method, path, headers=headers, **kw) as resp:
            return resp.status, await resp.json()

    async def costs(self, query: str = "") -> list[dict[str, Any]]:
        status, body = await self.send("GET", f"/api/tracking/costs{query}")
        assert status == 200
        return list(body["costs"])


@pytest.fixture
async def api(db_url: str, aiohttp_client: ClientMaker) -> Api:
    app, client = await start_app(db_url, aiohttp_client, Clock(NOW))
    return Api(app, client, await tokens(app, "marketer", "manager", "admin", "operator"))


def brief(costs: list[dict[str, Any]]) -> list[tuple[str, str, str, float]]:
    return [(c["month"], c["source"], c["campaign"], c["amount"]) for c in costs]


async def test_costs_are_entered_replaced_by_key_removed_and_listed(api: Api) -> None:
    status, body = await api.send(
        "PUT",
        "/api/tracking/costs",
        json={
            "costs": [
                {"month": "2026-11", "source": "yandex", "campaign": "implants", "amount": 30000},
                {"month": "2026-11", "source": "google", "amount": "9000.5", "currency": "rub"},
                {"month": "2026-10", "source": "yandex", "amount": 100},
            ]
        },
    )
    assert (status, body) == (200, {"created": 3, "updated": 0, "removed": 0})
    status, body = await api.send(
        "PUT", "/api/tracking/costs", json={"month": "2026-11", "source": "google", "amount": 9500}
    )
    assert (status, body) == (200, {"created": 0, "updated": 1, "removed": 0})
    november = await api.costs("?from=2026-11&to=2026-11")
    assert brief(november) == [("2026-11", "google", "", 9500.0), ("2026-11", "yandex", "implants", 30000.0)]
    assert november[0]["currency"] == "RUB" and november[0]["updated_at"] == "2026-12-03T12:00:00Z"
    status, body = await api.send(
        "PUT", "/api/tracking/costs", json=[{"month": "2026-10", "source": "yandex", "amount": None}]
    )
    assert (status, body["removed"]) == (200, 1)
    assert brief(await api.costs("?from=2026-10-01")) == brief(november)
    status, _ = await api.send("GET", "/api/tracking/costs", "manager")
    assert status == 200


async def test_a_bad_row_changes_nothing(api: Api) -> None:
    status, body = await api.send(
        "PUT",
        "/api/tracking/costs",
        json=[{"month": "2026-11", "source": "yandex", "amount": 1}, {"month": "2026-11", "amount": "lots"}],
    )
    assert (status, body["error"]) == (400, "invalid-field")
    assert body["details"]["errors"] == [{"where": "costs[1].amount", "message": "amount must be a number"}]
    assert await api.costs() == []
    status, body = await api.send("PUT", "/api/tracking/costs", data=b"month=2026-11")
    assert (status, body["error"]) == (415, "unsupported-media-type")
    status, body = await api.send(
        "PUT", "/api/tracking/costs", data=b"[{", headers={"Content-Type": "application/json"}
    )
    assert (status, body["error"]) == (400, "invalid-json")


async def test_csv_import_all_or_nothing(api: Api) -> None:
    good = (
        "Месяц;Источник;Тип трафика;Кампания;Сумма\n"
        "11.2026;yandex;cpc;implants;12 000,50\n"
        "2026-11;vk;;;3000\n"
    )
    status, body = await api.send(
        "POST", "/api/tracking/costs/import", data=good.encode("cp1251"), headers={"Content-Type": "text/csv"}
    )
    assert (status, body) == (200, {"imported": 2, "created": 2, "updated": 0, "removed": 0})
    bad = "month,source,amount\n2026-11,yandex,5\n2026-11,google,-1\n"
    status, body = await api.send("POST", "/api/tracking/costs/import", data=bad.encode())
    assert (status, body["error"]) == (400, "invalid-csv")
    assert body["details"]["errors"] == [
        {"where": "line 3", "message": "amount must be a number, zero or more"}
    ]
    assert brief(await api.costs()) == [
        ("2026-11", "vk", "", 3000.0),
        ("2026-11", "yandex", "implants", 12000.5),
    ]
    # Importing the same file again replaces, never adds up.
    status, body = await api.send("POST", "/api/tracking/costs/import", data=good.encode("cp1251"))
    assert (status, body["updated"]) == (200, 2)
    status, body = await api.send(
        "POST", "/api/tracking/costs/import", data=io.BytesIO(b"x" * (6 * 1024 * 1024))
    )
    assert (status, body["error"]) == (413, "body-too-large")


@pytest.mark.parametrize("query", ["?from=2026-13", "?to=11.2026", "?from=2026-11&to=2026-10", "?from=%00"])
async def test_bad_month_parameters_get_400(api: Api, query: str) -> None:
    status, body = await api.send("GET", f"/api/tracking/costs{query}")
    assert status == 400 and body["error"] in ("invalid-parameter", "invalid-text")


async def test_only_admins_and_marketers_change_costs(api: Api) -> None:
    for role in ("manager", "operator"):
        status, body = await api.send(
            "PUT", "/api/tracking/costs", role, json={"month": "2026-11", "amount": 1}
        )
        assert (status, body["error"]) == (403, "forbidden")
        status, body = await api.send(
            "POST", "/api/tracking/costs/import", role, data=b"month;amount\n2026-11;1\n"
        )
        assert (status, body["error"]) == (403, "forbidden")
    status, body = await api.send("GET", "/api/tracking/costs", "operator")
    assert (status, body["error"]) == (403, "forbidden")
    status, _ = await api.send("PUT", "/api/tracking/costs", "admin", json={"month": "2026-11", "amount": 1})
    assert status == 200
