"""a partial unique index, one open callback task per number

Two writers (the Asterisk ingest and the webhook intake, or two nodes) could each open a task for the same
number. Before the index can exist such duplicates are merged: per number the oldest open task is kept
and counts every miss, the others are closed (``cancelled``, resolution ``merged``, a note naming the
kept task) and the calls that pointed at them point at the kept one. Nothing is deleted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEX = "uq_callback_tasks_open_number"
OPEN = sa.text("status = 'open'")

# The tables as they stand at this revision (later revisions may add columns; this one must not see them).
tasks = sa.table(
    "callback_tasks",
    sa.column("id", sa.String),
    sa.column("number", sa.String),
    sa.column("status", sa.String),
    sa.column("missed_calls", sa.Integer),
    sa.column("first_missed_at", sa.DateTime(timezone=True)),
    sa.column("last_missed_at", sa.DateTime(timezone=True)),
    sa.column("due_at", sa.DateTime(timezone=True)),
    sa.column("assignee", sa.String),
    sa.column("last_call_id", sa.String),
    sa.column("closed_at", sa.DateTime(timezone=True)),
    sa.column("resolution", sa.String),
    sa.column("note", sa.Text),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
calls = sa.table("calls", sa.column("callback_task_id", sa.String))


def upgrade() -> None:
    merge_duplicate_open_tasks(op.get_bind(), datetime.now(UTC))
    op.create_index(
        INDEX, "callback_tasks", ["number"], unique=True, sqlite_where=OPEN, postgresql_where=OPEN
    )


def downgrade() -> None:
    # Merged tasks stay merged: their counts live on in the kept task.
    op.drop_index(INDEX, table_name="callback_tasks")


def merge_duplicate_open_tasks(bind: sa.Connection, now: datetime) -> None:
    numbers = (
        bind.execute(
            sa.select(tasks.c.number)
            .where(tasks.c.status == "open")
            .group_by(tasks.c.number)
            .having(sa.func.count() > 1)
        )
        .scalars()
        .all()
    )
    for number in numbers:
        rows = bind.execute(
            sa.select(tasks)
            .where(tasks.c.number == number, tasks.c.status == "open")
            .order_by(tasks.c.first_missed_at, tasks.c.id)
        ).all()
        _merge(bind, [row._asdict() for row in rows], now)


def _merge(bind: sa.Connection, group: list[dict[str, Any]], now: datetime) -> None:
    kept, others = group[0], group[1:]
    latest = max(group, key=lambda t: t["last_missed_at"])
    notes = [t["note"] for t in group if t["note"]]
    bind.execute(
        tasks.update()
        .where(tasks.c.id == kept["id"])
        .values(
            missed_calls=sum(t["missed_calls"] for t in group),
            last_missed_at=latest["last_missed_at"],
            last_call_id=latest["last_call_id"],
            due_at=min(t["due_at"] for t in group),
            assignee=next((t["assignee"] for t in group if t["assignee"]), None),
            note="\n".join(notes) if notes else None,
            updated_at=now,
        )
    )
    for other in others:
        said = f"merged into task {kept['id']} (one open task per number)"
        bind.execute(
            tasks.update()
            .where(tasks.c.id == other["id"])
            .values(
                status="cancelled",
                resolution="merged",
                note=f"{other['note']}\n{said}" if other["note"] else said,
                closed_at=now,
                updated_at=now,
            )
        )
    bind.execute(
        calls.update()
        .where(calls.c.callback_task_id.in_([t["id"] for t in others]))
        .values(callback_task_id=kept["id"])
    )
