"""Typed application state shared by the HTTP handlers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.auth.login_limit import LoginLimiter
from kolokol.calls.click_to_call import ClickToCall
from kolokol.calls.cloud_intake import WebhookIntake
from kolokol.feed.publisher import LiveFeed
from kolokol.phones import PhoneNormalizer
from kolokol.settings import Settings
from pbx.webhooks.base import WebhookAdapter
from recordings.storage import RecordingStorage
from softphone_ws.server import FeedServer


class AmiStatus(Protocol):
    @property
    def logged_in(self) -> bool: ...


class RecordingWorkerHandle(Protocol):
    def poke(self) -> None:
        """Look for due recordings now (a new one was planned, an upload arrived)."""


SETTINGS = web.AppKey("settings", Settings)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
PHONES = web.AppKey("phones", PhoneNormalizer)
# None when no Asterisk is configured (a cloud PBX only): nothing to connect to, nothing to wait for.
AMI: web.AppKey[AmiStatus | None] = web.AppKey("ami")
WEBHOOKS = web.AppKey("webhooks", dict[str, WebhookAdapter])
INTAKE = web.AppKey("intake", WebhookIntake)
FEED = web.AppKey("feed", FeedServer)
FEED_SECRET = web.AppKey("feed_secret", bytes)
# "Now" for logins and sessions: tests replace it to move time.
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
LOGIN_LIMITER = web.AppKey("login_limiter", LoginLimiter)
LIVE = web.AppKey("live", LiveFeed)
# None when no Asterisk is configured: click-to-call needs AMI.
CLICK_TO_CALL: web.AppKey[ClickToCall | None] = web.AppKey("click_to_call")
# Where recordings are stored (recordings.storage); set by recordings.setup even when recordings are off,
# so what was stored stays playable.
RECORDING_STORAGE: web.AppKey[RecordingStorage] = web.AppKey("recording_storage")
# The recordings worker (None when recordings.enabled is false).
RECORDING_WORKER: web.AppKey[RecordingWorkerHandle | None] = web.AppKey("recording_worker")
