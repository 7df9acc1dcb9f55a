"""Rings become caller cards on the operators' feed: the whole service (AMI client, assembler, call
pipeline, feed server) on a real database, fed the bytes recorded from the real Asterisk by a small AMI
server, with real websocket clients scoped like the operators' consoles."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from websockets.asyncio.client import ClientConnection, connect

from kolokol.app import make_app
from kolokol.app_keys import AMI, CLOCK, FEED, FEED_SECRET, LIVE, SESSIONS
from kolokol.auth.tokens import create_token
from kolokol.contacts.store import upsert_contact
from kolokol.phones import PhoneNormalizer
from kolokol.settings import Settings
from pbx.ami_framing import AmiFramer
from softphone_ws import feed_tokens
from tests.support.databases import reset_if_postgres
from tests.support.fake_ami import FakeAmi, encode
from tests.support.feed_clients import everything_so_far
from tests.support.logins import add_user, log_in
from tests.support.paths import AMI_CAPTURES
from tests.support.waiting import eventually

CAPTURES = AMI_CAPTURES
CALLER = "+79161234567"
WAIT = 10  # seconds: only a bound for a broken run, never a timing assertion

ClientMaker = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


class Service:
    def __init__(self, app: web.Application, http: TestClient[web.Request, web.Application], ami: FakeAmi):
        self.app, self.http, self.ami = app, http, ami

    def feed_token(self, role: str = "operator", extensions: tuple[str, ...] = ()) -> str:
        return feed_tokens.issue(
            self.app[FEED_SECRET],
            subject=role,
            role=role,
            extensions=extensions,
            now=self.app[CLOCK](),
            every_call=role != "operator",
        )

    async def operator(self, *extensions: str) -> ClientConnection:
        client = await connect(
            f"ws://127.0.0.1:{self.app[FEED].port}/?token={self.feed_token('operator', extensions)}"
        )
        await client.send(json.dumps({"type": "subscribe", "extensions": list(extensions)}))
        assert (await receive(client))["type"] == "subscribed"
        return client

    async def play(self, scenario: str, *, until: str | None = None, after: str | None = None) -> None:
        """Send a recorded capture as Asterisk would: all of it, its events up to the first `until`
        event, or those after the first `after` event (the rest of a capture played `until` it)."""
        events = AmiFramer().feed((CAPTURES / f"{scenario}.ami").read_bytes())
        mark = until or after
        if mark is not None:
            cut = next(i for i, e in enumerate(events) if e.get("Event") == mark) + 1
            events = events[:cut] if until is not None else events[cut:]
        await self.ami.push(b"".join(encode(dict(e)) for e in events))

    async def ringing_on(self, extension: str) -> None:
        """Wait until the screens show a call ringing on this phone (the AMI events were read)."""
        await eventually(
            lambda: any(extension in e.call.ringing for e in self.app[LIVE].live_calls()),
            f"a call ringing on {extension}",
        )
        await self.app[LIVE].drain()


async def receive(client: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        message: dict[str, Any] = json.loads(await client.recv())
    return message


async def messages_until(client: ClientConnection, kind: str) -> list[dict[str, Any]]:
    seen = []
    while True:
        message = await receive(client)
        seen.append(message)
        if message["type"] == kind:
            return seen


@pytest.fixture
async def service(db_url: str, aiohttp_client: ClientMaker) -> AsyncIterator[Service]:
    await reset_if_postgres(db_url)
    ami = FakeAmi()
    await ami.start()
    settings = Settings.model_validate(
        {
            "database": {"url": db_url},
            "feed": {"port": 0},
            "calls": {"settle_seconds": 0},
            "pbx": {"asterisk": {"port": ami.port, "username": "kolokol", "secret": "s3cret"}},
            "lines": {"8 495 111-00-01": {"name": "Основная линия", "branch": "Центр"}},
            "console": {"crm_contact_url": "https://crm.clinic/patients/{external_id}"},
        }
    )
    app = make_app(settings)
    http = await aiohttp_client(app)
    await eventually(lambda: app[AMI].logged_in, "kolokol logged in to the AMI server")
    async with app[SESSIONS].begin() as session:
        for external_id, name in (("p-1", "Анна Петрова"), ("p-2", "Миша Петров")):
            await upsert_contact(
                session,
                PhoneNormalizer(),
                external_id=external_id,
                name=name,
                phones=["8 (916) 123-45-67"],
                fields={"patient_status": "пациент", "next_visit": "2026-03-15"},
            )
    yield Service(app, http, ami)
    await ami.stop()


async def test_a_ring_pops_the_card_on_the_phones_that_ring_and_the_answer_closes_the_rest(
    service: Service,
) -> None:
    p101, p102, p103 = [await service.operator(ext) for ext in ("101", "102", "103")]
    await service.play("ringall_answered")
    first = await receive(p101)
    assert first["type"] == "call.ringing"
    assert first["call"]["ringing"] == ["101"]
    assert first["call"]["caller_name"] == "Иван Петров"
    card = first["card"]
    assert card["number_display"] == "+7 916 123-45-67"
    assert [c["name"] for c in card["contacts"]] == ["Анна Петрова", "Миша Петров"]
    assert card["contacts"][0]["next_visit"] == "2026-03-15"
    assert card["contacts"][0]["crm_url"] == "https://crm.clinic/patients/p-1"
    assert card["line"] == {
        "number": "+74951110001",
        "number_display": "+7 495 111-00-01",
        "name": "Основная линия",
        "branch": "Центр",
    }
    assert card["first_time_caller"] is True
    seen_by_101 = [first, *await messages_until(p101, "call.ended")]
    [answered] = [m for m in seen_by_101 if m["type"] == "call.answered"]
    assert answered["call"]["answered_by"] == "102"
    assert "card" in answered, "a phone that joins later must be able to show the card"
    assert "card" not in seen_by_101[-1]
    seen_by_102 = await messages_until(p102, "call.ended")
    assert any("102" in m["call"]["ringing"] for m in seen_by_102 if m["type"] == "call.ringing")
    assert [m["id"] for m in seen_by_101] == sorted((m["id"] for m in seen_by_101), key=int)
    await service.app[LIVE].drain()
    assert await everything_so_far(p103) == [], "103 never rang: nothing for it"
    for client in (p101, p102, p103):
        await client.close()


async def test_a_missed_call_reaches_every_operator_as_a_task_and_the_next_ring_shows_it(
    service: Service,
) -> None:
    p101, p104 = await service.operator("101"), await service.operator("104")
    await service.play("ringall_no_answer")
    await messages_until(p101, "call.ended")
    created = (await messages_until(p104, "task.created"))[-1]
    task = created["task"]
    assert (task["number"], task["status"], task["missed_calls"]) == (CALLER, "open", 1)
    assert task["number_display"] == "+7 916 123-45-67"
    assert [c["name"] for c in task["contacts"]] == ["Анна Петрова", "Миша Петров"]
    # The patient calls again: the card says they called before and what is still open for them. Up to
    # 101's ringing only: the card is made when it is handed over, and the rest of the call (102
    # answers, the call ends, the task closes) must not overtake it.
    await service.play("queue_answered", until="Newstate")
    ring = (await messages_until(p101, "call.ringing"))[-1]
    assert ring["card"]["first_time_caller"] is False
    assert ring["card"]["earlier_calls"] == 1
    assert ring["card"]["last_call"]["status"] == "missed"
    assert [t["id"] for t in ring["card"]["open_tasks"]] == [task["id"]]
    assert ring["call"]["queue"] == "reception"
    # Answered: while they talk every screen shows the task as in conversation; then it closes itself,
    # and everyone's callback list hears of it.
    await service.play("queue_answered", after="Newstate")
    updates = [(await messages_until(p104, "task.updated"))[-1]]
    while updates[-1]["task"]["status"] == "open":
        updates.append((await messages_until(p104, "task.updated"))[-1])
    assert {u["task"]["id"] for u in updates} == {task["id"]}
    assert updates[-1]["task"]["status"] == "done"
    assert any(u["task"]["in_call"] is not None for u in updates[:-1]), "shown as in conversation first"
    await p101.close()
    await p104.close()


async def test_live_calls_snapshot_is_scoped_like_the_feed(service: Service) -> None:
    # Up to 101's Ringing: a dialled phone shows on the screens once it really rings.
    await service.play("ringall_answered", until="Newstate")
    await service.ringing_on("101")
    async with service.app[SESSIONS].begin() as session:
        manager = await create_token(session, name="Ольга", role="manager")
    async with service.http.get("/api/live", headers={"Authorization": f"Bearer {manager}"}) as resp:
        assert resp.status == 200
        body = await resp.json()
    [live] = body["calls"]
    assert live["call"]["state"] == "ringing"
    assert live["call"]["ringing"] == ["101"]
    assert live["card"]["contacts"][0]["name"] == "Анна Петрова"
    assert int(live["message_id"]) <= int(body["last_id"])
    assert body["extensions"] == []
    entries_for_102 = service.app[LIVE].live_calls(frozenset({"102"}))
    assert entries_for_102 == [], "102 has not rung yet"


async def test_click_to_call_failure_is_told_to_that_operator(service: Service) -> None:
    async with service.app[SESSIONS].begin() as session:
        crm = await create_token(session, name="CRM", role="integration")
    p101 = await service.operator("101")
    headers = {"Authorization": f"Bearer {crm}"}
    body = {"extension": "101", "number": "8 916 123-45-67"}
    async with service.http.post("/api/calls/originate", json=body, headers=headers) as resp:
        assert resp.status == 202
        assert await resp.json() == {"extension": "101", "number": CALLER, "status": "requested"}
    [originate] = [a for a in service.ami.actions if a.get("Action") == "Originate"]
    assert originate["Channel"] == "PJSIP/101"
    assert (originate["Context"], originate["Exten"]) == ("phones", CALLER)
    assert originate["Async"] == "true"
    assert originate["CallerID"] == '"+7 916 123-45-67" <101>'
    # A second click while the phone is still being rung would ring it twice.
    async with service.http.post("/api/calls/originate", json=body, headers=headers) as resp:
        assert resp.status == 409
        assert (await resp.json())["error"] == "originate-in-progress"
    await service.ami.event(
        {
            "Event": "OriginateResponse",
            "ActionID": originate["ActionID"],
            "Response": "Failure",
            "Reason": "0",
        }
    )
    failed = await receive(p101)
    assert failed["type"] == "originate.failed"
    assert (failed["extension"], failed["number"], failed["reason"]) == ("101", CALLER, "unreachable")
    async with service.http.post("/api/calls/originate", json=body, headers=headers) as resp:
        assert resp.status == 202, "after the outcome the phone may be rung again"
    await p101.close()


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"extension": "101", "number": "not a number"}, 400, "invalid-field"),
        ({"extension": "1O1", "number": CALLER}, 400, "invalid-field"),
        ({"extension": "1" * 40, "number": CALLER}, 400, "invalid-field"),
        ({"extension": "101", "number": "9" * 5000}, 400, "invalid-field"),
        ({"extension": "101"}, 400, "invalid-field"),
        ({"extension": "102", "number": CALLER}, 403, "forbidden"),
    ],
)
async def test_click_to_call_refuses_bad_requests_and_other_peoples_phones(
    service: Service, body: dict[str, str], status: int, error: str
) -> None:
    await add_user(service.app, "anna", "operator", extensions=("101",))
    csrf = await log_in(service.http, "anna")
    headers = {"X-CSRF-Token": csrf}
    async with service.http.post("/api/calls/originate", json=body, headers=headers) as resp:
        assert resp.status == status
        assert (await resp.json())["error"] == error
    assert not [a for a in service.ami.actions if a.get("Action") == "Originate"]
