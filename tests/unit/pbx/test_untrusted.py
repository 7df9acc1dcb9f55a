"""What arrives from outside: JSON that cannot exhaust the parser or hold numbers nobody can use, and text
that every database and websocket can carry."""

from __future__ import annotations

import json

import pytest

from pbx.untrusted import (
    MAX_DEPTH,
    Unusable,
    ascii_digits,
    invalid_text,
    load_json,
    repaired,
    text_problem,
)


def test_valid_json_comes_back_as_it_was_sent() -> None:
    value = {"name": "Пётр 😀", "phones": ["+7 916 123-45-67"], "n": -12, "x": 1.5, "ok": True, "no": None}
    assert load_json(json.dumps(value, ensure_ascii=False).encode()) == value
    assert load_json(json.dumps(value)) == value, "escaped non-ASCII, a surrogate pair included"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"name": "\\ud800"}', "name"),
        ('{"fields": {"note": "a\\udfffb"}}', "fields.note"),
        ('{"phones": ["+7916", "\\udc00"]}', "phones[1]"),
        ('{"name": "NUL \\u0000 inside"}', "name"),
        ('{"fields": {"\\ud800": "key"}}', "fields"),
        # Not escaped: a surrogate in the text itself (a str), or encoded in the bytes as UTF-8 would.
        ('{"name": "\ud800"}', "name"),
        (b'{"name": "\xed\xa0\x80"}', "name"),
    ],
)
def test_a_string_that_is_not_valid_text_is_refused_naming_its_field(raw: str | bytes, field: str) -> None:
    with pytest.raises(Unusable) as caught:
        load_json(raw)
    assert caught.value.field == field
    assert field in caught.value.message


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 5000 + "]" * 5000,  # beyond the interpreter's recursion limit
        '{"a": ' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1),  # parsed, but deeper than allowed
        '{"n": ' + "9" * 5000 + "}",  # int() refuses more than 4300 digits with a ValueError
        '{"n": ' + "9" * 41 + "}",
        '{"n": 1e999}',  # a float's range: infinity
        '{"n": -1e999}',
        '{"n": NaN}',
        '{"n": Infinity}',
        b'{"name": "\xff"}',  # not UTF-8
        "{not json",
    ],
)
def test_json_that_is_too_deep_too_big_or_broken_is_refused(raw: str | bytes) -> None:
    with pytest.raises(Unusable):
        load_json(raw)


def test_nesting_up_to_the_limit_is_fine() -> None:
    depth = MAX_DEPTH - 1
    assert load_json('{"a": ' * depth + "1" + "}" * depth) is not None


def test_text_problems_are_named_and_repairs_keep_what_is_valid() -> None:
    assert text_problem("Анна") is None
    assert text_problem("a\x00b") == "contains a NUL character"
    assert "surrogate" in (text_problem("\ud800") or "")
    assert repaired("Анна") == "Анна"
    assert repaired("a\ud800b\x00c") == "a\ufffdb\ufffdc"
    # A pair that arrived as two escapes is the character it stands for.
    assert repaired("\ud83d\ude00") == "😀"


def test_invalid_text_finds_the_first_bad_string_anywhere() -> None:
    assert invalid_text({"a": ["ok", {"b": "fine"}]}) is None
    found = invalid_text({"a": ["ok", {"b": "\udc80"}]})
    assert found is not None and found.field == "a[1].b"
    assert invalid_text({"x": float("inf")}) is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("42", True), ("0", True), ("", False), ("²", False), ("①", False), ("٣", False), ("9" * 19, False)],
)
def test_ascii_digits_is_what_int_can_take(text: str, expected: bool) -> None:
    assert ascii_digits(text) is expected
    if expected:
        int(text)
