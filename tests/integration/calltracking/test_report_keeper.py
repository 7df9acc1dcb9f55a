"""The background roll-up: finished days are rolled up before any report asks, so the first report of a
year reads kept days instead of every call (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from calltracking.report_keeper import keep_rolled_up
from kolokol.app_keys import SESSIONS
from kolokol.storage.tables import ReportBuilt
from tests.support.clock import Clock
from tests.support.logins import ClientMaker, start_app
from tests.support.tracking_reports import call, store, tokens

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def test_finished_days_are_rolled_up_before_a_report_asks(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    app, client = await start_app(db_url, aiohttp_client, Clock(NOW))
    marketer = (await tokens(app, "marketer"))["marketer"]
    first = NOW - timedelta(days=200)
    await store(app, [call(first), call(NOW - timedelta(days=3), source="google"), call(NOW, source="vk")])

    await keep_rolled_up(app)

    async with app[SESSIONS]() as session:
        kept = set((await session.scalars(select(ReportBuilt.day))).all())
        count = await session.scalar(select(func.count()).select_from(ReportBuilt))
    # Every finished day from the first call on (today is still going on, so never kept).
    assert count == len(kept) == 200
    assert "2026-11-30" not in kept and "2026-11-29" in kept
    # A second round finds nothing left to do, and the report reads what was kept.
    await keep_rolled_up(app)
    async with app[SESSIONS]() as session:
        assert await session.scalar(select(func.count()).select_from(ReportBuilt)) == 200
    headers = {"Authorization": f"Bearer {marketer}"}
    async with client.get(
        "/api/tracking/report?group=source&from=2026-01-01&to=2026-11-30", headers=headers
    ) as resp:
        body = await resp.json()
    assert {row["key"]: row["calls"] for row in body["rows"]} == {"yandex": 1, "google": 1, "vk": 1}
