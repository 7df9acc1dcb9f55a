"""Parse a clinic's patient export (CSV from a dental CRM or Excel) into contact inputs.

Pure: bytes in, rows and per-row errors out. Phones are kept as found; normalizing them is
the importer's job so that the same rules apply to imported contacts and to live calls.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

from kolokol.contacts.limits import MAX_FIELD_NAME_CHARS, ContactRejected, checked_contact
from pbx.untrusted import text_problem

__all__ = ["ContactInput", "ContactsCsv", "CsvUnreadable", "RowError", "parse_contacts_csv"]


@dataclass(frozen=True, slots=True)
class ContactInput:
    external_id: str
    name: str
    phones: tuple[str, ...]
    # Every other non-empty column: canonical English keys for known headers, the header as
    # written for unknown ones.
    fields: dict[str, str]


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class ContactsCsv:
    contacts: tuple[ContactInput, ...]
    errors: tuple[RowError, ...]


class CsvUnreadable(ValueError):
    """The file as a whole cannot be imported; nothing from it should be used."""


_EXTERNAL_ID = "external_id"
_NAME = "name"
_PHONE = "phone"
_LAST_NAME = "last_name"
_FIRST_NAME = "first_name"
_MIDDLE_NAME = "middle_name"

_ALIASES: dict[str, str] = {}
for _canonical, _spellings in {
    _EXTERNAL_ID: (
        "id",
        "external_id",
        "external id",
        "patient_id",
        "patient id",
        "код",
        "код пациента",
        "id пациента",
        "номер карты",
        "№ карты",
        "карта",
        "номер медкарты",
    ),
    _NAME: ("name", "full_name", "full name", "фио", "ф.и.о.", "ф.и.о", "пациент", "фамилия имя отчество"),
    _LAST_NAME: ("фамилия", "last_name", "last name", "surname"),
    _FIRST_NAME: ("имя", "first_name", "first name"),
    _MIDDLE_NAME: ("отчество", "middle_name", "middle name", "patronymic"),
    "patient_status": ("status", "patient_status", "статус", "статус пациента"),
    "last_visit": ("last_visit", "last visit", "последний визит", "дата последнего визита"),
    "next_visit": ("next_visit", "next visit", "следующий визит", "дата следующего визита"),
    "curator": ("curator", "куратор"),
    "notes": (
        "notes",
        "note",
        "comment",
        "comments",
        "комментарий",
        "комментарии",
        "примечание",
        "примечания",
    ),
    "branch": ("branch", "clinic", "филиал", "клиника"),
    "email": ("email", "e-mail", "почта", "эл. почта", "электронная почта"),
    "birth_date": ("birth_date", "birthday", "date of birth", "дата рождения", "др"),
    "doctor": ("doctor", "врач", "лечащий врач"),
}.items():
    for _spelling in _spellings:
        _ALIASES[_spelling] = _canonical

# Exports number their extra phone columns freely ("Телефон 2", "phone_3", "Тел. (доп.)"),
# so phone headers are recognised by shape rather than by an exhaustive list.
_PHONE_HEADER = re.compile(
    r"^(?:(?:доп\.?|дополнительный|второй|домашний|рабочий|сотовый|мобильный|контактный)\s*)?"
    r"(?:phones?|telephone|tel\.?|mobile(?:\s+phone)?|cell(?:\s+phone)?|"
    r"телефоны?|тел\.?|мобильный(?:\s+телефон)?|сотовый(?:\s+телефон)?|моб\.?)"
    # The word suffix needs a separator, or "Telegram" and "Телеграм" would count as phones.
    r"(?:[\s_\-#№.]*\d+|\s*\(доп\.?\)|[\s_\-.]+\(?[a-zа-я.]+\)?)?\s*$"
)
_PHONE_SPLIT = re.compile(r"[,;/\n]")
_DELIMITERS = (";", ",", "\t")
# Control characters never appear in a real export; finding them means we decoded a binary
# file (xlsx, zip, image) that happened to survive cp1251.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def parse_contacts_csv(data: bytes) -> ContactsCsv:
    text = _decode(data)
    # Split the way the csv module counts lines, so line numbers in errors match the file.
    lines = re.split(r"\r\n|\r|\n", text)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise CsvUnreadable("the file is empty")

    # Excel writes "sep=;" as the first line when asked to, naming the delimiter outright.
    sep_hint = re.fullmatch(r"\s*sep=(.)\s*", lines[first])
    if sep_hint:
        delimiter = sep_hint.group(1)
        skip_until = first + 1
    else:
        delimiter = _detect_delimiter(lines[first])
        skip_until = first

    # Cells as long as the file: the csv module's own limit (128 KiB) would make one oversized cell
    # fail the whole file instead of its row (the contact limits refuse the row).
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, len(text) + 1))
    try:
        return _parse_rows(_rows(text, delimiter), skip_until)
    finally:
        csv.field_size_limit(previous)


def _parse_rows(rows: Iterator[tuple[int, list[str]]], skip_until: int) -> ContactsCsv:
    header: list[str] | None = None
    header_line = 0
    for line, cells in rows:
        if line <= skip_until or not any(c.strip() for c in cells):
            continue
        header, header_line = cells, line
        break
    if header is None:
        raise CsvUnreadable("the file has no header row")

    columns = _map_header(header)
    _check_header(columns, header)
    return _parse_body(rows, columns, header_line)


def _decode(data: bytes) -> str:
    if not data.strip():
        raise CsvUnreadable("the file is empty")
    # Excel's "Unicode text" export is UTF-16 with a BOM; accepting it costs nothing.
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise CsvUnreadable("the file is not text") from exc
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            if _mostly_utf8(data):
                # A UTF-8 export with a few broken bytes: those rows are reported, the rest imported.
                text = data.decode("utf-8-sig", "surrogateescape")
            else:
                # Excel in Russian Windows saves "CSV" in the ANSI code page.
                try:
                    text = data.decode("cp1251")
                except UnicodeDecodeError as exc:
                    raise CsvUnreadable("the file is not text in UTF-8 or Windows-1251") from exc
    if _CONTROL.search(text):
        raise CsvUnreadable("the file is not text (binary data found); export it as CSV")
    return text


_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_HIGH_BYTE = re.compile(rb"[\x80-\xff]")


def _mostly_utf8(data: bytes) -> bool:
    """Whether bytes that are not valid UTF-8 throughout still read as UTF-8 with a few broken bytes:
    most of their non-ASCII bytes form UTF-8 sequences. Windows-1251 Cyrillic almost never does."""
    in_sequences = sum(len(m) for m in _UTF8_SEQUENCE.findall(data))
    return in_sequences > 0 and in_sequences * 2 > len(_HIGH_BYTE.findall(data))


def _detect_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (1-based physical line where the record starts, cells)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    last = 0
    try:
        for cells in reader:
            yield last + 1, cells
            last = reader.line_num
    except csv.Error as exc:
        raise CsvUnreadable(f"line {last + 1}: malformed CSV ({exc})") from exc


def _normalize_header(raw: str) -> str:
    text = raw.replace("\ufeff", "").strip().strip(":*").strip().lower().replace("ё", "е")
    return re.sub(r"\s+", " ", text)


def _map_header(header: list[str]) -> list[str | None]:
    """Canonical key per column; None for columns to ignore (blank header)."""
    columns: list[str | None] = []
    taken: set[str] = set()
    for n, cell in enumerate(header, start=1):
        if text_problem(cell) is not None:
            raise CsvUnreadable(f"the header's column {n} holds bytes that are not UTF-8 text")
    for raw in header:
        normalized = _normalize_header(raw)
        if not normalized:
            columns.append(None)
            continue
        if _PHONE_HEADER.match(normalized):
            columns.append(_PHONE)
            continue
        canonical = _ALIASES.get(normalized)
        if canonical is None or canonical in taken:
            # A second "Статус" column must not overwrite the first; keep it under its own
            # header so the data still arrives.
            key = raw.replace("\ufeff", "").strip()
            if len(key) > MAX_FIELD_NAME_CHARS:
                key = key[: MAX_FIELD_NAME_CHARS - 1] + "…"
            columns.append(key if key not in taken else None)
            taken.add(key)
            continue
        taken.add(canonical)
        columns.append(canonical)
    return columns


def _check_header(columns: list[str | None], header: list[str]) -> None:
    has_name = _NAME in columns or _FIRST_NAME in columns or _LAST_NAME in columns
    missing = []
    if _EXTERNAL_ID not in columns:
        missing.append("an id column (id, external_id, Код, Номер карты)")
    if not has_name:
        missing.append("a name column (name, ФИО, Пациент, Имя)")
    if missing:
        found = ", ".join(repr(h.strip()) for h in header if h.strip()) or "nothing"
        raise CsvUnreadable(f"the header needs {' and '.join(missing)}; found {found}")


def _parse_body(
    rows: Iterator[tuple[int, list[str]]], columns: list[str | None], header_line: int
) -> ContactsCsv:
    contacts: list[ContactInput] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for line, cells in rows:
        values = [c.strip() for c in cells]
        if not any(values):
            continue
        broken = next((n for n, v in enumerate(values, start=1) if text_problem(v) is not None), None)
        if broken is not None:
            errors.append(RowError(line, f"column {broken} holds bytes that are not UTF-8 text"))
            continue
        extra = [v for v in values[len(columns) :] if v]
        if extra:
            # Usually an unquoted delimiter inside a cell: the columns after it are shifted,
            # and importing would file a phone or a note under the wrong heading.
            errors.append(
                RowError(line, f"row has {len(values)} values but the header has {len(columns)} columns")
            )
            continue

        external_id = ""
        full_name = ""
        name_parts: dict[str, str] = {}
        phones: list[str] = []
        fields: dict[str, str] = {}
        for key, value in zip(columns, values, strict=False):
            if key is None or not value:
                continue
            if key == _EXTERNAL_ID:
                external_id = value
            elif key == _NAME:
                full_name = value
            elif key in (_LAST_NAME, _FIRST_NAME, _MIDDLE_NAME):
                name_parts[key] = value
            elif key == _PHONE:
                for part in _PHONE_SPLIT.split(value):
                    part = part.strip()
                    if part and part not in phones:
                        phones.append(part)
            else:
                fields[key] = value
        name = full_name or " ".join(
            name_parts[k] for k in (_LAST_NAME, _FIRST_NAME, _MIDDLE_NAME) if k in name_parts
        )
        # Parts of a split name that were not needed still carry information.
        if full_name:
            fields.update(name_parts)

        problems = []
        if not external_id:
            problems.append("external id")
        if not name:
            problems.append("name")
        if problems:
            errors.append(RowError(line, f"missing {' and '.join(problems)}"))
            continue
        try:
            checked_contact(external_id=external_id, name=name, phones=phones, fields=fields)
        except ContactRejected as exc:
            errors.append(RowError(line, exc.message))
            continue
        if external_id in seen:
            errors.append(RowError(line, f"duplicate id {external_id!r} (first on line {seen[external_id]})"))
            continue
        seen[external_id] = line
        contacts.append(ContactInput(external_id, name, tuple(phones), fields))
    return ContactsCsv(tuple(contacts), tuple(errors))
