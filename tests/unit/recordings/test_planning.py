"""Which calls get a recording row, and what a call stored again does to it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from recordings.planning import Create, Keep, Refresh, plan

T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FakeCall:
    pbx: str = "asterisk"
    status: str = "answered"
    recording_file: str | None = None
    recording_ref: dict[str, Any] | None = None
    branch: str | None = None
    started_at: datetime = T0


@dataclass(frozen=True)
class Row:
    status: str
    origin: str
    ref: dict[str, Any]


def test_an_answered_asterisk_call_with_a_file_gets_a_row_for_that_file() -> None:
    call = FakeCall(recording_file="2026/12/03/in-101-1733.wav")
    assert plan(call, None) == Create("asterisk", {"file": "2026/12/03/in-101-1733.wav"})


def test_a_cloud_reference_is_planned_for_its_provider() -> None:
    ref = {"provider": "telnyx", "url": "https://x/rec.mp3", "expires_at": "2026-12-03T09:10:00.000Z"}
    assert plan(FakeCall(pbx="telnyx", recording_ref=ref), None) == Create("telnyx", ref)


def test_missed_calls_and_calls_without_a_recording_get_none() -> None:
    assert plan(FakeCall(status="missed", recording_file="x.wav"), None) is None
    assert plan(FakeCall(), None) is None
    assert plan(FakeCall(recording_file="   "), None) is None


def test_a_changed_reference_on_a_pending_row_is_taken_and_the_same_one_is_kept() -> None:
    old = {"provider": "twilio", "recording_sid": "RE1"}
    new = {"provider": "twilio", "recording_sid": "RE2"}
    pending = Row("pending", "twilio", old)
    assert plan(FakeCall(pbx="twilio", recording_ref=new), pending) == Refresh("twilio", new)
    assert plan(FakeCall(pbx="twilio", recording_ref=old), pending) == Keep()


def test_a_finished_row_is_never_reset_by_the_call_stored_again() -> None:
    new = {"provider": "twilio", "recording_sid": "RE2"}
    for status in ("ready", "failed", "purged"):
        row = Row(status, "twilio", {"provider": "twilio", "recording_sid": "RE1"})
        assert plan(FakeCall(pbx="twilio", recording_ref=new), row) == Keep()


def test_an_unknown_provider_name_is_fetched_as_generic() -> None:
    call = replace(FakeCall(pbx="generic"), recording_ref={"provider": "sipuni", "url": "https://x/r.mp3"})
    created = plan(call, None)
    assert isinstance(created, Create) and created.origin == "generic"
