"""cloud PBX webhooks: the event inbox, per-call state, recording references

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("call_id", sa.String(length=200), nullable=False),
        sa.Column("dedupe_key", sa.String(length=400), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("provider", "dedupe_key", name="uq_webhook_events_provider_dedupe_key"),
    )
    op.create_index("ix_webhook_events_provider_call", "webhook_events", ["provider", "call_id"])
    op.create_table(
        "cloud_calls",
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("call_id", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("first_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider", "call_id", name=op.f("pk_cloud_calls")),
    )
    op.create_index("ix_cloud_calls_state_last_event", "cloud_calls", ["state", "last_event_at"])
    op.create_index("ix_cloud_calls_pending", "cloud_calls", ["pending"])
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("recording_ref", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("recording_ref")
    op.drop_index("ix_cloud_calls_pending", table_name="cloud_calls")
    op.drop_index("ix_cloud_calls_state_last_event", table_name="cloud_calls")
    op.drop_table("cloud_calls")
    op.drop_index("ix_webhook_events_provider_call", table_name="webhook_events")
    op.drop_table("webhook_events")
