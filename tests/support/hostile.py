"""What the hostile-input tests share: the REST API with a token per role, kolokol's own HTTP server
listening on a port the system picks, and raw HTTP over a socket (for what no well-behaved client
sends: broken request lines, slow bodies, uploads given up half-way)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from kolokol.app import make_app
from kolokol.app_keys import SESSIONS
from kolokol.auth.tokens import create_token
from kolokol.http.server import bound_port, start
from kolokol.settings import Settings
from tests.support.databases import reset_if_postgres

ClientMaker = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]
ROLES = ("admin", "operator", "marketer")


class Api:
    """The app under the aiohttp test client, called with a role's API token."""

    def __init__(self, client: TestClient[web.Request, web.Application], tokens: dict[str, str]) -> None:
        self.client = client
        self.app = client.app
        self.tokens = tokens

    async def call(self, method: str, path: str, role: str = "admin", **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        headers.update(kw.pop("headers", {}))
        async with self.client.request(method, path, headers=headers, **kw) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text else None

    async def send_json_text(self, method: str, path: str, text: str | bytes) -> tuple[int, Any]:
        """A body exactly as given (JSON a serializer would not write: escapes, huge numbers)."""
        body = io.BytesIO(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
        return await self.call(method, path, data=body, headers={"Content-Type": "application/json"})


async def tokens_for(app: web.Application) -> dict[str, str]:
    async with app[SESSIONS].begin() as session:
        return {role: await create_token(session, name=f"{role}-user", role=role) for role in ROLES}


def settings_for(db_url: str, **sections: dict[str, Any]) -> Settings:
    tree: dict[str, Any] = {"database": {"url": db_url}, **sections}
    tree["feed"] = {"port": 0, **sections.get("feed", {})}
    tree["http"] = {"host": "127.0.0.1", "port": 0, **sections.get("http", {})}
    return Settings.model_validate(tree)


async def api_for(db_url: str, aiohttp_client: ClientMaker, **sections: dict[str, Any]) -> Api:
    await reset_if_postgres(db_url)
    app = make_app(settings_for(db_url, **sections))
    client = await aiohttp_client(app)
    return Api(client, await tokens_for(app))


@dataclass
class Running:
    """kolokol's own server (`kolokol serve`'s) on a real socket."""

    app: web.Application
    port: int
    tokens: dict[str, str]


@asynccontextmanager
async def running_kolokol(db_url: str, **sections: dict[str, Any]) -> AsyncIterator[Running]:
    await reset_if_postgres(db_url)
    settings = settings_for(db_url, **sections)
    app = make_app(settings)
    runner = await start(app, settings.http)
    try:
        yield Running(app, bound_port(runner), await tokens_for(app))
    finally:
        await runner.cleanup()


@dataclass
class RawReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def read_reply(reader: asyncio.StreamReader) -> RawReply:
    """One HTTP response: status line, headers, and the body its Content-Length announces."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return RawReply(status, headers, body)


@asynccontextmanager
async def connection(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with suppress(ConnectionError):
            await writer.wait_closed()


async def exchange(port: int, data: bytes) -> RawReply:
    """Send raw bytes as one request and read the answer."""
    async with connection(port) as (reader, writer):
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(read_reply(reader), 60)


def request_head(method: str, path: str, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: kolokol.test", *(f"{n}: {v}" for n, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """Whether the server closes the connection (reading until it does; a generous guard against a
    server that never would, not a measure of speed)."""
    try:
        while await asyncio.wait_for(reader.read(65536), 60):
            pass
    except ConnectionError:
        return True
    except TimeoutError:
        return False
    return True
