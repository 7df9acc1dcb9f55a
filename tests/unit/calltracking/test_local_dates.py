"""Days in the clinic's time zone as UTC instants, and the stretches of one UTC offset SQLite uses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from calltracking.local_dates import BadDay, DayRange, local_midnight, offset_spans, parse_day

MOSCOW = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")


def test_a_moscow_month_begins_and_ends_at_local_midnight() -> None:
    november = DayRange(date(2026, 11, 1), date(2026, 11, 30), MOSCOW)
    assert november.start == datetime(2026, 10, 31, 21, tzinfo=UTC)
    assert november.end == datetime(2026, 11, 30, 21, tzinfo=UTC)
    assert november.days == 30


def test_a_day_when_clocks_change_is_23_or_25_hours() -> None:
    spring = DayRange(date(2026, 3, 29), date(2026, 3, 29), BERLIN)
    assert spring.end - spring.start == timedelta(hours=23)
    autumn = DayRange(date(2026, 10, 25), date(2026, 10, 25), BERLIN)
    assert autumn.end - autumn.start == timedelta(hours=25)


def test_a_skipped_midnight_begins_the_day_when_clocks_jump() -> None:
    # Chile moves its clocks at 00:00 to 01:00 in September: that day begins at 04:00 UTC.
    santiago = ZoneInfo("America/Santiago")
    start = local_midnight(date(2026, 9, 6), santiago)
    assert start.astimezone(santiago).hour == 1
    assert start == datetime(2026, 9, 6, 4, tzinfo=UTC)


def test_offset_spans_split_where_the_offset_changes() -> None:
    year = DayRange(date(2026, 1, 1), date(2026, 12, 31), BERLIN)
    spans = offset_spans(year.start, year.end, BERLIN)
    assert [s.offset for s in spans] == [timedelta(hours=1), timedelta(hours=2), timedelta(hours=1)]
    assert spans[1].start == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert spans[2].start == datetime(2026, 10, 25, 1, tzinfo=UTC)
    assert spans[0].start == year.start and spans[-1].end == year.end
    moscow = DayRange(date(2026, 1, 1), date(2026, 12, 31), MOSCOW)
    assert len(offset_spans(moscow.start, moscow.end, MOSCOW)) == 1


@pytest.mark.parametrize(
    "text", ["2026-13-01", "2026-02-29", "26-11-01", "2026-1-01", "1969-12-31", "2200-01-01", "٢٠٢٦-11-01"]
)
def test_bad_days(text: str) -> None:
    with pytest.raises(BadDay):
        parse_day(text)
