"""The migrations build exactly the schema the tables declare (on SQLite and PostgreSQL): a table, column
or index declared but not migrated, or migrated but declared nowhere (where autogenerating the next
migration would drop it), fails here."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.storage.tables import Base


async def test_the_migrated_schema_is_the_declared_one(engine: AsyncEngine) -> None:
    def differences(connection: Any) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []
