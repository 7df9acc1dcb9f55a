"""The ad platforms' files from call facts: identifiers checked for their shape, durations, local times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from calltracking.export_formats import ExportCall, google_csv, metrica_rows, usable_gclid, usable_id

T = datetime(2026, 11, 30, 21, 30, tzinfo=UTC)


def call(**kw: object) -> ExportCall:
    fields: dict[str, object] = {
        "id": "c1",
        "kind": "pool",
        "started_at": T,
        "answered_at": T + timedelta(seconds=7),
        "ended_at": T + timedelta(seconds=67.4),
        "missed": False,
        "first_time_caller": False,
        "tracking_number": "+74951110020",
        "landing_page": None,
        "ym_client_id": None,
        "yclid": None,
        "gclid": None,
    }
    fields.update(kw)
    return ExportCall(**fields)  # type: ignore[arg-type]


def test_identifiers_must_look_like_the_platforms_give_them() -> None:
    assert usable_id("1700000000123456789") == "1700000000123456789"
    assert usable_id("17e3") is None and usable_id("") is None and usable_id(None) is None
    assert usable_gclid("Cj0KCQiA_abc-123") == "Cj0KCQiA_abc-123"
    assert usable_gclid("-abc") is None and usable_gclid("=1+1") is None and usable_gclid("a b") is None


def test_metrica_row_for_an_answered_call_and_a_landing_page_that_tries_a_formula() -> None:
    rows = metrica_rows(
        [call(ym_client_id="123", landing_page="=cmd()"), call(ym_client_id="bad")],
        id_columns=("ClientId",),
        include_static=True,
        target_seconds=60,
        tracker_url=None,
    )
    assert rows[0][:2] == ["ClientId", "DateTime"]
    assert len(rows) == 2
    assert rows[1] == ["123", int(T.timestamp()), "+74951110020", 0, 60, 7, 0, 0, "target", "=cmd()", None]


def test_google_times_are_local_to_the_parameters_line() -> None:
    text, count = google_csv(
        [call(gclid="abc"), call(gclid=None)],
        zone=ZoneInfo("Asia/Kolkata"),
        conversion_name="=call",
        value=Decimal("10.50"),
        currency="INR",
    )
    assert count == 1
    assert text.splitlines() == [
        "Parameters:TimeZone=Asia/Kolkata",
        "Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency",
        "abc,'=call,2026-12-01 03:00:00,10.50,INR",
    ]
