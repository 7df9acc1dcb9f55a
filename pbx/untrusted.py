"""Reading what arrives from outside kolokol (PBX webhooks, AMI, REST clients, CSV files) without letting
it break what comes after: JSON with bounded nesting and numbers, and text that UTF-8 can carry.

A Python string can hold what no stored or sent text can: a lone surrogate ("\\ud800", which JSON
carries as an escape) fails every UTF-8 encoding (the database, the feed), and a NUL character is
refused by PostgreSQL. Such text is refused at the entries that can answer (HTTP: 400 naming the field)
and repaired where nobody can be told (AMI, a capture file). Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

# Deeper nesting than this is no PBX event, contact or task: refused before anything walks it.
MAX_DEPTH = 32
# Digits (and sign, point, exponent) of one JSON number: no call, contact or task needs more, and
# Python refuses to turn very long digit strings into numbers at all.
MAX_NUMBER_CHARS = 40
REPLACEMENT = "\ufffd"


class Unusable(ValueError):
    """Input kolokol refuses; ``field`` names where it is (``fields.note``, ``phones[2]``), when known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored or sent as it is, or None when it can."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid text (a lone surrogate, or bytes that are not UTF-8)"
    return None


def repaired(text: str) -> str:
    """`text` as valid text: a surrogate pair becomes the character it stands for, a lone surrogate and a
    NUL become U+FFFD; everything else is kept."""
    if text_problem(text) is None:
        return text
    text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text.replace("\x00", REPLACEMENT)


def fitted(text: str | None, limit: int) -> str:
    """Text as a column of ``limit`` characters holds it: valid (repaired), cut to end in "…"."""
    if not text:
        return ""
    text = repaired(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ascii_digits(text: str, max_digits: int = 18) -> bool:
    """Whether `text` is 1..max_digits ASCII digits: what ``int()`` may be given.

    ``str.isdigit`` also accepts "²" and "①", which ``int()`` then refuses, and ``int()`` refuses
    (or takes long over) thousands of digits.
    """
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def invalid_text(value: Any, where: str = "") -> Unusable | None:
    """The first string in `value` (mapping keys included, at any depth) that is not valid text, or
    nesting deeper than `MAX_DEPTH`; None when there is none. Iterative: no recursion to exhaust."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem is not None:
                return Unusable(f"{path or 'the value'} {problem}", path or None)
        elif isinstance(item, dict | list | tuple):
            if depth >= MAX_DEPTH:
                deep = f"{path or 'the value'} is nested more than {MAX_DEPTH} levels deep"
                return Unusable(deep, path or None)
            if isinstance(item, dict):
                for key, child in item.items():
                    child_path = _join(path, str(key))
                    if isinstance(key, str) and (problem := text_problem(key)) is not None:
                        return Unusable(f"a field name in {path or 'the value'} {problem}", path or None)
                    stack.append((child, child_path, depth + 1))
            else:
                stack.extend((child, f"{path}[{n}]", depth + 1) for n, child in enumerate(item))
        elif isinstance(item, float) and not math.isfinite(item):
            return Unusable(f"{path or 'the value'} is not a finite number", path or None)
    return None


def _join(path: str, key: str) -> str:
    shown = key if len(key) <= 64 and text_problem(key) is None else repaired(key[:64]) + "…"
    return f"{path}.{shown}" if path else shown


def load_json(raw: bytes | str) -> Any:
    """`raw` parsed as JSON, or ``Unusable``: not JSON, not UTF-8, nested deeper than `MAX_DEPTH`, a number
    longer than `MAX_NUMBER_CHARS` or beyond a float's range (1e999), NaN/Infinity, or a string that is not
    valid text (the message names the field)."""
    try:
        value = json.loads(
            raw,
            parse_int=_bounded_number(int),
            parse_float=_bounded_number(float),
            parse_constant=_no_constant,
        )
    except Unusable:
        raise
    except RecursionError:
        raise Unusable(f"JSON nested more than {MAX_DEPTH} levels deep") from None
    except UnicodeDecodeError as exc:
        raise Unusable(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except ValueError as exc:
        raise Unusable(f"not valid JSON: {exc}") from None
    if _plainly_valid(raw):
        return value
    problem = invalid_text(value)
    if problem is not None:
        raise problem
    return value


def _plainly_valid(raw: bytes | str) -> bool:
    """Whether every string parsed from `raw` is valid text and its nesting within bounds, seen from the
    raw JSON alone (much cheaper than walking the value): no ``\\u`` escape (the only way JSON spells a
    NUL or a lone surrogate in plain ASCII), no NUL or surrogate in the text itself, and no more
    brackets than `MAX_DEPTH`. False says nothing: the value is then walked."""
    if isinstance(raw, str):
        if "\\u" in raw or raw.count("[") + raw.count("{") > MAX_DEPTH:
            return False
        return text_problem(raw) is None
    # UTF-8 only (json.loads reads UTF-16/32 too): a surrogate encoded in UTF-8 starts with 0xED.
    return (
        b"\\u" not in raw
        and b"\x00" not in raw
        and b"\xed" not in raw
        and raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH
        and json.detect_encoding(raw) == "utf-8"
    )


def _bounded_number(kind: Callable[[str], int | float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        if len(text) > MAX_NUMBER_CHARS:
            raise Unusable(f"a number in the JSON has more than {MAX_NUMBER_CHARS} characters")
        number = kind(text)
        if isinstance(number, float) and not math.isfinite(number):
            raise Unusable(f"the number {text} in the JSON is out of range")
        return number

    return parse


def _no_constant(name: str) -> Any:
    raise Unusable(f"{name} is not a number JSON allows")
