"""Calls: from Asterisk (AMI) and from cloud PBX webhooks into call records, click-to-call, and the
call log's REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from kolokol.app_keys import AMI, CLICK_TO_CALL, INTAKE, LIVE, PHONES, SESSIONS, SETTINGS, WEBHOOKS
from kolokol.calls import api, originate_api, webhooks_http
from kolokol.calls.asterisk_ingest import AsteriskIngest
from kolokol.calls.asterisk_journal import AmiJournal
from kolokol.calls.click_to_call import ClickToCall
from kolokol.calls.cloud_intake import WebhookIntake
from kolokol.calls.wiring import make_assembler, make_classifier, make_pipeline, make_webhook_adapters
from pbx.ami import AmiClient, AmiMessage


async def _asterisk(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    ami_settings = settings.pbx.asterisk
    if ami_settings is None:
        app[AMI] = None
        app[CLICK_TO_CALL] = None
        yield
        return
    live = app[LIVE]
    ingest = AsteriskIngest(
        make_assembler(settings, app[PHONES], live=True),
        make_pipeline(settings, app[SESSIONS]),
        on_live=live.calls_changed,
        journal=AmiJournal(app[SESSIONS]),
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
        events=ingest.handled_events | ClickToCall.handled_events,
        action_timeout=ami_settings.action_timeout_seconds,
        ping_interval=ami_settings.ping_interval_seconds,
    )
    clicker = ClickToCall(
        client,
        app[PHONES],
        ami_settings,
        live.originate_failed,
        endpoint_for=make_classifier(settings).endpoint_for,
    )
    app[AMI] = client
    app[CLICK_TO_CALL] = clicker
    ingest.start()
    # The calls in progress when kolokol stopped, before AMI tells what became of them.
    await ingest.restore()
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


def setup(app: web.Application) -> None:
    """After the database and the feed: calls are published on the feed from their first event."""
    app[WEBHOOKS] = make_webhook_adapters(app[SETTINGS], app[PHONES])
    app.cleanup_ctx.append(_asterisk)
    app.cleanup_ctx.append(_webhooks)
    app.router.add_routes(api.routes)
    app.router.add_routes(webhooks_http.routes)
    app.router.add_routes(originate_api.routes)
