"""POST /api/recordings/upload?name=<file name as Asterisk wrote it>: the MixMonitor post-command's upload.

For kolokol on another host than Asterisk: the post-command (asterisk_conf/kolokol-upload-recording)
sends the finished file with an integration token. The body is streamed to the storage's upload area,
at most ``recordings.upload_max_bytes`` (413 past it, nothing kept), with no pause longer than
``http.body_read_timeout_seconds`` (the whole upload has no deadline: an hour-long call over a slow link
takes a while). The name follows the same rules as a name reported over AMI
(recordings.asterisk_names); the worker matches the upload by the call's ``recording_file``.

Uploading a name again before the worker took it replaces the waiting copy (a post-command retrying after
a lost answer); after it was taken, 409. A recording waiting for its file is made due at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.app_keys import CLOCK, RECORDING_WORKER, SESSIONS, SETTINGS
from kolokol.auth.api_guard import requires
from kolokol.http.body import ClientGone
from kolokol.http.errors import ApiError
from kolokol.http.json_response import json_response
from kolokol.storage.tables import Recording
from kolokol.storage.write_lock import write_transaction
from recordings.asterisk_names import BadName, relative_name
from recordings.planning import ASTERISK
from recordings.uploads import AlreadyTaken, UploadArea, UploadTooLarge

routes = web.RouteTableDef()
UPLOADERS = frozenset({"admin", "integration"})
UPLOAD_AREA = web.AppKey("recording_uploads", UploadArea)
_CHUNK = 256 * 1024


async def _chunks(request: web.Request, pause_seconds: float) -> AsyncIterator[bytes]:
    content = request.content
    while True:
        try:
            async with asyncio.timeout(pause_seconds):
                chunk = await content.readany()
        except TimeoutError:
            raise ApiError(
                408, "body-timeout", f"the upload paused for more than {pause_seconds:g} seconds"
            ) from None
        except ConnectionError:
            raise ClientGone from None
        if not chunk:
            if content.is_eof():
                return
            continue
        yield chunk


async def make_due(
    sessions: async_sessionmaker[AsyncSession], key: str, monitor_dir: str, now: datetime
) -> int:
    """Recordings still waiting for this file are looked at now, not after their backoff."""

    async def work(session: AsyncSession) -> int:
        rows = (
            await session.execute(
                select(Recording.id, Recording.ref).where(
                    Recording.origin == ASTERISK, Recording.status == "pending", Recording.stage == "acquire"
                )
            )
        ).all()
        ids = [row_id for row_id, ref in rows if _names(ref, key, monitor_dir)]
        if ids:
            await session.execute(
                update(Recording)
                .where(Recording.id.in_(ids), Recording.status == "pending", Recording.stage == "acquire")
                .values(next_attempt_at=now)
                .execution_options(synchronize_session=False)
            )
        return len(ids)

    return await write_transaction(sessions, work)


def _names(ref: object, key: str, monitor_dir: str) -> bool:
    if not isinstance(ref, dict) or not isinstance(ref.get("file"), str):
        return False
    try:
        return relative_name(ref["file"], monitor_dir) == key
    except BadName:
        return False


@routes.post("/api/recordings/upload")
@requires(UPLOADERS)
async def upload(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    config = settings.recordings
    name = request.query.get("name", "")
    try:
        key = relative_name(name, config.asterisk_monitor_dir)
    except BadName as bad:
        raise ApiError(400, "invalid-name", str(bad), {"field": "name"}) from None
    limit = config.upload_max_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body-too-large", f"recordings up to {limit} bytes are accepted")
    area = request.app[UPLOAD_AREA]
    if await asyncio.to_thread(area.taken, key):
        raise ApiError(409, "already-taken", "this recording was already taken for processing", {"name": key})
    try:
        size = await area.receive(key, _chunks(request, settings.http.body_read_timeout_seconds), limit)
    except UploadTooLarge:
        response = json_response(
            {
                "error": "body-too-large",
                "message": f"recordings up to {limit} bytes are accepted",
                "details": {},
            },
            status=413,
        )
        # The rest of the body may still be coming: this connection cannot carry another request.
        response.force_close()
        return response
    except AlreadyTaken:
        raise ApiError(
            409, "already-taken", "this recording was already taken for processing", {"name": key}
        ) from None
    await make_due(request.app[SESSIONS], key, config.asterisk_monitor_dir, request.app[CLOCK]())
    worker = request.app[RECORDING_WORKER]
    if worker is not None:
        worker.poke()
    return json_response({"name": key, "bytes": size}, status=201)
