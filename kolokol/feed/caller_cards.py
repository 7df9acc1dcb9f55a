"""The caller card: what an operator must see the moment the phone rings.

Who is calling (every contact with that number: families share phones), whether they called before and
how it went, what is still open for them, which clinic line they dialled, and (inbound) which visit or
advertising brought the call. Three indexed queries, and one or two more for the source (one for a
number kolokol does not track); the card is built once per ring and reused for the call's other messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from calltracking.attribution_store import Ring, load_one
from kolokol.bounded import bounded_card
from kolokol.contacts.store import contacts_by_number
from kolokol.contacts.views import contact_json
from kolokol.phones import PhoneNormalizer, format_for_reading
from kolokol.settings import LineSettings
from kolokol.storage.tables import Call, CallbackTask, Contact
from kolokol.tasks.views import task_json, task_view
from kolokol.times import iso
from pbx.live import LiveCall

Card = dict[str, Any]


def crm_link(template: str | None, contact: Contact) -> str | None:
    if not template:
        return None
    # Plain replacement, not str.format: a template is the clinic's text and may hold other braces.
    phone = min((p.number for p in contact.phones), default="")
    return template.replace("{external_id}", quote(contact.external_id, safe="")).replace(
        "{phone}", quote(phone, safe="")
    )


class CardBuilder:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        phones: PhoneNormalizer,
        *,
        lines: Mapping[str, LineSettings],
        crm_contact_url: str | None,
        first_time_lookback: timedelta | None,
    ) -> None:
        self._sessions = sessions
        self._crm_contact_url = crm_contact_url
        self._lookback = first_time_lookback
        # Lines are configured in any spelling; calls report them in E.164.
        self._lines = {phones.e164(number) or number: line for number, line in lines.items()}

    async def build(self, call: LiveCall) -> Card:
        number = call.number
        card: Card = {
            "number": number,
            "number_display": format_for_reading(number) if number else _display_party(call),
            "contacts": [],
            "first_time_caller": number is not None,
            "earlier_calls": 0,
            "last_call": None,
            "open_tasks": [],
            "line": self._line(call),
            "source": None,
        }
        if number is None:
            card["first_time_caller"] = False
            if call.direction == "inbound":
                # A withheld number still dialled one of ours: its source needs no caller.
                async with self._sessions() as session:
                    card["source"] = await _source(session, call)
            return bounded_card(card)
        async with self._sessions() as session:
            if call.direction == "inbound":
                card["source"] = await _source(session, call)
            contacts = await contacts_by_number(session, number)
            # The latest earlier call and how many there were, in one round trip.
            latest = (
                await session.execute(
                    select(Call, func.count().over())
                    .where(Call.outside_number == number, Call.started_at < call.started_at)
                    .order_by(Call.started_at.desc())
                    .limit(1)
                )
            ).first()
            last, count = latest if latest is not None else (None, 0)
            tasks = (
                await session.scalars(
                    select(CallbackTask)
                    .where(CallbackTask.number == number, CallbackTask.status == "open")
                    .order_by(CallbackTask.due_at)
                )
            ).all()
        card["contacts"] = [
            {**contact_json(c), "crm_url": crm_link(self._crm_contact_url, c)} for c in contacts
        ]
        card["earlier_calls"] = count or 0
        if last is not None:
            card["last_call"] = {
                "started_at": iso(last.started_at),
                "direction": last.direction,
                "status": last.status,
                "operator": last.operator,
            }
            since = call.started_at - self._lookback if self._lookback is not None else None
            card["first_time_caller"] = since is not None and last.started_at < since
        card["open_tasks"] = [task_view(task_json(t), contacts) for t in tasks]
        # Whatever is stored, a card stays small: it goes to every console on every ring.
        return bounded_card(card)

    def _line(self, call: LiveCall) -> dict[str, Any] | None:
        # The clinic's side: the number dialled in, or the line an outbound call leaves on.
        ours = call.called if call.direction == "inbound" else call.caller
        if not ours.startswith("+"):
            return None
        line = self._lines.get(ours)
        return {
            "number": ours,
            "number_display": format_for_reading(ours),
            "name": line.name if line else None,
            "branch": line.branch if line else None,
        }


async def _source(session: AsyncSession, call: LiveCall) -> dict[str, Any]:
    """The call's source as the call record will have it: scored as at the ring (calltracking)."""
    ring = Ring(call.called, call.number, call.started_at)
    return (await load_one(session, ring)).source(ring)


def _display_party(call: LiveCall) -> str:
    """Who is on the other end when it is no outside number: an extension, or a hidden number."""
    return call.called if call.direction == "outbound" else call.caller
