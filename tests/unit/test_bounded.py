"""Bounded copies of stored text: whatever a contact holds, a card and a call record stay small."""

from __future__ import annotations

import json
from typing import Any

from kolokol.bounded import (
    MAX_CONTACTS,
    MAX_FIELDS,
    MAX_NAME_CHARS,
    MAX_TASKS,
    MAX_TEXT_CHARS,
    bounded_card,
    bounded_contact,
    bounded_text,
    bounded_value,
)

HUGE = "Я" * 500_000


def contact(n: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "id": f"c{n}",
        "external_id": f"p-{n}",
        "name": f"Пациент {n}",
        "phones": ["+79161234567"],
        **fields,
    }


def card(contacts: list[dict[str, Any]], tasks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "number": "+79161234567",
        "number_display": "+7 916 123-45-67",
        "contacts": contacts,
        "first_time_caller": False,
        "earlier_calls": 3,
        "last_call": None,
        "open_tasks": tasks or [],
        "line": None,
        "source": None,
    }


def size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


def test_short_text_is_untouched_and_long_text_ends_in_an_ellipsis() -> None:
    assert bounded_text("Анна Петрова") == "Анна Петрова"
    cut = bounded_text(HUGE, 10)
    assert (len(cut), cut) == (10, "Я" * 9 + "…")


def test_text_utf8_cannot_carry_is_repaired() -> None:
    assert bounded_text("Анна\ud800") == "Анна\ufffd"
    assert bounded_value({"a\udfff": ["x\ud800"]}) == {"a\ufffd": ["x\ufffd"]}


def test_a_card_from_a_contact_with_a_500_kb_name_and_huge_fields_is_small() -> None:
    monster = contact(
        name=HUGE,
        phones=[f"+7916{n:07d}" for n in range(1000)],
        **{f"field {n} " + "k" * 1000: HUGE for n in range(100)},
        crm_url="https://crm.clinic/p/" + "x" * 10_000,
    )
    bounded = bounded_card(card([monster]))
    [shown] = bounded["contacts"]
    assert shown["name"] == "Я" * (MAX_NAME_CHARS - 1) + "…"
    assert len(shown) <= 5 + MAX_FIELDS
    assert all(len(v) <= MAX_TEXT_CHARS for k, v in shown.items() if isinstance(v, str))
    assert len(shown["phones"]) == 10
    assert shown["crm_url"] is None, "a cut link leads nowhere"
    assert size(bounded) < 64 * 1024, "was 20 MB on every console for every ring"


def test_a_card_keeps_everything_of_an_ordinary_contact() -> None:
    ordinary = {**contact(1, patient_status="пациент", notes="Боится уколов"), "crm_url": "https://crm/p-1"}
    bounded = bounded_card(card([ordinary]))
    assert bounded["contacts"] == [ordinary]
    assert bounded["contacts_total"] == 1
    assert {k: v for k, v in bounded.items() if k not in ("contacts", "contacts_total")} == {
        k: v for k, v in card([]).items() if k != "contacts"
    }


def test_a_number_shared_by_thousands_of_contacts_shows_a_few_and_says_how_many() -> None:
    tasks = [{"id": f"t{n}", "note": HUGE, "contacts": [{"id": "c", "name": HUGE}] * 100} for n in range(50)]
    bounded = bounded_card(card([contact(n) for n in range(3000)], tasks))
    assert [c["id"] for c in bounded["contacts"]] == [f"c{n}" for n in range(MAX_CONTACTS)]
    assert bounded["contacts_total"] == 3000
    assert len(bounded["open_tasks"]) == MAX_TASKS
    task = bounded["open_tasks"][0]
    assert len(task["note"]) == MAX_TEXT_CHARS
    assert len(task["contacts"]) == MAX_CONTACTS and len(task["contacts"][0]["name"]) == MAX_NAME_CHARS
    assert size(bounded) < 64 * 1024


def test_a_contact_in_the_call_record_keeps_its_fields_bounded() -> None:
    bounded = bounded_contact(contact(notes=HUGE, nested={"deep": [[[[[[HUGE]]]]]]}))
    assert len(bounded["notes"]) == MAX_TEXT_CHARS
    assert size(bounded) < 8 * 1024


def test_ten_monstrous_contacts_on_one_number_still_make_a_card_of_tens_of_kilobytes() -> None:
    monsters = [
        contact(n, name=HUGE, phones=["+7916"] * 100, **{f"поле {i}": HUGE for i in range(100)})
        for n in range(100)
    ]
    bounded = bounded_card(card(monsters))
    assert len(bounded["contacts"]) == MAX_CONTACTS
    assert size(bounded) < 80 * 1024
