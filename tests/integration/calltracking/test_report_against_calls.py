"""The report (rolled-up days and today's calls alike) against the same figures counted plainly from a few
hundred random calls, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from kolokol.storage.tables import Call
from tests.support.clock import Clock
from tests.support.logins import Client, ClientMaker, start_app
from tests.support.tracking_reports import call, store, tokens

NOV_1 = datetime(2026, 10, 31, 21, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)  # the 30th is not over: counted from its calls
TARGET = 60


def plain_figures(calls: list[Call]) -> dict[str | None, dict[str, Any]]:
    rows: dict[str | None, dict[str, Any]] = defaultdict(
        lambda: {
            "calls": 0,
            "callers": set(),
            "first": 0,
            "answered": 0,
            "missed": 0,
            "target": 0,
            "reached": 0,
        }
    )
    # Calls with the number begun after a miss and answered: when they were answered.
    answered: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for c in calls:
        if c.status == "answered":
            number = c.caller if c.direction == "inbound" else c.called
            answered[number].append((c.started_at, c.answered_at or c.started_at))
    for c in calls:
        if c.direction != "inbound" or not NOV_1 <= c.started_at < NOV_1 + timedelta(days=30):
            continue
        row = rows[c.attr_source]
        row["calls"] += 1
        row["callers"].add(c.caller)
        row["first"] += c.first_time_caller
        if c.status == "answered":
            row["answered"] += 1
            assert c.answered_at is not None
            row["target"] += (c.ended_at - c.answered_at).total_seconds() >= TARGET
        if c.status == "missed":
            row["missed"] += 1
            later = [at for began, at in answered[c.caller] if began > c.started_at]
            row["reached"] += bool(later) and min(later) <= c.started_at + timedelta(days=30)
    return rows


@pytest.fixture
async def api(db_url: str, aiohttp_client: ClientMaker) -> tuple[web.Application, Client, dict[str, str]]:
    app, client = await start_app(
        db_url, aiohttp_client, Clock(NOW), tracking={"target_call_seconds": TARGET}
    )
    return app, client, await tokens(app, "marketer")


async def test_the_report_matches_the_calls_counted_plainly(
    api: tuple[web.Application, Client, dict[str, str]],
) -> None:
    app, client, made = api
    rng = random.Random(20261130)  # noqa: S311 - reproducible calls, not a secret
    callers = [f"+7916{n:07d}" for n in range(40)]
    calls = []
    for _ in range(400):
        at = NOV_1 - timedelta(days=2) + timedelta(seconds=rng.uniform(0, 33 * 86400))
        at = min(at, NOW - timedelta(minutes=5))
        status = rng.choice(["answered", "answered", "missed"])
        calls.append(
            call(
                at,
                caller=rng.choice(callers),
                source=rng.choice(["yandex", "google", "vk", None]),
                status=status,
                talk=rng.choice([5, 59, 60, 61, 300]),
                direction=rng.choice(["inbound"] * 5 + ["outbound"]),
                first_time=rng.random() < 0.2,
            )
        )
    await store(app, calls)
    expected = plain_figures(calls)
    headers = {"Authorization": f"Bearer {made['marketer']}"}
    for _ in range(2):  # rolling the days up, then reading them back
        async with client.get(
            "/api/tracking/report?group=source&from=2026-11-01&to=2026-11-30", headers=headers
        ) as resp:
            body = await resp.json()
        got = {row["key"]: row for row in body["rows"]}
        assert set(got) == set(expected)
        for key, want in expected.items():
            row = got[key]
            assert (
                row["calls"],
                row["unique_callers"],
                row["first_time_callers"],
                row["answered"],
                row["missed"],
                row["target_calls"],
                row["missed_then_reached"],
            ) == (
                want["calls"],
                len(want["callers"]),
                want["first"],
                want["answered"],
                want["missed"],
                want["target"],
                want["reached"],
            ), key
        everyone = set().union(*(want["callers"] for want in expected.values()))
        assert body["totals"]["unique_callers"] == len(everyone)
