"""The console pages and their static files."""

from __future__ import annotations

from aiohttp import web

from kolokol.web import call_pages, pages


def setup(app: web.Application) -> None:
    pages.add_routes(app)
    call_pages.add_routes(app)
