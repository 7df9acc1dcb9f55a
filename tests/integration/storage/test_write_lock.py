"""Which refusals are races another writer won (run the transaction again) and which are not, as each real
database words them; and that a transaction is run again only for those, and not for ever. (Two real
writers racing: tests/integration/calls/test_one_open_task.py, the contacts API's concurrent upserts.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.storage.engine import make_sessionmaker
from kolokol.storage.tables import Contact, new_id
from kolokol.storage.write_lock import ATTEMPTS, again_if_lost, lost_to_another_writer

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def contact(external_id: str, contact_id: str | None = None) -> dict[str, Any]:
    return {
        "id": contact_id or new_id(),
        "external_id": external_id,
        "name": "Анна",
        "fields": {},
        "created_at": NOW,
        "updated_at": NOW,
    }


async def refusal(engine: AsyncEngine, row: dict[str, Any]) -> DBAPIError:
    with pytest.raises(DBAPIError) as refused:
        async with engine.begin() as conn:
            await conn.execute(insert(Contact), [row])
    return refused.value


async def test_a_unique_key_another_writer_took_is_a_race_a_primary_key_or_a_missing_value_is_not(
    engine: AsyncEngine,
) -> None:
    first = contact("crm-1")
    async with engine.begin() as conn:
        await conn.execute(insert(Contact), [first])

    same_external_id = await refusal(engine, contact("crm-1"))
    assert isinstance(same_external_id, IntegrityError)
    assert lost_to_another_writer(same_external_id), "run again, the upsert finds the other's contact"

    same_id = await refusal(engine, contact("crm-2", contact_id=first["id"]))
    assert isinstance(same_id, IntegrityError)
    assert not lost_to_another_writer(same_id), "the same rows would collide again"

    no_name = await refusal(engine, {**contact("crm-3"), "name": None})
    assert not lost_to_another_writer(no_name)


async def test_a_writer_that_keeps_losing_gives_up_and_other_errors_are_not_run_again(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(Contact), [contact("crm-1")])
    sessions = make_sessionmaker(engine)
    runs = 0

    async def insert_the_same(row: dict[str, Any]) -> None:
        nonlocal runs
        runs += 1
        async with sessions.begin() as session:
            await session.execute(insert(Contact), [row])

    with pytest.raises(IntegrityError):
        await again_if_lost(lambda: insert_the_same(contact("crm-1")))
    assert runs == ATTEMPTS

    runs = 0
    with pytest.raises(IntegrityError):
        await again_if_lost(lambda: insert_the_same({**contact("crm-2"), "name": None}))
    assert runs == 1
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Contact)) == 1
