"""A clinic's website for the snippet's tests and bench: an aiohttp server on a port the system picks, in a
thread of its own, serving the pages it is given and passing `/kk/…` to kolokol as the README's nginx
block does (the path without `/kk`, the visitor's address added to X-Forwarded-For).

What the pages sent to kolokol's public endpoints is kept (`sent`), and an answer can be replaced for
fault tests (`fail`): a status and body, or "hang" (never answered until the site stops).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

T = TypeVar("T")
PROXY_PREFIX = "/kk/"
HANG = "hang"


@dataclass(frozen=True)
class Sent:
    path: str  # kolokol's path: "/t/v1/session"
    body: Any  # the JSON the page sent (None when it was not JSON)
    content_type: str
    status: int | None  # what the page got (None: nothing, the answer was held or the page gave up)


class ClinicSite:
    def __init__(self, kolokol_url: str) -> None:
        self.kolokol_url = kolokol_url.rstrip("/")
        self._pages: dict[str, str] = {}
        self._faults: dict[str, Any] = {}
        self._sent: list[Sent] = []
        self._arrived: list[str] = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="clinic-site", daemon=True)
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._stopping: asyncio.Event | None = None

    # -- set-up from the test thread ------------------------------------------------------------------

    def page(self, path: str, html: str) -> str:
        """Serve `html` at `path`; returns the page's URL."""
        with self._lock:
            self._pages[path] = html
        return self.base_url + path

    def fail(self, path: str, answer: tuple[int, Any] | str | None) -> None:
        """Answer the page's requests to kolokol's `path` with (status, JSON body) or HANG, without asking
        kolokol; None: pass them to kolokol again."""
        with self._lock:
            if answer is None:
                self._faults.pop(path, None)
            else:
                self._faults[path] = answer

    def sent(self, path: str | None = None) -> list[Sent]:
        """The requests to kolokol's public endpoints answered so far (or given up by the page)."""
        with self._lock:
            return [s for s in self._sent if path is None or s.path == path]

    def arrived(self, path: str) -> int:
        """How many requests to kolokol's `path` arrived, answered or not (a held one counts)."""
        with self._lock:
            return self._arrived.count(path)

    # -- life -----------------------------------------------------------------------------------------

    def start(self) -> ClinicSite:
        self._thread.start()
        self._run(self._start())
        return self

    def stop(self) -> None:
        self._run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    async def _start(self) -> None:
        self._stopping = asyncio.Event()
        self._client = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", PROXY_PREFIX + "{tail:.*}", self._proxy)
        app.router.add_get("/{path:.*}", self._page)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def _stop(self) -> None:
        assert self._stopping is not None and self._runner is not None and self._client is not None
        self._stopping.set()
        await self._runner.cleanup()
        await self._client.close()

    # -- serving --------------------------------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.Response:
        with self._lock:
            html = self._pages.get(request.path)
        if html is None:
            raise web.HTTPNotFound()
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        assert self._client is not None and self._stopping is not None
        path = "/" + request.match_info["tail"]
        body = await request.read()
        with self._lock:
            fault = self._faults.get(path)
            self._arrived.append(path)
        status: int | None = None
        try:
            if fault == HANG:
                await self._stopping.wait()
                raise web.HTTPServiceUnavailable()
            if fault is not None:
                status, answer = fault
                return web.json_response(answer, status=status)
            response = await self._pass(request, path, body)
            status = response.status
            return response
        finally:
            if path.startswith("/t/v1/") and request.method == "POST":
                self._keep(Sent(path, _json_or_none(body), request.headers.get("Content-Type", ""), status))

    async def _pass(self, request: web.Request, path: str, body: bytes) -> web.Response:
        assert self._client is not None
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() not in ("host", "connection", "content-length", "transfer-encoding")
        }
        address = request.remote or ""
        forwarded = request.headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{forwarded}, {address}" if forwarded else address
        headers["X-Real-IP"] = address
        headers["X-Forwarded-Proto"] = request.scheme
        async with self._client.request(
            request.method, self.kolokol_url + path, params=request.query, data=body, headers=headers
        ) as answer:
            payload = await answer.read()
            passed = {
                name: value
                for name, value in answer.headers.items()
                if name.lower() not in ("connection", "content-length", "transfer-encoding", "keep-alive")
            }
            return web.Response(status=answer.status, body=payload, headers=passed)

    def _keep(self, sent: Sent) -> None:
        with self._lock:
            self._sent.append(sent)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
