"""Migration 0006 on a database that already holds API tokens: every one survives and keeps working
(no expiry), and a revoked one stays revoked."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import insert

from kolokol.auth.tokens import TokenRefused, find_token
from kolokol.storage.engine import make_engine, make_sessionmaker
from kolokol.storage.migrate import alembic_config, upgrade
from tests.support.databases import reset_if_postgres

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
UTC_TIME = sa.DateTime(timezone=True)
# The table as revisions 0001-0005 made it (the ORM class knows the later column).
TOKENS_0005 = sa.table(
    "api_tokens",
    *(sa.column(name) for name in ("id", "name", "role", "token_hash")),
    *(sa.column(name, UTC_TIME) for name in ("created_at", "revoked_at")),
)


def row(token_id: str, secret: str, *, revoked: bool = False) -> dict[str, object]:
    return {
        "id": token_id,
        "name": f"CRM {token_id}",
        "role": "integration",
        "token_hash": hashlib.sha256(secret.encode()).hexdigest(),
        "created_at": T0,
        "revoked_at": T0 + timedelta(days=1) if revoked else None,
    }


async def test_stored_tokens_survive_and_keep_working(db_url: str) -> None:
    await reset_if_postgres(db_url)
    engine = make_engine(db_url)

    def to_0005(connection: object) -> None:
        config = alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")

    try:
        async with engine.begin() as conn:
            await conn.run_sync(to_0005)
            await conn.execute(
                insert(TOKENS_0005), [row("a" * 32, "kk_alive"), row("b" * 32, "kk_gone", revoked=True)]
            )
        await upgrade(engine)

        async with make_sessionmaker(engine)() as session:
            alive = await find_token(session, "kk_alive", now=T0 + timedelta(days=3650))
            assert (alive.id, alive.expires_at, alive.created_at) == ("a" * 32, None, T0)
            with pytest.raises(TokenRefused, match="the token was revoked"):
                await find_token(session, "kk_gone", now=T0)
    finally:
        await engine.dispose()
