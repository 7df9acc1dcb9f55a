"""call tracking: static numbers, sites and their pools, visitor sessions, lease history, costs, and
the call's attribution

New tables only, and nullable columns on ``calls`` (a stored call has no attribution: ``source`` null, as
before): nothing stored is rewritten or lost.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 17:27:11
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("overflow", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leases")),
    )
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.create_index("ix_leases_number_started", ["number", "started_at"], unique=False)
        batch_op.create_index("ix_leases_pool_started", ["pool_id", "started_at"], unique=False)
        batch_op.create_index("ix_leases_session", ["session_id"], unique=False)

    op.create_table(
        "tracking_costs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("medium", sa.String(length=200), nullable=False),
        sa.Column("campaign", sa.String(length=500), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_costs")),
        sa.UniqueConstraint("month", "channel", "source", "medium", "campaign", name="uq_tracking_costs_key"),
    )
    op.create_table(
        "tracking_numbers",
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("branch", sa.String(length=100), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("medium", sa.String(length=200), nullable=True),
        sa.Column("campaign", sa.String(length=500), nullable=True),
        sa.Column("content", sa.String(length=500), nullable=True),
        sa.Column("term", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_tracking_numbers")),
    )
    op.create_table(
        "tracking_sites",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("origins", sa.JSON(), nullable=False),
        sa.Column("hold_seconds", sa.Integer(), nullable=False),
        sa.Column("heartbeat_seconds", sa.Integer(), nullable=False),
        sa.Column("max_lease_seconds", sa.Integer(), nullable=False),
        sa.Column("source_numbers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_sites")),
    )
    op.create_table(
        "visitor_sessions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("medium", sa.String(length=200), nullable=True),
        sa.Column("campaign", sa.String(length=500), nullable=True),
        sa.Column("content", sa.String(length=500), nullable=True),
        sa.Column("term", sa.String(length=500), nullable=True),
        sa.Column("landing_page", sa.String(length=1000), nullable=True),
        sa.Column("referrer", sa.String(length=1000), nullable=True),
        sa.Column("gclid", sa.String(length=200), nullable=True),
        sa.Column("yclid", sa.String(length=200), nullable=True),
        sa.Column("fbclid", sa.String(length=200), nullable=True),
        sa.Column("ga_client_id", sa.String(length=100), nullable=True),
        sa.Column("ym_client_id", sa.String(length=100), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_sessions")),
    )
    with op.batch_alter_table("visitor_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_visitor_sessions_site_created", ["site_id", "created_at"], unique=False)

    op.create_table(
        "tracking_pools",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("branch", sa.String(length=100), nullable=True),
        sa.Column("replaces", sa.JSON(), nullable=False),
        sa.Column("fallback", sa.String(length=40), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["tracking_sites.id"], name=op.f("fk_tracking_pools_site_id_tracking_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_pools")),
        sa.UniqueConstraint("site_id", "name", name="uq_tracking_pools_site_name"),
    )
    op.create_table(
        "pool_numbers",
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("state_reason", sa.String(length=200), nullable=True),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("session_id", sa.String(length=32), nullable=True),
        sa.Column("lease_id", sa.Integer(), nullable=True),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_leased_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["tracking_pools.id"], name=op.f("fk_pool_numbers_pool_id_tracking_pools")
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_pool_numbers")),
    )
    with op.batch_alter_table("pool_numbers", schema=None) as batch_op:
        batch_op.create_index("ix_pool_numbers_pool_leased_until", ["pool_id", "leased_until"], unique=False)

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("attr_kind", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("attr_channel", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("attr_source", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("attr_medium", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("attr_campaign", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("attr_content", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("attr_term", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("attr_landing_page", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("attr_tracking_number", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("attr_site", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("attr_pool", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("attr_branch", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("attr_session", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("attr_confidence", sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f("ix_calls_attr_session"), ["attr_session"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_attr_session"))
        batch_op.drop_column("attr_confidence")
        batch_op.drop_column("attr_session")
        batch_op.drop_column("attr_branch")
        batch_op.drop_column("attr_pool")
        batch_op.drop_column("attr_site")
        batch_op.drop_column("attr_tracking_number")
        batch_op.drop_column("attr_landing_page")
        batch_op.drop_column("attr_term")
        batch_op.drop_column("attr_content")
        batch_op.drop_column("attr_campaign")
        batch_op.drop_column("attr_medium")
        batch_op.drop_column("attr_source")
        batch_op.drop_column("attr_channel")
        batch_op.drop_column("attr_kind")
        batch_op.drop_column("source")

    with op.batch_alter_table("pool_numbers", schema=None) as batch_op:
        batch_op.drop_index("ix_pool_numbers_pool_leased_until")

    op.drop_table("pool_numbers")
    op.drop_table("tracking_pools")
    with op.batch_alter_table("visitor_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_visitor_sessions_site_created")

    op.drop_table("visitor_sessions")
    op.drop_table("tracking_sites")
    op.drop_table("tracking_numbers")
    op.drop_table("tracking_costs")
    with op.batch_alter_table("leases", schema=None) as batch_op:
        batch_op.drop_index("ix_leases_session")
        batch_op.drop_index("ix_leases_pool_started")
        batch_op.drop_index("ix_leases_number_started")

    op.drop_table("leases")
