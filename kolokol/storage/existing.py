"""Opening a database that must already exist: a command that reads (``kolokol user list``) or changes
what is there (``kolokol token revoke``) never creates an empty database by looking in the wrong place."""

from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.home import sqlite_file, where
from kolokol.storage.engine import make_engine


class NoDatabase(Exception):
    """There is no kolokol database where the configuration points; the message says where that is."""


async def open_existing(url: str) -> AsyncEngine:
    """An engine on the database at ``url`` if it exists and holds kolokol's tables; NoDatabase if not."""
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise NoDatabase(f"no database at {path}")
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            migrated = await conn.run_sync(lambda sync: inspect(sync).has_table("alembic_version"))
    except (OSError, SQLAlchemyError) as exc:
        await engine.dispose()
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NoDatabase(f"cannot open the database at {where(url)}: {reason}") from exc
    if not migrated:
        await engine.dispose()
        raise NoDatabase(f"the database at {where(url)} holds no kolokol tables")
    return engine
