"""API token expiry, revoking feeds

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 11:00:00
"""

# Placeholder reserved by the lead for h4b (issue 9 part 10); fill in upgrade(), or leave it a no-op.

from __future__ import annotations

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
