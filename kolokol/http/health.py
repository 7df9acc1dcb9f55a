"""``/healthz`` (alive: no I/O) and ``/readyz`` (the database answers; AMI is logged in when Asterisk is
configured)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from kolokol.app_keys import AMI, SESSIONS
from kolokol.http.errors import error_response
from kolokol.http.json_response import json_response


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
    if not all(components.values()):
        return error_response(503, "not-ready", "a component is not ready", {"components": components})
    return json_response({"status": "ready", "components": components})


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
