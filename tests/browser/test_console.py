"""The operator console and the supervisor view in a real browser, against a real kolokol.

Calls go through the real live publisher (`kolokol.live`: caller cards built from the database), tasks
through the real call pipeline (`kolokol.miss`), so what the pages show is what an operator would see.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from kolokol.app_keys import SESSIONS
from kolokol.storage.tables import CallbackTask, Contact
from tests.browser.server import Kolokol, answered, ended, live_call, screenshot, utc_now, wait_for

pytestmark = pytest.mark.browser

PATIENT = "+79161234567"


@pytest.fixture
def kolokol_settings() -> dict[str, Any]:
    return {
        "lines": {"+7 495 111-00-01": {"name": "Основная линия", "branch": "Центр"}},
        "console": {
            "crm_contact_url": "https://crm.clinic/patients/{external_id}",
            "task_warning_minutes": 5,
        },
        "tasks": {"sla_minutes": 15},
    }


@pytest.fixture
def staff(kolokol: Kolokol) -> Kolokol:
    kolokol.add_user("anna", "operator", extensions=("101",), display_name="Анна Смирнова")
    kolokol.add_user("boris", "operator", extensions=("102",), display_name="Борис Орлов")
    kolokol.add_user("olga", "manager", display_name="Ольга Петровна")
    kolokol.add_contact(
        "p-9",
        "Анна Петрова",
        [PATIENT],
        patient_status="пациент",
        next_visit="2026-03-15",
        curator="Смирнова О.",
        notes="Боится уколов",
    )
    return kolokol


def live(page: Page) -> None:
    """The page has its snapshot and a subscribed feed: what is published now reaches it."""
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)


def card(page: Page, call_id: str) -> Any:
    return page.locator(f'.card[data-call-id="{call_id}"]')


def no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"horizontal scroll: content {widths[0]}px in a {widths[1]}px window"


def test_a_ring_pops_the_card_on_both_phones_and_the_answer_closes_the_other(
    staff: Kolokol, open_page: Any
) -> None:
    anna, boris = open_page("anna"), open_page("boris")
    live(anna)
    live(boris)

    call = live_call(ringing=("101", "102"), started_at=utc_now() - timedelta(seconds=4))
    staff.live("call.ringing", call)
    for page in (anna, boris):
        ringing = card(page, call.id)
        expect(ringing).to_have_attribute("data-mode", "ringing")
        expect(ringing.locator(".caller-name")).to_have_text("Анна Петрова")
        expect(ringing.locator(".caller-number")).to_have_text("+7 916 123-45-67")
        expect(ringing.locator(".band-line")).to_contain_text("Основная линия · Центр")
        expect(ringing.locator(".contact-fields")).to_contain_text("Смирнова О.")
        expect(ringing.locator(".contact-notes")).to_have_text("Боится уколов")
        expect(ringing.get_by_role("link", name="Открыть в CRM")).to_have_attribute(
            "href", "https://crm.clinic/patients/p-9"
        )
    expect(anna).to_have_title(re.compile("Анна Петрова"))
    screenshot(anna, "console-ringing")

    talking = answered(call, "101")
    staff.live("call.answered", talking)
    expect(card(anna, call.id)).to_have_attribute("data-mode", "talking")
    expect(card(anna, call.id).locator(".band-state")).to_have_text("В разговоре")
    # By name: Boris knows who Анна Смирнова is; "101" would mean nothing to him.
    expect(card(boris, call.id).locator(".band-state")).to_have_text("Ответил(а) Анна Смирнова")
    expect(card(boris, call.id)).to_have_count(0, timeout=6000)
    expect(boris.locator("#idle")).to_be_visible()
    screenshot(anna, "console-talking")

    staff.live("call.ended", ended(talking))
    expect(card(anna, call.id)).to_have_count(0)
    recent = anna.locator(f'.recent-item[data-call-id="{call.id}"]')
    expect(recent).to_contain_text("Анна Петрова")
    expect(recent.locator(".recent-meta")).to_contain_text("разговор")
    # Not Boris's call in the end: it does not join his recent calls.
    expect(boris.locator(f'.recent-item[data-call-id="{call.id}"]')).to_have_count(0)


def test_several_contacts_on_one_number_are_picked_from_tabs(staff: Kolokol, open_page: Any) -> None:
    staff.add_contact("p-10", "Миша Петров", [PATIENT], patient_status="ребёнок", next_visit="2026-04-01")
    anna = open_page("anna")
    live(anna)
    call = live_call(ringing=("101",))
    staff.live("call.ringing", call)
    shown = card(anna, call.id)
    expect(shown.locator(".caller-name")).to_have_text("+7 916 123-45-67")
    expect(shown.locator(".caller-number")).to_have_text("2 контакта с этим номером")
    tabs = shown.get_by_role("tab")
    expect(tabs).to_have_count(2)
    shown.get_by_role("tab", name=re.compile("Миша Петров")).click()
    expect(shown.get_by_role("tabpanel")).to_contain_text("ребёнок")
    expect(shown.get_by_role("link", name=re.compile("Открыть в CRM"))).to_have_attribute(
        "href", "https://crm.clinic/patients/p-10"
    )
    # Keyboard: arrows move between the contacts.
    shown.get_by_role("tab", name=re.compile("Миша Петров")).press("ArrowLeft")
    expect(shown.get_by_role("tab", name=re.compile("Анна Петрова"))).to_be_focused()
    expect(shown.get_by_role("tabpanel")).to_contain_text("Боится уколов")


def test_an_outbound_call_shows_the_patient_without_ringing(staff: Kolokol, open_page: Any) -> None:
    anna = open_page("anna")
    live(anna)
    call = live_call(direction="outbound", state="dialing", ringing=(), operator="101")
    staff.live("call.ringing", call)
    shown = card(anna, call.id)
    expect(shown).to_have_attribute("data-mode", "dialing")
    expect(shown.locator(".band-state")).to_have_text("Исходящий звонок")
    expect(shown.locator(".caller-name")).to_have_text("Анна Петрова")
    assert "☎" not in anna.title()


def test_the_callback_list_shows_sla_colours_and_closes_tasks(staff: Kolokol, open_page: Any) -> None:
    overdue = staff.miss("+79031112233", minutes_ago=20)
    soon = staff.miss(PATIENT, minutes_ago=12)
    anna, boris = open_page("anna"), open_page("boris")
    live(anna)
    live(boris)
    rows = anna.locator(".task-list .task")
    expect(rows).to_have_count(2)
    # Most overdue first; red once overdue, amber within the warning minutes before due.
    expect(rows.nth(0)).to_have_attribute("data-task-id", overdue["id"])
    expect(rows.nth(0)).to_have_attribute("data-sla", "late")
    expect(rows.nth(0).locator(".task-ago")).to_have_text("20 мин назад")
    expect(rows.nth(0).locator(".task-due")).to_have_text("просрочено на 5 мин")
    expect(rows.nth(1)).to_have_attribute("data-sla", "warn")
    expect(rows.nth(1).locator(".task-who")).to_have_text("Анна Петрова")

    fresh = staff.miss("+79037778899")  # a task.created from the live publisher
    new_row = anna.locator(f'.task[data-task-id="{fresh["id"]}"]')
    expect(new_row).to_have_attribute("data-sla", "calm")
    expect(new_row.locator(".task-ago")).to_have_text("только что")
    expect(new_row.locator(".task-who")).to_have_text("+7 903 777-88-99")
    expect(anna.locator(".tasks-head .count").first).to_have_text("3")
    screenshot(anna, "console-tasks")

    # Anna takes one; Boris sees who took it, by name.
    anna.locator(f'.task[data-task-id="{soon["id"]}"]').get_by_role("button", name="Взять себе").click()
    expect(anna.locator(f'.task[data-task-id="{soon["id"]}"] .task-meta')).to_contain_text("за вами")
    expect(boris.locator(f'.task[data-task-id="{soon["id"]}"] .task-meta')).to_contain_text(
        "взял(а) Анна Смирнова"
    )

    # "Дозвонились" closes the task for real, and it leaves every list.
    anna.locator(f'.task[data-task-id="{overdue["id"]}"]').get_by_role(
        "button", name="Дозвонились", exact=True
    ).click()
    expect(boris.locator(f'.task[data-task-id="{overdue["id"]}"]')).to_have_count(0)
    expect(anna.locator(f'.task[data-task-id="{overdue["id"]}"]')).to_contain_text(
        "Дозвонились: задача закрыта"
    )
    anna.mouse.move(0, 0)  # the pointer leaves the list; the undo's few seconds pass, the row goes
    expect(anna.locator(f'.task[data-task-id="{overdue["id"]}"]')).to_have_count(0, timeout=20_000)
    assert task_row(staff, overdue["id"]) == ("done", "done")


def task_row(kolokol: Kolokol, task_id: str) -> tuple[str, str | None]:
    async def load() -> tuple[str, str | None]:
        async with kolokol.app[SESSIONS]() as session:
            task = await session.get(CallbackTask, task_id)
            assert task is not None
            return task.status, task.resolution

    return kolokol.run(load())


def test_a_task_closed_by_someone_else_first_leaves_calmly(staff: Kolokol, open_page: Any) -> None:
    task = staff.miss(PATIENT, minutes_ago=2)
    anna = open_page("anna")
    live(anna)
    # Another operator closed it a moment ago and the news has not arrived yet: the server says 409.
    anna.route(
        f"**/api/tasks/{task['id']}/complete",
        lambda route: route.fulfill(
            status=409,
            content_type="application/json",
            body='{"error": "task-closed", "message": "the task is already closed", "details": {}}',
        ),
    )
    anna.locator(f'.task[data-task-id="{task["id"]}"]').get_by_role(
        "button", name="Дозвонились", exact=True
    ).click()
    anna.mouse.move(0, 0)
    expect(anna.locator(f'.task[data-task-id="{task["id"]}"]')).to_have_count(0)
    expect(anna.locator(".toast")).to_contain_text("задачу уже закрыл коллега")
    expect(anna.locator(".toast-error")).to_have_count(0)


def test_no_call_button_without_a_phone_system(staff: Kolokol, open_page: Any) -> None:
    staff.miss(PATIENT, minutes_ago=2)
    anna = open_page("anna")
    live(anna)
    # No Asterisk is configured in these tests: click-to-call cannot work, so it is not offered.
    expect(anna.locator(".task").get_by_role("button", name="Дозвонились", exact=True)).to_be_visible()
    expect(anna.locator(".task").get_by_role("button", name="Позвонить")).to_be_hidden()


def test_a_contact_is_created_from_an_unknown_caller(staff: Kolokol, open_page: Any) -> None:
    anna = open_page("anna")
    live(anna)
    call = live_call(number="+79998887766", ringing=("101",))
    staff.live("call.ringing", call)
    shown = card(anna, call.id)
    expect(shown.locator(".caller-name")).to_have_text("+7 999 888-77-66")
    expect(shown.locator(".badge-new")).to_have_text("Впервые звонит")
    shown.get_by_role("button", name="Создать контакт").click()
    expect(shown.get_by_label("Имя и фамилия")).to_be_focused()
    shown.get_by_label("Имя и фамилия").fill("Пётр Сидоров")
    shown.get_by_label("Заметка").fill("Спрашивал про имплантацию")
    screenshot(anna, "console-create-contact")
    shown.get_by_role("button", name="Сохранить").click()
    expect(shown.locator(".caller-name")).to_have_text("Пётр Сидоров")
    expect(shown.locator(".contact-notes")).to_have_text("Спрашивал про имплантацию")
    expect(shown.get_by_role("button", name="Создать контакт")).to_have_count(0)

    async def stored() -> list[tuple[str, list[str], dict[str, str]]]:
        async with staff.app[SESSIONS]() as session:
            contacts = (await session.scalars(select(Contact).where(Contact.name == "Пётр Сидоров"))).all()
            return [(c.name, [p.number for p in c.phones], dict(c.fields)) for c in contacts]

    assert staff.run(stored()) == [("Пётр Сидоров", ["+79998887766"], {"notes": "Спрашивал про имплантацию"})]

    # The recent strip knows the caller by name after the call.
    staff.live("call.ended", ended(call))
    expect(anna.locator(f'.recent-item[data-call-id="{call.id}"] .recent-who')).to_have_text("Пётр Сидоров")


def test_a_half_filled_contact_form_outlives_the_call(staff: Kolokol, open_page: Any) -> None:
    anna = open_page("anna")
    live(anna)
    call = live_call(number="+79998887766", ringing=("101",))
    staff.live("call.ringing", call)
    shown = card(anna, call.id)
    shown.get_by_role("button", name="Создать контакт").click()
    shown.get_by_label("Имя и фамилия").fill("Пётр")
    staff.live("call.ended", ended(call))
    expect(shown).to_have_attribute("data-mode", "ended")
    expect(shown.get_by_label("Имя и фамилия")).to_have_value("Пётр")
    shown.get_by_role("button", name="Отмена").click()
    expect(shown).to_have_count(0)


def test_the_supervisor_sees_every_call_and_phone(staff: Kolokol, open_page: Any) -> None:
    staff.miss("+79031112233", minutes_ago=20)
    olga = open_page("olga", path="/console/supervisor")
    live(olga)
    expect(olga.locator('.ext-tile[data-ext="101"]')).to_contain_text("Анна Смирнова")
    expect(olga.locator('.ext-tile[data-ext="101"]')).to_have_attribute("data-state", "idle")

    ringing = live_call(ringing=("101",), started_at=utc_now() - timedelta(seconds=40))
    staff.live("call.ringing", ringing)
    other = live_call(number="+79035550011", ringing=("102",), started_at=utc_now() - timedelta(seconds=90))
    staff.live("call.ringing", other)
    staff.live("call.answered", answered(other, "102", utc_now() - timedelta(seconds=75)))

    row = olga.locator(f'#live-rows tr[data-call-id="{ringing.id}"]')
    expect(row).to_have_attribute("data-state", "ringing")
    expect(row.locator(".cell-who")).to_have_text("Анна Петрова")
    expect(row.locator(".cell-line")).to_have_text("Основная линия · Центр")
    # The phone by the person who answers it.
    expect(row.locator(".cell-phones .ext-chip")).to_have_accessible_name("Анна Смирнова, доб. 101")
    expect(row.locator(".cell-phones")).to_contain_text("Анна Смирнова")
    talking_row = olga.locator(f'#live-rows tr[data-call-id="{other.id}"]')
    expect(talking_row).to_have_attribute("data-state", "talking")
    expect(olga.locator('.ext-tile[data-ext="101"]')).to_have_attribute("data-state", "ringing")
    expect(olga.locator('.ext-tile[data-ext="102"]')).to_have_attribute("data-state", "talking")
    expect(olga.locator('.ext-tile[data-ext="102"] .ext-detail')).to_have_text("+7 903 555-00-11")
    expect(olga.locator('.stat[data-kind="late"] .stat-value')).to_have_text("1")
    expect(olga.locator(".task")).to_have_count(1)
    no_horizontal_scroll(olga)
    screenshot(olga, "supervisor")

    staff.live("call.ended", ended(ringing))
    expect(row).to_have_count(0)
    expect(olga.locator('.ext-tile[data-ext="101"]')).to_have_attribute("data-state", "idle")


def test_operators_cannot_open_the_supervisor_view(staff: Kolokol, open_page: Any) -> None:
    anna = open_page("anna")
    response = anna.goto("/console/supervisor")
    assert response is not None and response.status == 403


def test_the_console_fits_a_reception_screen(staff: Kolokol, open_page: Any) -> None:
    staff.add_contact("p-10", "Миша Петров", [PATIENT], patient_status="ребёнок")
    for minutes in (40, 25, 12, 6, 1):
        staff.miss(f"+7903111223{minutes % 10}", minutes_ago=minutes)
    anna = open_page("anna")
    live(anna)
    staff.live("call.ringing", live_call(ringing=("101",)))
    staff.live("call.ringing", live_call(number="+79998887766", ringing=("101",)))
    expect(anna.locator(".card")).to_have_count(2)
    no_horizontal_scroll(anna)
    # The card and the callback list sit side by side.
    card_box = anna.locator(".card").first.bounding_box()
    tasks_box = anna.locator("#tasks").bounding_box()
    assert card_box is not None and tasks_box is not None
    assert card_box["x"] + card_box["width"] <= tasks_box["x"]
    assert tasks_box["x"] + tasks_box["width"] <= 1366
    screenshot(anna, "console-1366x768")


def test_the_language_switches_to_english_and_stays(staff: Kolokol, open_page: Any) -> None:
    staff.miss(PATIENT, minutes_ago=2)
    anna = open_page("anna")
    expect(anna.locator("html")).to_have_attribute("lang", "ru")
    anna.get_by_role("link", name="EN").click()
    anna.wait_for_url("**/console?lang=en")
    expect(anna.locator("html")).to_have_attribute("lang", "en")
    live(anna)
    expect(anna.locator("#tasks-heading")).to_contain_text("Waiting for a call back")
    expect(anna.locator(".task").get_by_role("button", name="Reached", exact=True)).to_be_visible()
    expect(anna.locator(".task").get_by_role("button", name="Not reached")).to_be_visible()
    expect(anna.locator("#conn-label")).to_have_text("Live")
    anna.goto("/console")
    expect(anna.locator("html")).to_have_attribute("lang", "en")
    call = live_call(ringing=("101",))
    live(anna)
    staff.live("call.ringing", call)
    expect(card(anna, call.id).locator(".band-state")).to_have_text("Incoming call")
    screenshot(anna, "console-english")


def test_the_page_catches_up_after_the_feed_drops(staff: Kolokol, open_page: Any) -> None:
    anna = open_page("anna")
    live(anna)
    wait_for(lambda: staff.feed_clients() == 1)
    staff.stop_feed()
    expect(anna.locator("#conn")).not_to_have_attribute("data-state", "live")
    call = live_call(ringing=("101",))
    staff.live("call.ringing", call)  # published while the page is away: its resume brings it
    staff.start_feed()
    expect(card(anna, call.id)).to_have_attribute("data-mode", "ringing", timeout=15_000)
    live(anna)


def test_a_gap_too_big_to_replay_reloads_the_page_state(staff: Kolokol, open_page: Any) -> None:
    task = staff.miss("+79031112233", minutes_ago=3)
    anna = open_page("anna")
    live(anna)
    expect(anna.locator(".task")).to_have_count(1)
    wait_for(lambda: staff.feed_clients() == 1)
    staff.stop_feed()
    call = live_call(ringing=("101",))
    staff.live("call.ringing", call)
    staff.miss(PATIENT)
    # More missed messages than a client's send queue holds: the server answers "resync".
    noise = {"task": {**task, "id": "noise", "status": "done"}}
    for _ in range(300):
        staff.publish("task.updated", noise, everyone=True)
    staff.start_feed()
    expect(card(anna, call.id)).to_have_attribute("data-mode", "ringing", timeout=15_000)
    expect(anna.locator(".task")).to_have_count(2)
    live(anna)


def test_a_session_that_ends_asks_to_log_in_again(staff: Kolokol, open_page: Any) -> None:
    anna = open_page("anna")
    live(anna)
    anna.context.clear_cookies()
    staff.miss(PATIENT)  # the page is told, and its next request finds no session
    anna.locator(".task").get_by_role("button", name="Взять себе").click()
    dialog = anna.get_by_role("dialog")
    expect(dialog).to_contain_text("Сеанс завершён")
    expect(dialog.get_by_role("link", name="Войти снова")).to_have_attribute("href", "/login?next=%2Fconsole")


FAKE_NOTIFICATIONS = """
(() => {
  window.__notifications = [];
  class FakeNotification {
    static permission = 'granted';
    static requestPermission() { return Promise.resolve('granted'); }
    constructor(title, options) {
      this.title = title;
      this.options = options;
      this.closed = false;
      window.__notifications.push(this);
    }
    addEventListener() {}
    close() { this.closed = true; }
  }
  window.Notification = FakeNotification;
  // The receptionist is in another window (the CRM): the console is not focused.
  document.hasFocus = () => false;
})();
"""


def test_sound_and_a_desktop_notification_while_ringing(staff: Kolokol, open_page: Any) -> None:
    anna = open_page("anna")
    anna.add_init_script(FAKE_NOTIFICATIONS)
    anna.reload()
    live(anna)
    unlock = anna.get_by_role("button", name="Включить звук и уведомления")
    expect(unlock).to_be_visible()
    unlock.click()
    expect(unlock).to_be_hidden()

    call = live_call(ringing=("101",))
    staff.live("call.ringing", call)
    expect(anna.locator("body")).to_have_attribute("data-ringing", "true")
    assert anna.evaluate("window.__notifications.map(n => [n.title, n.options.tag])") == [
        ["Звонок: Анна Петрова", f"call-{call.id}"]
    ]
    expect(anna.locator("#announcer")).to_have_text("Входящий звонок: Анна Петрова")

    staff.live("call.answered", answered(call, "101"))
    expect(anna.locator("body")).to_have_attribute("data-ringing", "false")
    assert anna.evaluate("window.__notifications[0].closed") is True

    # The sound switch in the header silences the ring.
    anna.get_by_role("button", name="Звук звонка включён").click()
    expect(anna.get_by_role("button", name="Звук звонка выключен")).to_have_attribute("aria-pressed", "false")


def test_an_operator_without_a_phone_still_works_the_callback_list(staff: Kolokol, open_page: Any) -> None:
    staff.add_user("vera", "operator", display_name="Вера")
    staff.miss(PATIENT, minutes_ago=3)
    vera = open_page("vera")
    expect(vera.locator("#no-extension")).to_be_visible()
    expect(vera.locator("#me-ext")).to_have_text("без телефона")
    expect(vera.locator(".task")).to_have_count(1)
    # No phone to ring first: no call-back button.
    expect(vera.locator(".task").get_by_role("button", name="Позвонить")).to_be_hidden()
    expect(vera.locator(".task").get_by_role("button", name="Дозвонились", exact=True)).to_be_visible()


def test_a_withheld_number_says_so(staff: Kolokol, open_page: Any) -> None:
    anna = open_page("anna")
    live(anna)
    call = live_call(number=None, ringing=("101",))
    staff.live("call.ringing", call)
    shown = card(anna, call.id)
    expect(shown.locator(".caller-name")).to_have_text("Номер скрыт")
    expect(shown.get_by_role("button", name="Создать контакт")).to_have_count(0)


def test_a_call_that_rang_before_the_console_opened_shows_its_card(staff: Kolokol, open_page: Any) -> None:
    """Nobody watched when it rang, so no card was built then: the console's snapshot builds it."""
    call = live_call(ringing=("101",))
    staff.live("call.ringing", call)
    anna = open_page("anna")
    live(anna)
    shown = card(anna, call.id)
    expect(shown.locator(".caller-name")).to_have_text("Анна Петрова")
    expect(shown.locator(".contact-notes")).to_have_text("Боится уколов")


