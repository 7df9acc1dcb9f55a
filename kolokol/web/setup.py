"""The console pages and their static files."""

from __future__ import annotations

from aiohttp import web

from kolokol.web import pages


def setup(app: web.Application) -> None:
    pages.add_routes(app)
