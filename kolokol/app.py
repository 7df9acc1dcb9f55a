"""The composition root: settings in, a wired aiohttp application out.

Each feature sets itself up (its routes, its long-lived resources in ``cleanup_ctx``, its background
tasks); the order here is the order they start in, and shutdown unwinds it in reverse.
"""

from __future__ import annotations

import gc
from datetime import UTC, datetime

from aiohttp import web

from calltracking import setup as calltracking
from kolokol.app_keys import CLOCK, PHONES, SETTINGS
from kolokol.auth import setup as auth
from kolokol.calls import setup as calls
from kolokol.calls.wiring import make_phones
from kolokol.contacts import setup as contacts
from kolokol.feed import setup as feed
from kolokol.http import health
from kolokol.http.errors import errors_middleware
from kolokol.http.request_text import valid_request_text
from kolokol.http.security import security_headers
from kolokol.settings import Settings
from kolokol.storage import setup as storage
from kolokol.tasks import setup as tasks
from kolokol.web import setup as pages
from recordings import setup as recordings

# Bodies beyond this are refused before they are read: contacts and task updates are small.
MAX_BODY = 1024 * 1024


async def _freeze_startup_objects(_app: web.Application) -> None:
    # Everything made at start-up (modules, settings, the wired app) lives as long as the process; left
    # to the collector, every full collection walks it again, a pause of a hundred milliseconds and
    # more in the middle of a ring's fan-out.
    gc.freeze()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def make_app(settings: Settings) -> web.Application:
    # security_headers sits inside errors_middleware so HTML error pages stay HTML (see its docstring).
    app = web.Application(
        middlewares=[errors_middleware, valid_request_text, security_headers], client_max_size=MAX_BODY
    )
    app[SETTINGS] = settings
    app[CLOCK] = _utc_now
    app[PHONES] = make_phones(settings)
    storage.setup(app)
    # The feed before the PBX side: calls are published on it from their first event.
    feed.setup(app)
    calls.setup(app)
    recordings.setup(app)
    tasks.setup(app)
    calltracking.setup(app)
    contacts.setup(app)
    auth.setup(app)
    pages.setup(app)
    health.setup(app)
    app.on_startup.append(_freeze_startup_objects)
    return app
