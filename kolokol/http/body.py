"""Reading request bodies within bounds: a size limit, and a deadline so a client that sends slowly (one
byte every few seconds) cannot hold a connection, a task and a file descriptor for as long as it likes.

Every handler that reads a body reads it here: the REST API's JSON, the webhooks' raw bytes, the login
forms. `[http] body_timeout_seconds` bounds the whole body, `body_read_timeout_seconds` each wait for
more of it; past either the answer is 408. A client that disconnects mid-body is `ClientGone`, which is
logged in one line, not as an error.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from kolokol.app_keys import SETTINGS


class BodyRefused(Exception):
    """The body cannot be used: ``status`` (400, 408, 413) and a slug for the JSON error."""

    def __init__(self, status: int, slug: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.slug = slug
        self.message = message


class ClientGone(Exception):
    """The client closed the connection before its body was complete: nobody to answer."""


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, at most `limit` bytes, within the body deadlines; `BodyRefused` or `ClientGone`."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyRefused(413, "body-too-large", f"request bodies here are limited to {limit} bytes")
    content = request.content
    if content.is_eof():
        # The whole body came with the headers (a small one mostly does): nothing to wait for, so no
        # deadline to set up (two timers per request on the public endpoints' hot path).
        try:
            whole = content.read_nowait()
        except ConnectionError:
            raise ClientGone from None
        except HttpProcessingError as exc:
            raise BodyRefused(
                400, "malformed-body", f"the request body cannot be read: {exc.message}"
            ) from None
        if len(whole) > limit:
            raise BodyRefused(413, "body-too-large", f"request bodies here are limited to {limit} bytes")
        return whole
    settings = request.app[SETTINGS].http
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.body_timeout_seconds
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            wait = min(settings.body_read_timeout_seconds, deadline - loop.time())
            if wait <= 0:
                raise TimeoutError
            async with asyncio.timeout(wait):
                chunk = await request.content.readany()
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > limit:
                raise BodyRefused(413, "body-too-large", f"request bodies here are limited to {limit} bytes")
            chunks.append(chunk)
    except TimeoutError:
        raise BodyRefused(
            408,
            "body-timeout",
            f"the request body did not arrive in time ({size} bytes received); send it at once",
        ) from None
    except ConnectionError:
        raise ClientGone from None
    except HttpProcessingError as exc:
        # A chunked body that breaks off or lies about its length.
        raise BodyRefused(400, "malformed-body", f"the request body cannot be read: {exc.message}") from None
