"""Costs from JSON and from the CSV files marketers keep: separators, encodings, Russian headers and
money, and every bad row named."""

from __future__ import annotations

from decimal import Decimal

import pytest

from calltracking.cost_rows import BadRows, rows_from_csv, rows_from_json


def test_json_one_cost_or_many_with_defaults() -> None:
    [one] = rows_from_json({"month": "2026-11", "source": "yandex", "amount": 1500.5})
    assert (one.month, one.source, one.channel, one.campaign, one.amount, one.currency) == (
        "2026-11",
        "yandex",
        "",
        "",
        Decimal("1500.50"),
        "RUB",
    )
    many = rows_from_json(
        {"costs": [{"month": "2026-10", "amount": "10"}, {"month": "2026-11", "amount": 0}]}
    )
    assert [r.month for r in many] == ["2026-10", "2026-11"]
    assert rows_from_json([{"month": "2026-11", "amount": None}])[0].amount is None, "null removes"


def test_json_bad_fields_are_all_named() -> None:
    with pytest.raises(BadRows) as caught:
        rows_from_json(
            {
                "costs": [
                    {"month": "2026-13", "amount": 1},
                    {"month": "2026-11", "amount": -5, "currency": "rubles"},
                    {"month": "2026-11", "source": "x" * 201, "amount": "1e999"},
                    {"month": "2026-11", "amount": True},
                    "nope",
                    {"month": "2026-11", "amount": 1},
                    {"month": "2026-11", "amount": 2},
                ]
            }
        )
    where = [p.where for p in caught.value.problems]
    assert where == [
        "costs[0].month",
        "costs[1].amount",
        "costs[1].currency",
        "costs[2].source",
        "costs[2].amount",
        "costs[3].amount",
        "costs[4]",
        "costs[6]",
    ]
    assert "costs[5]" in caught.value.problems[-1].message


def test_csv_semicolons_windows_1251_and_russian_headers_and_money() -> None:
    text = (
        "Месяц;Источник;Тип трафика;Кампания;Сумма\r\n"
        "11.2026;yandex;cpc;Имплантация;12 345,67\r\n"
        "2026-11;google;cpc;;1\u00a0000\r\n"
        "\r\n"
        '01.10.2026;vk;;;"2,5"\r\n'
    )
    rows = rows_from_csv(text.encode("cp1251"))
    assert [(r.month, r.source, r.medium, r.campaign, r.amount) for r in rows] == [
        ("2026-11", "yandex", "cpc", "Имплантация", Decimal("12345.67")),
        ("2026-11", "google", "cpc", "", Decimal("1000.00")),
        ("2026-10", "vk", "", "", Decimal("2.50")),
    ]


def test_csv_commas_utf8_bom_and_english_headers_with_extra_columns() -> None:
    data = (
        "\ufeffmonth,channel,source,medium,campaign,amount,currency,note\n"
        '2026-11,paid,yandex,cpc,brand,"1,234.5",rub,x\n'
    )
    [row] = rows_from_csv(data.encode("utf-8"))
    assert (row.channel, row.campaign, row.amount, row.currency) == (
        "paid",
        "brand",
        Decimal("1234.50"),
        "RUB",
    )


def test_csv_bad_rows_are_reported_with_line_numbers_and_nothing_is_taken() -> None:
    data = (
        "month;source;medium;campaign;amount\n"
        "2026-11;yandex;cpc;a;100\n"
        "2026-99;yandex;cpc;b;100\n"
        "2026-11;yandex;cpc;c;сто\n"
        "2026-11;yandex;cpc;a;200\n"
    ).encode()
    with pytest.raises(BadRows) as caught:
        rows_from_csv(data)
    assert [(p.where, p.message) for p in caught.value.problems] == [
        ("line 3", "month must be YYYY-MM"),
        ("line 4", "amount must be a number"),
        ("line 5", "the same month and source as line 2"),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"source;campaign\nyandex;a\n", "the header needs columns month, amount"),
        (b"month;amount\n", "the file has no costs under its header"),
        (b"PK\x03\x04\x00\x00binary", "the file is not text"),
    ],
)
def test_csv_files_that_cannot_be_imported(data: bytes, message: str) -> None:
    with pytest.raises(BadRows) as caught:
        rows_from_csv(data)
    assert caught.value.problems[0].message.startswith(message)
