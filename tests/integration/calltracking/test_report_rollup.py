"""The report's daily roll-up on SQLite and PostgreSQL: finished days are kept, and the database forgets a
kept day as soon as what it counted changes (a late call, a changed call, a task closed, a later answered
call), so the report always matches the calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select, update

from kolokol.app_keys import SESSIONS
from kolokol.storage.tables import Call, CallbackTask, ReportBuilt, ReportDay
from tests.support.clock import Clock
from tests.support.logins import Client, ClientMaker, start_app
from tests.support.tracking_reports import call, store, task, tokens

NOV_1 = datetime(2026, 10, 31, 21, 0, tzinfo=UTC)  # local midnight in Moscow
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # 30 November, 15:00 in Moscow
NOVEMBER = "group=source&from=2026-11-01&to=2026-11-30"


class Api:
    def __init__(self, app: web.Application, client: Client, tokens: dict[str, str], clock: Clock) -> None:
        self.app = app
        self.client = client
        self.tokens = tokens
        self.clock = clock

    async def rows(self, query: str = NOVEMBER) -> dict[str | None, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self.tokens['marketer']}"}
        async with self.client.get(f"/api/tracking/report?{query}", headers=headers) as resp:
            assert resp.status == 200
            body = await resp.json()
        self.totals = body["totals"]
        return {row["key"]: row for row in body["rows"]}

    async def kept_days(self) -> int:
        async with self.app[SESSIONS]() as session:
            return int(await session.scalar(select(func.count()).select_from(ReportBuilt)) or 0)

    async def change(self, statement: Any) -> None:
        async with self.app[SESSIONS].begin() as session:
            await session.execute(statement)


@pytest.fixture
async def api(db_url: str, aiohttp_client: ClientMaker) -> Api:
    clock = Clock(NOW)
    app, client = await start_app(db_url, aiohttp_client, clock)
    return Api(app, client, await tokens(app, "marketer"), clock)


async def test_finished_days_are_kept_and_a_late_call_is_counted(api: Api) -> None:
    await store(
        api.app, [call(NOV_1 + timedelta(days=3, hours=10)), call(NOW - timedelta(hours=2), source="google")]
    )
    assert (await api.rows())["yandex"]["calls"] == 1
    # 4–29 November (from the first call on) have finished; the 30th is still going on and is counted from
    # its calls each time.
    assert await api.kept_days() == 26
    async with api.app[SESSIONS]() as session:
        assert (await session.scalar(select(func.count()).select_from(ReportDay)) or 0) > 0
    # A call of 4 November arrives late (a replay, a late webhook): that day is forgotten, counted again.
    await store(api.app, [call(NOV_1 + timedelta(days=3, hours=11), caller="+79160000002")])
    assert await api.kept_days() == 25
    yandex = (await api.rows())["yandex"]
    assert (yandex["calls"], yandex["unique_callers"]) == (2, 2)
    assert await api.kept_days() == 26


async def test_todays_calls_count_at_once_and_are_not_kept(api: Api) -> None:
    await store(api.app, [call(NOV_1 + timedelta(days=28, hours=10))])
    await api.rows()
    assert await api.kept_days() == 1
    await store(api.app, [call(NOW - timedelta(minutes=5), source="google")])
    assert (await api.rows())["google"]["calls"] == 1
    assert await api.kept_days() == 1


async def test_a_changed_call_moves_between_groups(api: Api) -> None:
    stored = call(NOV_1 + timedelta(days=5))
    await store(api.app, [stored])
    assert set(await api.rows()) == {"yandex"}
    await api.change(update(Call).where(Call.id == stored.id).values(attr_source="google"))
    assert set(await api.rows()) == {"google"}


async def test_a_task_closed_later_makes_the_miss_reached(api: Api) -> None:
    missed_at = NOV_1 + timedelta(days=2, hours=9)
    open_task = task("+79160000011", missed_at, resolution=None, closed_at=None)
    await store(
        api.app, [open_task, call(missed_at, caller="+79160000011", status="missed", task=open_task.id)]
    )
    assert (await api.rows())["yandex"]["missed_then_reached"] == 0
    await api.change(
        update(CallbackTask)
        .where(CallbackTask.id == open_task.id)
        .values(status="done", resolution="reached", closed_at=missed_at + timedelta(minutes=12))
    )
    yandex = await api.rows()
    assert (yandex["yandex"]["missed_then_reached"], yandex["yandex"]["reached_median_minutes"]) == (1, 12.0)


async def test_a_later_answered_call_makes_an_earlier_miss_reached(api: Api) -> None:
    missed_at = NOV_1 + timedelta(days=2, hours=9)
    given_up = task(
        "+79160000012", missed_at, resolution="unreachable", closed_at=missed_at + timedelta(hours=2)
    )
    await store(
        api.app, [given_up, call(missed_at, caller="+79160000012", status="missed", task=given_up.id)]
    )
    assert (await api.rows())["yandex"]["missed_then_reached"] == 0
    # Ten days later the patient calls again (another source) and is answered.
    await store(api.app, [call(missed_at + timedelta(days=10), caller="+79160000012", source="google")])
    rows = await api.rows()
    assert rows["yandex"]["missed_then_reached"] == 1
    assert rows["yandex"]["reached_median_minutes"] == 10 * 24 * 60 + 0.0


async def test_unique_callers_are_exact_across_kept_days(api: Api) -> None:
    await store(
        api.app,
        [
            call(NOV_1 + timedelta(days=1), caller="+79160000001"),
            call(NOV_1 + timedelta(days=2), caller="+79160000001"),
            call(NOV_1 + timedelta(days=2), caller="+79160000002", source="google"),
            call(NOW - timedelta(hours=1), caller="+79160000001", source="google"),
        ],
    )
    rows = await api.rows()
    assert (rows["yandex"]["calls"], rows["yandex"]["unique_callers"]) == (2, 1)
    assert (rows["google"]["calls"], rows["google"]["unique_callers"]) == (2, 2)
    assert api.totals["unique_callers"] == 2
    again = await api.rows()
    assert again == rows
