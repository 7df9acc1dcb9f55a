"""The whole service on a real Asterisk 22 (SIPp as trunk and phones): a real ring reaches the operators'
feed with the caller card, the answer closes the other phone's card, and click-to-call through the HTTP
API goes through Asterisk's Originate to a real outbound call that is recorded like any other."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect

from kolokol.app import make_app
from kolokol.app_keys import AMI, FEED, FEED_SECRET, SESSIONS
from kolokol.auth.tokens import create_token
from kolokol.calls.record_json import calls_json
from kolokol.contacts.store import upsert_contact
from kolokol.phones import PhoneNormalizer
from kolokol.settings import Settings
from kolokol.storage.tables import Call
from softphone_ws import feed_tokens
from tests.support import asterisk_harness as h
from tests.support.expected_calls import EXPECTED, assert_matches

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(240)]
CALLER = "+79161234567"
WAIT = 30  # seconds: only a bound for a broken run; real calls take several seconds

ClientMaker = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


class Kolokol:
    def __init__(self, app: web.Application, http: TestClient[web.Request, web.Application]) -> None:
        self.app, self.http = app, http

    async def operator(self, extension: str) -> ClientConnection:
        token = feed_tokens.issue(
            self.app[FEED_SECRET],
            subject=extension,
            role="operator",
            extensions=(extension,),
            now=datetime.now(UTC),
        )
        client = await connect(f"ws://127.0.0.1:{self.app[FEED].port}/?token={token}")
        await client.send(json.dumps({"type": "subscribe", "extensions": [extension]}))
        assert json.loads(await client.recv())["type"] == "subscribed"
        return client

    async def records(self, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + WAIT
        while True:
            async with self.app[SESSIONS]() as session:
                rows = (await session.scalars(select(Call).order_by(Call.started_at))).all()
                if len(rows) >= count:
                    return await calls_json(session, rows)
            assert time.monotonic() < deadline, f"only {len(rows)} of {count} calls were recorded"
            await asyncio.sleep(0.2)


@pytest.fixture
async def kolokol(asterisk: None, tmp_path: Path, aiohttp_client: ClientMaker) -> Kolokol:
    settings = Settings.model_validate(
        {
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'k.sqlite3'}"},
            "feed": {"port": 0},
            "calls": {"settle_seconds": 0.5},
            "pbx": {"asterisk": h.kolokol_ami_settings()},
        }
    )
    app = make_app(settings)
    http = await aiohttp_client(app)
    ami = app[AMI]
    assert ami is not None, "the settings configure Asterisk"
    deadline = time.monotonic() + 15
    while not ami.logged_in:
        assert time.monotonic() < deadline, "kolokol could not log in to the real Asterisk"
        await asyncio.sleep(0.05)
    async with app[SESSIONS].begin() as session:
        await upsert_contact(
            session, PhoneNormalizer(), external_id="p-1", name="Анна Петрова", phones=["8 916 123-45-67"]
        )
    return Kolokol(app, http)


async def until(client: ClientConnection, kind: str) -> list[dict[str, Any]]:
    seen = []
    async with asyncio.timeout(WAIT):
        while True:
            message: dict[str, Any] = json.loads(await client.recv())
            seen.append(message)
            if message["type"] == kind:
                return seen


def _scenario(name: str, **options: Any) -> None:
    with h.AmiClient() as ami:
        h.SCENARIOS[name](ami, **options)


async def test_a_real_ring_pops_the_card_and_the_answer_closes_the_other_phone(kolokol: Kolokol) -> None:
    p101, p102 = await kolokol.operator("101"), await kolokol.operator("102")
    call = asyncio.create_task(asyncio.to_thread(_scenario, "ringall_answered"))
    ring = (await until(p101, "call.ringing"))[-1]
    assert ring["call"]["caller"] == CALLER
    assert ring["call"]["caller_name"] == "Иван Петров"
    assert [c["name"] for c in ring["card"]["contacts"]] == ["Анна Петрова"]
    assert ring["card"]["line"]["number"] == "+74951110001"
    answered = (await until(p101, "call.answered"))[-1]
    assert answered["call"]["answered_by"] == "102"
    assert "101" not in answered["call"]["ringing"], "101 stops ringing: its card closes"
    seen_by_102 = await until(p102, "call.ended")
    assert any(m["call"]["talking"] == ["102"] for m in seen_by_102)
    await call
    await p101.close()
    await p102.close()


async def test_click_to_call_through_the_api_reaches_asterisk_and_is_recorded(kolokol: Kolokol) -> None:
    async with kolokol.app[SESSIONS].begin() as session:
        crm = await create_token(session, name="CRM", role="integration")
    p101 = await kolokol.operator("101")
    loop = asyncio.get_running_loop()

    async def click() -> None:
        body = {"extension": "101", "number": "8 (916) 123-45-67"}
        headers = {"Authorization": f"Bearer {crm}"}
        async with kolokol.http.post("/api/calls/originate", json=body, headers=headers) as resp:
            assert resp.status == 202, await resp.text()

    def originate() -> None:
        asyncio.run_coroutine_threadsafe(click(), loop).result(WAIT)

    await asyncio.to_thread(_scenario, "click_to_call", originate=originate)
    [record] = await kolokol.records(1)
    assert_matches([record], EXPECTED["click_to_call"], timed=True)
    seen = await until(p101, "call.ended")
    first = seen[0]
    assert (first["type"], first["call"]["direction"], first["call"]["state"]) == (
        "call.ringing",
        "outbound",
        "dialing",
    )
    assert first["card"]["contacts"][0]["name"] == "Анна Петрова", "the operator sees whom they are calling"
    assert any(m["type"] == "call.answered" for m in seen)
    await p101.close()
