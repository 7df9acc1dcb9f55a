"""Sending a stored recording (or part of it) as the body of a response, from any storage backend.

A file on this machine is opened before anything is answered (its size is the size served, a missing
file is known before a status is sent) and goes out with the kernel's sendfile: no copy through Python,
memory flat however many listen at once. A backend without local files (object storage) is read with
``open_range`` in chunks, each written before the next is read, so a slow listener holds one chunk.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

from aiohttp import web

from recordings.range_header import Part, Unsatisfiable, Whole
from recordings.storage import RecordingStorage

log = logging.getLogger("kolokol.recordings")
# For the fallback without sendfile (TLS): big enough to keep a disk busy, small beside memory.
_CHUNK = 256 * 1024


@dataclass
class AudioSource:
    """A stored recording ready to be sent: its size and, on the local disk, the open file."""

    storage: RecordingStorage
    key: str
    size: int
    file: IO[bytes] | None = None

    def close(self) -> None:
        # A read-only regular file: closing does not wait on the disk.
        if self.file is not None:
            self.file.close()


async def open_source(storage: RecordingStorage, key: str) -> AudioSource | None:
    """The recording's audio, or None when the storage has no such object."""
    local = storage.local_path(key)
    if local is None:
        stored = await storage.size(key)
        return AudioSource(storage, key, stored) if stored is not None else None
    try:
        handle, size = await asyncio.to_thread(_open, local)
    except FileNotFoundError:
        return None
    return AudioSource(storage, key, size, handle)


def _open(path: Path) -> tuple[IO[bytes], int]:
    handle = path.open("rb")
    return handle, os.fstat(handle.fileno()).st_size


async def send(
    request: web.Request, response: web.StreamResponse, source: AudioSource, selection: Whole | Part
) -> web.StreamResponse:
    """Prepare ``response`` (status and headers set here from ``selection``) and send the bytes."""
    if isinstance(selection, Part):
        response.set_status(206)
        response.headers["Content-Range"] = selection.content_range(source.size)
        start, count = selection.start, selection.length
    else:
        response.set_status(200)
        start, count = 0, source.size
    response.headers["Accept-Ranges"] = "bytes"
    response.content_length = count
    try:
        await response.prepare(request)
        if request.method == "HEAD" or count == 0:
            await response.write_eof()
            return response
        if source.file is not None:
            await _send_file(request, response, source.file, start, count)
        else:
            await _copy_chunks(response, source, start, count)
        await response.write_eof()
    except ConnectionError:
        # The listener went away (closed the tab, seeked elsewhere): routine for media.
        log.debug("listener gone mid-recording", extra={"path": request.path})
    return response


async def _send_file(
    request: web.Request, response: web.StreamResponse, handle: IO[bytes], start: int, count: int
) -> None:
    transport = request.transport
    if transport is None or transport.is_closing():
        raise ConnectionResetError("the listener went away")
    try:
        sent = await asyncio.get_running_loop().sendfile(transport, handle, start, count)
    except NotImplementedError:
        # An event loop without sendfile (uvloop has none): read and write in chunks.
        await asyncio.to_thread(handle.seek, start)
        await _copy(request, response, handle, count)
        return
    if sent < count:
        _shorter_than_promised(request)


async def _copy(request: web.Request, response: web.StreamResponse, handle: IO[bytes], count: int) -> None:
    left = count
    while left > 0:
        chunk = await asyncio.to_thread(handle.read, min(_CHUNK, left))
        if not chunk:
            _shorter_than_promised(request)
        left -= len(chunk)
        await response.write(chunk)


async def _copy_chunks(response: web.StreamResponse, source: AudioSource, start: int, count: int) -> None:
    chunks = source.storage.open_range(source.key, start, start + count - 1)
    try:
        async for chunk in chunks:
            await response.write(chunk)
    finally:
        # A listener gone mid-way must not leave the backend's reader (a file, a connection) open
        # until the collector finds it.
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()


def _shorter_than_promised(request: web.Request) -> NoReturn:
    # The file shrank under us: the Content-Length sent cannot be met, and the connection must not
    # carry another response after a short body.
    log.warning("recording shorter than its size", extra={"path": request.path})
    if request.transport is not None:
        request.transport.close()
    raise ConnectionResetError("the recording is shorter than it was")


def unsatisfiable(size: int) -> dict[str, str]:
    """The headers of a 416."""
    return {"Content-Range": Unsatisfiable.content_range(size), "Accept-Ranges": "bytes"}
