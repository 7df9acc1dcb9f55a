"""The files ad platforms accept for calls, from call facts. Pure.

Yandex Metrica, "Sending call data" (offline calls): CSV whose first line names the columns; a visitor
identifier (``ClientId`` — the ``_ym_uid`` cookie — or ``Yclid``, the Yandex Direct click), ``DateTime``
as Unix seconds (UTC), and optional ``PhoneNumber``, ``StaticCall``, ``TalkDuration``, ``HoldDuration``,
``CallMissed``, ``FirstTimeCaller``, ``Tag``, ``URL``, ``CallTrackerURL``. Metrica links a dynamic call to
the visitor's nearest visit, and only to visits from the last 21 days; static calls are not linked to
visits.

Google Ads, click conversions: ``Parameters:TimeZone=<zone id>`` as the first line, then ``Google Click
ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency`` with times as
``yyyy-MM-dd HH:mm:ss`` in that zone.

Identifiers come from a visitor's URL and cookies, so they are checked for the shape the platforms give
them; a row with a forged one is left out rather than sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from calltracking.csv_safe import Cell, csv_text

METRICA_VISIT_WINDOW = timedelta(days=21)
# Google Ads counts a conversion at most 90 days after its click.
GOOGLE_CLICK_WINDOW = timedelta(days=90)
METRICA_COLUMNS = (
    "ClientId",
    "Yclid",
    "DateTime",
    "PhoneNumber",
    "StaticCall",
    "TalkDuration",
    "HoldDuration",
    "CallMissed",
    "FirstTimeCaller",
    "Tag",
    "URL",
    "CallTrackerURL",
)
GOOGLE_COLUMNS = (
    "Google Click ID",
    "Conversion Name",
    "Conversion Time",
    "Conversion Value",
    "Conversion Currency",
)
_DIGITS = re.compile(r"\d{1,40}")
# Google's click ids are URL-safe base64; one cannot begin with "-" (a spreadsheet would read a formula).
_GCLID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_\-]{0,299}")


@dataclass(frozen=True, slots=True)
class ExportCall:
    id: str
    kind: str | None  # "pool", "static", "direct"
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    missed: bool
    first_time_caller: bool
    tracking_number: str | None
    landing_page: str | None
    ym_client_id: str | None
    yclid: str | None
    gclid: str | None

    @property
    def talk_seconds(self) -> int:
        if self.answered_at is None:
            return 0
        return max(0, round((self.ended_at - self.answered_at).total_seconds()))

    @property
    def hold_seconds(self) -> int:
        until = self.answered_at or self.ended_at
        return max(0, round((until - self.started_at).total_seconds()))


def usable_id(value: str | None) -> str | None:
    """A Metrica client id or a Yandex Direct click id: digits only."""
    return value if value is not None and _DIGITS.fullmatch(value) else None


def usable_gclid(value: str | None) -> str | None:
    return value if value is not None and _GCLID.fullmatch(value) else None


def metrica_rows(
    calls: Iterable[ExportCall],
    *,
    id_columns: tuple[str, ...],
    include_static: bool,
    target_seconds: int,
    tracker_url: str | None,
) -> list[list[Cell]]:
    """Header and one row per call Metrica can use: one with a visitor identifier, or a static call."""
    rows: list[list[Cell]] = [
        [c for c in METRICA_COLUMNS if c in id_columns or c not in ("ClientId", "Yclid")]
    ]
    for call in calls:
        client_id = usable_id(call.ym_client_id) if "ClientId" in id_columns else None
        yclid = usable_id(call.yclid) if "Yclid" in id_columns else None
        static = call.kind == "static"
        if client_id is None and yclid is None and not (static and include_static):
            continue
        ids: list[Cell] = []
        if "ClientId" in id_columns:
            ids.append(client_id)
        if "Yclid" in id_columns:
            ids.append(yclid)
        rows.append(
            [
                *ids,
                int(call.started_at.timestamp()),
                call.tracking_number,
                1 if static else 0,
                call.talk_seconds,
                call.hold_seconds,
                1 if call.missed else 0,
                1 if call.first_time_caller else 0,
                "target" if call.talk_seconds >= target_seconds and not call.missed else None,
                call.landing_page,
                f"{tracker_url.rstrip('/')}/api/calls/{call.id}" if tracker_url else None,
            ]
        )
    return rows


def metrica_csv(rows: list[list[Cell]]) -> str:
    return csv_text(rows)


def google_csv(
    calls: Iterable[ExportCall],
    *,
    zone: ZoneInfo,
    conversion_name: str,
    value: Decimal | None,
    currency: str,
) -> tuple[str, int]:
    """The upload file and how many conversions it holds."""
    rows: list[list[Cell]] = [list(GOOGLE_COLUMNS)]
    for call in calls:
        gclid = usable_gclid(call.gclid)
        if gclid is None:
            continue
        local = call.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        rows.append([gclid, conversion_name, local, str(value) if value is not None else None, currency])
    return f"Parameters:TimeZone={zone.key}\r\n" + csv_text(rows), len(rows) - 1


def unix_seconds(moment: datetime) -> int:
    return int(moment.astimezone(UTC).timestamp())
