"""The snippet's number matching and formatting, in Chromium on a blank page (no kolokol): the script as
kolokol serves it, through `kolokol.format(text, numbers)`, which writes numbers as a page's scan does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from calltracking.snippet_http import ServedScript

CLINIC = "+74951110001"
SHOWN = "+74951110023"
NUMBERS = {CLINIC: SHOWN, "+78005550101": "+78005550199"}


@pytest.fixture(scope="module")
def blank(chromium: Browser) -> Iterator[Page]:
    page = chromium.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: errors.append(f"asked {request.url}"))
    page.set_content("<!doctype html><title>blank</title>")
    page.add_script_tag(content=ServedScript.load().plain.decode())
    yield page
    page.close()
    assert not errors


def fmt(page: Page, text: str, numbers: dict[str, object] | None = None) -> str:
    result = page.evaluate(
        "([t, n]) => kolokol.format(t, n)", [text, NUMBERS if numbers is None else numbers]
    )
    assert isinstance(result, str)
    return result


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("+7 (495) 111-00-01", "+7 (495) 111-00-23"),
        ("8 495 111 00 01", "8 495 111 00 23"),
        ("84951110001", "84951110023"),
        ("+74951110001", "+74951110023"),
        ("+7 495 111-00-01", "+7 495 111-00-23"),
        ("8-495-111-00-01", "8-495-111-00-23"),
        ("8 (495) 111-0001", "8 (495) 111-0023"),
        ("7 495 1110001", "7 495 1110023"),
        ("(495) 111-00-01", "(495) 111-00-23"),
        ("495.111.00.01", "495.111.00.23"),
        ("8\u00a0495\u00a0111\u201100\u201101", "8\u00a0495\u00a0111\u201100\u201123"),
        ("+7\u2009(495)\u2009111\u201300\u201301", "+7\u2009(495)\u2009111\u201300\u201323"),
        ("Звоните: 8 (800) 555-01-01, бесплатно", "Звоните: 8 (800) 555-01-99, бесплатно"),
        ("тел. 8 (495) 111-00-01 (24/7)", "тел. 8 (495) 111-00-23 (24/7)"),
        ("84951110001 или +7 495 111 00 01", "84951110023 или +7 495 111 00 23"),
        ("+7 (495) 111-00-01;8 800 555 01 01", "+7 (495) 111-00-23;8 800 555 01 99"),
        ("74951110001 2", "74951110023 2"),
    ],
)
def test_every_spelling_keeps_its_own_format(blank: Page, written: str, shown: str) -> None:
    assert fmt(blank, written) == shown


@pytest.mark.parametrize(
    "text",
    [
        "184951110001",  # a longer number that contains it
        "849511100012",
        "4951110002",
        "+7 (495) 111-00-02",
        "12.05.2024 10:30",
        "ИНН 7701234567, ОГРН 1027700132195",
        "",
    ],
)
def test_other_numbers_and_text_stay(blank: Page, text: str) -> None:
    assert fmt(blank, text) == text


def test_numbers_of_another_length_or_country_are_written_whole(blank: Page) -> None:
    assert fmt(blank, "8 (495) 111-00-01", {CLINIC: "+74951110023"}) == "8 (495) 111-00-23"
    # A Belarusian number standing in for a Moscow one: its digits, all of them, in the page's groups.
    swapped = fmt(blank, "8 (495) 111-00-01", {CLINIC: "+375291234567"})
    assert "".join(c for c in swapped if c.isdigit()) == "375291234567"


def test_bad_numbers_in_an_answer_are_ignored(blank: Page) -> None:
    text = "+7 (495) 111-00-01"
    assert fmt(blank, text, {CLINIC: CLINIC}) == text
    assert fmt(blank, text, {CLINIC: 74951110023}) == text
    assert fmt(blank, text, {CLINIC: "<b>1</b>"}) == text
    assert fmt(blank, text, {"74951110001": SHOWN}) == text
    assert fmt(blank, text, {}) == text


def test_without_a_site_the_snippet_asks_nothing(blank: Page) -> None:
    # The fixture fails the module on any request the page made, and on any script error (here: the
    # document's cookies cannot even be read, as in a sandboxed frame).
    assert blank.evaluate("kolokol.numbers()") == {}
