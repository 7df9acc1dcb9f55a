"""A contact as the API, the call record and the caller card show it."""

from __future__ import annotations

from typing import Any

from kolokol.storage.tables import Contact


def contact_json(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "external_id": contact.external_id,
        "name": contact.name,
        "phones": sorted(p.number for p in contact.phones),
        **{k: v for k, v in contact.fields.items() if k not in ("id", "external_id", "name", "phones")},
    }
