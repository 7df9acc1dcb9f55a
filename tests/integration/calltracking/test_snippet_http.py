"""GET /t/v1/snippet.js from a running kolokol: the script, gzipped for those who take it, cacheable."""

from __future__ import annotations

import gzip
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from calltracking import snippet_http
from kolokol.app import make_app
from kolokol.settings import Settings

ClientMaker = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]
Client = TestClient[web.Request, web.Application]


async def kolokol(tmp_path: Path, aiohttp_client: ClientMaker) -> Client:
    settings = {"database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'k.sqlite3'}"}, "feed": {"port": 0}}
    return await aiohttp_client(make_app(Settings.model_validate(settings)))


async def test_served_gzipped_with_cache_headers(tmp_path: Path, aiohttp_client: ClientMaker) -> None:
    client = await kolokol(tmp_path, aiohttp_client)
    plain = snippet_http.compact(snippet_http.SNIPPET.read_text(encoding="utf-8")).encode()
    async with client.get(
        "/t/v1/snippet.js", headers={"Accept-Encoding": "gzip, deflate, br"}, auto_decompress=False
    ) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/javascript; charset=utf-8"
        assert resp.headers["Content-Encoding"] == "gzip"
        assert resp.headers["Vary"] == "Accept-Encoding"
        assert resp.headers["Cache-Control"].startswith("public, max-age=300")
        assert "Access-Control-Allow-Origin" not in resp.headers, "a script needs no CORS"
        assert "Set-Cookie" not in resp.headers
        body = await resp.read()
        gz_tag = resp.headers["ETag"]
    assert gzip.decompress(body) == plain
    assert len(body) <= 5 * 1024

    async with client.get(
        "/t/v1/snippet.js", headers={"Accept-Encoding": "identity"}, auto_decompress=False
    ) as resp:
        assert resp.status == 200 and "Content-Encoding" not in resp.headers
        assert await resp.read() == plain
        plain_tag = resp.headers["ETag"]
    assert plain_tag != gz_tag, "two representations, two tags"

    async with client.get(
        "/t/v1/snippet.js", headers={"Accept-Encoding": "gzip", "If-None-Match": gz_tag}
    ) as resp:
        assert resp.status == 304 and resp.headers["ETag"] == gz_tag
        assert resp.headers["Cache-Control"].startswith("public, max-age=300")
        assert await resp.read() == b""
    async with client.get("/t/v1/snippet.js", headers={"If-None-Match": '"older"'}) as resp:
        assert resp.status == 200

    async with client.head("/t/v1/snippet.js", headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.status == 200 and resp.headers["ETag"] == gz_tag


async def test_read_once_when_kolokol_starts(
    tmp_path: Path, aiohttp_client: ClientMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "snippet.js"
    script.write_text("var first = 1;\n", encoding="utf-8")
    monkeypatch.setattr(snippet_http, "SNIPPET", script)
    client = await kolokol(tmp_path, aiohttp_client)
    script.write_text("var second = 2;\n", encoding="utf-8")
    async with client.get("/t/v1/snippet.js") as resp:
        assert await resp.text() == "var first = 1;\n"
