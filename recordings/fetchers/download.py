"""One careful HTTP download: a few redirects at most (credentials never follow to another host), a
time limit on every wait, a size cap, and the first bytes checked to be audio before anything is kept.
Writes nothing but ``dest``; on any failure ``dest`` is removed."""

from __future__ import annotations

import asyncio
import json
import os
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import aiohttp
from yarl import URL

from kolokol.settings import RecordingSettings, Settings
from recordings.fetchers.answers import Refused, busy, retry_after_seconds, transient
from recordings.fetchers.sniff import HEAD_BYTES, audio_mime, not_audio_reason
from recordings.outcomes import Done, Failed, RetryLater

_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 64 * 1024
_FLUSH = 1024 * 1024
# API answers (a link, a recording's metadata) are small; anything bigger is not what was asked for.
_API_MAX_BYTES = 1024 * 1024
# Characters a URL may carry as it is; such a URL is sent byte for byte (pre-signed links break when
# their percent-escapes are normalized).
_URL_SAFE = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%")


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    # Connecting, the answer's headers and every wait for more of the body.
    timeout_seconds: float
    max_redirects: int = 3
    # The whole fetch (a server trickling a byte at a time is cut off too); default 10 x timeout_seconds.
    total_seconds: float | None = None

    @classmethod
    def from_settings(cls, recordings: RecordingSettings) -> FetchLimits:
        return cls(max_bytes=recordings.fetch_max_bytes, timeout_seconds=recordings.fetch_timeout_seconds)

    @property
    def whole(self) -> float:
        return self.total_seconds if self.total_seconds is not None else self.timeout_seconds * 10


@dataclass(frozen=True)
class Fetching:
    """What every provider module works with."""

    settings: Settings
    http: aiohttp.ClientSession
    now: datetime
    limits: FetchLimits


@dataclass(frozen=True)
class Request:
    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, str] | None = None


@dataclass(frozen=True)
class JsonAnswer:
    data: Any


def as_url(text: str) -> URL:
    return URL(text, encoded=True) if text and set(text) <= _URL_SAFE else URL(text)


async def download(
    ctx: Fetching, request: Request, dest: Path, *, who: str
) -> Done | RetryLater | Failed | Refused:
    """Fetch ``request`` into ``dest``: Done when dest holds audio; Refused for a final 4xx."""
    limits = ctx.limits
    deadline = asyncio.timeout(limits.whole)
    try:
        async with deadline:
            opened = await _open(ctx, request, who=who)
            if not isinstance(opened, aiohttp.ClientResponse):
                return opened
            async with opened:
                return await _save(opened, dest, limits, who=who)
    except Exception as exc:
        _remove(dest)
        if deadline.expired():
            # Data kept coming, too slowly to ever finish: a trickle is not let hold a worker for hours.
            return RetryLater(f"the download from {who} did not finish within {limits.whole:g} s")
        outcome = _trouble(exc, who, limits)
        if outcome is None:
            raise
        return outcome


async def api_json(
    ctx: Fetching, request: Request, *, who: str
) -> JsonAnswer | RetryLater | Failed | Refused:
    """A provider API call answering JSON (a link to the file, a recording's metadata)."""
    try:
        async with asyncio.timeout(ctx.limits.whole):
            opened = await _open(ctx, request, who=who)
            if not isinstance(opened, aiohttp.ClientResponse):
                return opened
            async with opened:
                body = await _small_body(opened, who)
    except Exception as exc:
        outcome = _trouble(exc, who, ctx.limits)
        if outcome is None:
            raise
        return outcome
    if isinstance(body, Failed):
        return body
    try:
        return JsonAnswer(json.loads(body))
    except (ValueError, UnicodeDecodeError):
        content_type = opened.headers.get("Content-Type")
        return Failed(not_audio_reason(body[:HEAD_BYTES], content_type, "the JSON its API promises"))


