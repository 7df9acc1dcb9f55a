"""API token expiry, revoking feeds

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 11:00:00

API tokens may now expire (`kolokol token create --expires-in`): a nullable column, so every stored token
keeps working as before (null: never expires). Revoking feeds needs no schema: the feed re-checks the
login sessions and tokens that already exist.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
