"""Call tracking: tracking numbers and pools, the website's public endpoints and snippet, attribution,
pool health, reports and exports. Each module below brings its own routes."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """After the database: the public endpoints and the marketers' REST API."""
    del app
