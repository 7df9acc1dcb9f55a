"""The contact routes."""

from __future__ import annotations

from aiohttp import web

from kolokol.contacts import api


def setup(app: web.Application) -> None:
    app.router.add_routes(api.routes)
