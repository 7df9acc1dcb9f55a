"""Callback tasks on every screen as they change: a contact created for a task's number names the task at
once, and a task whose patient is on the line with anyone shows it (`in_call`) on the feed and in
/api/tasks, until the answered call closes it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect

from kolokol.app_keys import LIVE, SESSIONS, SETTINGS
from kolokol.auth.tokens import create_token
from kolokol.calls.wiring import make_pipeline
from pbx.live import LiveChange
from tests.support.logins import Client, ClientMaker, Clock, add_user, log_in, start_app
from tests.support.task_calls import TALKING, answered_call, missed_call

WAIT = 10  # seconds: only a bound for a broken run


class Clinic:
    def __init__(self, app: web.Application, client: Client, screen: ClientConnection, token: str) -> None:
        self.app, self.client, self.screen, self.token = app, client, screen, token

    async def next_task(self) -> dict[str, Any]:
        """The next task message a supervisor's screen receives."""
        async with asyncio.timeout(WAIT):
            while True:
                message = json.loads(await self.screen.recv())
                if message["type"].startswith("task."):
                    return dict(message["task"])

    async def api(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.client.request(method, path, json=body, headers=headers) as resp:
            assert resp.status < 300, await resp.text()
            return await resp.json()


@pytest.fixture
async def clinic(db_url: str, aiohttp_client: ClientMaker) -> AsyncIterator[Clinic]:
    app, client = await start_app(db_url, aiohttp_client, Clock(datetime.now(UTC)))
    await add_user(app, "olga", "manager", display_name="Ольга Петровна")
    csrf = await log_in(client, "olga")
    async with client.post("/api/feed/token", json={}, headers={"X-CSRF-Token": csrf}) as resp:
        grant = await resp.json()
    async with app[SESSIONS].begin() as session:
        token = await create_token(session, name="crm", role="integration")
    screen = await connect(grant["url"])
    await screen.send(json.dumps({"type": "subscribe", "all": True}))
    async with asyncio.timeout(WAIT):
        assert json.loads(await screen.recv())["type"] == "subscribed"
    yield Clinic(app, client, screen, token)
    await screen.close()


async def record(clinic: Clinic, *records: Any) -> None:
    pipeline = make_pipeline(clinic.app[SETTINGS], clinic.app[SESSIONS])
    for r in records:
        await pipeline.record(r)


async def test_a_contact_created_for_the_number_names_its_task_on_every_screen(clinic: Clinic) -> None:
    await record(clinic, missed_call(1))
    created = await clinic.next_task()
    assert created["contacts"] == []
    await clinic.api("POST", "/api/contacts", {"name": "Пётр Сидоров", "phones": ["8 916 123-45-67"]})
    named = await clinic.next_task()
    assert (named["id"], [c["name"] for c in named["contacts"]]) == (created["id"], ["Пётр Сидоров"])
    assert named["version"] == created["version"], "the task itself did not change"


async def test_a_task_shows_its_patient_on_the_line_until_the_answered_call_closes_it(clinic: Clinic) -> None:
    await record(clinic, missed_call(1))
    task = await clinic.next_task()
    live = clinic.app[LIVE]
    # Boris (102) answers the patient's next call; his colleagues' feeds do not carry his calls.
    live.calls_changed([LiveChange("call.answered", TALKING, TALKING.started_at)])
    talking = await clinic.next_task()
    assert (talking["id"], talking["status"]) == (task["id"], "open")
    assert talking["in_call"] == {
        "call_id": TALKING.id,
        "state": "talking",
        "extensions": ["102"],
        "since": "2026-11-23T09:00:05.000Z",
    }
    listed = await clinic.api("GET", "/api/tasks?status=open")
    assert listed["items"][0]["in_call"] == talking["in_call"]
    # The call ends; its record ("reached") closes the task while the end is held.
    live.calls_changed(
        [LiveChange("call.ended", replace(TALKING, state="ended", talking=()), TALKING.started_at)]
    )
    await live.drain()
    await record(clinic, answered_call(2, minutes=1))
    closed = await clinic.next_task()
    assert (closed["id"], closed["status"], closed["resolution"]) == (task["id"], "done", "reached")
