"""Days in the clinic's time zone: a report's "1 to 30 November" as the UTC instants the database holds.

Pure. A day begins at local midnight; a range of days is inclusive of both ends, so it ends at the local
midnight after its last day. Where the zone changed its offset (daylight saving, a law), the day's length
follows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# Far enough either way for any clinic's history, and inside what every database and datetime can hold.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2199, 12, 31)


class BadDay(ValueError):
    """Not a day in the form YYYY-MM-DD within FIRST_DAY … LAST_DAY."""


def parse_day(text: str) -> date:
    if not _DAY.fullmatch(text):
        raise BadDay("a day is written YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadDay("no such day in the calendar") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadDay(f"a day from {FIRST_DAY} to {LAST_DAY}")
    return day


@dataclass(frozen=True, slots=True)
class DayRange:
    """Days `first` to `last`, both included, in `zone`."""

    first: date
    last: date
    zone: ZoneInfo

    @property
    def start(self) -> datetime:
        """The first day's local midnight, in UTC."""
        return local_midnight(self.first, self.zone)

    @property
    def end(self) -> datetime:
        """The local midnight after the last day, in UTC (excluded)."""
        return local_midnight(self.last + timedelta(days=1), self.zone)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant (UTC) a local day begins. Where midnight itself was skipped (a zone moving its clocks
    forward at 00:00), the day begins when the clocks jump: a skipped wall time with fold=0 is read with
    the offset from before the jump (PEP 495), which is that instant; a midnight that happens twice
    begins the day at the first."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def today(now: datetime, zone: ZoneInfo) -> date:
    return local_day(now, zone)


@dataclass(frozen=True, slots=True)
class OffsetSpan:
    """From `start` (UTC, included) to `end` (excluded) the zone is `offset` ahead of UTC."""

    start: datetime
    end: datetime
    offset: timedelta


def offset_spans(start: datetime, end: datetime, zone: ZoneInfo) -> list[OffsetSpan]:
    """The stretches of [start, end) within which the zone's UTC offset stays the same (one for most
    ranges; two more a year where clocks change), so a database can turn instants into local days by
    adding one fixed offset per stretch."""
    if end <= start:
        return []
    spans: list[OffsetSpan] = []
    span_start = start
    offset = _offset(start, zone)
    probe = start
    # Offsets change at most once a day in every zone there is: a daily probe finds each change, a
    # bisection finds its second.
    while probe < end:
        following = min(probe + timedelta(days=1), end)
        next_offset = _offset(following, zone) if following < end else offset
        if next_offset != offset:
            change = _first_change(probe, following, offset, zone)
            spans.append(OffsetSpan(span_start, change, offset))
            span_start, offset = change, _offset(change, zone)
        probe = following
    spans.append(OffsetSpan(span_start, end, offset))
    return spans


def _offset(moment: datetime, zone: ZoneInfo) -> timedelta:
    return moment.astimezone(zone).utcoffset() or timedelta(0)


def _first_change(low: datetime, high: datetime, offset: timedelta, zone: ZoneInfo) -> datetime:
    """The first second in (low, high] whose offset differs from `offset` (at low it is `offset`)."""
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle <= low:
            middle = low + timedelta(seconds=1)
        if _offset(middle, zone) == offset:
            low = middle
        else:
            high = middle
    return high
