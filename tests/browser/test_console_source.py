"""The caller card says where the call came from, from the first ring: a static tracking number's source,
a website visitor's campaign, "probable" when attribution is unsure, nothing for an untracked line."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from kolokol.app_keys import SESSIONS
from tests.browser.server import Kolokol, live_call, utc_now
from tests.support.tracking_history import History

pytestmark = pytest.mark.browser

BILLBOARD = "+74951110030"
POOL_NUMBER = "+74951110020"


@pytest.fixture
def tracked(kolokol: Kolokol) -> Kolokol:
    kolokol.add_user("anna", "operator", extensions=("101",), display_name="Анна Смирнова")
    now = utc_now()

    async def numbers() -> None:
        async with kolokol.app[SESSIONS].begin() as session:
            history = History(session)
            history.static(
                BILLBOARD,
                name="Билборд на Тверской",
                channel="offline",
                source="billboard",
                medium="outdoor",
                campaign="<b>tverskaya</b>",
            )
            await history.site([POOL_NUMBER], fallback="+74951110001")
            visited = now - timedelta(days=3)
            visitor = history.visit(
                "visitor-one-0000000000", visited, channel="organic", source="yandex", medium="organic"
            )
            # The visitor left three days ago: the number was dialled from the phone's history.
            history.lease(visitor, POOL_NUMBER, visited, visited + timedelta(minutes=5))

    kolokol.run(numbers())
    return kolokol


def badge(page: Page, call_id: str) -> Any:
    return page.locator(f'.card[data-call-id="{call_id}"] .badge-source')


def test_the_card_names_the_source_from_the_first_ring(tracked: Kolokol, open_page: Any) -> None:
    anna = open_page("anna")
    expect(anna.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)

    billboard = live_call(ringing=("101",), called=BILLBOARD, number="+79161234567")
    tracked.live("call.ringing", billboard)
    # The campaign is the marketer's text: shown as text, never as markup.
    expect(badge(anna, billboard.id)).to_have_text("Источник: billboard · <b>tverskaya</b>")

    saved = live_call(ringing=("101",), called=POOL_NUMBER, number="+79160000002")
    tracked.live("call.ringing", saved)
    expect(badge(anna, saved.id)).to_have_text("Вероятно, источник: yandex")
    assert "saved-number" in (badge(anna, saved.id).get_attribute("title") or "")

    untracked = live_call(ringing=("101",), number="+79160000003")
    tracked.live("call.ringing", untracked)
    expect(anna.locator(f'.card[data-call-id="{untracked.id}"] .caller-name')).to_be_visible()
    expect(badge(anna, untracked.id)).to_have_count(0)
