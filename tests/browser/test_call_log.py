"""The call log and a call's page in a real browser: a manager filters the log and opens a call, whose
recording (real Ogg Opus from ffmpeg, served with Range) plays in the page's player: seeking by the
waveform and the keys, the speed; an operator sees only their phones' calls; a marketer is refused."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from kolokol.app_keys import RECORDING_STORAGE, SESSIONS
from kolokol.storage.tables import Recording, new_id
from pbx.call_record import Transfer
from recordings.storage import audio_key
from tests.browser.server import Kolokol, answered, ended, live_call, screenshot, utc_now, wait_for
from tests.support.call_log import LogCall, store_calls
from tests.support.stored_recordings import OPUS, make_opus

pytestmark = pytest.mark.browser

SECONDS = 12.0
CALLER = "+79161234567"


@pytest.fixture
def kolokol_settings(tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The audio under the test's directory; `operators_listen` as a test parametrizes it (default own)."""
    listen = getattr(request, "param", "own")
    return {"recordings": {"storage_dir": str(tmp_path / "recordings"), "operators_listen": listen}}


@pytest.fixture(scope="module")
def opus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_opus(tmp_path_factory.mktemp("audio") / "call.ogg", SECONDS, channels=2)


def stored_audio(kolokol: Kolokol, opus: Path, started: Any) -> dict[str, Any]:
    """The audio in kolokol's storage, as the worker leaves it; returns the recording row's fields."""
    recording_id = new_id()
    key = audio_key(recording_id, started, ".ogg")
    storage = kolokol.app[RECORDING_STORAGE]

    async def put() -> int:
        copy = storage.incoming(recording_id, ".ogg")
        await asyncio.to_thread(shutil.copyfile, opus, copy)
        return await storage.put(key, copy)

    size = kolokol.run(put())
    peaks = [[(i * 7) % 100 for i in range(400)], [(i * 3) % 60 for i in range(400)]]
    return {
        "id": recording_id,
        "audio_key": key,
        "size_bytes": size,
        "mime": OPUS,
        "duration_seconds": SECONDS,
        "channels": 2,
        "peaks": peaks,
        "figures": {
            "silence_share": 0.18,
            "longest_silence_seconds": 2.4,
            "talk_seconds": {"caller": 4.1, "clinic": 6.2},
            "overlap_seconds": 1.3,
        },
        "ready_at": started,
    }


def the_log(kolokol: Kolokol, opus: Path) -> dict[str, str]:
    now = utc_now()
    at = [now - timedelta(hours=h) for h in (1, 2, 3, 26)]
    transfer = Transfer(from_ext="101", to_ext="102", kind="attended", at=at[0] + timedelta(seconds=30))
    calls = [
        LogCall("recorded", caller=CALLER, started_at=at[0], talk=SECONDS, operator="101", rang=("101",),
                transfers=(transfer,), branch="Центр", recording="ready",
                recording_extra=stored_audio(kolokol, opus, at[0]),
                attribution={"source": "yandex", "channel": "paid"}),
        LogCall("missed", caller="+79035550000", started_at=at[1], talk=None, rang=("101", "102"),
                branch="Центр"),
        LogCall("failed", caller="+79037770000", started_at=at[2], talk=40, operator="102", rang=("102",),
                branch="Север", recording="failed"),
        LogCall("earlier", caller=CALLER, started_at=at[3], talk=20, operator="102", rang=("102",)),
    ]  # fmt: skip
    return kolokol.run(store_calls(kolokol.settings, kolokol.app[SESSIONS], calls))


def rows(page: Page) -> Any:
    return page.locator("#log-table tbody tr")


def wait_for_audio(page: Page, condition: str) -> None:
    """Until the player's <audio> meets the condition (`a` is the element). Polled from here: the page's
    CSP forbids the string evaluation Playwright's wait_for_function would do inside it."""
    check = f"() => {{ const a = document.getElementById('audio'); return Boolean(a && ({condition})); }}"
    wait_for(lambda: bool(page.evaluate(check)), timeout=15)


