"""What ``/readyz`` says about recordings: the backlog, the failures of the last day, and whether ffmpeg is
there. None of it makes the node unready: calls are served without recordings, but the detail says why
recordings are not being processed."""

from __future__ import annotations

import contextlib
from typing import Any

from aiohttp import web

from kolokol.app_keys import CLOCK, SESSIONS, SETTINGS
from recordings.job_store import JobStore
from recordings.setup import FFMPEG_MISSING, ffmpeg_present


async def recordings_detail(app: web.Application) -> dict[str, Any]:
    enabled = app[SETTINGS].recordings.enabled
    detail: dict[str, Any] = {"enabled": enabled, "ffmpeg": ffmpeg_present()}
    backlog: int | None = None
    failed: int | None = None
    # The database's own trouble is reported as a component of its own.
    with contextlib.suppress(Exception):
        backlog, failed = await JobStore(app[SESSIONS]).figures(app[CLOCK]())
    detail["backlog"] = backlog
    detail["failed_last_24h"] = failed
    detail["problem"] = FFMPEG_MISSING if enabled and not detail["ffmpeg"] else None
    return detail
