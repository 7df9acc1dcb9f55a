"""Alembic environment: runs with the URL kolokol passes in, over an async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from kolokol.storage.engine import make_engine
from kolokol.storage.tables import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    # Batch mode rewrites tables on SQLite, which cannot ALTER most things in place.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _online() -> None:
    engine = make_engine(context.config.get_main_option("sqlalchemy.url") or "")
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
elif context.config.attributes.get("connection") is not None:
    # kolokol hands over a connection from inside its own running loop.
    _run(context.config.attributes["connection"])
else:
    asyncio.run(_online())