def test_a_queue_between_attempts_keeps_the_card_and_a_hang_up_makes_it_a_missed_call(
    staff: Kolokol, open_page: Any
) -> None:
    anna = open_page("anna")
    live(anna)
    call = live_call(ringing=("101",), queue="reception")
    staff.live("call.ringing", call)
    shown = card(anna, call.id)
    expect(shown).to_have_attribute("data-mode", "ringing")
    # The queue's ring attempt timed out: 101 stops ringing, the caller still waits for the next one.
    between = replace(call, ringing=())
    staff.live("call.updated", between)
    expect(shown).to_have_attribute("data-mode", "paused")
    expect(shown.locator(".band-state")).to_have_text("Звонок ещё идёт")
    staff.live("call.ringing", call)
    expect(shown).to_have_attribute("data-mode", "ringing")
    # Nobody answers; the caller gives up: the card goes, and the call is among her recent ones.
    staff.live("call.updated", between)
    staff.live("call.ended", ended(between))
    expect(shown).to_have_count(0)
    expect(anna.locator(f'.recent-item.is-missed[data-call-id="{call.id}"]')).to_have_count(1)


def test_the_card_names_who_talked_to_the_caller_last_time(staff: Kolokol, open_page: Any) -> None:
    earlier = live_call(ringing=("102",), started_at=utc_now() - timedelta(hours=2))
    staff.record(earlier, "answered", by="102", ended_at=earlier.started_at + timedelta(minutes=3))
    anna = open_page("anna")
    live(anna)
    call = live_call(ringing=("101",))
    staff.live("call.ringing", call)
    expect(card(anna, call.id).locator(".history")).to_contain_text("отвечен, говорил(а) Борис Орлов")