def test_a_manager_filters_the_log_opens_a_call_and_plays_it(
    kolokol: Kolokol, open_page: Any, opus: Path
) -> None:
    kolokol.add_contact("crm-1", "Пётр Сидоров", [CALLER], doctor="Иванова")
    ids = the_log(kolokol, opus)
    kolokol.add_user("olga", "manager", display_name="Ольга")
    kolokol.add_user("anna", "operator", extensions=("101",), display_name="Анна")
    kolokol.add_user("boris", "operator", extensions=("102",), display_name="Борис")
    page = open_page("olga", path="/calls")
    expect(rows(page)).to_have_count(4)  # the last 7 days, newest first
    expect(rows(page).first).to_have_attribute("data-call-id", ids["recorded"])
    expect(page.locator("#count")).to_contain_text("4")
    page.select_option("#filter-status", "missed")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_have_attribute("data-call-id", ids["missed"])
    assert "status=missed" in page.url, "the filters are in the address"
    page.click("#filter-reset")
    page.select_option("#filter-branch", "Центр")
    page.select_option("#filter-has_recording", "true")
    expect(rows(page)).to_have_count(1)
    csv = page.locator("#csv-link").get_attribute("href") or ""
    assert csv.startswith("/api/calls.csv?") and "branch=" in csv and "has_recording=true" in csv
    # The period is the clinic's days (tracking.timezone), from midnight six days ago to midnight tonight.
    moscow = ZoneInfo("Europe/Moscow")
    today = datetime.now(moscow).date()
    first = datetime.combine(today - timedelta(days=6), time(), moscow).astimezone(UTC)
    end = datetime.combine(today + timedelta(days=1), time(), moscow).astimezone(UTC)
    query = parse_qs(urlsplit(csv).query)
    assert query["from"] == [first.strftime("%Y-%m-%dT%H:%M:%S.000Z")]
    assert query["to"] == [end.strftime("%Y-%m-%dT%H:%M:%S.000Z")]
    download = page.request.get(csv)  # with the page's login, as the link is followed
    assert download.ok and download.body().startswith("\ufeff".encode())
    lines = download.body().decode("utf-8-sig").splitlines()
    assert lines[0].startswith("ID звонка,") and len(lines) == 2 and lines[1].startswith(ids["recorded"])
    page.fill("#filter-min_duration", "60")
    page.click("#filter-form button[type=submit]")
    expect(page.locator("#log-empty")).to_be_visible()
    page.fill("#filter-min_duration", "")
    page.fill("#filter-number", "8 916 123-45-67")
    page.click("#filter-form button[type=submit]")
    expect(rows(page)).to_have_count(1)
    screenshot(page, "call-log")

    rows(page).first.locator("td.cl-branch").click()
    page.wait_for_url(f"**/calls/{ids['recorded']}")
    expect(page.locator("#call-title")).to_have_text("Пётр Сидоров")
    expect(page.locator("#figures-list")).to_contain_text("Звонивший говорил 0:04, клиника — 0:06")
    expect(page.locator("#figures-list")).to_contain_text("перебивали")
    expect(page.locator("#timeline")).to_contain_text("Анна перевёл(а) звонок на Борис")
    expect(page.locator("#contacts")).to_contain_text("Иванова")
    expect(page.locator("#others-table tbody tr")).to_have_count(1)
    expect(page.locator("#others")).not_to_contain_text("null")
    expect(page.locator("#others-table tbody tr")).to_have_attribute("data-call-id", ids["earlier"])
    expect(page.locator("#legend")).to_be_visible()

    wait_for_audio(page, "a.readyState >= 1 && isFinite(a.duration)")
    duration = page.evaluate("document.getElementById('audio').duration")
    assert abs(duration - SECONDS) < 0.5, "the real audio's length, read by the browser"
    wave = page.locator("#wave")
    box = wave.bounding_box()
    assert box is not None
    wave.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    wait_for_audio(page, "Math.abs(a.currentTime - 9) < 0.6")
    expect(page.locator("#position")).to_have_text("0:09")
    page.click(".pl-speed[data-rate='1.5']")
    assert page.evaluate("document.getElementById('audio').playbackRate") == 1.5
    expect(page.locator(".pl-speed[data-rate='1.5']")).to_have_attribute("aria-pressed", "true")
    page.click(".pl-speed[data-rate='2']")
    assert page.evaluate("document.getElementById('audio').playbackRate") == 2
    wave.focus()
    page.keyboard.press("ArrowLeft")
    wait_for_audio(page, "Math.abs(a.currentTime - 4) < 0.6")
    page.keyboard.press(" ")
    wait_for_audio(page, "!a.paused && a.currentTime > 4.3")
    expect(page.locator("#player")).to_have_attribute("data-playing", "true")
    page.keyboard.press(" ")
    wait_for_audio(page, "a.paused")
    screenshot(page, "call-page")


def test_a_call_whose_recording_failed_says_why(kolokol: Kolokol, open_page: Any, opus: Path) -> None:
    ids = the_log(kolokol, opus)
    kolokol.add_user("olga", "manager")
    page = open_page("olga", path=f"/calls/{ids['failed']}")
    expect(page.locator("#recording-state")).to_have_attribute("data-state", "failed")
    expect(page.locator("#recording-state")).to_contain_text("the file never appeared in 10 minutes")
    expect(page.locator("#audio")).to_have_count(0)
    page.goto(f"/calls/{ids['missed']}?lang=en")
    expect(page.locator("#timeline")).to_contain_text("Missed: nobody picked up in 0:20")
    expect(page.locator("#recording-state")).to_have_attribute("data-state", "none")
    screenshot(page, "call-page-missed-en")


