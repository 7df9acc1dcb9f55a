"""Serving a recording's audio to someone allowed to hear it: status checks, Range, audit, the bytes.

Shared by the API (``/api/recordings/{id}/audio``, a logged-in user or a token) and signed links
(``/r/...``, anyone holding one). Who is allowed is decided before this; here the recording must be
there to hear, and the playback is recorded before the first byte goes out.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC
from email.utils import format_datetime
from pathlib import PurePosixPath

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.app_keys import CLOCK, RECORDING_STORAGE
from kolokol.http import query
from kolokol.http.errors import ApiError, error_response
from kolokol.storage.tables import Recording
from kolokol.times import iso
from recordings import audit, streaming
from recordings.range_header import Part, Unsatisfiable, choose

log = logging.getLogger("kolokol.recordings")
# Patients' voices: never in a shared cache; a browser may keep a copy but asks again before using it
# (and so goes through the access check and the audit).
CACHE_CONTROL = "private, no-cache"


@dataclass(frozen=True, slots=True)
class Listener:
    who: str
    role: str | None
    via: str  # session | token | link


async def find(session: AsyncSession, recording_id: str) -> Recording:
    """The recording (whatever its status), or 404."""
    recording = await session.get(Recording, recording_id) if len(recording_id) <= 32 else None
    if recording is None:
        raise ApiError(404, "no-such-recording", "no recording with this id", {"id": recording_id[:64]})
    return recording


def require_playable(recording: Recording) -> str:
    """The stored audio's key, or why there is nothing to hear: 410 once purged, 404 until ready."""
    if recording.status == "purged":
        raise ApiError(
            410,
            "recording-purged",
            "the recording was deleted when its retention period ended",
            {"purged_at": iso(recording.purged_at)},
        )
    if recording.status != "ready" or recording.audio_key is None:
        message = (
            f"the recording could not be collected: {recording.failure}"
            if recording.status == "failed"
            else "the recording is not ready yet; it is playable seconds to minutes after the call"
        )
        raise ApiError(
            404, "recording-not-ready", message, {"status": recording.status, "failure": recording.failure}
        )
    return recording.audio_key


def wants_download(request: web.Request) -> bool:
    """``?download=1`` (or ``true``): the audio as an attachment, audited as a download."""
    return query.choice(request, "download", ("0", "1", "true", "false")) in ("1", "true")


def entity_tag(recording: Recording, key: str, size: int) -> str:
    # Stored audio is never rewritten in place; a new transcode is a new key, size or time.
    made = recording.ready_at.isoformat() if recording.ready_at else ""
    digest = hashlib.sha256(f"{recording.id}|{key}|{size}|{made}".encode()).hexdigest()[:20]
    return f'"{digest}"'


def _filename(recording: Recording, key: str) -> str:
    started = recording.call_started_at.astimezone(UTC)
    return f"call-{started:%Y%m%d-%H%M%S}-{recording.id}{PurePosixPath(key).suffix}"


async def serve(
    request: web.Request, recording: Recording, listener: Listener, *, download: bool
) -> web.StreamResponse:
    """The recording's audio (whole, or the part asked for), the playback recorded first."""
    key = require_playable(recording)
    source = await streaming.open_source(request.app[RECORDING_STORAGE], key)
    if source is None:
        log.error("a ready recording's audio is missing", extra={"recording": recording.id, "key": key})
        raise ApiError(404, "recording-missing", "the recording's audio is missing from storage")
    try:
        return await _answer(request, recording, listener, source, download=download)
    finally:
        source.close()


async def _answer(
    request: web.Request,
    recording: Recording,
    listener: Listener,
    source: streaming.AudioSource,
    *,
    download: bool,
) -> web.StreamResponse:
    etag = entity_tag(recording, source.key, source.size)
    last_modified = (recording.ready_at or recording.updated_at).astimezone(UTC)
    selection = choose(
        request.headers.get("Range"),
        request.headers.get("If-Range"),
        size=source.size,
        etag=etag,
        last_modified=last_modified,
    )
    if isinstance(selection, Unsatisfiable):
        return _unsatisfiable(source.size)
    if request.method != "HEAD":
        access = audit.describe(
            request,
            recording_id=recording.id,
            call_id=recording.call_id,
            who=listener.who,
            role=listener.role,
            via=listener.via,
            action="download" if download else "play",
        )
        start = selection.start if isinstance(selection, Part) else None
        await audit.record(request.app, access, range_start=start, now=request.app[CLOCK]())
    response = web.StreamResponse(
        headers={
            "Content-Type": recording.mime or "application/octet-stream",
            "Cache-Control": CACHE_CONTROL,
            "ETag": etag,
            "Last-Modified": format_datetime(last_modified.replace(microsecond=0), usegmt=True),
            "X-Content-Type-Options": "nosniff",
        }
    )
    if download:
        response.headers["Content-Disposition"] = f'attachment; filename="{_filename(recording, source.key)}"'
    return await streaming.send(request, response, source, selection)


def _unsatisfiable(size: int) -> web.Response:
    response = error_response(
        416, "range-not-satisfiable", "the requested range is not within the recording", {"size": size}
    )
    response.headers.update(streaming.unsatisfiable(size))
    return response
