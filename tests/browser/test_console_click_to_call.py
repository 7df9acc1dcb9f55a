"""Click-to-call is offered only where it can work: with kolokol logged in to Asterisk (here a small AMI
server standing in for it). When Asterisk goes away the buttons go too, and they come back with it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.server import AmiThread, Kolokol, logged_in_to_ami, wait_for

pytestmark = pytest.mark.browser

PATIENT = "+79161234567"


@pytest.fixture
def asterisk() -> Iterator[AmiThread]:
    ami = AmiThread()
    yield ami
    ami.close()


@pytest.fixture
def kolokol_settings(asterisk: AmiThread) -> dict[str, Any]:
    return {"pbx": {"asterisk": asterisk.settings()}}


@pytest.fixture
def staff(kolokol: Kolokol) -> Kolokol:
    kolokol.add_user("gleb", "operator", extensions=("103", "104"), display_name="Глеб")
    kolokol.add_user("anna", "operator", extensions=("101",), display_name="Анна Смирнова")
    kolokol.miss(PATIENT, minutes_ago=3)
    wait_for(lambda: logged_in_to_ami(kolokol), timeout=10)
    return kolokol


def live(page: Page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)


def test_a_second_phone_is_chosen_once_and_remembered(
    staff: Kolokol, asterisk: AmiThread, open_page: Any
) -> None:
    gleb = open_page("gleb")
    live(gleb)
    gleb.locator(".task").get_by_role("button", name="Позвонить").click()
    dialog = gleb.get_by_role("dialog")
    expect(dialog).to_contain_text("С какого телефона звонить?")
    dialog.get_by_role("button", name="доб. 104").click()
    expect(gleb.locator(".toast")).to_contain_text("снимите трубку на доб. 104")
    expect(gleb.locator("#ext-picker")).to_have_value("104")
    # Asked again at once: no question this time; 104 is still ringing for the first one.
    gleb.locator(".task").get_by_role("button", name="Позвонить").click()
    expect(gleb.locator(".toast-error")).to_contain_text("Доб. 104 уже звонит: снимите трубку")
    expect(gleb.get_by_role("dialog")).to_have_count(0)
    originates = asterisk.originates()
    assert [(a["Channel"], a["Exten"]) for a in originates] == [("PJSIP/104", PATIENT)]


def test_the_buttons_go_with_asterisk_and_come_back_with_it(
    staff: Kolokol, asterisk: AmiThread, open_page: Any
) -> None:
    anna = open_page("anna")
    # The page asks again every 30 s: the test moves the page's clock instead of waiting.
    anna.clock.install()
    anna.reload()
    live(anna)
    call = anna.locator(".task").get_by_role("button", name="Позвонить")
    expect(call).to_be_visible()

    asterisk.stop()
    wait_for(lambda: not logged_in_to_ami(staff), timeout=10)
    # Pressed before the page has heard: Asterisk cannot take it, and the buttons go at once.
    call.click()
    expect(anna.locator(".toast-error")).to_contain_text("Наберите +7 916 123-45-67 вручную")
    expect(call).to_be_hidden()

    asterisk.start()
    wait_for(lambda: logged_in_to_ami(staff), timeout=30)
    anna.clock.run_for(31_000)
    expect(call).to_be_visible()