def test_an_operator_sees_only_their_phones_calls(kolokol: Kolokol, open_page: Any, opus: Path) -> None:
    ids = the_log(kolokol, opus)
    kolokol.add_user("anna", "operator", extensions=("101",), display_name="Анна")
    page = open_page("anna", path="/calls")
    expect(page.locator("#scope")).to_be_visible()
    # The recorded call was hers, the missed one rang her phone; the failed one was Boris's alone.
    expect(rows(page)).to_have_count(2)
    listed = {rows(page).nth(i).get_attribute("data-call-id") for i in range(2)}
    assert listed == {ids["recorded"], ids["missed"]}
    page.goto(f"/calls/{ids['failed']}")
    expect(page.locator("#missing")).to_be_visible()
    page.goto(f"/calls/{ids['recorded']}")
    wait_for_audio(page, "a.readyState >= 1")


def test_a_marketer_is_refused_and_shown_their_page(kolokol: Kolokol, open_page: Any) -> None:
    kolokol.add_user("mark", "marketer")
    page = open_page("mark", path="/calls")
    expect(page.locator("body")).to_contain_text("Нет доступа")
    page.click("a[href='/marketer']")
    page.wait_for_url("**/marketer")


def test_the_consoles_recent_call_opens_its_page(kolokol: Kolokol, open_page: Any) -> None:
    kolokol.add_user("anna", "operator", extensions=("101",), display_name="Анна")
    anna = open_page("anna")
    expect(anna.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)
    call = live_call(number="+79997776655", ringing=("101",))
    kolokol.live("call.ringing", call)
    talking = answered(call, "101")
    kolokol.live("call.answered", talking)
    kolokol.record(talking, "answered", by="101")
    kolokol.live("call.ended", ended(talking))
    link = anna.locator(f'.recent-item[data-call-id="{call.id}"] a.recent-who')
    expect(link).to_have_text("+7 999 777-66-55")
    link.click()
    # The live call's id leads to its record's page (the address becomes the record's).
    expect(anna.locator("#call-title")).to_have_text("+7 999 777-66-55")
    expect(anna.locator("#timeline")).to_contain_text("Ответил(а) Анна")
    assert "%3A" not in anna.url and ":" not in anna.url.split("/calls/")[1]


def test_a_recording_being_prepared_turns_into_the_player(
    kolokol: Kolokol, open_page: Any, opus: Path
) -> None:
    started = utc_now() - timedelta(minutes=2)
    ids = kolokol.run(
        store_calls(
            kolokol.settings,
            kolokol.app[SESSIONS],
            [LogCall("fresh", started_at=started, talk=SECONDS, recording="pending")],
        )
    )
    kolokol.add_user("olga", "manager")
    page = open_page("olga", path=f"/calls/{ids['fresh']}")
    expect(page.locator("#recording-state")).to_have_attribute("data-state", "pending")
    ready = stored_audio(kolokol, opus, started)
    del ready["id"]

    async def processed() -> None:
        async with kolokol.app[SESSIONS].begin() as session:
            await session.execute(
                update(Recording)
                .where(Recording.call_id == ids["fresh"])
                .values(status="ready", stage="done", **ready)
            )

    kolokol.run(processed())
    expect(page.locator("#player")).to_be_visible(timeout=15_000)
    wait_for_audio(page, "a.readyState >= 1")
    expect(page.locator("#figures-list")).to_contain_text("Тишина — 18% записи")


@pytest.mark.parametrize("kolokol_settings", ["none"], indirect=True)
def test_an_operator_not_allowed_to_listen_is_told_so(kolokol: Kolokol, open_page: Any, opus: Path) -> None:
    ids = the_log(kolokol, opus)
    kolokol.add_user("anna", "operator", extensions=("101",))
    page = open_page("anna", path=f"/calls/{ids['recorded']}")
    expect(page.locator("#recording-state")).to_have_attribute("data-state", "not-allowed")
    expect(page.locator("#audio")).to_have_count(0)


def test_an_admin_sees_who_listened(kolokol: Kolokol, open_page: Any, opus: Path) -> None:
    ids = the_log(kolokol, opus)
    kolokol.add_user("root", "admin")
    kolokol.add_user("olga", "manager")
    page = open_page("root", path=f"/calls/{ids['failed']}")
    expect(page.locator("#audit-empty")).to_be_visible()
    page.goto(f"/calls/{ids['recorded']}")
    wait_for_audio(page, "a.readyState >= 1")
    page.click("#audit-refresh")
    expect(page.locator("#audit-table tbody tr").first).to_contain_text("root")
    expect(page.locator("#audit-table tbody tr").first).to_contain_text("слушал(а)")
    other = open_page("olga", path=f"/calls/{ids['recorded']}")
    expect(other.locator("#player")).to_be_visible()
    expect(other.locator("#audit")).to_have_count(0)
