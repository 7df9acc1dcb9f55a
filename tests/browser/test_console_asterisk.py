"""End to end: real phone calls through a real Asterisk 22 (SIPp as the patient's line and the phones),
received by kolokol over AMI, shown in the operator console in a real Chromium.

A ring pops the caller's card on both operators' screens, answering closes it on the other one, a missed
call lands in both callback lists, and "call back" on the list rings the operator's phone and dials the
patient through Asterisk (the task then closes itself because the patient was reached).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.server import Kolokol, screenshot
from tests.support import asterisk_harness as h

pytestmark = [pytest.mark.browser, pytest.mark.asterisk, pytest.mark.timeout(300)]

PATIENT = "+79161234567"
CALL_TIME = 30_000  # ms: a real call takes seconds; only a bound for a broken run


@pytest.fixture
def kolokol_settings(asterisk: None) -> dict[str, Any]:
    return {
        "pbx": {"asterisk": h.kolokol_ami_settings()},
        "calls": {"settle_seconds": 0.5},
        "lines": {"+7 495 111-00-01": {"name": "Основная линия", "branch": "Центр"}},
    }


@pytest.fixture
def staff(kolokol: Kolokol) -> Kolokol:
    kolokol.add_user("anna", "operator", extensions=("101",), display_name="Анна Смирнова")
    kolokol.add_user("boris", "operator", extensions=("102",), display_name="Борис Орлов")
    kolokol.add_contact("p-9", "Анна Петрова", ["8 (916) 123-45-67"], patient_status="пациент")
    return kolokol


class Background:
    """A harness scenario on its own thread, so the test can watch the pages while the call goes on."""

    def __init__(self, scenario: Callable[[h.AmiClient], None]) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(scenario,), daemon=True)
        self._thread.start()

    def _run(self, scenario: Callable[[h.AmiClient], None]) -> None:
        try:
            with h.AmiClient() as ami:
                scenario(ami)
        except BaseException as exc:  # reported to the test in join()
            self._error = exc

    def join(self) -> None:
        self._thread.join(120)
        assert not self._thread.is_alive(), "the scenario did not finish"
        if self._error is not None:
            raise self._error


@pytest.fixture
def scenarios() -> Iterator[list[Background]]:
    running: list[Background] = []
    yield running
    for scenario in running:
        scenario.join()


def live(page: Page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)


def test_real_calls_in_the_console(staff: Kolokol, open_page: Any, scenarios: list[Background]) -> None:
    anna, boris = open_page("anna"), open_page("boris")
    live(anna)
    live(boris)

    # A patient calls the ring group: 101 and 102 ring, 102 answers after 2 s.
    call = Background(h.scenario_ringall_answered)
    scenarios.append(call)
    for page in (anna, boris):
        card = page.locator(".card")
        expect(card).to_have_count(1, timeout=CALL_TIME)
        expect(card.locator(".caller-name")).to_have_text("Анна Петрова")
        expect(card.locator(".caller-number")).to_have_text("+7 916 123-45-67")
        expect(card.locator(".band-line")).to_contain_text("Основная линия · Центр")
    screenshot(anna, "asterisk-ringing")
    expect(boris.locator(".card")).to_have_attribute("data-mode", "talking", timeout=CALL_TIME)
    expect(anna.locator(".card")).to_have_count(0, timeout=CALL_TIME)
    call.join()
    expect(boris.locator(".card")).to_have_count(0, timeout=CALL_TIME)

    # The patient calls again and gives up while it rings: a callback task on both lists.
    missed = Background(h.scenario_caller_hangup_while_ringing)
    scenarios.append(missed)
    for page in (anna, boris):
        task = page.locator(".task-list .task")
        expect(task).to_have_count(1, timeout=CALL_TIME)
        expect(task.locator(".task-who")).to_have_text("Анна Петрова")
    missed.join()
    screenshot(anna, "asterisk-missed")

    # Anna calls back with one click: her phone rings (Originate), she answers, the patient is dialled
    # and answers; the task closes itself on both lists because the patient was reached.
    def click_call_back() -> None:
        anna.locator(".task-list .task").get_by_role("button", name="Позвонить").click()

    with h.AmiClient() as ami:
        h.scenario_click_to_call(ami, originate=click_call_back)
    # While Anna's pointer is still on the list the closed task stays where it was, greyed.
    anna.mouse.move(200, 400)
    expect(anna.locator(".task-list .task")).to_have_count(0, timeout=CALL_TIME)
    expect(boris.locator(".task-list .task")).to_have_count(0, timeout=CALL_TIME)
    # Recent calls: Anna's are the missed one (it rang on her phone) and her call back; the ring group's
    # call Boris took is not hers. Boris's are the call he took and the missed one.
    expect(anna.locator(".recent-item")).to_have_count(2)
    expect(anna.locator(".recent-item").first).to_contain_text("Анна Петрова")
    expect(anna.locator(".recent-item.is-missed")).to_have_count(1)
    expect(boris.locator(".recent-item")).to_have_count(2)
    expect(boris.locator(".recent-item.is-missed")).to_have_count(1)
    screenshot(anna, "asterisk-called-back")
