"""When the console loses kolokol: it says so across the page, its cards stop counting a call it can no
longer follow, and a call that ended while it was away is never called missed on a guess: the call log
says how it went (and a neutral "ended" stands until the record is there)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.server import Kolokol, answered, ended, live_call, screenshot, wait_for

pytestmark = pytest.mark.browser

PATIENT = "+79161234567"
# Reconnecting backs off (1 s, 2 s, 4 s...): only a bound for a broken run.
BACK = 20_000


@pytest.fixture
def staff(kolokol: Kolokol) -> Kolokol:
    kolokol.add_user("anna", "operator", extensions=("101",), display_name="Анна Смирнова")
    kolokol.add_user("olga", "manager", display_name="Ольга Петровна")
    kolokol.add_contact("p-9", "Анна Петрова", [PATIENT])
    return kolokol


def live(page: Page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=BACK)


def drop_feed(staff: Kolokol, *pages: Page) -> None:
    wait_for(lambda: staff.feed_clients() == len(pages))
    staff.stop_feed()


def test_a_lost_feed_is_a_banner_and_a_card_it_cannot_follow_stops_counting(
    staff: Kolokol, open_page: Any
) -> None:
    anna = open_page("anna")
    live(anna)
    call = answered(live_call(ringing=("101",)), "101")
    staff.live("call.answered", call)
    shown = anna.locator(f'.card[data-call-id="{call.id}"]')
    expect(shown.locator(".band-state")).to_have_text("В разговоре")
    expect(shown.locator(".band-timer")).to_be_visible()
    banner = anna.get_by_role("alert")
    expect(banner).to_be_hidden()

    drop_feed(staff, anna)
    # "Reconnecting" first (after a moment: a quick reconnect is no news), "no connection" once a few
    # attempts have failed; how soon either comes depends on the backoff, so only the end is checked.
    expect(banner).to_be_visible(timeout=BACK)
    expect(shown).to_have_attribute("data-stale", "true")
    expect(shown.locator(".band-state")).to_have_text("Нет связи: что со звонком, неизвестно")
    expect(shown.locator(".band-timer")).to_be_hidden()
    expect(banner).to_contain_text("Нет связи с сервером", timeout=BACK)
    screenshot(anna, "console-offline")

    staff.start_feed()
    banner.get_by_role("button", name="Переподключиться").click()
    live(anna)
    expect(banner).to_be_hidden()
    expect(shown).to_have_attribute("data-stale", "false")
    expect(shown.locator(".band-timer")).to_be_visible()


def test_the_supervisor_board_says_so_too(staff: Kolokol, open_page: Any) -> None:
    olga = open_page("olga", path="/console/supervisor")
    live(olga)
    staff.live("call.ringing", live_call(ringing=("101",)))
    drop_feed(staff, olga)
    expect(olga.get_by_role("alert")).to_be_visible(timeout=BACK)
    expect(olga.locator("#main")).to_have_attribute("data-stale", "true")


def resync_without(staff: Kolokol, call_end: Any) -> None:
    """The call ends while the page is away, in a gap too big to replay: the page must reload its state."""
    staff.live("call.ended", call_end)
    noise = {"task": {"id": "noise", "number": PATIENT, "status": "done", "version": 1}}
    for _ in range(300):
        staff.publish("task.updated", noise, everyone=True)
    staff.start_feed()


def test_a_call_that_ended_unseen_is_not_called_missed_until_its_record_says_so(
    staff: Kolokol, open_page: Any
) -> None:
    anna = open_page("anna")
    live(anna)
    call = live_call(ringing=("101",))
    staff.live("call.ringing", call)
    expect(anna.locator(f'.card[data-call-id="{call.id}"]')).to_have_attribute("data-mode", "ringing")
    drop_feed(staff, anna)
    resync_without(staff, ended(call))
    recent = anna.locator(f'.recent-item[data-call-id="{call.id}"]')
    expect(recent).to_have_attribute("data-outcome", "unknown", timeout=BACK)
    expect(recent.locator(".recent-meta")).to_contain_text("завершён")
    expect(anna.locator(".recent-item.is-missed")).to_have_count(0)
    # The record arrives (the call was missed after all): the strip says so now.
    staff.record(call, "missed")
    expect(recent).to_have_attribute("data-outcome", "unanswered", timeout=BACK)
    expect(recent).to_have_class("recent-item is-missed")
    expect(recent.locator(".recent-meta")).to_contain_text("пропущен")


def test_a_call_answered_unseen_shows_its_talk_time_from_the_record(staff: Kolokol, open_page: Any) -> None:
    anna = open_page("anna")
    live(anna)
    call = answered(live_call(ringing=("101",)), "101")
    staff.live("call.answered", call)
    drop_feed(staff, anna)
    assert call.answered_at is not None
    # Stored before the page looks: half a minute of talk.
    staff.record(call, "answered", by="101", ended_at=call.answered_at + timedelta(seconds=30))
    resync_without(staff, ended(call))
    recent = anna.locator(f'.recent-item[data-call-id="{call.id}"]')
    expect(recent).to_have_attribute("data-outcome", "answered", timeout=BACK)
    expect(recent.locator(".recent-meta")).to_contain_text("разговор 0:30")
