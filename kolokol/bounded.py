"""Bounded copies of stored text for what kolokol sends out: caller cards, live calls, the call log.

Whatever the database holds (rows written before the entries checked sizes, a CRM that sends novels),
a card goes to every console on every ring and stays in the feed's resume window, so it carries
bounded text: at most `MAX_CONTACTS` contacts (and how many there are in all), `MAX_TASKS` open tasks,
`MAX_FIELDS` fields per contact and `MAX_FIELDS_CHARS` of them in all, names of `MAX_NAME_CHARS` and
other values of `MAX_TEXT_CHARS` characters (longer ones end in "…"). Text that UTF-8 cannot carry
(lone surrogates) is repaired on the way. Pure: plain JSON-like values in, plain values out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from softphone_ws.hub import sendable

MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 500
MAX_KEY_CHARS = 64
MAX_FIELDS = 30  # per contact, besides id, external_id, name and phones
# All of a contact's own fields together, in characters of JSON: fields past it are left out (in the
# order the contact lists them), so ten contacts on one card stay within some 64 KB.
MAX_FIELDS_CHARS = 3000
MAX_PHONES = 10
MAX_CONTACTS = 10  # per card (families share a phone; more is a shared or placeholder number)
MAX_TASKS = 5  # per card
MAX_ITEMS = 50  # any other list
MAX_DEPTH = 4  # nested values inside a field
MAX_URL_CHARS = 2000
ELLIPSIS = "…"

# What every contact on a card has, kept whatever else is cut (crm_url is the card's link to the CRM).
_CONTACT_KEYS = ("id", "external_id", "name", "phones", "crm_url")


def bounded_text(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    """At most `limit` characters of valid text, ending in "…" when cut."""
    text = sendable(text)
    if len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS


def bounded_value(value: Any, limit: int = MAX_TEXT_CHARS, depth: int = MAX_DEPTH) -> Any:
    """Any JSON-like value with every string, list and mapping in it bounded."""
    if isinstance(value, str):
        return bounded_text(value, limit)
    if isinstance(value, Mapping):
        if depth <= 0:
            return {}
        return {
            bounded_text(str(key), MAX_KEY_CHARS): bounded_value(item, limit, depth - 1)
            for key, item in list(value.items())[:MAX_ITEMS]
        }
    if isinstance(value, list | tuple):
        if depth <= 0:
            return []
        return [bounded_value(item, limit, depth - 1) for item in value[:MAX_ITEMS]]
    return value


def bounded_contact(contact: Mapping[str, Any]) -> dict[str, Any]:
    """A contact as `contact_json` gives it (id, external_id, name, phones, then its own fields)."""
    result: dict[str, Any] = {
        key: bounded_value(contact[key], MAX_NAME_CHARS)
        for key in ("id", "external_id", "name")
        if key in contact
    }
    if "phones" in contact:
        result["phones"] = [
            bounded_text(str(p), MAX_NAME_CHARS) for p in list(contact["phones"])[:MAX_PHONES]
        ]
    if "crm_url" in contact:
        url = contact["crm_url"]
        # A link cut short leads nowhere: none is better.
        result["crm_url"] = (
            url if isinstance(url, str) and len(url) <= MAX_URL_CHARS and url == sendable(url) else None
        )
    fields = [(key, value) for key, value in contact.items() if key not in _CONTACT_KEYS]
    budget = MAX_FIELDS_CHARS
    for key, value in fields[:MAX_FIELDS]:
        name, shown = bounded_text(str(key), MAX_KEY_CHARS), bounded_value(value)
        budget -= len(name) + len(json.dumps(shown, ensure_ascii=False))
        if budget < 0:
            break
        result.setdefault(name, shown)
    return result


def bounded_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """A callback task as the console lists it (`task_view`): its contacts by name, its note."""
    result = {key: bounded_value(value) for key, value in task.items() if key != "contacts"}
    if "contacts" in task:
        result["contacts"] = [
            {key: bounded_value(value, MAX_NAME_CHARS) for key, value in dict(c).items()}
            for c in list(task["contacts"])[:MAX_CONTACTS]
        ]
    return result


def bounded_card(card: Mapping[str, Any]) -> dict[str, Any]:
    """A caller card (docs/feed.md, `card`) with bounded text; `contacts_total` says how many contacts
    have the number when the card carries only the first `MAX_CONTACTS` of them."""
    contacts = list(card.get("contacts") or ())
    tasks = list(card.get("open_tasks") or ())
    result = {
        key: bounded_value(value) for key, value in card.items() if key not in ("contacts", "open_tasks")
    }
    result["contacts"] = [bounded_contact(contact) for contact in contacts[:MAX_CONTACTS]]
    result["contacts_total"] = len(contacts)
    result["open_tasks"] = [bounded_task(task) for task in tasks[:MAX_TASKS]]
    return result
