"""The call record names a two-channel recording's sides by the call's direction."""

from __future__ import annotations

from typing import Any

import pytest

from kolokol.calls.record_json import recording_json
from kolokol.storage.tables import Call, Recording

MEASURED: dict[str, Any] = {
    "silence_share": 0.2,
    "longest_silence_seconds": 3.0,
    "talk_seconds": {"caller": 40.0, "clinic": 95.0},  # channel 0, channel 1
    "overlap_seconds": 4.0,
}


def ready(figures: dict[str, Any] | None) -> Recording:
    return Recording(
        id="r1", status="ready", duration_seconds=150.0, mime="audio/ogg; codecs=opus", figures=figures
    )


@pytest.mark.parametrize(
    ("direction", "caller", "clinic"), [("inbound", 40.0, 95.0), ("outbound", 95.0, 40.0)]
)
def test_sides_follow_the_direction(direction: str, caller: float, clinic: float) -> None:
    item = recording_json(Call(direction=direction, recording_ref=None), ready(MEASURED))
    assert item is not None
    assert item["figures"]["talk_seconds"] == {"caller": caller, "clinic": clinic}
    assert item["figures"]["overlap_seconds"] == 4.0
    assert MEASURED["talk_seconds"] == {"caller": 40.0, "clinic": 95.0}  # the stored row untouched


def test_one_channel_and_no_figures_pass_through() -> None:
    mono = {**MEASURED, "talk_seconds": None, "overlap_seconds": None}
    item = recording_json(Call(direction="outbound", recording_ref=None), ready(mono))
    assert item is not None and item["figures"] == mono
    item = recording_json(Call(direction="outbound", recording_ref=None), ready(None))
    assert item is not None and item["figures"] is None
