"""Listening to recordings: the audio and peaks API, signed links and the access audit (issue 11, part 5)."""

from __future__ import annotations

from aiohttp import web

from calltracking.rate_limit import ClientAddress
from kolokol.app_keys import SETTINGS
from recordings import audio_api, audit, link_api


def setup(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[audit.ADDRESSES] = ClientAddress(settings.tracking.trusted_proxies)
    app[link_api.LINK_KEY] = link_api.LinkKey(settings)
    app[audit.RECENT] = audit.RecentPlaybacks()
    app.router.add_routes(audio_api.routes)
    app.router.add_routes(link_api.routes)
    app.router.add_routes(audit.routes)
