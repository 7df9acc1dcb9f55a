"""What an advertising source cost in a month: rows checked from JSON or read from a CSV file.

Pure. A cost is keyed by month and by as much detail as the marketer has (channel, source, medium,
campaign; "" where not split), so entering the same key again replaces the amount. Every bad row is
reported (its index or line number and why); a caller stores nothing unless every row is good.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from pbx.untrusted import text_problem

KEY_FIELDS = ("channel", "source", "medium", "campaign")
# The columns' sizes (tracking_costs).
_LIMITS = {"channel": 20, "source": 200, "medium": 200, "campaign": 500}
# Numeric(14, 2).
MAX_AMOUNT = Decimal("999999999999.99")
DEFAULT_CURRENCY = "RUB"
MAX_ROWS = 10_000
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True, slots=True)
class CostRow:
    month: str
    channel: str
    source: str
    medium: str
    campaign: str
    # None: remove the cost stored under this key.
    amount: Decimal | None
    currency: str

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.month, self.channel, self.source, self.medium, self.campaign)


@dataclass(frozen=True, slots=True)
class RowProblem:
    where: str  # "costs[2].amount" or "line 7"
    message: str


class BadRows(ValueError):
    def __init__(self, problems: list[RowProblem]) -> None:
        super().__init__(f"{len(problems)} bad rows")
        self.problems = problems


def valid_month(text: str) -> str | None:
    match = _MONTH.fullmatch(text)
    if not match or not 1 <= int(match.group(2)) <= 12 or not 1970 <= int(match.group(1)) <= 2199:
        return None
    return text


def _amount(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("amount must be a number")
    try:
        amount = Decimal(str(value)) if not isinstance(value, str) else _amount_text(value)
    except InvalidOperation:
        raise ValueError("amount must be a number") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("amount must be a number, zero or more")
    amount = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if amount > MAX_AMOUNT:
        raise ValueError(f"amount must be at most {MAX_AMOUNT}")
    return amount


_SPACES = re.compile(r"[\s\u00a0\u202f']")
_PLAIN = re.compile(r"-?\d+(?:\.\d+)?")


def _amount_text(text: str) -> Decimal:
    """ "12 345,67", "12345.67", "12,345.67", "12 345 ₽": as Russian and English spreadsheets write money."""
    cleaned = _SPACES.sub("", text.strip()).removesuffix("₽").removesuffix("руб.").removesuffix("руб")
    if "," in cleaned and "." in cleaned:
        cleaned = cleaned.replace(",", "")
    elif "," in cleaned:
        cleaned = cleaned.replace(",", ".")
    if not _PLAIN.fullmatch(cleaned):
        raise InvalidOperation
    return Decimal(cleaned)


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text")
    text = str(value).strip()
    if len(text) > _LIMITS[name]:
        raise ValueError(f"{name} is at most {_LIMITS[name]} characters")
    if (problem := text_problem(text)) is not None:
        raise ValueError(f"{name} {problem}")
    return text


def cost_row(
    fields: Mapping[str, Any], *, allow_removal: bool
) -> tuple[CostRow | None, list[tuple[str, str]]]:
    """One cost from its fields, or the (field, message) problems with them."""
    problems: list[tuple[str, str]] = []
    month_value = fields.get("month")
    month = valid_month(month_value) if isinstance(month_value, str) else None
    if month is None:
        problems.append(("month", "month must be YYYY-MM"))
    key: dict[str, str] = {}
    for name in KEY_FIELDS:
        try:
            key[name] = _text(fields.get(name), name)
        except ValueError as exc:
            problems.append((name, str(exc)))
    amount: Decimal | None = None
    raw_amount = fields.get("amount")
    if raw_amount is None and allow_removal and "amount" in fields:
        amount = None
    else:
        try:
            amount = _amount(raw_amount)
        except ValueError as exc:
            problems.append(("amount", str(exc)))
    currency = fields.get("currency") or DEFAULT_CURRENCY
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency.strip().upper()):
        problems.append(("currency", "currency is a three-letter ISO 4217 code such as RUB"))
        currency = DEFAULT_CURRENCY
    if problems or month is None:
        return None, problems
    return CostRow(month=month, amount=amount, currency=currency.strip().upper(), **key), []


def rows_from_json(body: Any) -> list[CostRow]:
    """A cost object, a list of them, or ``{"costs": [...]}``; ``BadRows`` naming each bad field."""
    items = body.get("costs") if isinstance(body, dict) and "costs" in body else body
    if isinstance(items, dict):
        items, prefix = [items], None
    else:
        prefix = "costs"
    if not isinstance(items, list) or not items:
        raise BadRows([RowProblem("costs", "send a cost object or a non-empty list of them")])
    if len(items) > MAX_ROWS:
        raise BadRows([RowProblem("costs", f"at most {MAX_ROWS} costs at once")])
    rows: list[CostRow] = []
    places: list[str] = []
    problems: list[RowProblem] = []
    for i, item in enumerate(items):
        where = f"{prefix}[{i}]." if prefix else ""
        if not isinstance(item, dict):
            problems.append(RowProblem(f"{prefix}[{i}]", "each cost is an object"))
            continue
        row, found = cost_row(item, allow_removal=True)
        problems += [RowProblem(where + field, message) for field, message in found]
        if row is not None:
            rows.append(row)
            places.append(f"{prefix}[{i}]" if prefix else "cost")
    problems += _duplicates(rows, places)
    if problems:
        raise BadRows(problems)
    return rows


def _duplicates(rows: list[CostRow], places: list[str]) -> list[RowProblem]:
    seen: dict[tuple[str, ...], str] = {}
    problems = []
    for row, place in zip(rows, places, strict=True):
        if row.key in seen:
            problems.append(RowProblem(place, f"the same month and source as {seen[row.key]}"))
        else:
            seen[row.key] = place
    return problems


# --- CSV import --------------------------------------------------------------------------------------

_HEADERS = {
    "month": ("month", "месяц", "период", "period"),
    "channel": ("channel", "канал"),
    "source": ("source", "utm_source", "источник"),
    "medium": ("medium", "utm_medium", "тип трафика", "канал трафика", "медиум"),
    "campaign": ("campaign", "utm_campaign", "кампания", "рекламная кампания"),
    "amount": ("amount", "cost", "spend", "сумма", "расход", "расходы", "стоимость", "затраты"),
    "currency": ("currency", "валюта"),
}
_ALIASES = {spelling: name for name, spellings in _HEADERS.items() for spelling in spellings}
_MONTH_DOTTED = re.compile(r"(\d{1,2})[./](\d{4})")
_DAY_DOTTED = re.compile(r"\d{1,2}\.(\d{1,2})\.(\d{4})")
_DAY_ISO = re.compile(r"(\d{4})-(\d{2})-\d{2}")
MAX_CSV_BYTES = 5 * 1024 * 1024


def _month_cell(text: str) -> str:
    """ "2026-11", "11.2026", "11/2026", "2026-11-01", "01.11.2026" → "2026-11"."""
    text = text.strip()
    for pattern, year_group, month_group in ((_DAY_ISO, 1, 2), (_DAY_DOTTED, 2, 1), (_MONTH_DOTTED, 2, 1)):
        match = pattern.fullmatch(text)
        if match:
            return f"{match.group(year_group)}-{int(match.group(month_group)):02d}"
    return text


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8) or not data:
        return data.decode("utf-8-sig", errors="strict")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Excel in Russian Windows saves "CSV" in the ANSI code page.
        return data.decode("cp1251")


def rows_from_csv(data: bytes) -> list[CostRow]:
    """``month;source;medium;campaign;amount`` (``channel`` and ``currency`` optional), separated by
    ``;`` or ``,``, in UTF-8 or Windows-1251, headers in English or Russian; ``BadRows`` with line
    numbers, for the file as a whole or for each bad row."""
    try:
        text = _decode(data)
    except UnicodeDecodeError:
        raise BadRows([RowProblem("line 1", "the file is not text in UTF-8 or Windows-1251")]) from None
    if "\x00" in text:
        raise BadRows([RowProblem("line 1", "the file is not text (binary data found); export it as CSV")])
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise BadRows([RowProblem("line 1", "the file is empty")])
    header_line = lines[first]
    delimiter = ";" if header_line.count(";") >= header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    columns: dict[int, str] | None = None
    rows: list[CostRow] = []
    places: list[str] = []
    problems: list[RowProblem] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if columns is None:
                columns, problem = _header(cells)
                if problem:
                    raise BadRows([RowProblem(f"line {line}", problem)])
                continue
            if len(rows) + len(problems) >= MAX_ROWS:
                raise BadRows([RowProblem(f"line {line}", f"at most {MAX_ROWS} rows in one file")])
            fields: dict[str, Any] = {name: cells[i] if i < len(cells) else "" for i, name in columns.items()}
            fields["month"] = _month_cell(fields.get("month", ""))
            row, found = cost_row(fields, allow_removal=False)
            if found:
                problems.append(RowProblem(f"line {line}", "; ".join(message for _, message in found)))
            elif row is not None:
                rows.append(row)
                places.append(f"line {line}")
    except csv.Error as exc:
        raise BadRows([RowProblem(f"line {reader.line_num}", f"the CSV cannot be read: {exc}")]) from None
    if columns is None:
        raise BadRows([RowProblem("line 1", "the file has no header row")])
    problems += _duplicates(rows, places)
    if problems:
        raise BadRows(problems)
    if not rows:
        raise BadRows([RowProblem(f"line {first + 1}", "the file has no costs under its header")])
    return rows


def _header(cells: list[str]) -> tuple[dict[int, str], str | None]:
    columns: dict[int, str] = {}
    for i, cell in enumerate(cells):
        name = _ALIASES.get(cell.strip().lower().lstrip("\ufeff"))
        if name is not None and name not in columns.values():
            columns[i] = name
    missing = [name for name in ("month", "amount") if name not in columns.values()]
    if missing:
        return columns, (
            f"the header needs columns {', '.join(missing)} "
            "(month;source;medium;campaign;amount, or месяц;источник;тип трафика;кампания;сумма)"
        )
    return columns, None
