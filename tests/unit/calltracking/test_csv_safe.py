"""CSV cells that a spreadsheet shows as text and never runs."""

from __future__ import annotations

import csv
import io

import pytest

from calltracking.csv_safe import csv_text, safe_cell


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("yandex", "yandex"),
        ("+74951110001", "+74951110001"),
        ("-12.5", "-12.5"),
        ("a=b", "a=b"),
        (None, ""),
        (True, "1"),
        (3, "3"),
    ],
)
def test_cells(value: str | int | None, shown: str) -> None:
    assert safe_cell(value) == shown


def test_quotes_commas_and_line_breaks_stay_in_their_cell() -> None:
    text = csv_text([["a", 'say "hi", then\nleave', "=x"]])
    assert list(csv.reader(io.StringIO(text))) == [["a", 'say "hi", then\nleave', "'=x"]]
