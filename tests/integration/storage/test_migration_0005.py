"""Migration 0005: both databases refuse text longer than its column, and what was stored longer before
(SQLite took anything) is cut to fit without losing a row."""

from __future__ import annotations

import importlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.contacts import limits as contact_limits
from kolokol.storage.engine import make_engine
from kolokol.storage.migrate import alembic_config, upgrade
from kolokol.storage.tables import Base, Call, Contact, ContactPhone, WebhookEvent
from pbx.webhooks import base as webhooks
from tests.support.databases import reset_if_postgres

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
UTC_TIME = sa.DateTime(timezone=True)
# The tables as revision 0004 left them (the ORM classes know later columns).
CONTACTS = sa.table(
    "contacts",
    *(sa.column(name) for name in ("id", "external_id", "name")),
    sa.column("fields", sa.JSON),
    *(sa.column(name, UTC_TIME) for name in ("created_at", "updated_at")),
)
EVENTS = sa.table(
    "webhook_events",
    *(sa.column(name) for name in ("provider", "call_id", "dedupe_key", "kind", "final")),
    *(sa.column(name, UTC_TIME) for name in ("occurred_at", "received_at")),
    sa.column("data", sa.JSON),
)
CLOUD_CALLS = sa.table(
    "cloud_calls",
    *(sa.column(name) for name in ("provider", "call_id", "state", "pending", "revision")),
    *(sa.column(name, UTC_TIME) for name in ("first_event_at", "last_event_at")),
)
TASKS = sa.table(
    "callback_tasks",
    *(
        sa.column(name)
        for name in ("id", "number", "status", "missed_calls", "first_call_id", "last_call_id")
    ),
    sa.column("note"),
    *(sa.column(name, UTC_TIME) for name in ("first_missed_at", "last_missed_at", "due_at", "updated_at")),
)


@pytest.fixture
async def at_0004(db_url: str) -> AsyncIterator[AsyncEngine]:
    await reset_if_postgres(db_url)
    engine = make_engine(db_url)

    def to_0004(connection: object) -> None:
        config = alembic_config(str(engine.url))
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")

    async with engine.begin() as conn:
        await conn.run_sync(to_0004)
    yield engine
    await engine.dispose()


def contact(contact_id: str, external_id: str, name: str, fields: object) -> dict[str, object]:
    return {
        "id": contact_id,
        "external_id": external_id,
        "name": name,
        "fields": fields,
        "created_at": T0,
        "updated_at": T0,
    }


def event(call_id: str, key: str, data: dict[str, object]) -> dict[str, object]:
    return {
        "provider": "generic",
        "call_id": call_id,
        "dedupe_key": key,
        "kind": "call.started",
        "final": False,
        "occurred_at": T0,
        "received_at": T0,
        "data": data,
    }


def open_task(task_id: str, note: str) -> dict[str, object]:
    return {
        "id": task_id,
        "number": "+79161234567",
        "status": "open",
        "missed_calls": 1,
        "first_call_id": "c1",
        "last_call_id": "c1",
        "note": note,
        "first_missed_at": T0,
        "last_missed_at": T0,
        "due_at": T0,
        "updated_at": T0,
    }


async def test_stored_values_too_long_for_their_columns_are_cut_and_no_row_is_lost(
    at_0004: AsyncEngine,
) -> None:
    sqlite = at_0004.dialect.name == "sqlite"
    many_fields = {f"поле {n}": "Я" * 5000 for n in range(300)}  # 1.5 M characters of fields
    async with at_0004.begin() as conn:
        await conn.execute(sa.insert(CONTACTS), [contact("c1", "crm-1", "Анна", many_fields)])
        await conn.execute(sa.insert(TASKS), [open_task("t1", "заметка " * 20_000)])
        if sqlite:
            # Only SQLite ever held these: PostgreSQL refused them all along.
            long_id = "x" * 300
            await conn.execute(
                sa.insert(CONTACTS),
                [
                    contact("c2", long_id + "A", "Б" * 500_000, {}),
                    contact("c3", long_id + "B", "Вера", {}),
                ],
            )
            long_call = "call-" + "9" * 300
            await conn.execute(
                sa.insert(EVENTS),
                [event(long_call, "k" * 450, {"n": 1}), event(long_call, "k" * 451, {"n": 2})],
            )
            await conn.execute(
                sa.insert(CLOUD_CALLS),
                [
                    {
                        "provider": "generic",
                        "call_id": long_call,
                        "state": "open",
                        "pending": False,
                        "revision": 2,
                        "first_event_at": T0,
                        "last_event_at": T0,
                    }
                ],
            )
    await upgrade(at_0004)

    async with at_0004.connect() as conn:
        contacts = {row.id: row for row in (await conn.execute(sa.select(CONTACTS))).all()}
        fields = contacts["c1"].fields
        assert len(fields) == 50 and all(len(v) == 2000 and v.endswith("…") for v in fields.values())
        assert list(fields)[:2] == ["поле 0", "поле 1"], "the first fields are the ones kept"
        note = (await conn.execute(sa.select(TASKS.c.note))).scalar_one()
        assert len(note) == 100_000 and note.startswith("заметка") and note.endswith("…")
        if sqlite:
            assert set(contacts) == {"c1", "c2", "c3"}, "no contact is lost"
            assert len(contacts["c2"].name) == 500 and contacts["c2"].name.endswith("…")
            ids = [contacts["c2"].external_id, contacts["c3"].external_id]
            assert all(len(i) == 200 and i.startswith("x" * 100) for i in ids)
            assert ids[0] != ids[1], "two long ids stay two ids"
            events = (await conn.execute(sa.select(EVENTS.c.call_id, EVENTS.c.dedupe_key))).all()
            assert len(events) == 2 and len({key for _, key in events}) == 2
            (cloud_call,) = (await conn.execute(sa.select(CLOUD_CALLS.c.call_id))).scalars().all()
            assert {call for call, _ in events} == {cloud_call}, "a call keeps its events"
            assert len(cloud_call) == 200


