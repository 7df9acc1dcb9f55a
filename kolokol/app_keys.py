"""Typed application state shared by the HTTP handlers."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.phones import PhoneNormalizer
from kolokol.settings import Settings
from kolokol.webhook_intake import WebhookIntake
from pbx.webhooks.base import WebhookAdapter
from softphone_ws.server import FeedServer


class AmiStatus(Protocol):
    @property
    def logged_in(self) -> bool: ...


SETTINGS = web.AppKey("settings", Settings)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
PHONES = web.AppKey("phones", PhoneNormalizer)
AMI = web.AppKey("ami", AmiStatus)
WEBHOOKS = web.AppKey("webhooks", dict[str, WebhookAdapter])
INTAKE = web.AppKey("intake", WebhookIntake)
FEED = web.AppKey("feed", FeedServer)
FEED_SECRET = web.AppKey("feed_secret", bytes)
