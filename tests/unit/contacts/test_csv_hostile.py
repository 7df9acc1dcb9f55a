"""A patient export with broken bytes, huge cells or too much of everything: each bad row is reported with
its line and skipped, the others are imported as written."""

from __future__ import annotations

import pytest

from kolokol.contacts.csv_parse import CsvUnreadable, parse_contacts_csv
from kolokol.contacts.limits import (
    MAX_FIELD_NAME_CHARS,
    MAX_FIELD_VALUE_CHARS,
    MAX_FIELDS,
    MAX_NAME_CHARS,
    MAX_PHONES,
    ContactRejected,
    checked_contact,
)
from pbx.untrusted import text_problem

HEADER = "Код;ФИО;Телефон;Комментарий\r\n"


def test_a_utf8_export_with_a_few_broken_bytes_keeps_its_other_rows_intact() -> None:
    data = (
        HEADER.encode()
        + "1;Иванов Иван;+7 916 123-45-67;ок\r\n".encode()
        + b"2;\xd0\x9f\xd0\xb5\xd1\x82\xff\xfe;+7 916 123-45-68;\r\n"
        + "3;Смирнова Анна;+7 916 123-45-69;ёлка\r\n".encode()
    )
    result = parse_contacts_csv(data)
    assert [(c.external_id, c.name) for c in result.contacts] == [
        ("1", "Иванов Иван"),
        ("3", "Смирнова Анна"),
    ]
    assert result.contacts[1].fields == {"notes": "ёлка"}, "not read as Windows-1251"
    [error] = result.errors
    assert (error.line, error.message) == (3, "column 2 holds bytes that are not UTF-8 text")


def test_a_windows_1251_export_is_still_read_as_one() -> None:
    result = parse_contacts_csv((HEADER + "1;Иванов Иван;+7 916 123-45-67;ёлка\r\n").encode("cp1251"))
    assert result.errors == () and result.contacts[0].name == "Иванов Иван"


def test_a_header_with_broken_bytes_refuses_the_file() -> None:
    with pytest.raises(CsvUnreadable, match="column 2"):
        parse_contacts_csv(b"id;\xd0\x98\xff\r\n1;x\r\n" + "ё".encode())


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"1;{'Я' * (MAX_NAME_CHARS + 1)};;", f"name is longer than {MAX_NAME_CHARS} characters"),
        ("1;Анна;" + ",".join(f"+7916123{n:04d}" for n in range(MAX_PHONES + 1)) + ";", "phones"),
        (f"1;Анна;;{'Я' * (MAX_FIELD_VALUE_CHARS + 1)}", "fields.notes is longer"),
        (f"1;Анна;;{'Я' * 200_000}", "fields.notes is longer"),  # beyond the csv module's own limit
        (f"{'9' * 201};Анна;;", "external_id is longer than 200"),
    ],
)
def test_a_row_over_the_limits_is_reported_with_its_line(row: str, message: str) -> None:
    data = (HEADER + "0;Первая;+7 916 000-00-01;\r\n" + row + "\r\n" + "2;Вторая;;\r\n").encode()
    result = parse_contacts_csv(data)
    assert [c.external_id for c in result.contacts] == ["0", "2"]
    [error] = result.errors
    assert error.line == 3 and message in error.message
    assert len(error.message) < 200, "the report does not repeat the oversized value"


def test_too_many_columns_of_fields_are_reported_per_row() -> None:
    extra = [f"Колонка {n}" for n in range(MAX_FIELDS + 1)]
    data = (";".join(["Код", "ФИО", *extra]) + "\r\n" + ";".join(["1", "Анна", *("x" * len(extra))])).encode()
    [error] = parse_contacts_csv(data).errors
    assert f"at most {MAX_FIELDS} fields" in error.message


def test_an_unknown_column_with_a_very_long_name_is_kept_under_a_shortened_name() -> None:
    long_header = "Согласие на обработку персональных данных " * 3
    data = f"Код;ФИО;{long_header}\r\n1;Анна;да\r\n".encode()
    [contact] = parse_contacts_csv(data).contacts
    [(key, value)] = contact.fields.items()
    assert len(key) == MAX_FIELD_NAME_CHARS and key.endswith("…") and value == "да"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "\ud800"}, "name"),
        ({"external_id": "a\x00"}, "external_id"),
        ({"phones": ["ok", "\udfff"]}, "phones[1]"),
        ({"fields": {"note": "x\x00"}}, "fields.note"),
        ({"fields": {"\ud800": "x"}}, "fields.…"),
        ({"fields": {" ": "x"}}, "fields"),
    ],
)
def test_text_no_database_can_store_is_refused_naming_the_field(
    overrides: dict[str, object], field: str
) -> None:
    contact: dict[str, object] = {"external_id": "1", "name": "Анна", "phones": [], "fields": {}}
    with pytest.raises(ContactRejected) as caught:
        checked_contact(**{**contact, **overrides})  # type: ignore[arg-type]
    assert caught.value.field == field
    assert text_problem(caught.value.message) is None, "the message itself can be shown and logged"
