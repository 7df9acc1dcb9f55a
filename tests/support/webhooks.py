"""Driving the real aiohttp app's webhook endpoints in tests: configured providers, signed requests,
and the call records that came out (through the same serializer as the REST API)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from kolokol.app import make_app
from kolokol.app_keys import CLOCK, INTAKE, PHONES, SESSIONS
from kolokol.calls.record_json import calls_json
from kolokol.contacts.store import upsert_contact
from kolokol.settings import Settings
from kolokol.storage.tables import Call, CallbackTask, WebhookEvent
from kolokol.tasks.views import task_json
from tests.support.clock import Clock
from tests.support.databases import reset_if_postgres

T = TypeVar("T")
ClientMaker = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


class Hook:
    """One configured kolokol app; ``post`` sends to /webhooks/<provider><path>."""

    def __init__(self, client: TestClient[web.Request, web.Application], provider: str) -> None:
        self.client = client
        self.app = client.app
        self.provider = provider

    async def send(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> tuple[int, bytes]:
        all_headers = dict(headers or {})
        if content_type is not None:
            all_headers["Content-Type"] = content_type
        url = f"/webhooks/{self.provider}{path}" + (f"?{query}" if query else "")
        async with self.client.request(method, url, data=body, headers=all_headers) as resp:
            return resp.status, await resp.read()

    async def calls(self) -> list[dict[str, Any]]:
        # Records are built just after the events are stored: wait for that, as a user would.
        await self.app[INTAKE].settle()
        async with self.app[SESSIONS]() as session:
            rows = (await session.scalars(select(Call).order_by(Call.started_at, Call.pbx_call_id))).all()
            return await calls_json(session, rows)

    async def tasks(self) -> list[dict[str, Any]]:
        await self.app[INTAKE].settle()
        async with self.app[SESSIONS]() as session:
            rows = (await session.scalars(select(CallbackTask).order_by(CallbackTask.first_missed_at))).all()
            return [task_json(t) for t in rows]

    async def stored_events(self) -> int:
        async with self.app[SESSIONS]() as session:
            return int(await session.scalar(select(func.count()).select_from(WebhookEvent)) or 0)

    async def sweep(self, now: datetime) -> int:
        return await self.app[INTAKE].sweep(now)

    async def add_contact(self, external_id: str, name: str, phones: Sequence[str]) -> None:
        async with self.app[SESSIONS].begin() as session:
            await upsert_contact(session, self.app[PHONES], external_id=external_id, name=name, phones=phones)


async def make_hook(
    aiohttp_client: ClientMaker,
    db_url: str,
    provider: str,
    settings: dict[str, Any],
    *,
    clock: Clock | None = None,
    **extra: Any,
) -> Hook:
    """The app with this provider configured; on ``clock`` (webhooks arrive at its "now") when given."""
    await reset_if_postgres(db_url)
    tree: dict[str, Any] = {
        "database": {"url": db_url},
        "feed": {"port": 0},
        "pbx": {provider: settings},
        # No worker fetching from the real providers' addresses: recording tests turn it on with theirs.
        "recordings": {"enabled": False},
        **extra,
    }
    app = make_app(Settings.model_validate(tree))
    if clock is not None:
        app[CLOCK] = clock
    client = await aiohttp_client(app)
    return Hook(client, provider)


def shuffled(items: Sequence[T], seed: int) -> list[T]:
    out = list(items)
    random.Random(seed).shuffle(out)  # noqa: S311 - a reproducible test order, not a secret
    return out
