"""Recordings in the running app: the storage, the worker (acquire, transcode, store) and the purge job.

The owners of the other recording parts add their routes here. The storage is set even when recordings
are switched off, so that what was stored stays playable.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from kolokol.app_keys import RECORDING_STORAGE, RECORDING_WORKER, SESSIONS, SETTINGS
from kolokol.home import find_home
from kolokol.settings import Settings
from recordings import access_setup, upload_api
from recordings.job_store import JobStore
from recordings.pool import ProcessPool
from recordings.storage import LocalDiskStorage
from recordings.uploads import UPLOADS, UploadArea
from recordings.worker import RecordingWorker

log = logging.getLogger("kolokol.recordings")

FFMPEG_MISSING = "ffmpeg is not installed: recordings cannot be processed (Debian: apt-get install ffmpeg)"


def storage_root(settings: Settings) -> Path:
    """``recordings.storage_dir``; a relative one is in kolokol's home (kolokol.home)."""
    configured = Path(settings.recordings.storage_dir).expanduser()
    return configured if configured.is_absolute() else find_home().path / configured


def ffmpeg_present() -> bool:
    return shutil.which("ffmpeg") is not None


async def _worker(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if not settings.recordings.enabled:
        app[RECORDING_WORKER] = None
        yield
        return
    if not ffmpeg_present():
        log.error(FFMPEG_MISSING)
    pool = ProcessPool(settings.recordings.workers)
    worker = RecordingWorker(
        JobStore(app[SESSIONS]), app[RECORDING_STORAGE], settings, pool, uploads=app[upload_api.UPLOAD_AREA]
    )
    app[RECORDING_WORKER] = worker
    await worker.start()
    yield
    await worker.stop()
    await pool.close()


def setup(app: web.Application) -> None:
    """After the database (the worker's rows) and before anything that serves recordings."""
    root = storage_root(app[SETTINGS])
    app[RECORDING_STORAGE] = LocalDiskStorage(root)
    # Asterisk's post-command uploads (kolokol on another host) wait beside incoming/ for the worker.
    app[upload_api.UPLOAD_AREA] = UploadArea(root / UPLOADS)
    app.router.add_routes(upload_api.routes)
    app.cleanup_ctx.append(_worker)
    # Listening: the audio and peaks API, signed links and the access audit.
    access_setup.setup(app)
