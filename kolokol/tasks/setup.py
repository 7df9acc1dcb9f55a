"""The callback task routes."""

from __future__ import annotations

from aiohttp import web

from kolokol.tasks import api


def setup(app: web.Application) -> None:
    app.router.add_routes(api.routes)
