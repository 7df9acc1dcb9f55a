"""Opening a database that must already exist: a command that reads (``kolokol user list``) or changes
what is there (``kolokol token revoke``) never creates an empty database by looking in the wrong place,
and leaves a file that is not kolokol's untouched."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.home import sqlite_file, where
from kolokol.storage.engine import make_engine

_MIGRATED = "alembic_version"  # the table every kolokol schema has from its first migration


class NoDatabase(Exception):
    """There is no kolokol database where the configuration points; the message says where that is."""


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _sqlite_is_kolokols(path: Path) -> bool:
    # Read-only, with the standard library: opening it the usual way would set WAL mode, a write.
    with closing(sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)) as db:
        found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_MIGRATED,))
        return found.fetchone() is not None


async def open_existing(url: str) -> AsyncEngine:
    """An engine on the database at ``url`` if it exists and holds kolokol's tables; NoDatabase if not."""
    path = sqlite_file(url)
    if path is not None:
        if not path.is_file():
            raise NoDatabase(f"no database at {path}")
        try:
            migrated = _sqlite_is_kolokols(path)
        except sqlite3.Error as exc:
            raise NoDatabase(f"cannot open the database at {path}: {_first_line(exc)}") from exc
        if not migrated:
            raise NoDatabase(f"the database at {path} holds no kolokol tables")
        return make_engine(url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            migrated = await conn.run_sync(lambda sync: inspect(sync).has_table(_MIGRATED))
    except (OSError, SQLAlchemyError) as exc:
        await engine.dispose()
        raise NoDatabase(f"cannot open the database at {where(url)}: {_first_line(exc)}") from exc
    if not migrated:
        await engine.dispose()
        raise NoDatabase(f"the database at {where(url)} holds no kolokol tables")
    return engine
