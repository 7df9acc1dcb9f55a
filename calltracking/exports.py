"""Files for ad platforms, per range of days: ``GET /api/tracking/exports/yandex-metrica`` (offline calls
for Metrica) and ``GET /api/tracking/exports/google-ads`` (click conversions for Google Ads).

Both take ``from``/``to`` (days in the clinic's time zone) and the filters ``answered=1`` (answered calls
only) and ``target=1`` (target calls only). The identifiers come from the call's ``source``. Calls
attribution is unsure of stay out (``min_confidence``, default ``DEFAULT_MIN_CONFIDENCE``): an ad platform
told that the wrong visitor called learns the wrong thing, and cannot be told otherwise later.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from calltracking.attribution import AMBIGUOUS_BELOW
from calltracking.export_formats import (
    GOOGLE_CLICK_WINDOW,
    METRICA_VISIT_WINDOW,
    ExportCall,
    google_csv,
    metrica_csv,
    metrica_rows,
)
from calltracking.local_dates import DayRange
from calltracking.report_params import csv_response, day_range
from kolokol.app_keys import CLOCK, SESSIONS, SETTINGS
from kolokol.auth.api_guard import requires
from kolokol.auth.roles import READ_TRACKING
from kolokol.http import query
from kolokol.http.errors import ApiError
from kolokol.storage.tables import Call, VisitorSession

routes = web.RouteTableDef()
_MAX_DAYS = 366
_CURRENCY_LENGTH = 3
# The attribution's own line between a call it names and a guess (calltracking.attribution.AMBIGUOUS_BELOW).
DEFAULT_MIN_CONFIDENCE = AMBIGUOUS_BELOW


def _flag(request: web.Request, name: str) -> bool:
    return query.choice(request, name, ("0", "1", "true", "false")) in ("1", "true")


def _min_confidence(request: web.Request) -> float:
    text = query.text(request, "min_confidence", 10)
    if text is None:
        return DEFAULT_MIN_CONFIDENCE
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise ApiError(
            400,
            "invalid-parameter",
            "min_confidence must be a number from 0 to 1",
            {"parameter": "min_confidence"},
        )
    return value


async def _calls(
    session: AsyncSession,
    days: DayRange,
    *,
    since: datetime,
    kinds: Sequence[str],
    answered_only: bool,
    min_confidence: float,
) -> list[tuple[ExportCall, datetime | None]]:
    """Inbound calls of the range that attribution tied to a visit or a static number at least
    ``min_confidence`` sure, with the visit's last activity (None when unknown)."""
    stmt = (
        select(Call, VisitorSession.last_seen_at)
        .outerjoin(VisitorSession, VisitorSession.id == Call.attr_session)
        .where(
            Call.direction == "inbound",
            Call.started_at >= max(days.start, since),
            Call.started_at < days.end,
            Call.attr_kind.in_(kinds),
            Call.attr_confidence >= min_confidence,
        )
        .order_by(Call.started_at, Call.id)
    )
    if answered_only:
        stmt = stmt.where(Call.status == "answered")
    found: list[tuple[ExportCall, datetime | None]] = []
    for call, seen in await session.execute(stmt):
        source: dict[str, Any] = call.source if isinstance(call.source, dict) else {}
        found.append(
            (
                ExportCall(
                    id=call.id,
                    kind=call.attr_kind,
                    started_at=call.started_at,
                    answered_at=call.answered_at,
                    ended_at=call.ended_at,
                    missed=call.status == "missed",
                    first_time_caller=call.first_time_caller,
                    tracking_number=call.attr_tracking_number,
                    landing_page=_text(source.get("landing_page")) or call.attr_landing_page,
                    ym_client_id=_text(source.get("ym_client_id")),
                    yclid=_text(source.get("yclid")),
                    gclid=_text(source.get("gclid")),
                ),
                seen,
            )
        )
    return found


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _target_only(calls: list[ExportCall], seconds: int) -> list[ExportCall]:
    return [c for c in calls if not c.missed and c.talk_seconds >= seconds]


