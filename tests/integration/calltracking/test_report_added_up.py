"""The report's figures over a range (rolled-up days added up in one read, on PostgreSQL by the database)
against the same days read one by one and added up here, and unique callers against the calls themselves:
every grouping, over rolled-up days, forgotten days and days still going on, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from calltracking.local_dates import DayRange
from calltracking.report_days import (
    GROUPINGS,
    Settings,
    all_callers,
    all_reached,
    ensure_rolled_up,
    figures_by_day,
)
from calltracking.reports import ReportQuery, report_figures
from kolokol.storage.engine import make_sessionmaker
from kolokol.storage.tables import Call, ReportBuilt
from tests.support.tracking_reports import call

ZONE = ZoneInfo("Europe/Moscow")
OCT_1 = datetime(2026, 9, 30, 21, 0, tzinfo=UTC)  # local midnight
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # the 30th is still going on: counted from its calls
DAYS = DayRange(date(2026, 10, 1), date(2026, 11, 30), ZONE)
TARGET = 60
# Days forgotten after the roll-up (as a late call would make them): counted from their calls.
FORGOTTEN = ("2026-10-05", "2026-10-06", "2026-11-12")


def varied_calls(rng: random.Random) -> list[Call]:
    """Callers calling again across days and groups, missing and being reached later, unset groups."""
    callers = [f"+7916{n:07d}" for n in range(60)]
    calls = []
    for _ in range(900):
        at = min(OCT_1 + timedelta(seconds=rng.uniform(0, 61 * 86400)), NOW - timedelta(minutes=5))
        calls.append(
            call(
                at,
                caller=rng.choice(callers),
                source=rng.choice(["yandex", "google", "vk", None]),
                channel=rng.choice(["paid", "organic", None]),
                status=rng.choice(["answered", "answered", "missed"]),
                talk=rng.choice([5, 59, 60, 61, 300]),
                direction=rng.choice(["inbound"] * 6 + ["outbound"]),
                first_time=rng.random() < 0.2,
                medium=rng.choice(["cpc", "organic", None]),
                campaign=rng.choice([f"campaign {i}" for i in range(8)] + [None]),
                term=rng.choice([f"term {i}" for i in range(30)] + [None]),
                landing_page=rng.choice(["https://clinic.example/", "https://clinic.example/kids", None]),
                tracking_number=rng.choice(["+74952220001", "+74952220002", None]),
                pool=rng.choice(["center", None]),
                branch=rng.choice(["center", "north", None]),
            )
        )
    return calls


async def test_the_range_added_up_matches_its_days_one_by_one(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    calls = varied_calls(random.Random(20261203))  # noqa: S311 - reproducible calls, not a secret
    async with sessions.begin() as session:
        session.add_all(calls)
    settings = Settings(ZONE, TARGET)
    await ensure_rolled_up(sessions, settings, DAYS, NOW)
    async with sessions.begin() as session:
        await session.execute(delete(ReportBuilt).where(ReportBuilt.day.in_(FORGOTTEN)))
    inbound = [c for c in calls if c.direction == "inbound"]
    for grouping in GROUPINGS:
        async with sessions() as session:
            by_day = await figures_by_day(session, settings, grouping, DAYS)
        expected_sums: dict[str | None, Counter[str]] = defaultdict(Counter)
        expected_callers: dict[str | None, set[int]] = defaultdict(set)
        expected_reached: dict[str | None, Counter[float]] = defaultdict(Counter)
        for groups in by_day.values():
            for key, f in groups.items():
                expected_sums[key].update(
                    calls=f.calls,
                    first=f.first_time_callers,
                    answered=f.answered,
                    missed=f.missed,
                    target=f.target_calls,
                )
                expected_callers[key] |= all_callers(f)
                expected_reached[key].update(all_reached(f))

        per_group, total, reached = await report_figures(sessions, ReportQuery(grouping, DAYS, TARGET), NOW)

        assert set(per_group) == set(expected_sums), grouping
        for key, counts in per_group.items():
            want = expected_sums[key]
            assert (
                counts.calls,
                counts.first_time_callers,
                counts.answered,
                counts.missed,
                counts.target_calls,
                counts.unique_callers,
            ) == (
                want["calls"],
                want["first"],
                want["answered"],
                want["missed"],
                want["target"],
                len(expected_callers[key]),
            ), (grouping, key)
            # The callers themselves, straight from the calls.
            column = GROUPINGS[grouping].key
            numbers = {c.caller for c in inbound if getattr(c, column) == key}
            assert counts.unique_callers == len(numbers), (grouping, key)
        got_reached: dict[str | None, Counter[float]] = defaultdict(Counter)
        for r in reached:
            got_reached[r.key][r.minutes] += r.calls
        assert {k: +v for k, v in got_reached.items()} == {
            k: +v for k, v in expected_reached.items() if +v
        }, grouping
        assert total.calls == len(inbound)
        assert total.unique_callers == len({c.caller for c in inbound})
        assert total.missed == sum(c.status == "missed" for c in inbound)