@pytest.mark.parametrize(
    ("statement", "column"),
    [
        (
            "INSERT INTO contacts (id, external_id, name, fields, created_at, updated_at) "
            "VALUES ('c9', 'crm-9', :long, '{}', :t, :t)",
            "contacts.name",
        ),
        ("UPDATE contacts SET name = :long", "contacts.name"),
        ("UPDATE contacts SET external_id = :long", "contacts.external_id"),
        ("UPDATE contacts SET fields = :huge_json", "contacts.fields"),
        ("UPDATE contact_phones SET raw = :long", "contact_phones.raw"),
        ("UPDATE callback_tasks SET note = :huge", "callback_tasks.note"),
        ("UPDATE calls SET caller_name = :long", "calls.caller_name"),
        ("UPDATE users SET display_name = :long", "users.display_name"),
    ],
)
async def test_both_databases_refuse_text_longer_than_its_column(
    engine: AsyncEngine, statement: str, column: str
) -> None:
    # One row in each table the statements touch.
    async with engine.begin() as conn:
        await conn.execute(sa.insert(CONTACTS), [contact("c1", "crm-1", "Анна", {"a": "b"})])
        await conn.execute(
            sa.text("INSERT INTO contact_phones (contact_id, number, raw) VALUES ('c1', '+79161234567', 'x')")
        )
        await conn.execute(sa.insert(TASKS), [open_task("t1", "ok")])
        await conn.execute(
            sa.text(
                "INSERT INTO calls (id, pbx, pbx_call_id, direction, caller, called, status, disposition,"
                " rang, transfers, started_at, ended_at, closed_by_timeout, first_time_caller, contact_ids)"
                " VALUES ('k1', 'asterisk', '1.1', 'inbound', '+79161234567', '+74951110001', 'missed',"
                " 'no_answer', '[]', '[]', :t, :t, false, false, '[]')"
            ),
            {"t": T0},
        )
        await conn.execute(
            sa.text(
                "INSERT INTO users (id, username, display_name, role, extensions, password_hash, active,"
                " created_at, updated_at, password_changed_at)"
                " VALUES ('u1', 'anna', 'Анна', 'operator', '[]', 'x', true, :t, :t, :t)"
            ),
            {"t": T0},
        )
    values = {
        "long": "Я" * 501,
        "huge": "Я" * 100_001,
        "huge_json": '{"a": "' + "Я" * 1_000_000 + '"}',
        "t": T0,
    }
    with pytest.raises(DBAPIError) as caught:
        async with engine.begin() as conn:
            await conn.execute(sa.text(statement), values)
    if engine.dialect.name == "sqlite":
        assert column in str(caught.value), "SQLite names the column"
    async with engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT name FROM contacts"))).scalar_one() == "Анна"


def test_the_bounds_are_the_columns_and_the_entries_limits() -> None:
    migration = importlib.import_module("kolokol.storage.migrations.versions.0005_bounded_text")
    for table, columns in migration.STRING_COLUMNS.items():
        model = Base.metadata.tables[table]
        for column, limit in columns.items():
            assert model.c[column].type.length == limit, f"{table}.{column}"
    # What the entries accept fits what the database keeps.
    assert Contact.__table__.c.name.type.length == contact_limits.MAX_NAME_CHARS
    assert Contact.__table__.c.external_id.type.length == contact_limits.MAX_EXTERNAL_ID_CHARS
    assert ContactPhone.__table__.c.raw.type.length == contact_limits.MAX_PHONE_CHARS
    assert WebhookEvent.__table__.c.call_id.type.length == webhooks.MAX_CALL_ID_CHARS
    assert WebhookEvent.__table__.c.dedupe_key.type.length == webhooks.MAX_DEDUPE_KEY_CHARS
    assert WebhookEvent.__table__.c.kind.type.length == webhooks.MAX_KIND_CHARS
    assert migration.TEXT_COLUMNS["webhook_events"]["data"] == webhooks.MAX_EVENT_DATA_CHARS
    calls = Call.__table__.c
    assert calls.caller.type.length == calls.called.type.length == webhooks.MAX_NUMBER_CHARS
    assert calls.caller_name.type.length == webhooks.MAX_CALLER_NAME_CHARS
    assert calls.operator.type.length == calls.answered_by.type.length == webhooks.MAX_EXTENSION_CHARS
    # A contact at every limit fits its column of fields, however its text is escaped.
    widest = {
        f"{n:064d}": "Я" * contact_limits.MAX_FIELD_VALUE_CHARS for n in range(contact_limits.MAX_FIELDS)
    }
    assert len(json.dumps(widest)) <= migration.TEXT_COLUMNS["contacts"]["fields"]
