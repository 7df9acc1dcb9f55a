"""a partial unique index, one open callback task per number

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 11:00:00
"""

# Placeholder reserved by the lead for h5 (issue 9 part 6); fill in upgrade(), or leave it a no-op.

from __future__ import annotations

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
