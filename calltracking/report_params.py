"""Query parameters the reports, costs and exports share: a range of days in the clinic's time zone, and
whether the answer is wanted as CSV."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from calltracking.local_dates import BadDay, DayRange, parse_day, today
from kolokol.http import query
from kolokol.http.errors import ApiError

DEFAULT_DAYS = 30


def _day(request: web.Request, name: str) -> date | None:
    value = request.query.get(name)
    if not value:
        return None
    try:
        return parse_day(value)
    except BadDay as exc:
        raise ApiError(400, "invalid-parameter", f"{name}: {exc}", {"parameter": name}) from None


def day_range(
    request: web.Request, zone: ZoneInfo, now: datetime, *, max_days: int | None = None
) -> DayRange:
    """``from`` and ``to`` (YYYY-MM-DD, both included); without them the last 30 days up to today."""
    first = _day(request, "from")
    last = _day(request, "to")
    if last is None:
        last = today(now, zone) if first is None else max(first, today(now, zone))
    if first is None:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ApiError(400, "invalid-parameter", "from must not be after to", {"parameter": "from"})
    days = DayRange(first, last, zone)
    if max_days is not None and days.days > max_days:
        raise ApiError(400, "invalid-parameter", f"at most {max_days} days at once", {"parameter": "to"})
    return days


def wants_csv(request: web.Request) -> bool:
    """``?format=csv``, or ``Accept: text/csv`` without ``format``."""
    chosen = query.choice(request, "format", ("json", "csv"))
    if chosen is not None:
        return chosen == "csv"
    accept = request.headers.get("Accept", "")
    return any(part.split(";")[0].strip().lower() == "text/csv" for part in accept.split(","))


def csv_response(text: str, filename: str, *, bom: bool = True) -> web.Response:
    """A CSV download. The BOM makes Excel read a file for people as UTF-8 (Cyrillic sources and
    campaigns stay readable); files for machines (ad platforms) go without it."""
    return web.Response(
        body=(("\ufeff" if bom else "") + text).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