@routes.get("/api/tracking/exports/yandex-metrica")
@requires(READ_TRACKING)
async def yandex_metrica(request: web.Request) -> web.Response:
    """Calls Metrica can still link: the visit within its 21 days before now; static calls too (marked
    ``StaticCall=1``) unless ``static=0``. ``ids=client_id|yclid|both`` chooses the identifier columns
    (a Metrica upload by one identifier type wants only its column)."""
    settings = request.app[SETTINGS]
    zone = ZoneInfo(settings.tracking.timezone)
    now = request.app[CLOCK]()
    days = day_range(request, zone, now, max_days=_MAX_DAYS)
    ids = query.choice(request, "ids", ("client_id", "yclid", "both")) or "both"
    include_static = query.choice(request, "static", ("0", "1")) != "0"
    target_only = _flag(request, "target")
    answered_only = _flag(request, "answered") or target_only
    min_confidence = _min_confidence(request)
    oldest_visit = now - METRICA_VISIT_WINDOW
    async with request.app[SESSIONS]() as session:
        found = await _calls(
            session,
            days,
            since=oldest_visit,
            kinds=("pool", "static") if include_static else ("pool",),
            answered_only=answered_only,
            min_confidence=min_confidence,
        )
    calls = [c for c, seen in found if seen is None or seen >= oldest_visit]
    if target_only:
        calls = _target_only(calls, settings.tracking.target_call_seconds)
    columns = {"client_id": ("ClientId",), "yclid": ("Yclid",), "both": ("ClientId", "Yclid")}[ids]
    rows = metrica_rows(
        calls,
        id_columns=columns,
        include_static=include_static,
        target_seconds=settings.tracking.target_call_seconds,
        tracker_url=settings.http.public_url,
    )
    response = csv_response(
        metrica_csv(rows), f"kolokol-metrica-calls-{days.first}-{days.last}.csv", bom=False
    )
    response.headers["X-Kolokol-Rows"] = str(len(rows) - 1)
    return response


def _value(request: web.Request) -> Decimal | None:
    text = query.text(request, "value", 20)
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0 or value > Decimal("1e12"):
        raise ApiError(
            400, "invalid-parameter", "value must be a number, zero or more", {"parameter": "value"}
        )
    return value


@routes.get("/api/tracking/exports/google-ads")
@requires(READ_TRACKING)
async def google_ads(request: web.Request) -> web.Response:
    """Calls from Google Ads clicks (a gclid) within the 90 days Google counts, as click conversions named
    ``conversion_name`` (as in Google Ads), with ``value`` and ``currency`` (default RUB) when given."""
    settings = request.app[SETTINGS]
    zone = ZoneInfo(settings.tracking.timezone)
    now = request.app[CLOCK]()
    days = day_range(request, zone, now, max_days=_MAX_DAYS)
    name = query.text(request, "conversion_name", 100)
    if name is None or not name.strip():
        raise ApiError(
            400,
            "invalid-parameter",
            "conversion_name must name the conversion action in Google Ads",
            {"parameter": "conversion_name"},
        )
    value = _value(request)
    currency = (query.text(request, "currency", 10) or "RUB").upper()
    if len(currency) != _CURRENCY_LENGTH or not currency.isascii() or not currency.isalpha():
        raise ApiError(
            400, "invalid-parameter", "currency is a three-letter code such as RUB", {"parameter": "currency"}
        )
    target_only = _flag(request, "target")
    answered_only = _flag(request, "answered") or target_only
    min_confidence = _min_confidence(request)
    async with request.app[SESSIONS]() as session:
        found = await _calls(
            session,
            days,
            since=now - GOOGLE_CLICK_WINDOW,
            kinds=("pool",),
            answered_only=answered_only,
            min_confidence=min_confidence,
        )
    calls = [c for c, _ in found]
    if target_only:
        calls = _target_only(calls, settings.tracking.target_call_seconds)
    text, count = google_csv(calls, zone=zone, conversion_name=name.strip(), value=value, currency=currency)
    response = csv_response(text, f"kolokol-google-ads-conversions-{days.first}-{days.last}.csv", bom=False)
    response.headers["X-Kolokol-Rows"] = str(count)
    return response
