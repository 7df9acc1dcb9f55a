"""The test databases: a fresh schema on the helper's PostgreSQL before each test that uses it."""

from __future__ import annotations

import os

from sqlalchemy import text

from kolokol.storage.engine import make_engine

PG_URL = os.environ.get("KOLOKOL_TEST_PG_URL", "")


async def reset_postgres(url: str) -> None:
    """Drop everything in the database: each test starts from an empty schema."""
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def reset_if_postgres(db_url: str) -> None:
    if db_url.startswith("postgresql"):
        await reset_postgres(db_url)
