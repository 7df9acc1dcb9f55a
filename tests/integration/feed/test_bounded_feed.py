"""Whatever a contact holds in the database, a ring pops a small card on every console, `/api/live` and
a page of the call log stay small, and text UTF-8 cannot carry is repaired instead of breaking the feed
(issue 9, part 10: a 500 KB name made every ring a 20 MB frame; a "\\ud800" in a field stopped the card).

The contact is written straight into the tables, as rows stored before the entries checked anything.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select
from websockets.asyncio.client import connect

from kolokol.app_keys import LIVE, SESSIONS
from kolokol.auth.tokens import create_token
from kolokol.bounded import MAX_NAME_CHARS
from kolokol.storage.tables import Call, Contact, ContactPhone
from pbx.live import LiveCall, LiveChange
from tests.support.feed_server import WAIT, receive
from tests.support.logins import Client, ClientMaker, Clock, start_app

CALLER = "+79161234567"
T0 = datetime.now(UTC).replace(microsecond=0)
FRAME_LIMIT = 64 * 1024  # a card's frame; it was 20 MB


class Clinic:
    def __init__(self, app: web.Application, http: Client, bearer: str) -> None:
        self.app, self.http, self.bearer = app, http, bearer

    async def feed_url(self) -> str:
        async with self.http.post("/api/feed/token", headers=self.auth) as resp:
            url: str = (await resp.json())["url"]
        return url

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer}"}

    async def get(self, path: str) -> tuple[bytes, Any]:
        async with self.http.get(path, headers=self.auth) as resp:
            assert resp.status == 200
            body = await resp.read()
        return body, json.loads(body)


@pytest.fixture
async def clinic(db_url: str, aiohttp_client: ClientMaker) -> Clinic:
    app, http = await start_app(db_url, aiohttp_client, Clock(datetime.now(UTC)))
    async with app[SESSIONS].begin() as session:
        bearer = await create_token(session, name="Ольга", role="manager")
        # A 500-character name (the column's limit), 40 fields of 3,000 characters (about what the
        # database holds since migration 0005) and a lone surrogate in a field (JSON columns keep it as
        # an escape), on the caller's number; and a harmless family member.
        for n, (name, fields) in enumerate(
            [
                ("Я" * 500, {f"поле {i}": "ж" * 3_000 for i in range(40)}),
                ("Миша Петров", {"notes": "Боится\ud800 уколов"}),
            ]
        ):
            contact = Contact(external_id=f"p-{n}", name=name, fields=fields, created_at=T0, updated_at=T0)
            contact.phones = [ContactPhone(number=CALLER, raw=CALLER)]
            session.add(contact)
    return Clinic(app, http, bearer)


def ringing(n: int = 1) -> LiveChange:
    call = LiveCall(
        pbx="asterisk",
        pbx_call_id=f"1795433829.{n}",
        direction="inbound",
        state="ringing",
        caller=CALLER,
        caller_name="Иван\udc00 Петров",
        called="+74951110001",
        number=CALLER,
        ringing=("101",),
        talking=(),
        rang=("101",),
        queue=None,
        operator=None,
        answered_by=None,
        started_at=T0,
        answered_at=None,
        ended_at=None,
    )
    return LiveChange("call.ringing", call, T0)


def assert_card_bounded(card: dict[str, Any]) -> None:
    names = [c["name"] for c in card["contacts"]]
    assert names == ["Миша Петров", "Я" * (MAX_NAME_CHARS - 1) + "…"]
    assert card["contacts_total"] == 2
    assert card["contacts"][0]["notes"] == "Боится\ufffd уколов"


async def test_a_ring_from_a_number_with_monstrous_contacts_pops_a_small_repaired_card(
    clinic: Clinic,
) -> None:
    async with connect(await clinic.feed_url(), open_timeout=WAIT) as console:
        await console.send('{"type":"subscribe","all":true}')
        assert (await receive(console))["type"] == "subscribed"
        clinic.app[LIVE].calls_changed([ringing()])
        frame = await console.recv()
    assert len(frame.encode()) < FRAME_LIMIT
    message = json.loads(frame)
    assert message["call"]["caller_name"] == "Иван\ufffd Петров"
    assert_card_bounded(message["card"])

    # A console that was away resumes across that message.
    async with connect(await clinic.feed_url(), open_timeout=WAIT) as console:
        await console.send('{"type":"subscribe","all":true}')
        await receive(console)
        await console.send(json.dumps({"type": "resume", "after": str(int(message["id"]) - 1)}))
        assert (await receive(console))["id"] == message["id"]

    # Where a console starts from: the same card, small.
    body, live = await clinic.get("/api/live")
    assert len(body) < FRAME_LIMIT
    [entry] = live["calls"]
    assert_card_bounded(entry["card"])


async def test_a_page_of_the_call_log_carries_bounded_contacts(clinic: Clinic) -> None:
    async with clinic.app[SESSIONS].begin() as session:
        contact_ids = list((await session.scalars(select(Contact.id))).all())
        for n in range(50):
            start = T0 - timedelta(hours=n + 1)
            session.add(
                Call(
                    pbx="asterisk",
                    pbx_call_id=f"old.{n}",
                    direction="inbound",
                    caller=CALLER,
                    called="+74951110001",
                    outside_number=CALLER,
                    status="answered",
                    disposition="answered",
                    rang=["101"],
                    transfers=[],
                    started_at=start,
                    ended_at=start + timedelta(minutes=2),
                    contact_ids=contact_ids,
                )
            )
    body, page = await clinic.get("/api/calls?limit=50")
    assert len(page["items"]) == 50
    assert len(body) < 2 * 1024 * 1024, "was 100 MB"
    assert {len(c["name"]) for c in page["items"][0]["contacts"]} == {11, MAX_NAME_CHARS}
