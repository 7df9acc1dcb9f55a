"""A caller card reads the clinic's contact fields the way a receptionist does: Russian labels for the
fields a clinic's export has, every date in one format (03.12.2026) whatever the export wrote, and the
patient's age next to the birth date."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.browser.server import Kolokol, live_call

pytestmark = pytest.mark.browser

PATIENT = "+79161234567"
BORN = date(1990, 5, 12)


def age_today() -> int:
    today = datetime.now(ZoneInfo("Europe/Moscow")).date()
    return today.year - BORN.year - ((today.month, today.day) < (BORN.month, BORN.day))


def russian_years(n: int) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return f"{n} год"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return f"{n} года"
    return f"{n} лет"


def fields(page: Page, call_id: str) -> dict[str, str]:
    shown = page.locator(f'.card[data-call-id="{call_id}"] .contact-fields')
    expect(shown).to_be_visible()
    pairs: list[list[str]] = shown.locator(".contact-field").evaluate_all(
        "rows => rows.map(r => [r.querySelector('dt').textContent, r.querySelector('dd').textContent])"
    )
    return dict((label, value) for label, value in pairs)


def test_known_fields_have_labels_dates_one_format_and_the_age(kolokol: Kolokol, open_page: Any) -> None:
    kolokol.add_user("anna", "operator", extensions=("101",), display_name="Анна Смирнова")
    kolokol.add_contact(
        "p-9",
        "Анна Петрова",
        [PATIENT],
        patient_status="пациент",
        next_visit="2026-03-15",
        last_visit="15/02/2026",
        birth_date=BORN.isoformat(),
        doctor="Иванов И. И.",
        branch="Центр",
        email="anna@example.ru",
        # A column kolokol does not know keeps its own name; a date in it reads like the others.
        **{"Дата договора": "2025-01-20T10:00:00", "Телеграм": "@anna"},
    )
    anna = open_page("anna")
    expect(anna.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)
    call = live_call(ringing=("101",))
    kolokol.live("call.ringing", call)
    assert fields(anna, call.id) == {
        "Статус": "пациент",
        "Следующий визит": "15.03.2026",
        "Последний визит": "15.02.2026",
        "Дата рождения": f"12.05.1990 ({russian_years(age_today())})",
        "Врач": "Иванов И. И.",
        "Филиал": "Центр",
        "Эл. почта": "anna@example.ru",
        "Дата договора": "20.01.2025",
        "Телеграм": "@anna",
    }
