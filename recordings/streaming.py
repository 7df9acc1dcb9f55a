"""Sending a stored recording (or part of it) as the body of a response, from any storage backend.

A file on this machine goes out with the kernel's sendfile (no copy through Python, memory flat however
many listen at once); a backend without local files (object storage) is read with ``open_range`` in
chunks, each written before the next is read, so a slow listener holds one chunk, not the recording.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import IO, NoReturn

from aiohttp import web

from recordings.range_header import Part, Unsatisfiable, Whole
from recordings.storage import RecordingStorage

log = logging.getLogger("kolokol.recordings")
# For the fallback without sendfile (and TLS): big enough to keep a disk busy, small beside memory.
_CHUNK = 256 * 1024


async def send(
    request: web.Request,
    response: web.StreamResponse,
    *,
    storage: RecordingStorage,
    key: str,
    size: int,
    selection: Whole | Part,
) -> web.StreamResponse:
    """Prepare ``response`` (status and headers set here from ``selection``) and send the bytes."""
    if isinstance(selection, Part):
        response.set_status(206)
        response.headers["Content-Range"] = selection.content_range(size)
        start, count = selection.start, selection.length
    else:
        response.set_status(200)
        start, count = 0, size
    response.headers["Accept-Ranges"] = "bytes"
    response.content_length = count
    local = storage.local_path(key)
    try:
        await response.prepare(request)
        if request.method == "HEAD" or count == 0:
            await response.write_eof()
            return response
        if local is not None:
            await _send_file(request, response, local, start, count)
        else:
            await _copy_chunks(response, storage, key, start, count)
        await response.write_eof()
    except ConnectionError:
        # The listener went away (closed the tab, seeked elsewhere): routine for media.
        log.debug("listener gone mid-recording", extra={"path": request.path})
    return response


async def _send_file(
    request: web.Request, response: web.StreamResponse, path: Path, start: int, count: int
) -> None:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("the listener went away")
        try:
            sent = await asyncio.get_running_loop().sendfile(transport, handle, start, count)
        except NotImplementedError:
            # TLS, or a platform without sendfile: read and write in chunks.
            await asyncio.to_thread(handle.seek, start)
            await _copy(request, response, handle, count)
            return
        if sent < count:
            _shorter_than_promised(request)
    finally:
        await asyncio.to_thread(handle.close)


async def _copy(request: web.Request, response: web.StreamResponse, handle: IO[bytes], count: int) -> None:
    left = count
    while left > 0:
        chunk = await asyncio.to_thread(handle.read, min(_CHUNK, left))
        if not chunk:
            _shorter_than_promised(request)
        left -= len(chunk)
        await response.write(chunk)


async def _copy_chunks(
    response: web.StreamResponse, storage: RecordingStorage, key: str, start: int, count: int
) -> None:
    chunks = storage.open_range(key, start, start + count - 1)
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
    # The file shrank under us (purged mid-stream): the Content-Length sent cannot be met, and the
    # connection must not carry another response after a short body.
    log.warning("recording shorter than its size", extra={"path": request.path})
    if request.transport is not None:
        request.transport.close()
    raise ConnectionResetError("the recording is shorter than it was")


def unsatisfiable(size: int) -> dict[str, str]:
    """The headers of a 416."""
    return {"Content-Range": Unsatisfiable.content_range(size), "Accept-Ranges": "bytes"}
