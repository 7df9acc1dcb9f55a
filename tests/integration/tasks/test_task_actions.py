"""Working the callback list over REST: "not reached" brings a task back later and the last attempt closes
it, a close can be undone for a few seconds by whoever did it, and operators pressing at once never both
win (one 200, the rest 409), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web

from kolokol.app_keys import SESSIONS, SETTINGS
from kolokol.auth.tokens import create_token
from kolokol.calls.wiring import make_pipeline
from tests.support.logins import Client, ClientMaker, Clock, add_user, start_app
from tests.support.task_calls import PATIENT, answered_call, missed_call

RETRY_MINUTES = 20


class Desk:
    """The API as two operators and a manager use it (API tokens: no CSRF to carry)."""

    def __init__(self, app: web.Application, client: Client, clock: Clock, tokens: dict[str, str]) -> None:
        self.app = app
        self.client = client
        self.clock = clock
        self.tokens = tokens

    async def call(self, method: str, path: str, who: str = "anna", body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        async with self.client.request(method, path, headers=headers, json=body) as resp:
            return resp.status, await resp.json()

    async def act(self, task_id: str, action: str, who: str = "anna", **body: Any) -> tuple[int, Any]:
        return await self.call("POST", f"/api/tasks/{task_id}/{action}", who, body)

    async def task(self, task_id: str) -> dict[str, Any]:
        status, body = await self.call("GET", f"/api/tasks/{task_id}")
        assert status == 200
        return dict(body)

    async def record(self, *records: Any) -> str:
        pipeline = make_pipeline(self.app[SETTINGS], self.app[SESSIONS])
        calls = [await pipeline.record(r) for r in records]
        task_id = calls[-1].callback_task_id
        assert task_id is not None
        return task_id


@pytest.fixture
async def desk(db_url: str, aiohttp_client: ClientMaker) -> Desk:
    clock = Clock()
    app, client = await start_app(
        db_url,
        aiohttp_client,
        clock,
        tasks={"retry_after_minutes": RETRY_MINUTES, "max_attempts": 3, "undo_seconds": 10},
    )
    await add_user(app, "anna", "operator", extensions=("101",), display_name="Анна Смирнова")
    tokens = {}
    async with app[SESSIONS].begin() as session:
        for name, role in (("anna", "operator"), ("boris", "operator"), ("olga", "manager")):
            tokens[name] = await create_token(session, name=name, role=role)
    return Desk(app, client, clock, tokens)


async def test_twenty_operators_completing_one_task_at_once_give_one_success(desk: Desk) -> None:
    task_id = await desk.record(missed_call(1))
    answers = await asyncio.gather(*(desk.act(task_id, "complete", "boris") for _ in range(20)))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [409] * 19
    assert {body["error"] for status, body in answers if status == 409} == {"task-closed"}
    assert (await desk.task(task_id))["status"] == "done"


async def test_twenty_not_reached_at_once_are_counted_exactly_up_to_the_last_attempt(desk: Desk) -> None:
    task_id = await desk.record(missed_call(1))
    answers = await asyncio.gather(*(desk.act(task_id, "attempt", "boris") for _ in range(20)))
    # Three attempts are allowed: two keep the task open, the third closes it, the rest find it closed.
    assert sorted(status for status, _ in answers) == [200] * 3 + [409] * 17
    task = await desk.task(task_id)
    assert (task["status"], task["resolution"], task["attempts"]) == ("done", "unreachable", 3)


async def test_not_reached_brings_the_task_back_later_and_the_last_attempt_closes_it(desk: Desk) -> None:
    task_id = await desk.record(missed_call(1))
    start = desk.clock.now
    status, task = await desk.act(task_id, "attempt", "anna")
    assert status == 200
    assert task["status"] == "open", "not reached is not the end of it"
    assert task["attempts"] == 1
    assert task["last_attempt_by"] == "anna"
    assert task["last_attempt_by_name"] == "Анна Смирнова"
    comes_back = (start + timedelta(minutes=RETRY_MINUTES)).isoformat(timespec="milliseconds")
    assert task["next_attempt_at"] == comes_back.replace("+00:00", "Z")
    assert task["waiting_until"] == task["next_attempt_at"]

    desk.clock.advance(minutes=RETRY_MINUTES)
    status, task = await desk.act(task_id, "attempt", "boris")
    assert (status, task["status"], task["attempts"]) == (200, "open", 2)
    desk.clock.advance(minutes=RETRY_MINUTES)
    status, task = await desk.act(task_id, "attempt", "anna", note="не берёт трубку")
    assert (status, task["status"], task["resolution"], task["attempts"]) == (200, "done", "unreachable", 3)
    assert task["closed_by"] == "anna" and task["note"] == "не берёт трубку"
    assert task["waiting_until"] is None


async def test_a_new_miss_after_an_attempt_brings_the_task_back_at_once(desk: Desk) -> None:
    task_id = await desk.record(missed_call(1))
    desk.clock.now = missed_call(1).ended_at + timedelta(minutes=1)
    _, task = await desk.act(task_id, "attempt")
    assert task["waiting_until"] is not None
    # The patient calls again (and misses again) while the task waits: they want the clinic now.
    assert await desk.record(missed_call(2, minutes=5)) == task_id
    task = await desk.task(task_id)
    assert (task["missed_calls"], task["attempts"], task["waiting_until"]) == (2, 1, None)


async def test_a_close_is_undone_within_the_window_by_whoever_did_it(desk: Desk) -> None:
    task_id = await desk.record(missed_call(1))
    _, before = await desk.act(task_id, "assign", "boris")
    status, closed = await desk.act(task_id, "complete", "anna", resolution="done")
    assert (status, closed["status"], closed["closed_by"], closed["closed_by_name"]) == (
        200,
        "done",
        "anna",
        "Анна Смирнова",
    )
    assert closed["undo"]["by"] == "anna"
    status, body = await desk.act(task_id, "undo", "boris")
    assert (status, body["error"]) == (403, "not-yours")
    desk.clock.advance(seconds=9)
    status, reopened = await desk.act(task_id, "undo", "anna")
    assert status == 200
    assert reopened["status"] == "open"
    assert (reopened["resolution"], reopened["closed_at"], reopened["closed_by"], reopened["undo"]) == (
        None,
        None,
        None,
        None,
    )
    assert reopened["assignee"] == before["assignee"] == "boris", "what the close did not touch stays"
    assert reopened["version"] > closed["version"] > before["version"]
    status, body = await desk.act(task_id, "undo", "anna")
    assert (status, body["error"]) == (409, "nothing-to-undo")


async def test_an_undo_comes_too_late_after_the_window(desk: Desk) -> None:
    task_id = await desk.record(missed_call(1))
    await desk.act(task_id, "complete", "anna")
    desk.clock.advance(seconds=10)
    status, body = await desk.act(task_id, "undo", "anna")
    assert (status, body["error"]) == (409, "undo-expired")
    assert (await desk.task(task_id))["status"] == "done"


async def test_a_manager_may_undo_an_operators_not_reached(desk: Desk) -> None:
    task_id = await desk.record(missed_call(1))
    await desk.act(task_id, "attempt", "anna")
    status, task = await desk.act(task_id, "undo", "olga")
    assert status == 200
    assert (task["status"], task["attempts"], task["next_attempt_at"], task["last_attempt_by"]) == (
        "open",
        0,
        None,
        None,
    )


async def test_an_undo_never_overwrites_what_a_call_did_meanwhile(desk: Desk) -> None:
    task_id = await desk.record(missed_call(1))
    await desk.act(task_id, "attempt", "anna")
    # The patient calls and is answered: the call closes the task ("reached").
    await desk.record(answered_call(3, minutes=2))
    status, body = await desk.act(task_id, "undo", "anna")
    assert (status, body["error"]) == (409, "task-changed")
    task = await desk.task(task_id)
    assert (task["status"], task["resolution"]) == ("done", "reached")


async def test_a_close_cannot_be_undone_once_a_newer_task_is_open(desk: Desk) -> None:
    task_id = await desk.record(missed_call(1))
    await desk.act(task_id, "complete", "anna")
    newer = await desk.record(missed_call(2, minutes=1))
    assert newer != task_id
    status, body = await desk.act(task_id, "undo", "anna")
    assert (status, body["error"]) == (409, "task-superseded")
    _, listed = await desk.call("GET", "/api/tasks?status=open")
    assert [t["id"] for t in listed["items"]] == [newer]


async def test_bad_requests_change_nothing(desk: Desk) -> None:
    task_id = await desk.record(missed_call(1))
    status, body = await desk.act(task_id, "attempt", note=["not", "text"])
    assert (status, body["error"]) == (400, "invalid-field")
    status, body = await desk.act("x" * 40, "attempt")
    assert (status, body["error"]) == (404, "no-such-task")
    status, body = await desk.act("nope", "undo")
    assert (status, body["error"]) == (404, "no-such-task")
    task = await desk.task(task_id)
    assert (task["status"], task["attempts"], task["version"]) == ("open", 0, 1)
    assert task["number"] == PATIENT
