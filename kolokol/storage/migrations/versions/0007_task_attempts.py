"""callback attempts and undo

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 11:00:00
"""

# Placeholder reserved by the lead for h3 (issue 9 part 4); fill in upgrade(), or leave it a no-op.

from __future__ import annotations

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
