"""The database for the running app: the engine, the schema brought up to date, and the session maker
whose committed callback-task changes reach the operator feed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from kolokol.app_keys import LIVE, SESSIONS, SETTINGS
from kolokol.storage.engine import make_engine
from kolokol.storage.migrate import upgrade
from kolokol.tasks.events import TaskChange, watched_sessionmaker


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = make_engine(app[SETTINGS].database.url)
    await upgrade(engine)

    def tasks_changed(changes: Sequence[TaskChange]) -> None:
        # Commits can happen before the feed is up (start-up work) and after it is gone (shutdown).
        if LIVE in app:
            app[LIVE].tasks_changed(changes)

    app[SESSIONS] = watched_sessionmaker(engine, tasks_changed)
    yield
    await engine.dispose()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_database)
