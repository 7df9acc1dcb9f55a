from __future__ import annotations

import codecs

import pytest

from kolokol.contacts.csv_parse import (
    ContactInput,
    ContactsCsv,
    CsvUnreadable,
    RowError,
    parse_contacts_csv,
)


def _csv(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


def test_excel_utf8_bom_with_semicolons() -> None:
    data = codecs.BOM_UTF8 + _csv(
        "Код;ФИО;Телефон;Статус;Последний визит;Следующий визит;Куратор;Комментарий\r\n"
        "101;Иванов Иван Иванович;+7 916 123-45-67;Активный;12.03.2024;01.10.2024;Петрова А.;"
        "Боится уколов\r\n"
        "102;Смирнова Анна;8 (495) 123-45-67;Архив;;;;\r\n"
    )
    result = parse_contacts_csv(data)
    assert result.errors == ()
    assert result.contacts == (
        ContactInput(
            external_id="101",
            name="Иванов Иван Иванович",
            phones=("+7 916 123-45-67",),
            fields={
                "patient_status": "Активный",
                "last_visit": "12.03.2024",
                "next_visit": "01.10.2024",
                "curator": "Петрова А.",
                "notes": "Боится уколов",
            },
        ),
        ContactInput("102", "Смирнова Анна", ("8 (495) 123-45-67",), {"patient_status": "Архив"}),
    )


def test_cp1251_from_russian_excel() -> None:
    data = _csv("Номер карты;Пациент;Мобильный;Примечание\n7-001;Ёлкина Мария;89161234567;ВИП\n", "cp1251")
    result = parse_contacts_csv(data)
    assert result.contacts == (ContactInput("7-001", "Ёлкина Мария", ("89161234567",), {"notes": "ВИП"}),)
    assert result.errors == ()


def test_utf8_without_bom_and_commas() -> None:
    data = _csv('id,name,phone,email\n1,"Doe, John",+1 212-555-0123,john@example.com\n')
    result = parse_contacts_csv(data)
    assert result.contacts == (
        ContactInput("1", "Doe, John", ("+1 212-555-0123",), {"email": "john@example.com"}),
    )


def test_tab_delimited() -> None:
    data = _csv("patient_id\tfull_name\tmobile\tbranch\n55\tПетров Пётр\t+79031234567\tЦентр\n")
    result = parse_contacts_csv(data)
    assert result.contacts == (ContactInput("55", "Петров Пётр", ("+79031234567",), {"branch": "Центр"}),)


def test_utf16_unicode_text_export() -> None:
    data = _csv("ID\tФИО\tТелефон\n1\tИванов Иван\t89161234567\n", "utf-16")
    assert parse_contacts_csv(data).contacts == (ContactInput("1", "Иванов Иван", ("89161234567",), {}),)


def test_several_phone_columns_and_several_numbers_per_cell() -> None:
    data = _csv(
        "ID;ФИО;Телефон;Телефон 2;Телефоны;Домашний телефон;Phone_3\n"
        "1;Иванов Иван;8 916 123-45-67, 8 903 123-45-67;+7 495 123-45-67;8 926 111-22-33 / 8 926 444-55-66;"
        "8 499 765-43-21;8 916 123-45-67\n"
    )
    (contact,) = parse_contacts_csv(data).contacts
    # Duplicates across columns are dropped; order follows the file.
    assert contact.phones == (
        "8 916 123-45-67",
        "8 903 123-45-67",
        "+7 495 123-45-67",
        "8 926 111-22-33",
        "8 926 444-55-66",
        "8 499 765-43-21",
    )
    assert contact.fields == {}


def test_phone_cell_with_line_breaks_and_semicolons() -> None:
    data = _csv('id,name,phone\n1,Иванов,"89161234567\n89031234567;;  "\n')
    (contact,) = parse_contacts_csv(data).contacts
    assert contact.phones == ("89161234567", "89031234567")


def test_contact_without_phones_is_still_imported() -> None:
    data = _csv("id;name;phone\n1;Иванов;\n")
    assert parse_contacts_csv(data).contacts == (ContactInput("1", "Иванов", (), {}),)


def test_headers_are_case_and_space_insensitive() -> None:
    data = _csv("  ID ПАЦИЕНТА ;  Ф.И.О. ;ТЕЛЕФОН:;СТАТУС\n9;Иванов;8916;новый\n")
    assert parse_contacts_csv(data).contacts == (
        ContactInput("9", "Иванов", ("8916",), {"patient_status": "новый"}),
    )


def test_unknown_columns_keep_their_header() -> None:
    data = _csv("Код;ФИО;Источник;Telegram;Дата рождения;Филиал\n1;Иванов;Яндекс;@ivanov;01.02.1980;Юг\n")
    (contact,) = parse_contacts_csv(data).contacts
    assert contact.phones == ()  # "Telegram" is not a phone column
    assert contact.fields == {
        "Источник": "Яндекс",
        "Telegram": "@ivanov",
        "birth_date": "01.02.1980",
        "branch": "Юг",
    }


def test_name_split_into_columns_is_joined() -> None:
    data = _csv("Код;Фамилия;Имя;Отчество;Телефон\n1;Иванов;Иван;Иванович;8916\n2;Петрова;Анна;;\n")
    result = parse_contacts_csv(data)
    assert [c.name for c in result.contacts] == ["Иванов Иван Иванович", "Петрова Анна"]


def test_name_column_only_as_first_name() -> None:
    data = _csv("id;имя;телефон\n1;Иван;8916\n")
    assert parse_contacts_csv(data).contacts[0].name == "Иван"


def test_bad_rows_are_reported_with_line_numbers() -> None:
    data = _csv(
        "Код;ФИО;Телефон\n"  # line 1
        "1;Иванов Иван;89161234567\n"  # 2
        ";Без кода;89031234567\n"  # 3
        "3;;89261234567\n"  # 4
        ";;89851234567\n"  # 5
        "\n"  # 6: empty, skipped silently
        ";;\n"  # 7: only delimiters, skipped silently
        '6;"Многострочный\nкомментарий";8916\n'  # 8-9
        "7;;\n"  # 10
        "1;Дубль Иванова;\n"  # 11
        "8;Лишние;8916;колонки;тут\n"  # 12
        "9;Последний;8903\n"  # 13
    )
    result = parse_contacts_csv(data)
    assert [c.external_id for c in result.contacts] == ["1", "6", "9"]
    assert result.errors == (
        RowError(3, "missing external id"),
        RowError(4, "missing name"),
        RowError(5, "missing external id and name"),
        RowError(10, "missing name"),
        RowError(11, "duplicate id '1' (first on line 2)"),
        RowError(12, "row has 5 values but the header has 3 columns"),
    )


def test_short_rows_are_padded_and_trailing_empty_cells_ignored() -> None:
    data = _csv("id;name;phone;status\n1;Иванов\n2;Петров;8916;;;;\n")
    result = parse_contacts_csv(data)
    assert result.errors == ()
    assert result.contacts == (
        ContactInput("1", "Иванов", (), {}),
        ContactInput("2", "Петров", ("8916",), {}),
    )


def test_blank_lines_before_header_and_excel_sep_hint() -> None:
    data = _csv("\n\nsep=,\nКод,ФИО,Телефон\n1,Иванов,8916\n,,\n2,Петров\n,Без кода,\n")
    result = parse_contacts_csv(data)
    assert result.contacts == (
        ContactInput("1", "Иванов", ("8916",), {}),
        ContactInput("2", "Петров", (), {}),
    )
    # Line numbers count the blank lines and the sep line, so they match what Excel shows.
    assert result.errors == (RowError(8, "missing external id"),)


def test_semicolon_file_with_commas_in_cells() -> None:
    data = _csv("Код;ФИО;Телефон;Комментарий\n1;Иванов;8916, 8903;Аллергия: лидокаин, артикаин\n")
    (contact,) = parse_contacts_csv(data).contacts
    assert contact.phones == ("8916", "8903")
    assert contact.fields == {"notes": "Аллергия: лидокаин, артикаин"}


def test_duplicate_known_header_keeps_both_values() -> None:
    data = _csv("id;name;Статус;status\n1;Иванов;Активный;VIP\n")
    assert parse_contacts_csv(data).contacts[0].fields == {"patient_status": "Активный", "status": "VIP"}


def test_header_only_gives_empty_result() -> None:
    assert parse_contacts_csv(_csv("id;name;phone\r\n")) == ContactsCsv((), ())


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"   \r\n\r\n", "empty"),
        (codecs.BOM_UTF8, "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not text"),
        (b"PK\x03\x04\x14\x00\x06\x00", "not text"),  # an .xlsx saved with a .csv name
        (bytes(range(256)), "not text"),
        (b"\xff\xfe\x00\xd8", "not text"),  # UTF-16 BOM followed by a lone surrogate
        (b"sep=;\n\n", "no header"),
        (_csv("foo;bar\n1;2\n"), "id column .* and a name column"),
        (_csv("ФИО;Телефон\nИванов;8916\n"), "needs an id column"),
        (_csv("Код;Телефон\n1;8916\n"), "needs a name column"),
        (_csv("just one line of prose\n"), "found 'just one line of prose'"),
    ],
)
def test_unreadable_files(data: bytes, match: str) -> None:
    with pytest.raises(CsvUnreadable, match=match):
        parse_contacts_csv(data)


def test_unreadable_is_a_value_error() -> None:
    assert issubclass(CsvUnreadable, ValueError)