async def _open(
    ctx: Fetching, request: Request, *, who: str
) -> aiohttp.ClientResponse | RetryLater | Failed | Refused:
    """Send the request and follow redirects; the final answer when it is a 2xx."""
    url = as_url(request.url)
    method, headers, form = request.method, dict(request.headers), request.form
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=ctx.limits.timeout_seconds, sock_read=ctx.limits.timeout_seconds
    )
    for _hop in range(ctx.limits.max_redirects + 1):
        if url.scheme not in ("http", "https") or not url.host:
            return Failed(f"{who} gave a link kolokol cannot fetch: {str(url)[:200]}")
        response = await ctx.http.request(
            method, url, headers=headers, data=form, allow_redirects=False, timeout=timeout
        )
        if response.status in _REDIRECTS:
            location = response.headers.get("Location", "")
            response.release()
            if not location:
                return Failed(f"{who} sent a redirect without a location")
            target = url.join(as_url(location))
            if target.origin() != url.origin():
                # Credentials are for the provider itself, never for the host it sends us on to.
                headers = {}
            if response.status == 303 or (response.status in (301, 302) and method != "GET"):
                method, form = "GET", None
            url = target
            continue
        if 200 <= response.status < 300:
            return response
        try:
            status = response.status
            if transient(status):
                return busy(who, status, retry_after_seconds(response.headers.get("Retry-After"), ctx.now))
            detail = _detail(await _small_body(response, who))
            return Refused(status, detail)
        finally:
            response.release()
    return Failed(f"{who} redirected more than {ctx.limits.max_redirects} times")


async def _small_body(response: aiohttp.ClientResponse, who: str) -> bytes | Failed:
    if (response.content_length or 0) > _API_MAX_BYTES:
        return Failed(f"{who} answered with {response.content_length} bytes where a short answer was due")
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > _API_MAX_BYTES:
            return Failed(
                f"{who} answered with more than {_API_MAX_BYTES} bytes where a short answer was due"
            )
    return bytes(body)


def _detail(body: bytes | Failed) -> str:
    """The provider's own words about a refusal, when it gave some in JSON (they help the admin)."""
    if isinstance(body, Failed) or not body:
        return ""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    found: Any = None
    if isinstance(data, dict):
        found = data.get("message") or data.get("detail") or data.get("error")
        errors = data.get("errors")
        if not found and isinstance(errors, list) and errors and isinstance(errors[0], dict):
            found = errors[0].get("detail") or errors[0].get("title")
    return " ".join(str(found).split())[:200] if isinstance(found, str | int) and found != "" else ""


async def _save(
    response: aiohttp.ClientResponse, dest: Path, limits: FetchLimits, *, who: str
) -> Done | Failed:
    too_big = Failed(f"the recording is larger than recordings.fetch_max_bytes ({limits.max_bytes} bytes)")
    if response.content_length is not None and response.content_length > limits.max_bytes:
        return too_big
    head = b""
    while len(head) < HEAD_BYTES:
        chunk = await response.content.read(HEAD_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    mime = audio_mime(head)
    if mime is None:
        return Failed(not_audio_reason(head, response.headers.get("Content-Type")))
    # Opened in the loop (one quick system call): were it opened in a thread, a task cancelled meanwhile
    # would leave the file open with nobody to close it.
    out = _create(dest)
    try:
        written = len(head)
        pending = bytearray(head)
        async for chunk in response.content.iter_chunked(_CHUNK):
            written += len(chunk)
            if written > limits.max_bytes:
                out.close()
                _remove(dest)
                return too_big
            pending += chunk
            if len(pending) >= _FLUSH:
                await asyncio.to_thread(out.write, bytes(pending))
                pending.clear()
        await asyncio.to_thread(out.write, bytes(pending))
    finally:
        await asyncio.to_thread(out.close)
    return Done(dest, mime)


def _create(dest: Path) -> IO[bytes]:
    # O_NOFOLLOW: a symlink planted at dest is refused instead of followed out of the storage.
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o640)
    return os.fdopen(fd, "wb")


def _remove(dest: Path) -> None:
    try:
        if dest.is_symlink() or dest.is_file():
            dest.unlink()
    except OSError:
        pass


def _trouble(exc: BaseException, who: str, limits: FetchLimits) -> RetryLater | Failed | None:
    """Network trouble as an outcome; None for anything else (a bug: let it surface)."""
    if isinstance(exc, TimeoutError):
        return RetryLater(
            f"{who} did not answer in time (recordings.fetch_timeout_seconds = {limits.timeout_seconds:g})"
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return Failed(f"{who} gave a link kolokol cannot fetch: {str(exc)[:200]}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return RetryLater(f"cannot connect to {who}: {exc.os_error.strerror or exc.os_error}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return RetryLater(f"the download from {who} broke off")
    if isinstance(exc, aiohttp.ClientError):
        return RetryLater(f"the connection to {who} failed: {type(exc).__name__}")
    if isinstance(exc, OSError):
        return Failed(f"kolokol cannot write the recording: {exc.strerror or exc}")
    return None
