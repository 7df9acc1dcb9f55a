"""``/healthz`` (alive: no I/O) and ``/readyz`` (the database answers; AMI is logged in when Asterisk is
configured; and how recordings stand)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from kolokol.app_keys import AMI, SESSIONS
from kolokol.http.errors import error_response
from kolokol.http.json_response import json_response
from recordings.health import recordings_detail


async def healthz(_request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    components: dict[str, bool] = {}
    try:
        async with request.app[SESSIONS]() as session:
            await session.execute(text("SELECT 1"))
        components["database"] = True
    except Exception:
        components["database"] = False
    ami = request.app.get(AMI)
    if ami is not None:
        # Only a configured Asterisk is a component: a cloud-PBX clinic has no AMI to wait for.
        components["ami"] = ami.logged_in
    # Recordings never make the node unready (calls go on without them); the detail says what is wrong.
    recordings = await recordings_detail(request.app) if components["database"] else None
    if not all(components.values()):
        return error_response(
            503, "not-ready", "a component is not ready", {"components": components, "recordings": recordings}
        )
    return json_response({"status": "ready", "components": components, "recordings": recordings})


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
