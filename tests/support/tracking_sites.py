"""What the lease and tracking-settings tests share: an app with a marketer's token, a site with a pool
set up through the REST API, and the public endpoints called as a page would."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from kolokol.app_keys import SESSIONS
from kolokol.auth.tokens import create_token
from tests.support.clock import Clock
from tests.support.logins import Client

CLINIC = "+74951110001"
ORIGIN = "https://clinic.example"
SITE = "clinic-main"


def pool_numbers(count: int, first: int = 20) -> list[str]:
    return [f"+749511100{first + n:02d}" for n in range(count)]


def site_body(numbers: list[str], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "origins": [ORIGIN],
        "hold_seconds": 300,
        "heartbeat_seconds": 30,
        "pools": [{"name": "center", "replaces": [CLINIC], "numbers": numbers, "fallback": CLINIC}],
    }
    body.update(overrides)
    return body


class TrackingApi:
    def __init__(self, app: web.Application, client: Client, tokens: dict[str, str], clock: Clock) -> None:
        self.app = app
        self.client = client
        self.tokens = tokens
        self.clock = clock

    async def call(self, method: str, path: str, body: Any = None, role: str = "marketer") -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            kwargs["json"] = body
        async with self.client.request(method, path, **kwargs) as resp:
            if resp.status == 204:
                return resp.status, None
            return resp.status, await resp.json()

    async def put_site(self, site: str = SITE, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        return await self.call("PUT", f"/api/tracking/sites/{site}", body or site_body(pool_numbers(3)))

    async def public(
        self,
        path: str,
        body: Any,
        *,
        origin: str | None = ORIGIN,
        content_type: str = "text/plain",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, Any]:
        """POST to a public endpoint as a page does: (status, JSON body, headers)."""
        sent = {"Content-Type": content_type, **(headers or {})}
        if origin is not None:
            sent["Origin"] = origin
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.client.post(path, data=data, headers=sent) as resp:
            return resp.status, await resp.json(), resp.headers

    async def open(self, session: str | None = None, **fields: Any) -> dict[str, Any]:
        body = {
            "site": SITE,
            "session": session,
            "url": "https://clinic.example/",
            "referrer": None,
            **fields,
        }
        status, answer, _ = await self.public("/t/v1/session", body)
        assert status == 200, answer
        return dict(answer)

    async def heartbeat(self, session: str) -> tuple[int, Any]:
        status, answer, _ = await self.public("/t/v1/heartbeat", {"site": SITE, "session": session})
        return status, answer


async def tracking_tokens(app: web.Application, *roles: str) -> dict[str, str]:
    made = {}
    async with app[SESSIONS].begin() as session:
        for role in roles:
            made[role] = await create_token(session, name=f"{role}-token", role=role)
    return made
