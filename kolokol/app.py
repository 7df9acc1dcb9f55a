"""The composition root: settings in, a wired aiohttp application out."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web
from sqlalchemy import text

from kolokol.ami_ingest import AsteriskIngest
from kolokol.api import calls, contacts, feed, tasks, webhooks
from kolokol.api.errors import error_response, errors_middleware
from kolokol.app_keys import AMI, FEED, FEED_SECRET, INTAKE, PHONES, SESSIONS, SETTINGS, WEBHOOKS
from kolokol.db import make_engine, make_sessionmaker
from kolokol.factories import make_assembler, make_phones, make_pipeline, make_webhook_adapters
from kolokol.migrate import upgrade
from kolokol.settings import Settings
from kolokol.webhook_intake import WebhookIntake
from pbx.ami import AmiClient
from softphone_ws.hub import Hub
from softphone_ws.server import FeedServer

log = logging.getLogger("kolokol.app")
# Bodies beyond this are refused before they are read: contacts and task updates are small.
MAX_BODY = 1024 * 1024


class _NoAmi:
    """Stands in when no Asterisk is configured (cloud PBX only): readiness does not wait for it."""

    logged_in = True


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = make_engine(app[SETTINGS].database.url)
    await upgrade(engine)
    app[SESSIONS] = make_sessionmaker(engine)
    yield
    await engine.dispose()


async def _asterisk(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    ami_settings = settings.pbx.asterisk
    if ami_settings is None:
        app[AMI] = _NoAmi()
        yield
        return
    ingest = AsteriskIngest(make_assembler(settings, app[PHONES]), make_pipeline(settings, app[SESSIONS]))
    client = AmiClient(
        host=ami_settings.host,
        port=ami_settings.port,
        username=ami_settings.username,
        secret=ami_settings.secret.get_secret_value(),
        on_event=ingest.on_event,
        on_resync=ingest.on_resync,
        action_timeout=ami_settings.action_timeout_seconds,
        ping_interval=ami_settings.ping_interval_seconds,
    )
    app[AMI] = client
    ingest.start()
    await client.start()
    yield
    await client.stop()
    await ingest.stop()


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    intake = WebhookIntake(
        app[WEBHOOKS],
        app[SESSIONS],
        make_pipeline(settings, app[SESSIONS]),
        stale_after=timedelta(seconds=settings.calls.stale_after_seconds),
    )
    app[INTAKE] = intake
    intake.start()
    yield
    await intake.stop()


async def _feed(app: web.Application) -> AsyncIterator[None]:
    """The operator websocket feed, on its own port, started and stopped with the HTTP app."""
    settings = app[SETTINGS].feed
    configured = settings.token_secret
    # Without a configured secret, tokens are valid in this process only (they live a minute anyway).
    app[FEED_SECRET] = configured.get_secret_value().encode() if configured else secrets.token_bytes(32)
    server = FeedServer(
        Hub(),
        app[FEED_SECRET],
        host=settings.host,
        port=settings.port,
        allowed_origins=settings.allowed_origins,
    )
    await server.start()
    app[FEED] = server
    yield
    await server.stop()


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    components: dict[str, bool] = {}
    try:
        async with request.app[SESSIONS]() as session:
            await session.execute(text("SELECT 1"))
        components["database"] = True
    except Exception:
        components["database"] = False
    components["ami"] = request.app[AMI].logged_in
    ready = all(components.values())
    if not ready:
        return error_response(503, "not-ready", "a component is not ready", {"components": components})
    return web.json_response({"status": "ready", "components": components})


def make_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[errors_middleware], client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    app[PHONES] = make_phones(settings)
    app[WEBHOOKS] = make_webhook_adapters(settings, app[PHONES])
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_asterisk)
    app.cleanup_ctx.append(_webhooks)
    app.cleanup_ctx.append(_feed)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    for table in (calls.routes, tasks.routes, contacts.routes, webhooks.routes, feed.routes):
        app.router.add_routes(table)
    return app
