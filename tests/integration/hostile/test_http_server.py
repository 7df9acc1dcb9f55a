"""kolokol's own HTTP server on a real socket: requests aiohttp cannot parse answer the JSON error contract
with a fitting status, slow senders are cut off with 408 and their connections closed, and clients that
give up or speak no HTTP are logged in one line, never as errors with tracebacks."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from tests.support.hostile import (
    Running,
    closed_by_server,
    connection,
    exchange,
    read_reply,
    request_head,
    running_kolokol,
)

SECRET = "generic-test-secret-0123456789"
TIMEOUTS = {"body_timeout_seconds": 1.5, "body_read_timeout_seconds": 0.5, "idle_timeout_seconds": 1}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Running]:
    # The HTTP layer is the same on either database: SQLite alone.
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'kolokol.sqlite3'}"
    async with running_kolokol(db_url, http=TIMEOUTS, pbx={"generic": {"secret": SECRET}}) as running:
        yield running


def no_errors_logged(records: list[logging.LogRecord]) -> bool:
    return not [r for r in records if r.levelno >= logging.ERROR]


# ---- what aiohttp answered in plain text ---------------------------------------------------------

LONG = "a" * 9000


@pytest.mark.parametrize(
    ("raw", "status", "error"),
    [
        (f"GET /{LONG} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 414, "url-too-long"),
        (f"GET /api/calls?q={LONG} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 414, "url-too-long"),
        (f"GET / HTTP/1.1\r\nHost: x\r\nX-Long: {LONG}\r\n\r\n".encode(), 431, "headers-too-large"),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(200)) + b"\r\n",
            400,
            "malformed-request",
        ),
        (b"POST /api/contacts HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, "malformed-request"),
        (b"POST /api/contacts HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, "malformed-request"),
        (
            b"POST /api/contacts HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            400,
            "malformed-request",
        ),
        (b"FROB /api/calls HTTP/1.1\r\nHost: x\r\n\r\n", 501, "method-not-implemented"),
        (b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "method-not-implemented"),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "malformed-request"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400, "malformed-request"),
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40, 400, "malformed-request"),
        (
            b"POST /webhooks/generic/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            "malformed-request",
        ),
        (b"GET /api/calls/a%00b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400, "invalid-text"),
        (
            b"GET /api/calls HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer \xff\r\n\r\n",
            400,
            "invalid-text",
        ),
        (b"PATCH /api/calls HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405, "method-not-allowed"),
    ],
)
async def test_requests_that_cannot_be_read_get_the_json_error_contract(
    server: Running, raw: bytes, status: int, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    reply = await exchange(server.port, raw)
    assert reply.status == status, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"error", "message", "details"} and body["error"] == error
    assert LONG not in body["message"], "the message does not echo what was sent"
    assert no_errors_logged(caplog.records)


# ---- slow senders --------------------------------------------------------------------------------


def generic_post(length: int) -> bytes:
    headers = [("Content-Type", "application/json"), ("Content-Length", str(length))]
    return request_head("POST", "/webhooks/generic/", headers)


def contact_put(length: int, token: str) -> bytes:
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(length)),
        ("Authorization", f"Bearer {token}"),
    ]
    return request_head("PUT", "/api/contacts/crm-1", headers)


def login_post(length: int) -> bytes:
    headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", str(length))]
    return request_head("POST", "/login", headers)


async def trickle(server: Running, head: bytes, *, stall: bool = False) -> tuple[int, dict[str, str], bool]:
    """Send the head, then the body a byte at a time (or nothing at all): the answer, and whether the
    server then closes the connection."""
    async with connection(server.port) as (reader, writer):
        writer.write(head)
        await writer.drain()
        answer = asyncio.ensure_future(read_reply(reader))
        while not stall and not answer.done():
            try:
                writer.write(b"a")
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.wait({answer}, timeout=0.2)  # the pace of a slow sender
        reply = await asyncio.wait_for(answer, 60)
        return reply.status, reply.json(), await closed_by_server(reader)


@pytest.mark.parametrize("stall", [False, True], ids=["one-byte-at-a-time", "stalled"])
@pytest.mark.parametrize("endpoint", ["webhook", "rest", "login"])
async def test_a_body_that_does_not_arrive_in_time_is_a_408_and_the_connection_closes(
    server: Running, endpoint: str, stall: bool, caplog: pytest.LogCaptureFixture
) -> None:
    head = {
        "webhook": generic_post(10_000),
        "rest": contact_put(10_000, server.tokens["admin"]),
        "login": login_post(10_000),
    }[endpoint]
    status, body, closed = await trickle(server, head, stall=stall)
    assert (status, body["error"]) == (408, "body-timeout")
    assert closed, "the server hangs up: a slow sender holds no connection"
    assert no_errors_logged(caplog.records)


async def test_many_slow_senders_leave_no_open_connections_behind(server: Running) -> None:
    process = psutil.Process()
    await exchange(server.port, request_head("GET", "/healthz", [("Connection", "close")]))
    before = process.num_fds()
    outcomes = await asyncio.gather(*(trickle(server, generic_post(10_000)) for _ in range(40)))
    assert {(status, closed) for status, _, closed in outcomes} == {(408, True)}
    assert process.num_fds() <= before + 2, "every slow sender's socket is closed again"


async def test_request_headers_sent_too_slowly_are_cut_off(server: Running) -> None:
    async with connection(server.port) as (reader, writer):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        await writer.drain()
        closed = asyncio.ensure_future(closed_by_server(reader))
        while not closed.done():
            try:
                writer.write(b"X")
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.wait({closed}, timeout=0.2)
        assert await closed


# ---- clients that give up -----------------------------------------------------------------------


async def wait_for_record(caplog: pytest.LogCaptureFixture, message: str) -> logging.LogRecord:
    async def found() -> logging.LogRecord:
        while True:
            for record in caplog.records:
                if record.getMessage() == message:
                    return record
            await asyncio.sleep(0.01)

    return await asyncio.wait_for(found(), 30)


@pytest.mark.parametrize("endpoint", ["webhook", "login"])
async def test_an_upload_given_up_half_way_is_one_line_not_an_error(
    server: Running, endpoint: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    head = generic_post(50_000) if endpoint == "webhook" else login_post(10_000)
    async with connection(server.port) as (_, writer):
        writer.write(head + b"a" * 5000)
        await writer.drain()
        writer.transport.abort()
    record = await wait_for_record(caplog, "client went away mid-request")
    assert record.levelno == logging.INFO and record.exc_info is None
    assert no_errors_logged(caplog.records)
    # The server is still serving.
    reply = await exchange(server.port, request_head("GET", "/healthz", [("Connection", "close")]))
    assert reply.status == 200


# ---- the command ---------------------------------------------------------------------------------


def test_kolokol_serve_answers_unreadable_requests_with_json(tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "KOLOKOL_HTTP__PORT": "0",
        "KOLOKOL_FEED__PORT": "0",
        "KOLOKOL_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path / 'kolokol.sqlite3'}",
    }
    environment.pop("KOLOKOL_CONFIG", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "kolokol", "serve"],
        cwd=tmp_path,
        env=environment,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        port = None
        for line in process.stderr:
            if match := re.search(r"http://127\.0\.0\.1:(\d+)", line):
                port = int(match.group(1))
                break
        assert port, "kolokol serve says where it listens"
        reply = asyncio.run(exchange(port, f"GET /{LONG} HTTP/1.1\r\nHost: x\r\n\r\n".encode()))
        assert (reply.status, reply.json()["error"]) == (414, "url-too-long")
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
