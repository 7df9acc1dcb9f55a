"""The HTTP server around the app: what ``kolokol serve`` runs, and what tests start on port 0.

aiohttp answers requests it cannot parse (a URL or header line too long, a bad ``Content-Length``, a
broken request line, a malformed chunk) itself, before any middleware, in plain text, and logs each at
ERROR with a traceback, as it does a client that gives up mid-upload. It offers no hook for this
(aio-libs/aiohttp#3287): the request handler class is chosen where the server makes one per connection,
so kolokol's server makes its own. Such requests get the API's JSON error (``{"error", "message",
"details"}``) with the fitting status (414 for a request line that is too long, 431 for headers, else
400), and one log line at INFO.

Connections are bounded in time as well: ``http.idle_timeout_seconds`` closes an idle connection and
one that sends its request line and headers too slowly; request bodies have their own deadlines
(`kolokol.http.body`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_runner import GracefulExit

from kolokol.http.json_response import json_text
from kolokol.settings import HttpSettings

log = logging.getLogger("kolokol.http")

_SLUGS = {
    400: "malformed-request",
    414: "url-too-long",
    431: "headers-too-large",
    500: "internal-error",
    501: "method-not-implemented",
    504: "timeout",
}


def _status_for(status: int, exc: BaseException | None) -> int:
    if isinstance(exc, LineTooLong):
        # aiohttp says 400 for every line that is too long; a URL and a header have statuses of their
        # own. The parser reports the line's start: a URL (origin or absolute form) or a request line.
        start = bytes(exc.args[0] if exc.args and isinstance(exc.args[0], bytes | bytearray) else b"")
        return 414 if _REQUEST_LINE.match(start) else 431
    if isinstance(exc, BadHttpMethod) and "HTTPS" not in str(exc):
        return 501  # a method no HTTP server here knows (TLS on the plain port stays a 400)
    return status


_REQUEST_LINE = re.compile(rb"(?:/|https?://|[A-Z]+ )")


def _message_for(status: int, exc: BaseException | None, message: str | None) -> str:
    if status == 414:
        return "the URL is too long"
    if status == 431:
        return "a request header is too long"
    if status == 501:
        return "this request method is not supported"
    if status >= 500:
        return "internal error" if status == 500 else "the request took too long"
    if isinstance(exc, HttpProcessingError) and exc.message:
        return f"the request cannot be read: {exc.message}"
    return f"the request cannot be read: {message or 'malformed HTTP'}"


# After answering a request whose body it did not read (a 401, a 413, a 408 for a slow sender), the
# server reads and drops what is still coming for this long, so a client that is still sending sees the
# answer rather than a reset; then the connection is closed. aiohttp's default (10 s) would keep every
# refused slow sender's connection that much longer.
LINGER_SECONDS = 2.0


class JsonErrorsRequestHandler(RequestHandler):
    """aiohttp's per-connection protocol, answering what it cannot parse with the JSON error contract
    and logging such requests (and clients that vanish) in one line."""

    __slots__ = ()

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        internal = status == 500 and exc is not None
        status = _status_for(status, exc)
        if internal:
            log.error("unhandled error", exc_info=exc)
        else:
            log.info(
                "refused a request that cannot be read",
                extra={"remote": request.remote, "status": status, "reason": str(exc or message)[:200]},
            )
        if request.writer.output_size > 0:
            # Part of another response went out already: the connection cannot carry this one.
            raise ConnectionError("response already started")
        body = {
            "error": _SLUGS.get(status, "malformed-request"),
            "message": _message_for(status, exc, message),
            "details": {},
        }
        response = web.Response(status=status, text=json_text(body), content_type="application/json")
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, ConnectionError | BadHttpMethod):
            # A client that closed the connection mid-request, or TLS / garbage on the HTTP port:
            # routine on the Internet, not an error of ours.
            log.info("a client went away or spoke no HTTP", extra={"reason": str(exc)[:200]})
            return
        super().log_exception(*args, **kw)


class JsonErrorsServer(web.Server):
    def __call__(self) -> RequestHandler:
        return JsonErrorsRequestHandler(self, loop=self._loop, **self._kwargs)


class KolokolRunner(web.AppRunner):
    """An ``AppRunner`` whose connections answer unparseable requests as JSON."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return JsonErrorsServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            **plain._kwargs,
        )


async def start(app: web.Application, http: HttpSettings, *, handle_signals: bool = False) -> KolokolRunner:
    """The app listening on ``http.host``/``http.port`` (port 0: one the system picks, see
    `bound_port`); stop it with ``await runner.cleanup()``."""
    runner = KolokolRunner(
        app,
        handle_signals=handle_signals,
        shutdown_timeout=10,
        access_log=None,
        keepalive_timeout=http.idle_timeout_seconds,
        lingering_time=LINGER_SECONDS,
    )
    await runner.setup()
    site = web.TCPSite(runner, http.host, http.port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def bound_port(runner: web.BaseRunner) -> int:
    address = runner.addresses[0]
    return int(address[1])


def serve(app: web.Application, http: HttpSettings, on_up: Callable[[int], None]) -> None:
    """Run until SIGINT/SIGTERM, then shut down in order (as ``aiohttp.web.run_app`` does). ``on_up``
    is called with the port (the one the system picked, for port 0) once kolokol listens."""
    # Webhook stores and builds run in threads beside the event loop (kolokol.storage.thread_sessions).
    # While one of them computes, a thread coming back from I/O waits for the interpreter's lock for up
    # to the switch interval: 5 ms by default, paid at every hand-over of a webhook (loop, store thread,
    # loop). 1 ms took about a fifth off the paced p99 on PostgreSQL (bench/webhook_intake.py).
    sys.setswitchinterval(0.001)
    loop = asyncio.new_event_loop()
    main = loop.create_task(_serve_forever(app, http, on_up))
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (GracefulExit, KeyboardInterrupt):
        pass
    finally:
        if not main.done():
            main.cancel()
            with suppress(asyncio.CancelledError, GracefulExit, KeyboardInterrupt):
                loop.run_until_complete(main)
        rest = asyncio.all_tasks(loop)
        for task in rest:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()


async def _serve_forever(app: web.Application, http: HttpSettings, on_up: Callable[[int], None]) -> None:
    runner = await start(app, http, handle_signals=True)
    try:
        on_up(bound_port(runner))
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
