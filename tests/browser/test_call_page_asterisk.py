"""End to end in a real browser: a real call through Asterisk 22 (SIPp; the answering phone plays G.711
audio) is recorded by MixMonitor, taken by kolokol from the monitor directory, processed, and played on
the call's page by a manager: the browser reads the talk time's length and plays it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from kolokol.app_keys import SESSIONS
from kolokol.storage.tables import Call, Recording
from tests.browser.server import Kolokol, screenshot, wait_for
from tests.support import asterisk_harness as h

pytestmark = [pytest.mark.browser, pytest.mark.asterisk, pytest.mark.timeout(300)]


@pytest.fixture
def kolokol_settings(asterisk: None, tmp_path: Path) -> dict[str, Any]:
    monitor = h.current().directories()["astspooldir"] + "/monitor"
    return {
        "pbx": {"asterisk": h.kolokol_ami_settings()},
        "calls": {"settle_seconds": 0.5},
        "recordings": {
            "storage_dir": str(tmp_path / "recordings"),
            "asterisk_monitor_dir": monitor,
            "asterisk_local_dir": str(h.chroot_path() / monitor.lstrip("/")),
            "asterisk_stable_seconds": 1,
        },
    }


def wait_for_audio(page: Page, condition: str) -> None:
    # Polled from here: the page's CSP forbids the string evaluation wait_for_function would do in it.
    check = f"() => {{ const a = document.getElementById('audio'); return Boolean(a && ({condition})); }}"
    wait_for(lambda: bool(page.evaluate(check)), timeout=15)


def settled_recording(kolokol: Kolokol) -> tuple[Call, Recording] | None:
    async def read() -> tuple[Call, Recording] | None:
        async with kolokol.app[SESSIONS]() as session:
            row = (await session.execute(select(Call, Recording).join(Recording))).first()
        if row is None or row[1].status == "pending":
            return None
        return row[0], row[1]

    return kolokol.run(read())


def test_a_real_calls_recording_plays_on_its_page(kolokol: Kolokol, open_page: Any) -> None:
    kolokol.add_user("olga", "manager", display_name="Ольга")
    with h.AmiClient() as ami:
        h.SCENARIOS["ringall_answered"](ami)
    found: list[tuple[Call, Recording]] = []

    def ready() -> bool:
        row = settled_recording(kolokol)
        if row is not None:
            found[:] = [row]
        return row is not None

    wait_for(ready, timeout=60)
    call, recording = found[0]
    assert recording.status == "ready", recording.failure
    assert call.answered_at is not None and call.ended_at is not None
    talk = (call.ended_at - call.answered_at).total_seconds()

    page = open_page("olga", path=f"/calls/{call.id}")
    wait_for_audio(page, "a.readyState >= 1 && isFinite(a.duration)")
    duration = page.evaluate("document.getElementById('audio').duration")
    assert abs(duration - talk) < 1.0, "the browser reads the recording as long as the talk"
    page.locator("#wave").focus()
    page.keyboard.press(" ")
    wait_for_audio(page, "!a.paused && a.currentTime > 0.5")
    expect(page.locator("#player")).to_have_attribute("data-playing", "true")
    screenshot(page, "call-page-asterisk")
