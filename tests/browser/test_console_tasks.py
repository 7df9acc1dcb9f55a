"""The callback list as operators work it, in a real browser against a real kolokol: "not reached" waits
and comes back, a close can be undone, rows stay put under the pointer, a patient on the line with a
colleague shows on every screen, and a contact created on a card names its task at once."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from kolokol.app_keys import SESSIONS
from kolokol.storage.tables import CallbackTask
from tests.browser.server import Kolokol, answered, ended, live_call, screenshot

pytestmark = pytest.mark.browser

PATIENT = "+79161234567"
UNDO_SECONDS = 5


@pytest.fixture
def kolokol_settings() -> dict[str, Any]:
    return {
        "tasks": {
            "sla_minutes": 15,
            "retry_after_minutes": 30,
            "max_attempts": 3,
            "undo_seconds": UNDO_SECONDS,
        },
    }


@pytest.fixture
def staff(kolokol: Kolokol) -> Kolokol:
    kolokol.add_user("anna", "operator", extensions=("101",), display_name="Анна Смирнова")
    kolokol.add_user("boris", "operator", extensions=("102",), display_name="Борис Орлов")
    kolokol.add_contact("p-9", "Анна Петрова", [PATIENT])
    return kolokol


def live(page: Page) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)


def row(page: Page, task: dict[str, Any]) -> Any:
    return page.locator(f'.task[data-task-id="{task["id"]}"]')


def stored(kolokol: Kolokol, task_id: str) -> tuple[str, int]:
    async def load() -> tuple[str, int]:
        async with kolokol.app[SESSIONS]() as session:
            task = await session.get(CallbackTask, task_id)
            assert task is not None
            return task.status, task.attempts

    return kolokol.run(load())


def away(page: Page) -> None:
    """The pointer leaves the callback list (to the calls column)."""
    page.mouse.move(200, 400)


def test_not_reached_waits_under_later_and_a_new_miss_brings_it_back(staff: Kolokol, open_page: Any) -> None:
    task = staff.miss(PATIENT, minutes_ago=5)
    anna, boris = open_page("anna"), open_page("boris")
    live(anna)
    live(boris)
    row(anna, task).get_by_role("button", name="Не дозвонились").click()
    shown = row(anna, task)
    expect(shown).to_have_attribute("data-state", "undo")
    expect(shown.locator(".task-outcome")).to_contain_text(
        re.compile(r"Не дозвонились: вернётся в \d\d:\d\d")
    )
    assert stored(staff, task["id"]) == ("open", 1), "not reached is an attempt, not the end"

    # Undo, then do it again and let the few seconds pass.
    shown.get_by_role("button", name="Отменить").click()
    expect(shown).to_have_attribute("data-state", "open")
    expect(anna.locator(".toast")).to_contain_text("Анна Петрова: отменено")
    assert stored(staff, task["id"]) == ("open", 0)
    shown.get_by_role("button", name="Не дозвонились").click()
    away(anna)
    later = anna.locator(".tasks-later")
    expect(later.locator(f'.task[data-task-id="{task["id"]}"]')).to_have_count(
        1, timeout=UNDO_SECONDS * 1000 + 5000
    )
    expect(later.locator(".tasks-later-title")).to_contain_text("Вернутся позже")
    later.locator(".tasks-later-title").click()
    expect(row(anna, task).locator(".task-due")).to_contain_text("вернётся в")
    expect(row(anna, task).locator(".task-meta")).to_contain_text("попытка 1 из 3 · звонил(а) Анна Смирнова")
    # Boris's list says the same: it waits, and who tried.
    expect(boris.locator(f'.tasks-later .task[data-task-id="{task["id"]}"]')).to_have_count(1)
    expect(anna.locator(".task-list:not(.task-list-later) .task")).to_have_count(0)
    screenshot(anna, "console-task-later")

    # The patient calls again and nobody answers: the task is back at once, for everyone.
    away(anna)
    assert staff.miss(PATIENT)["id"] == task["id"]
    for page in (anna, boris):
        expect(
            page.locator(f'.task-list:not(.task-list-later) .task[data-task-id="{task["id"]}"]')
        ).to_have_count(1)
        expect(page.locator(".tasks-later")).to_be_hidden()


def test_a_close_is_undone_and_comes_back_on_every_screen(staff: Kolokol, open_page: Any) -> None:
    task = staff.miss(PATIENT, minutes_ago=3)
    anna, boris = open_page("anna"), open_page("boris")
    live(anna)
    live(boris)
    row(anna, task).get_by_role("button", name="Дозвонились", exact=True).click()
    expect(row(anna, task).locator(".task-outcome")).to_contain_text("Дозвонились: задача закрыта")
    expect(row(boris, task)).to_have_count(0)
    assert stored(staff, task["id"])[0] == "done"
    screenshot(anna, "console-task-undo")
    row(anna, task).get_by_role("button", name="Отменить").click()
    expect(row(anna, task)).to_have_attribute("data-state", "open")
    expect(row(boris, task)).to_have_count(1)
    assert stored(staff, task["id"])[0] == "open"


def test_rows_stay_put_under_the_pointer_and_settle_when_it_leaves(staff: Kolokol, open_page: Any) -> None:
    first = staff.miss("+79031112233", minutes_ago=10)
    second = staff.miss(PATIENT, minutes_ago=5)
    anna, boris = open_page("anna"), open_page("boris")
    live(anna)
    live(boris)
    target = row(anna, second)
    target.hover()
    before = target.bounding_box()
    assert before is not None

    # A more overdue miss arrives, and Boris closes the row above the pointer.
    newest = staff.miss("+79035550011", minutes_ago=30)
    row(boris, first).get_by_role("button", name="Дозвонились", exact=True).click()
    expect(row(anna, first)).to_have_attribute("data-state", "gone")
    expect(row(anna, first).locator(".task-outcome-text")).to_have_text("Закрыто: Борис Орлов")
    expect(row(anna, newest)).to_have_count(1)
    assert target.bounding_box() == before, "the row under the pointer did not move"
    rows = anna.locator(".task-list:not(.task-list-later) .task")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.taskId)") == [
        first["id"],
        second["id"],
        newest["id"],
    ]

    away(anna)
    expect(row(anna, first)).to_have_count(0)
    expect(rows.first).to_have_attribute("data-task-id", newest["id"])
    expect(rows).to_have_count(2)


def test_a_task_whose_patient_is_on_the_line_shows_it_on_every_screen(staff: Kolokol, open_page: Any) -> None:
    task = staff.miss(PATIENT, minutes_ago=4)
    anna, boris = open_page("anna"), open_page("boris")
    live(anna)
    live(boris)
    # The patient calls again; Boris answers. Anna's feed carries none of his calls.
    call = live_call(ringing=("102",))
    staff.live("call.ringing", call)
    talking = answered(call, "102")
    staff.live("call.answered", talking)
    for page in (anna, boris):
        expect(row(page, task)).to_have_attribute("data-in-call", "talking")
        expect(row(page, task).locator(".task-in-call")).to_have_text("В разговоре: Борис Орлов")
    screenshot(anna, "console-task-in-call")
    # The call ends; its record (answered) closes the task everywhere.
    staff.live("call.ended", ended(talking))
    staff.record(talking, "answered", by="102")
    for page in (anna, boris):
        expect(row(page, task)).to_have_count(0)


def test_an_outbound_call_to_the_patient_shows_who_is_calling(staff: Kolokol, open_page: Any) -> None:
    task = staff.miss(PATIENT, minutes_ago=4)
    boris = open_page("boris")
    live(boris)
    dialing = live_call(direction="outbound", state="dialing", operator="101")
    staff.live("call.ringing", dialing)
    expect(row(boris, task).locator(".task-in-call")).to_have_text("Звонит пациенту: Анна Смирнова")
    # Nobody picks up: the task is free again at once.
    staff.live("call.ended", ended(replace(dialing, state="dialing")))
    expect(row(boris, task)).to_have_attribute("data-in-call", "")
    expect(row(boris, task).locator(".task-in-call")).to_be_hidden()


def test_a_contact_created_on_the_card_names_its_task_everywhere(staff: Kolokol, open_page: Any) -> None:
    stranger = "+79998887766"
    task = staff.miss(stranger, minutes_ago=2)
    anna, boris = open_page("anna"), open_page("boris")
    live(anna)
    live(boris)
    expect(row(anna, task).locator(".task-who")).to_have_text("+7 999 888-77-66")
    call = live_call(number=stranger, ringing=("101",))
    staff.live("call.ringing", call)
    shown = anna.locator(f'.card[data-call-id="{call.id}"]')
    shown.get_by_role("button", name="Создать контакт").click()
    shown.get_by_label("Имя и фамилия").fill("Пётр Сидоров")
    shown.get_by_role("button", name="Сохранить").click()
    for page in (anna, boris):
        expect(row(page, task).locator(".task-who")).to_have_text("Пётр Сидоров")


def test_the_undo_outlives_a_reload(staff: Kolokol, open_page: Any) -> None:
    task = staff.miss(PATIENT, minutes_ago=5)
    anna = open_page("anna")
    live(anna)
    row(anna, task).get_by_role("button", name="Не дозвонились").click()
    expect(row(anna, task)).to_have_attribute("data-state", "undo")
    anna.reload()
    live(anna)
    # The server keeps the undo, not the page: it is still there, and it still works.
    row(anna, task).get_by_role("button", name="Отменить").click()
    expect(row(anna, task)).to_have_attribute("data-state", "open")
    assert stored(staff, task["id"]) == ("open", 0)
