"""Contacts: upsert by the CRM's external id; phones normalised so calls can find them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.contacts.limits import ContactRejected, checked_contact
from kolokol.phones import PhoneNormalizer
from kolokol.storage.tables import Contact, ContactPhone

__all__ = ["ContactRejected", "UpsertResult", "contacts_by_number", "upsert_contact"]


@dataclass(frozen=True, slots=True)
class UpsertResult:
    contact: Contact
    created: bool
    rejected_phones: tuple[str, ...]


async def upsert_contact(
    session: AsyncSession,
    phones_normalizer: PhoneNormalizer,
    *,
    external_id: str,
    name: str,
    phones: Iterable[str],
    fields: Mapping[str, str] | None = None,
) -> UpsertResult:
    """Create or update the contact with this external id. Sizes and text are checked first
    (``ContactRejected``); run it in `write_transaction` when other writers may upsert the same one."""
    checked = checked_contact(external_id=external_id, name=name, phones=phones, fields=fields)
    external_id, name, fields = checked.external_id, checked.name, checked.fields
    numbers: dict[str, str] = {}
    rejected: list[str] = []
    for raw in checked.phones:
        number = phones_normalizer.e164(raw)
        if number is None:
            rejected.append(raw)
        else:
            numbers.setdefault(number, raw)
    now = datetime.now(UTC)
    # Locked (PostgreSQL) so a concurrent upsert of the same contact waits and then sees this one's
    # phones; a contact that does not exist yet is created by one writer, the other's insert fails and
    # `write_transaction` runs it again as an update.
    contact = await session.scalar(
        select(Contact).where(Contact.external_id == external_id).with_for_update()
    )
    created = contact is None
    if contact is None:
        contact = Contact(
            external_id=external_id, name=name, fields=dict(fields or {}), created_at=now, updated_at=now
        )
        contact.phones = []
        session.add(contact)
    else:
        contact.name = name
        if fields is not None:
            contact.fields = dict(fields)
        contact.updated_at = now
    # The CRM sends the whole list: phones it no longer lists are removed.
    contact.phones = [p for p in contact.phones if p.number in numbers] + [
        ContactPhone(number=n, raw=raw)
        for n, raw in numbers.items()
        if n not in {p.number for p in contact.phones}
    ]
    await session.flush()
    return UpsertResult(contact, created, tuple(rejected))


async def contacts_by_number(session: AsyncSession, number: str) -> list[Contact]:
    return list(
        (
            await session.scalars(
                select(Contact).join(ContactPhone).where(ContactPhone.number == number).order_by(Contact.name)
            )
        ).unique()
    )
