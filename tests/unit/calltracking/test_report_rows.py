"""The report's rows from what the database counted: medians from rounded delays, costs spread over the
days of a month, per-call costs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from calltracking.local_dates import DayRange
from calltracking.report_rows import (
    CallCounts,
    CostEntry,
    Reached,
    build_report,
    month_share,
    weighted_median,
)

NOVEMBER = DayRange(date(2026, 11, 1), date(2026, 11, 30), ZoneInfo("Europe/Moscow"))


def test_weighted_median() -> None:
    assert weighted_median([]) is None
    assert weighted_median([(5.0, 1)]) == 5.0
    assert weighted_median([(1.0, 2), (10.0, 1)]) == 1.0
    assert weighted_median([(1.0, 1), (3.0, 1)]) == 2.0
    assert weighted_median([(30.0, 3), (1.0, 1), (90.0, 2)]) == 30.0
    assert weighted_median([(2.0, 0), (7.0, 4)]) == 7.0


def test_month_share_counts_the_days_of_the_range_within_the_month() -> None:
    assert month_share("2026-11", NOVEMBER) == 1
    assert month_share("2026-10", NOVEMBER) == 0
    half = DayRange(date(2026, 11, 16), date(2026, 12, 15), NOVEMBER.zone)
    assert month_share("2026-11", half) == Decimal(15) / 30
    assert month_share("2026-12", half) == Decimal(15) / 31


def test_rows_get_reach_medians_costs_and_mixed_currencies_are_not_added() -> None:
    counts = {"yandex": CallCounts(10, 8, 3, 7, 3, 4), None: CallCounts(2, 2, 0, 2, 0, 1)}
    reached = [Reached("yandex", 12.5, 1), Reached("yandex", 40.0, 1)]
    costs = [
        CostEntry("2026-11", "", "yandex", "", "", Decimal("1000"), "RUB"),
        CostEntry("2026-11", "", "google", "", "", Decimal("50"), "USD"),
        CostEntry("2026-11", "", "google", "", "", Decimal("500"), "RUB"),
    ]
    report = build_report("source", counts, CallCounts(12, 9, 3, 9, 3, 5), reached, costs, NOVEMBER)
    rows = {row["key"]: row for row in report["rows"]}
    assert list(rows) == ["yandex", None, "google"]
    assert (rows["yandex"]["missed_then_reached"], rows["yandex"]["reached_median_minutes"]) == (2, 26.2)
    assert (rows["yandex"]["cost_per_call"], rows["yandex"]["cost_per_target_call"]) == (100.0, 250.0)
    assert (rows["google"]["cost"], rows["google"]["currency"]) == (None, "mixed")
    assert rows["google"]["cost_by_currency"] == {"RUB": 500.0, "USD": 50.0}
    assert rows[None]["cost"] is None
    assert report["totals"]["currency"] == "mixed"
