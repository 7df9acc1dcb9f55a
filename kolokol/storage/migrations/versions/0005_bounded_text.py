"""lengths and counts bounded on both databases

PostgreSQL enforces ``VARCHAR(n)``; SQLite stores text of any length in any column, so a 500 KB contact
name went in unchecked. From here on both databases refuse a value longer than its column:
- SQLite: triggers before every insert and update (``RAISE(ABORT, '<table>.<column> is longer than n
  characters')``); SQLite cannot add a CHECK constraint without rebuilding the table, and a rebuild of
  ``contacts`` would cascade-delete its phones;
- both: CHECK constraints (PostgreSQL) and triggers (SQLite) on the unbounded columns the entries bound
  too: a contact's ``fields``, a webhook event's ``data`` (as stored, JSON text) and a task's ``note``.

Values already longer than their column (only possible on SQLite, or in those unbounded columns) are
cut to fit before the bounds apply, and the upgrade says how many: text ends in "…"; a unique key (a
contact's external id, a call's or event's id, a dedupe key) keeps its start and gets a short digest of
the whole value so keys stay distinct and calls keep their events; a contact's fields keep the first
50, each cut to 2,000 characters. No row is deleted.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# The string columns at this revision and their lengths (kolokol.storage.tables). Columns that later
# revisions add bound themselves.
STRING_COLUMNS: dict[str, dict[str, int]] = {
    "contacts": {"id": 32, "external_id": 200, "name": 500},
    "contact_phones": {"contact_id": 32, "number": 40, "raw": 100},
    "calls": {
        "id": 32,
        "pbx": 20,
        "pbx_call_id": 200,
        "direction": 10,
        "caller": 100,
        "caller_name": 200,
        "called": 100,
        "outside_number": 40,
        "status": 12,
        "disposition": 16,
        "missed_where": 10,
        "operator": 40,
        "answered_by": 40,
        "callback_task_id": 32,
    },
    "callback_tasks": {
        "id": 32,
        "number": 40,
        "status": 10,
        "assignee": 100,
        "first_call_id": 32,
        "last_call_id": 32,
        "closed_by_call_id": 32,
        "resolution": 20,
    },
    "webhook_events": {"provider": 20, "call_id": 200, "dedupe_key": 400, "kind": 40},
    "cloud_calls": {"provider": 20, "call_id": 200, "state": 10},
    "api_tokens": {"id": 32, "name": 200, "role": 20, "token_hash": 64},
    "users": {
        "id": 32,
        "username": 64,
        "display_name": 200,
        "role": 20,
        "password_hash": 200,
        "language": 2,
    },
    "web_sessions": {"id": 64, "user_id": 32, "csrf_token": 64, "remote_addr": 64, "user_agent": 200},
}
# Unbounded columns the entries bound: JSON as stored, and notes (several notes join in a merge).
TEXT_COLUMNS: dict[str, dict[str, int]] = {
    "contacts": {"fields": 1_000_000},
    "webhook_events": {"data": 1_000_000},
    "callback_tasks": {"note": 100_000},
}
# Keys: cut values keep their start plus a digest of the whole, so two long keys stay two keys and a
# call id cut in webhook_events is cut the same way in cloud_calls.
KEYS = {
    ("contacts", "external_id"),
    ("calls", "pbx_call_id"),
    ("webhook_events", "call_id"),
    ("webhook_events", "dedupe_key"),
    ("cloud_calls", "call_id"),
}
FIELDS_KEPT = 50
FIELD_NAME_CHARS = 64
FIELD_VALUE_CHARS = 2000
ELLIPSIS = "…"


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    for table, columns in STRING_COLUMNS.items():
        if sqlite:
            for column, limit in columns.items():
                _fit_column(bind, table, column, limit)
    _fit_fields(bind)
    for table, columns in TEXT_COLUMNS.items():
        for column, limit in columns.items():
            if column != "fields":
                _fit_column(bind, table, column, limit)
    if sqlite:
        for table in STRING_COLUMNS.keys() | TEXT_COLUMNS.keys():
            bounds = {**STRING_COLUMNS.get(table, {}), **TEXT_COLUMNS.get(table, {})}
            _create_triggers(bind, table, bounds)
    else:
        for table, columns in TEXT_COLUMNS.items():
            for column, limit in columns.items():
                op.create_check_constraint(
                    op.f(_check_name(table, column)), table, sa.text(f"length({column}::text) <= {limit}")
                )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for table in STRING_COLUMNS.keys() | TEXT_COLUMNS.keys():
            for event in ("insert", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(table, event)}")
    else:
        for table, columns in TEXT_COLUMNS.items():
            for column in columns:
                op.drop_constraint(op.f(_check_name(table, column)), table, type_="check")


def _check_name(table: str, column: str) -> str:
    return f"ck_{table}_{column}_length"


def _trigger_name(table: str, event: str) -> str:
    return f"bounded_{table}_{event}"


def _create_triggers(bind: sa.Connection, table: str, bounds: dict[str, int]) -> None:
    refusals = "\n".join(
        f"    SELECT RAISE(ABORT, '{table}.{column} is longer than {limit} characters')"
        f" WHERE length(NEW.{column}) > {limit};"
        for column, limit in bounds.items()
    )
    columns = ", ".join(bounds)
    for event, when in (("insert", "INSERT"), ("update", f"UPDATE OF {columns}")):
        bind.exec_driver_sql(
            f"CREATE TRIGGER {_trigger_name(table, event)} BEFORE {when} ON {table}\nBEGIN\n{refusals}\nEND"
        )


def _fit_column(bind: sa.Connection, table: str, column: str, limit: int) -> None:
    """Cut the values longer than `limit` (rare: written before the entries checked sizes)."""
    row_id = "rowid" if bind.dialect.name == "sqlite" else "ctid"
    target = sa.table(table, sa.column(row_id), sa.column(column))
    length = sa.func.length(sa.cast(target.c[column], sa.Text))
    rows = bind.execute(sa.select(target.c[row_id], target.c[column]).where(length > limit)).all()
    for found, value in rows:
        fitted = _fitted(str(value), limit, key=(table, column) in KEYS)
        # Table and column names come from the constants above, never from data.
        where = "rowid = :row_id" if row_id == "rowid" else "ctid = CAST(:row_id AS tid)"
        statement = sa.text(f"UPDATE {table} SET {column} = :value WHERE {where}")  # noqa: S608
        bind.execute(statement, {"value": fitted, "row_id": found})
    if rows:
        log.warning("%s.%s: %d values over %d characters were cut to fit", table, column, len(rows), limit)


def _fitted(value: str, limit: int, *, key: bool) -> str:
    if not key:
        return value[: limit - 1] + ELLIPSIS
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return value[: limit - 18] + ELLIPSIS + "~" + digest


def _fit_fields(bind: sa.Connection) -> None:
    """A contact's fields as the entries now take them: the first 50, each name and value cut."""
    limit = TEXT_COLUMNS["contacts"]["fields"]
    contacts = sa.table("contacts", sa.column("id", sa.String), sa.column("fields", sa.JSON))
    length = sa.func.length(sa.cast(contacts.c.fields, sa.Text))
    rows = bind.execute(sa.select(contacts.c.id, contacts.c.fields).where(length > limit)).all()
    for contact_id, fields in rows:
        bind.execute(
            contacts.update().where(contacts.c.id == contact_id).values(fields=_fitted_fields(fields))
        )
    if rows:
        log.warning(
            "contacts.fields: %d contacts had more than %d characters of fields; cut", len(rows), limit
        )


def _fitted_fields(fields: Any) -> dict[str, str]:
    if not isinstance(fields, dict):
        return {"fields": _fitted(json.dumps(fields, ensure_ascii=False), FIELD_VALUE_CHARS, key=False)}
    fitted: dict[str, str] = {}
    for name, value in list(fields.items())[:FIELDS_KEPT]:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        short_name = name if len(name) <= FIELD_NAME_CHARS else _fitted(name, FIELD_NAME_CHARS, key=False)
        fitted[short_name] = (
            text if len(text) <= FIELD_VALUE_CHARS else _fitted(text, FIELD_VALUE_CHARS, key=False)
        )
    return fitted
