"""The call log's API as the manager's page and the CRM use it: each filter, filters combined, hostile
query strings, an operator limited to their own phones' calls (list, CSV, one call), and the CSV itself."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from aiohttp import web

from kolokol.app_keys import SESSIONS, SETTINGS
from kolokol.auth.tokens import create_token
from kolokol.calls.api import CSV_PAGE
from tests.support.call_log import LogCall, store_calls
from tests.support.clock import Clock
from tests.support.logins import Client, ClientMaker, add_user, log_in, start_app

LOG = [
    LogCall("a", caller="+79161111111", talk=95, operator="101", rang=("101",), branch="north",
            attribution={"source": "yandex", "channel": "paid", "campaign": "=cmd|' /C calc'!A0"},
            recording="ready", minutes=0),
    LogCall("b", caller="+79162222222", talk=None, operator=None, rang=("101", "102"), branch="north",
            minutes=10),
    LogCall("c", caller="+79163333333", talk=20, operator="102", rang=("102",), branch="south",
            attribution={"source": "google", "channel": "organic"}, recording="failed", minutes=20),
    LogCall("d", direction="outbound", caller="103", called="+79164444444", talk=300, operator="103",
            rang=(), branch="south", recording="purged", minutes=30),
    LogCall("e", direction="internal", caller="102", called="104", talk=10, operator="104", rang=("104",),
            minutes=40, recording="pending"),
    LogCall("f", caller="+79161111111", talk=30, operator="104", rang=("104",), minutes=50,
            caller_name="@SUM(1+1)*cmd", attribution={"source": "yandex", "channel": "paid"},
            recording="ready"),
]  # fmt: skip


class Log:
    def __init__(self, app: web.Application, client: Client, tokens: dict[str, str], ids: dict[str, str]):
        self.app = app
        self.client = client
        self.tokens = tokens
        self.ids = ids
        self.key_of = {call_id: key for key, call_id in ids.items()}

    async def get(self, path: str, role: str | None = "manager", **params: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        async with self.client.get(path, params=params, headers=headers) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.read()
            return resp.status, body

    async def keys(self, role: str | None = "manager", **params: Any) -> list[str]:
        status, body = await self.get("/api/calls", role, **params)
        assert status == 200, body
        return [self.key_of[item["id"]] for item in body["items"]]

    async def csv_rows(self, role: str | None = "manager", **params: Any) -> list[list[str]]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        async with self.client.get("/api/calls.csv", params=params, headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            assert resp.headers["Content-Type"].startswith("text/csv")
            assert "attachment" in resp.headers["Content-Disposition"]
            data = await resp.read()
        assert data.startswith(b"\xef\xbb\xbf"), "a BOM, so Excel reads UTF-8"
        return list(csv.reader(io.StringIO(data[3:].decode("utf-8"))))


@pytest.fixture
async def log(db_url: str, aiohttp_client: ClientMaker) -> Log:
    app, client = await start_app(db_url, aiohttp_client, Clock())
    tokens = {}
    async with app[SESSIONS].begin() as session:
        for role in ("admin", "manager", "marketer", "integration"):
            tokens[role] = await create_token(session, name=f"{role}-token", role=role)
    ids = await store_calls(app[SETTINGS], app[SESSIONS], LOG)
    return Log(app, client, tokens, ids)


async def test_newest_first_and_paging(log: Log) -> None:
    assert await log.keys() == ["f", "e", "d", "c", "b", "a"]
    status, body = await log.get("/api/calls", limit="2", offset="2")
    assert status == 200 and body["total"] == 6 and body["limit"] == 2 and body["offset"] == 2
    assert [log.key_of[i["id"]] for i in body["items"]] == ["d", "c"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"branch": "north"}, ["b", "a"]),
        ({"branch": "nowhere"}, []),
        ({"source": "yandex"}, ["f", "a"]),
        ({"source": "Organic"}, ["c"]),
        ({"has_recording": "true"}, ["f", "a"]),
        ({"has_recording": "false"}, ["e", "d", "c", "b"]),
        ({"min_duration": "30"}, ["f", "d", "a"]),
        ({"max_duration": "20"}, ["e", "c", "b"]),
        ({"min_duration": "20", "max_duration": "95"}, ["f", "c", "a"]),
        ({"direction": "outbound"}, ["d"]),
        ({"status": "missed"}, ["b"]),
        ({"operator": "104"}, ["f", "e"]),
        ({"number": "8 (916) 111-11-11"}, ["f", "a"]),
        ({"from": "2026-11-23T09:20:00Z", "to": "2026-11-23T09:40:00Z"}, ["d", "c"]),
    ],
)
async def test_each_filter(log: Log, params: dict[str, str], expected: list[str]) -> None:
    assert await log.keys(**params) == expected


async def test_filters_combined(log: Log) -> None:
    assert await log.keys(source="yandex", has_recording="true", min_duration="60") == ["a"]
    assert await log.keys(branch="south", status="answered", max_duration="100") == ["c"]
    assert await log.keys(branch="north", source="google") == []
    _, body = await log.get("/api/calls", source="yandex", limit="1")
    assert body["total"] == 2, "the total counts every match, not the page"


@pytest.mark.parametrize(
    "params",
    [
        {"has_recording": "maybe"},
        {"min_duration": "-1"},
        {"max_duration": "1e3"},
        {"min_duration": "9" * 400},
        {"min_duration": "60", "max_duration": "10"},
        {"branch": "x" * 101},
        {"source": "paid\x00"},
        {"direction": "sideways"},
        {"from": "yesterday"},
        {"limit": "0"},
        {"format": "xml"},
    ],
)
async def test_hostile_query_strings_are_refused_clearly(log: Log, params: dict[str, str]) -> None:
    # The CSV holds every match: paging and format are the JSON list's alone.
    paths = ["/api/calls"] if {"limit", "format"} & set(params) else ["/api/calls", "/api/calls.csv"]
    for path in paths:
        status, body = await log.get(path, **params)
        # A NUL byte is refused before any route reads it (invalid-text); the rest by the filters.
        assert status == 400 and body["error"] in ("invalid-parameter", "invalid-text"), body
        assert body["details"]["parameter"] in params


async def test_an_operator_reads_only_their_phones_calls(log: Log) -> None:
    await add_user(log.app, "olga", "operator", extensions=("102",))
    await log_in(log.client, "olga")
    # Rang on 102 (b), answered on 102 (c), made the internal call from 102 (e); not a, d or f.
    assert await log.keys(role=None) == ["e", "c", "b"]
    assert await log.keys(role=None, branch="north") == ["b"]
    rows = await log.csv_rows(role=None)
    assert sorted(row[0] for row in rows[1:]) == sorted(log.ids[k] for k in ("b", "c", "e"))
    status, body = await log.get(f"/api/calls/{log.ids['c']}", role=None)
    assert status == 200 and body["operator"] == "102"
    for other in ("a", "d", "f"):
        status, body = await log.get(f"/api/calls/{log.ids[other]}", role=None)
        assert (status, body["error"]) == (404, "no-such-call"), "not 403: whether it exists is not told"
    status, body = await log.get("/api/calls/nonexistent", role=None)
    assert (status, body["error"]) == (404, "no-such-call")


async def test_an_operator_without_phones_reads_no_calls(log: Log) -> None:
    await add_user(log.app, "new", "operator")
    await log_in(log.client, "new")
    assert await log.keys(role=None) == []
    assert len(await log.csv_rows(role=None)) == 1, "the header only"


async def test_supervisors_and_machines_read_every_call(log: Log) -> None:
    for role in ("admin", "manager", "integration", "marketer"):
        assert len(await log.keys(role=role)) == 6, role
    status, body = await log.get(f"/api/calls/{log.ids['d']}", role="manager")
    assert status == 200 and body["direction"] == "outbound"


async def test_csv_has_the_filtered_calls_in_the_clinics_time_with_formulas_neutralised(log: Log) -> None:
    rows = await log.csv_rows(source="yandex", lang="ru")
    assert rows[0][:4] == ["ID звонка", "Начало (Europe/Moscow)", "Направление", "Статус"]
    by_id = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert set(by_id) == {log.ids["a"], log.ids["f"]}
    a = by_id[log.ids["a"]]
    assert a["Начало (Europe/Moscow)"] == "2026-11-23 12:00:00", "09:00 UTC in Moscow"
    assert (a["Статус"], a["Разговор, с"], a["Филиал"], a["Источник"], a["Канал"]) == (
        "отвечен", "95", "north", "yandex", "paid",
    )  # fmt: skip
    assert a["Кампания"] == "'=cmd|' /C calc'!A0", "a formula is text in a spreadsheet"
    assert a["Запись"] == "есть"
    assert a["Кто звонил"] == "+79161111111", "a phone number stays a number"
    f = by_id[log.ids["f"]]
    assert f["Имя от АТС"] == "'@SUM(1+1)*cmd"
    same = await log.csv_rows(format="csv")
    assert same == await log.csv_rows(), "?format=csv on /api/calls is the same file"
    assert same[0][0] == "Call ID" and len(same) == 7


async def test_csv_pages_through_more_calls_than_one_page(db_url: str, aiohttp_client: ClientMaker) -> None:
    app, client = await start_app(db_url, aiohttp_client, Clock())
    async with app[SESSIONS].begin() as session:
        token = await create_token(session, name="m", role="manager")
    many = [LogCall(f"n{i}", minutes=i // 3) for i in range(CSV_PAGE + 7)]  # three calls share a minute
    ids = await store_calls(app[SETTINGS], app[SESSIONS], many)
    async with client.get("/api/calls.csv", headers={"Authorization": f"Bearer {token}"}) as resp:
        rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    listed = [row[0] for row in rows[1:]]
    assert len(listed) == len(set(listed)) == len(many), "every call once, none skipped at a page's edge"
    assert set(listed) == set(ids.values())
