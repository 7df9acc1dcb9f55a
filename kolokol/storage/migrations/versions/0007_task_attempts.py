"""callback attempts and undo

"Not reached" records an attempt and the task comes back later (``attempts``, ``last_attempt_at``,
``last_attempt_by``, ``next_attempt_at``); a close by hand names who did it (``closed_by``) and can be
undone for a few seconds (``undo``); ``version`` orders a task's states for the screens. Only columns are
added, with defaults that describe every stored task as it stands (no attempt yet, version 1): nothing is
rewritten or lost.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_COLUMNS = (
    "closed_by",
    "attempts",
    "last_attempt_at",
    "last_attempt_by",
    "next_attempt_at",
    "version",
    "undo",
)


def upgrade() -> None:
    # batch: SQLite cannot add NOT NULL columns otherwise; on PostgreSQL these are plain ALTER TABLEs.
    with op.batch_alter_table("callback_tasks") as batch:
        batch.add_column(sa.Column("closed_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_attempt_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch.add_column(sa.Column("undo", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("callback_tasks") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
