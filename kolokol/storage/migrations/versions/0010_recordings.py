"""recordings: the recordings job table, their playback audit, shared app secrets, and calls.branch

``recordings`` holds one row per recorded call (what to acquire, where the worker stands, the result);
``recording_access`` one row per playback, download or link; ``app_secrets`` secrets generated once and
shared by every node. ``calls.branch`` is the call's branch (kolokol.calls.branches), backfilled here from
attribution's ``attr_branch``; calls stored from now on get it from the settings' maps too.

``calls`` gets its column with a plain ADD COLUMN on SQLite as well: ``batch_alter_table`` would rebuild the
table and drop migration 0009's triggers. Nothing stored is rewritten but the new column.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 21:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("branch", sa.String(length=100), nullable=True))
    op.create_index("ix_calls_branch", "calls", ["branch"])
    op.execute("UPDATE calls SET branch = attr_branch WHERE attr_branch IS NOT NULL")

    op.create_table(
        "recordings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("stage", sa.String(length=10), nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("observed", sa.JSON(), nullable=True),
        sa.Column("original_key", sa.String(length=300), nullable=True),
        sa.Column("audio_key", sa.String(length=300), nullable=True),
        sa.Column("mime", sa.String(length=60), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("channels", sa.Integer(), nullable=True),
        sa.Column("peaks", sa.JSON(), nullable=True),
        sa.Column("figures", sa.JSON(), nullable=True),
        sa.Column("branch", sa.String(length=100), nullable=True),
        sa.Column("call_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ready_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_recordings_call_id_calls")),
        sa.UniqueConstraint("call_id", name=op.f("uq_recordings_call_id")),
    )
    op.create_index("ix_recordings_next_attempt_at", "recordings", ["next_attempt_at"])
    op.create_index("ix_recordings_status_next_attempt", "recordings", ["status", "next_attempt_at"])
    op.create_index("ix_recordings_call_started_at", "recordings", ["call_started_at"])

    op.create_table(
        "recording_access",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recording_id", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("who", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=True),
        sa.Column("via", sa.String(length=10), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.Column("range", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recording_access")),
        sa.ForeignKeyConstraint(
            ["recording_id"], ["recordings.id"], name=op.f("fk_recording_access_recording_id_recordings")
        ),
    )
    op.create_index("ix_recording_access_recording_id", "recording_access", ["recording_id"])
    op.create_index("ix_recording_access_at", "recording_access", ["at"])

    op.create_table(
        "app_secrets",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_app_secrets")),
    )


def downgrade() -> None:
    op.drop_table("app_secrets")
    op.drop_index("ix_recording_access_at", table_name="recording_access")
    op.drop_index("ix_recording_access_recording_id", table_name="recording_access")
    op.drop_table("recording_access")
    op.drop_index("ix_recordings_call_started_at", table_name="recordings")
    op.drop_index("ix_recordings_status_next_attempt", table_name="recordings")
    op.drop_index("ix_recordings_next_attempt_at", table_name="recordings")
    op.drop_table("recordings")
    op.drop_index("ix_calls_branch", table_name="calls")
    # SQLite 3.35+ drops a plain column in place (no rebuild: 0009's triggers stay).
    op.drop_column("calls", "branch")
