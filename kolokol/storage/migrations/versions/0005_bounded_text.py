"""lengths and counts bounded on both databases

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 11:00:00
"""

# Placeholder reserved by the lead for h4a (issue 9 part 10); fill in upgrade(), or leave it a no-op.

from __future__ import annotations

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
