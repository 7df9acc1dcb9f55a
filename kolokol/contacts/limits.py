"""How big a contact may be, wherever it comes from (the REST API, a CSV import): one rule for all.

A contact goes onto the caller card of every ring from its number, to every console, and into the
feed's resume window, so its size is bounded at the entry; the database refuses anything larger too
(migration 0005). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pbx.untrusted import text_problem

MAX_EXTERNAL_ID_CHARS = 200
MAX_NAME_CHARS = 500
MAX_PHONES = 20
# A phone as written (with spaces, brackets, "доб. 12"): longer is not a phone number.
MAX_PHONE_CHARS = 100
MAX_FIELDS = 50
MAX_FIELD_NAME_CHARS = 64
MAX_FIELD_VALUE_CHARS = 2000


class ContactRejected(ValueError):
    """The contact cannot be stored as given; the message says why, ``field`` names where."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True, slots=True)
class ContactText:
    external_id: str
    name: str
    phones: tuple[str, ...]
    fields: dict[str, str] | None


def checked_contact(
    *, external_id: str, name: str, phones: Iterable[str], fields: Mapping[str, str] | None
) -> ContactText:
    """The contact trimmed and within the limits, or ``ContactRejected`` naming the first field that is
    not (empty, too long, too many, or text that cannot be stored)."""
    external_id = _text(external_id.strip(), "external_id", MAX_EXTERNAL_ID_CHARS)
    name = _text(name.strip(), "name", MAX_NAME_CHARS)
    if not external_id:
        raise ContactRejected("external_id is required", "external_id")
    if not name:
        raise ContactRejected("name is required", "name")
    phone_list = tuple(phones)
    if len(phone_list) > MAX_PHONES:
        raise ContactRejected(f"a contact has at most {MAX_PHONES} phones", "phones")
    for n, phone in enumerate(phone_list):
        _text(phone, f"phones[{n}]", MAX_PHONE_CHARS)
    checked_fields = None
    if fields is not None:
        if len(fields) > MAX_FIELDS:
            raise ContactRejected(f"a contact has at most {MAX_FIELDS} fields", "fields")
        checked_fields = {}
        for key, value in fields.items():
            shown = key if len(key) <= MAX_FIELD_NAME_CHARS and text_problem(key) is None else "…"
            _text(key, f"fields.{shown}", MAX_FIELD_NAME_CHARS, what="its name")
            if not key.strip():
                raise ContactRejected("field names cannot be empty", "fields")
            checked_fields[key] = _text(value, f"fields.{key}", MAX_FIELD_VALUE_CHARS)
    return ContactText(external_id, name, phone_list, checked_fields)


def _text(value: str, field: str, limit: int, what: str = "") -> str:
    subject = f"{field} ({what})" if what else field
    problem = text_problem(value)
    if problem is not None:
        raise ContactRejected(f"{subject} {problem}", field)
    if len(value) > limit:
        raise ContactRejected(f"{subject} is longer than {limit} characters", field)
    return value
