"""Call tracking: tracking numbers and pools, the website's public endpoints and snippet, attribution,
pool health, reports and exports. Each module below brings its own routes."""

from __future__ import annotations

from aiohttp import web

from calltracking import costs, exports, health_api, manage_api, public_api, report_api, snippet_http
from calltracking.report_keeper import report_keeper


def setup(app: web.Application) -> None:
    """After the database: the public endpoints and the marketers' REST API."""
    public_api.setup(app)
    app.router.add_routes(manage_api.routes)
    snippet_http.setup(app)
    app.router.add_routes(health_api.routes)
    app.router.add_routes(report_api.routes)
    app.router.add_routes(costs.routes)
    app.router.add_routes(exports.routes)
    app.cleanup_ctx.append(report_keeper)
