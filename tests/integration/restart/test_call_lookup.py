"""A console whose call left the feed without its end (a restart) asks the call log what became of it, by
the live call's ``pbx`` and ``pbx_call_id``: two PBXs may use the same id."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp.test_utils import TestClient

from kolokol.app_keys import SESSIONS, SETTINGS
from kolokol.calls.wiring import make_pipeline
from tests.support.call_records import missed
from tests.support.clock import Clock
from tests.support.logins import ClientMaker, add_user, log_in, start_app


async def test_a_call_is_found_by_its_pbx_and_pbx_call_id(db_url: str, aiohttp_client: ClientMaker) -> None:
    app, client = await start_app(db_url, aiohttp_client, Clock())
    pipeline = make_pipeline(app[SETTINGS], app[SESSIONS])
    await pipeline.record(replace(missed(1, "+79161234567"), pbx_call_id="1001"))
    await pipeline.record(replace(missed(2, "+79031112233"), pbx="generic", pbx_call_id="1001"))
    # The console's operator, logged in: the calls rang her phone (an operator reads her phones' calls).
    await add_user(app, "anna", "operator", extensions=("101",))
    await log_in(client, "anna")

    async def found(query: str) -> list[tuple[str, str]]:
        body = await get(client, f"/api/calls?{query}")
        return [(c["pbx"], c["caller"]) for c in body["items"]]

    assert await found("pbx=generic&pbx_call_id=1001") == [("generic", "+79031112233")]
    assert await found("pbx=asterisk&pbx_call_id=1001") == [("asterisk", "+79161234567")]
    assert len(await found("pbx_call_id=1001")) == 2
    assert await found("pbx=asterisk&pbx_call_id=1002") == []
    async with client.get("/api/calls?pbx=" + "x" * 21) as resp:
        assert (resp.status, (await resp.json())["error"]) == (400, "invalid-parameter")


async def get(client: TestClient[Any, Any], path: str) -> Any:
    async with client.get(path) as resp:
        assert resp.status == 200
        return await resp.json()
