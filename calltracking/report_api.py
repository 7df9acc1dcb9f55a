"""``GET /api/tracking/report`` (JSON or CSV) and ``GET /api/tracking/report/series`` (for charts)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from calltracking import reports
from calltracking.csv_safe import Cell, csv_text
from calltracking.report_params import csv_response, day_range, wants_csv
from calltracking.report_rows import INTERVALS, buckets, build_report, build_series
from calltracking.reports import GROUPS, ReportQuery
from kolokol.app_keys import CLOCK, SESSIONS, SETTINGS
from kolokol.auth.api_guard import requires
from kolokol.auth.roles import READ_TRACKING
from kolokol.http import query
from kolokol.http.errors import ApiError
from kolokol.http.json_response import json_response

routes = web.RouteTableDef()
GROUP_NAMES = tuple(GROUPS)
# A chart has no use for more points (eight years day by day, any range month by month).
MAX_BUCKETS = 3000

COLUMNS = (
    "calls",
    "unique_callers",
    "first_time_callers",
    "answered",
    "missed",
    "missed_then_reached",
    "reached_median_minutes",
    "target_calls",
    "leads",
    "bookings",
    "revenue",
    "cost",
    "currency",
    "cost_per_call",
    "cost_per_target_call",
)
_HEADERS = {
    "en": {
        "calls": "Calls",
        "unique_callers": "Unique callers",
        "first_time_callers": "First-time callers",
        "answered": "Answered",
        "missed": "Missed",
        "missed_then_reached": "Missed, then reached",
        "reached_median_minutes": "Reached in (median, min)",
        "target_calls": "Target calls",
        "leads": "Leads",
        "bookings": "Bookings",
        "revenue": "Revenue",
        "cost": "Cost",
        "currency": "Currency",
        "cost_per_call": "Cost per call",
        "cost_per_target_call": "Cost per target call",
    },
    "ru": {
        "calls": "Звонки",
        "unique_callers": "Уникальные звонящие",
        "first_time_callers": "Первичные",
        "answered": "Принятые",
        "missed": "Пропущенные",
        "missed_then_reached": "Пропущенные, затем дозвонились",
        "reached_median_minutes": "Дозвонились через (медиана, мин)",
        "target_calls": "Целевые",
        "leads": "Лиды",
        "bookings": "Записи",
        "revenue": "Выручка",
        "cost": "Расходы",
        "currency": "Валюта",
        "cost_per_call": "Цена звонка",
        "cost_per_target_call": "Цена целевого звонка",
    },
}
_GROUP_HEADERS = {
    "en": {
        "channel": "Channel",
        "source": "Source",
        "medium": "Medium",
        "campaign": "Campaign",
        "term": "Keyword",
        "landing_page": "Landing page",
        "tracking_number": "Tracking number",
        "pool": "Pool",
        "branch": "Branch",
    },
    "ru": {
        "channel": "Канал",
        "source": "Источник",
        "medium": "Тип трафика",
        "campaign": "Кампания",
        "term": "Ключевое слово",
        "landing_page": "Страница входа",
        "tracking_number": "Номер отслеживания",
        "pool": "Пул",
        "branch": "Филиал",
    },
}
_NOT_SET = {"en": "(not set)", "ru": "(не задано)"}
_TOTAL = {"en": "Total", "ru": "Итого"}


def _query(request: web.Request) -> ReportQuery:
    settings = request.app[SETTINGS].tracking
    group = query.choice(request, "group", GROUP_NAMES) or "source"
    days = day_range(request, ZoneInfo(settings.timezone), request.app[CLOCK]())
    return ReportQuery(group=group, days=days, target_call_seconds=settings.target_call_seconds)


def _meta(request: web.Request, q: ReportQuery) -> dict[str, Any]:
    settings = request.app[SETTINGS].tracking
    return {
        "group": q.group,
        "from": q.days.first.isoformat(),
        "to": q.days.last.isoformat(),
        "timezone": settings.timezone,
        "target_call_seconds": settings.target_call_seconds,
    }


@routes.get("/api/tracking/report")
@requires(READ_TRACKING)
async def report(request: web.Request) -> web.StreamResponse:
    q = _query(request)
    as_csv = wants_csv(request)
    lang = query.choice(request, "lang", ("en", "ru")) or "en"
    per_group, total, reached = await reports.report_figures(request.app[SESSIONS], q, request.app[CLOCK]())
    async with request.app[SESSIONS]() as session:
        cost_entries = await reports.costs(session, q.days)
    body = build_report(q.group, per_group, total, reached, cost_entries, q.days)
    if as_csv:
        filename = f"kolokol-report-{q.group}-{q.days.first}-{q.days.last}.csv"
        return csv_response(report_csv(q.group, body, lang), filename)
    return json_response({**_meta(request, q), **body})


def report_csv(group: str, body: dict[str, Any], lang: str) -> str:
    header: list[Cell] = [_GROUP_HEADERS[lang][group], *(_HEADERS[lang][c] for c in COLUMNS)]
    rows: list[list[Cell]] = [header]
    for row in body["rows"]:
        key = row["key"] if row["key"] is not None else _NOT_SET[lang]
        rows.append([key, *(row.get(c) for c in COLUMNS)])
    rows.append([_TOTAL[lang], *(body["totals"].get(c) for c in COLUMNS)])
    return csv_text(rows)


@routes.get("/api/tracking/report/series")
@requires(READ_TRACKING)
async def series(request: web.Request) -> web.Response:
    q = _query(request)
    interval = query.choice(request, "interval", INTERVALS) or "day"
    top = query.integer(request, "top", 5, 1, 20)
    if len(buckets(q.days, interval)) > MAX_BUCKETS:
        raise ApiError(
            400,
            "invalid-parameter",
            f"at most {MAX_BUCKETS} {interval}s in one series: choose a longer interval or a shorter range",
            {"parameter": "interval"},
        )
    by_day = await reports.calls_by_day(request.app[SESSIONS], q, request.app[CLOCK]())
    return json_response(
        {**_meta(request, q), "interval": interval, **build_series(by_day, q.days, interval, top)}
    )
