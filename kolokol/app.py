"""The composition root: settings in, a wired aiohttp application out."""

from __future__ import annotations

import gc
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

from aiohttp import web
from sqlalchemy import text

from kolokol.app_keys import (
    AMI,
    CLICK_TO_CALL,
    CLOCK,
    FEED,
    FEED_SECRET,
    INTAKE,
    LIVE,
    LOGIN_LIMITER,
    PHONES,
    SESSIONS,
    SETTINGS,
    WEBHOOKS,
)
from kolokol.auth import login, me_api
from kolokol.auth.login_limit import LoginLimiter
from kolokol.calls import api as calls_api
from kolokol.calls import originate_api, webhooks_http
from kolokol.calls.asterisk_ingest import AsteriskIngest
from kolokol.calls.click_to_call import ClickToCall
from kolokol.calls.cloud_intake import WebhookIntake
from kolokol.calls.wiring import make_assembler, make_phones, make_pipeline, make_webhook_adapters
from kolokol.contacts import api as contacts_api
from kolokol.feed import live_api, token_api
from kolokol.feed.caller_cards import CardBuilder
from kolokol.feed.publisher import LiveFeed, TaskChange
from kolokol.feed.task_events import watched_sessionmaker
from kolokol.http.errors import error_response, errors_middleware
from kolokol.http.security import security_headers
from kolokol.settings import Settings
from kolokol.storage.migrate import upgrade
from kolokol.storage.tables import make_engine
from kolokol.tasks import api as tasks_api
from kolokol.web import pages
from pbx.ami import AmiClient, AmiMessage
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

    def tasks_changed(changes: Sequence[TaskChange]) -> None:
        # Commits can happen before the feed is up (start-up work) and after it is gone (shutdown).
        if LIVE in app:
            app[LIVE].tasks_changed(changes)

    app[SESSIONS] = watched_sessionmaker(engine, tasks_changed)
    yield
    await engine.dispose()


async def _asterisk(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    ami_settings = settings.pbx.asterisk
    if ami_settings is None:
        app[AMI] = _NoAmi()
        app[CLICK_TO_CALL] = None
        yield
        return
    live = app[LIVE]
    ingest = AsteriskIngest(
        make_assembler(settings, app[PHONES], live=True),
        make_pipeline(settings, app[SESSIONS]),
        on_live=live.calls_changed,
    )

    async def on_event(event: AmiMessage) -> None:
        await ingest.on_event(event)
        clicker.on_event(event)

    client = AmiClient(
        host=ami_settings.host,
        port=ami_settings.port,
        username=ami_settings.username,
        secret=ami_settings.secret.get_secret_value(),
        on_event=on_event,
        on_resync=ingest.on_resync,
        action_timeout=ami_settings.action_timeout_seconds,
        ping_interval=ami_settings.ping_interval_seconds,
    )
    clicker = ClickToCall(client, app[PHONES], ami_settings, live.originate_failed)
    app[AMI] = client
    app[CLICK_TO_CALL] = clicker
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
        on_live=app[LIVE].calls_changed,
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
    everything = app[SETTINGS]
    lookback = everything.calls.first_time_lookback_days
    cards = CardBuilder(
        app[SESSIONS],
        app[PHONES],
        lines=everything.lines,
        crm_contact_url=everything.console.crm_contact_url,
        first_time_lookback=timedelta(days=lookback) if lookback else None,
    )
    live = LiveFeed(server, cards, app[SESSIONS])
    live.start()
    app[LIVE] = live
    yield
    await live.stop()
    await server.stop()


async def _freeze_startup_objects(_app: web.Application) -> None:
    # Everything made at start-up (modules, settings, the wired app) lives as long as the process; left
    # to the collector, every full collection walks it again, a pause of a hundred milliseconds and
    # more in the middle of a ring's fan-out.
    gc.freeze()


def _utc_now() -> datetime:
    return datetime.now(UTC)


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
    # security_headers sits inside errors_middleware so HTML error pages stay HTML (see its docstring).
    app = web.Application(middlewares=[errors_middleware, security_headers], client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    app[CLOCK] = _utc_now
    app[LOGIN_LIMITER] = LoginLimiter(settings.web.login_attempts_per_minute)
    app[PHONES] = make_phones(settings)
    app[WEBHOOKS] = make_webhook_adapters(settings, app[PHONES])
    app.cleanup_ctx.append(_database)
    # The feed first: calls from the PBX side are published on it from their first event.
    app.cleanup_ctx.append(_feed)
    app.cleanup_ctx.append(_asterisk)
    app.cleanup_ctx.append(_webhooks)
    app.on_startup.append(_freeze_startup_objects)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    for table in (
        calls_api.routes,
        tasks_api.routes,
        contacts_api.routes,
        webhooks_http.routes,
        token_api.routes,
        me_api.routes,
        login.routes,
        live_api.routes,
        originate_api.routes,
    ):
        app.router.add_routes(table)
    pages.add_routes(app)
    return app
