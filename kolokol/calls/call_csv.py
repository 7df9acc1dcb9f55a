"""The call log as CSV for people (Excel, LibreOffice): one row per call record, in the clinic's time.

Pure: rows from call records (kolokol.calls.record_json), cells made safe from formulas (a caller's name
or a campaign is typed by outsiders). The HTTP side streams them page by page (kolokol.calls.api).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from calltracking.csv_safe import Cell

COLUMNS = (
    "id",
    "started",
    "direction",
    "status",
    "caller",
    "caller_name",
    "called",
    "branch",
    "operator",
    "answered_by",
    "wait_seconds",
    "talk_seconds",
    "source",
    "channel",
    "campaign",
    "contacts",
    "first_time_caller",
    "recording",
)

HEADERS: dict[str, dict[str, str]] = {
    "en": {
        "id": "Call ID",
        "started": "Started ({zone})",
        "direction": "Direction",
        "status": "Status",
        "caller": "Caller",
        "caller_name": "Caller name (PBX)",
        "called": "Called",
        "branch": "Branch",
        "operator": "Operator",
        "answered_by": "Answered by",
        "wait_seconds": "Wait, s",
        "talk_seconds": "Talk, s",
        "source": "Source",
        "channel": "Channel",
        "campaign": "Campaign",
        "contacts": "Contacts",
        "first_time_caller": "First-time caller",
        "recording": "Recording",
    },
    "ru": {
        "id": "ID звонка",
        "started": "Начало ({zone})",
        "direction": "Направление",
        "status": "Статус",
        "caller": "Кто звонил",
        "caller_name": "Имя от АТС",
        "called": "Куда звонили",
        "branch": "Филиал",
        "operator": "Оператор",
        "answered_by": "Ответил(а)",
        "wait_seconds": "Ожидание, с",
        "talk_seconds": "Разговор, с",
        "source": "Источник",
        "channel": "Канал",
        "campaign": "Кампания",
        "contacts": "Контакты",
        "first_time_caller": "Звонит впервые",
        "recording": "Запись",
    },
}

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "inbound": "inbound",
        "outbound": "outbound",
        "internal": "internal",
        "answered": "answered",
        "missed": "missed",
        "unanswered": "unanswered",
        "ready": "ready",
        "pending": "pending",
        "failed": "failed",
        "purged": "purged",
        "yes": "yes",
        "no": "no",
    },
    "ru": {
        "inbound": "входящий",
        "outbound": "исходящий",
        "internal": "внутренний",
        "answered": "отвечен",
        "missed": "пропущен",
        "unanswered": "без ответа",
        "ready": "есть",
        "pending": "обрабатывается",
        "failed": "не получена",
        "purged": "удалена",
        "yes": "да",
        "no": "нет",
    },
}


def header(lang: str, zone: ZoneInfo) -> list[Cell]:
    names = HEADERS[lang]
    return [names[column].replace("{zone}", zone.key) for column in COLUMNS]


def _local(moment: str | None, zone: ZoneInfo) -> str | None:
    if not moment:
        return None
    # Without the offset: a spreadsheet reads "2026-11-23 12:00:00" as a date and time; the header
    # names the zone.
    return datetime.fromisoformat(moment).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: Any) -> int:
    return round(float(value or 0))


def row(record: Mapping[str, Any], lang: str, zone: ZoneInfo) -> list[Cell]:
    """One call record (as /api/calls returns it) as CSV cells in COLUMNS order."""
    words = _WORDS[lang]
    source = record.get("source") or {}
    recording = record.get("recording") or {}
    contacts = "; ".join(str(c.get("name") or "") for c in record.get("contacts") or [] if c.get("name"))
    cells: dict[str, Cell] = {
        "id": record["id"],
        "started": _local(record.get("started_at"), zone),
        "direction": words.get(record["direction"], record["direction"]),
        "status": words.get(record["status"], record["status"]),
        "caller": record.get("caller"),
        "caller_name": record.get("caller_name"),
        "called": record.get("called"),
        "branch": record.get("branch"),
        "operator": record.get("operator"),
        "answered_by": record.get("answered_by"),
        "wait_seconds": _seconds(record.get("wait_seconds")),
        "talk_seconds": _seconds(record.get("talk_seconds")),
        "source": source.get("source"),
        "channel": source.get("channel"),
        "campaign": source.get("campaign"),
        "contacts": contacts or None,
        "first_time_caller": words["yes"] if record.get("first_time_caller") else words["no"],
        "recording": words.get(recording.get("status", ""), None) if recording else None,
    }
    return [cells[column] for column in COLUMNS]
