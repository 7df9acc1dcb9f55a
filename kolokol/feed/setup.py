"""The operator feed: the websocket server on its own port, the live feed that fills it, and the HTTP
routes a console starts from (a feed token, the calls in progress)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from kolokol.app_keys import CLOCK, FEED, FEED_SECRET, LIVE, PHONES, SESSIONS, SETTINGS
from kolokol.auth.feed_grants import FeedGrantCheck
from kolokol.auth.sessions import SessionPolicy
from kolokol.feed import live_api, token_api
from kolokol.feed.caller_cards import CardBuilder
from kolokol.feed.publisher import LiveFeed
from softphone_ws.hub import Hub
from softphone_ws.server import FeedServer


async def _feed(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    configured = settings.feed.token_secret
    # Without a configured secret, tokens are valid in this process only (they live a minute anyway).
    app[FEED_SECRET] = configured.get_secret_value().encode() if configured else secrets.token_bytes(32)
    grant_check = FeedGrantCheck(
        app[SESSIONS],
        # Read at every check: tests move the app's clock after start-up.
        clock=lambda: app[CLOCK](),
        policy=SessionPolicy.from_settings(settings.web),
    )
    server = FeedServer(
        Hub(),
        app[FEED_SECRET],
        host=settings.feed.host,
        port=settings.feed.port,
        allowed_origins=settings.feed.allowed_origins,
        grant_check=grant_check,
        grant_check_seconds=settings.feed.login_check_seconds,
    )
    await server.start()
    app[FEED] = server
    lookback = settings.calls.first_time_lookback_days
    cards = CardBuilder(
        app[SESSIONS],
        app[PHONES],
        lines=settings.lines,
        crm_contact_url=settings.console.crm_contact_url,
        first_time_lookback=timedelta(days=lookback) if lookback else None,
    )
    # A task stays "in conversation" after its call until the call's record (which closes it) is stored.
    live = LiveFeed(server, cards, app[SESSIONS], in_call_hold_seconds=settings.calls.settle_seconds + 8)
    live.start()
    app[LIVE] = live
    yield
    await live.stop()
    await server.stop()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_feed)
    app.router.add_routes(token_api.routes)
    app.router.add_routes(live_api.routes)
