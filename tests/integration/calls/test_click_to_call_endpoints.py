"""Click-to-call rings the phone an extension names, also when the phone's endpoint is not the
extension (phones.extensions): the Originate goes to the endpoint, and the call it makes is the
operator's by extension."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from kolokol.app import make_app
from kolokol.app_keys import AMI, SESSIONS
from kolokol.auth.tokens import create_token
from kolokol.settings import Settings
from tests.support.fake_ami import FakeAmi

WAIT = 10  # seconds: only a bound for a broken run
ClientMaker = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
async def ami() -> AsyncIterator[FakeAmi]:
    fake = FakeAmi()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.mark.parametrize(
    ("template", "extension", "channel"),
    [
        ("SIP/{extension}", "201", "SIP/150010001"),  # mapped: the account code is rung
        ("PJSIP/{extension}", "101", "PJSIP/101"),  # not mapped: the extension is the endpoint
    ],
)
async def test_the_originate_rings_the_endpoint_of_the_extension(
    ami: FakeAmi, aiohttp_client: ClientMaker, tmp_path: Path, template: str, extension: str, channel: str
) -> None:
    settings = Settings.model_validate(
        {
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'k.sqlite3'}"},
            "feed": {"port": 0},
            "phones": {"extensions": {"150010001": "201"}},
            "pbx": {
                "asterisk": {
                    "port": ami.port,
                    "username": "kolokol",
                    "secret": "s3cret",
                    "originate_channel": template,
                }
            },
        }
    )
    app = make_app(settings)
    http = await aiohttp_client(app)
    client = app[AMI]
    assert client is not None
    async with asyncio.timeout(WAIT):
        while not client.logged_in:  # noqa: ASYNC110 - the client has no "logged in" event to wait on
            await asyncio.sleep(0.01)
    async with app[SESSIONS].begin() as session:
        crm = await create_token(session, name="CRM", role="integration")
    body = {"extension": extension, "number": "8 916 123-45-67"}
    headers = {"Authorization": f"Bearer {crm}"}
    async with http.post("/api/calls/originate", json=body, headers=headers) as resp:
        assert resp.status == 202, await resp.text()
    [originate] = [a for a in ami.actions if a.get("Action") == "Originate"]
    assert originate["Channel"] == channel
    assert originate["CallerID"].endswith(f"<{extension}>"), "the call is placed as the extension"
