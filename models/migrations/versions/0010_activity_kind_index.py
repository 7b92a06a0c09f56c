"""activity by chat, kind and time: the board's and the reports' per-kind windows (new customers)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_activity_chat_kind_created", "activity", ["chat_id", "kind", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_activity_chat_kind_created", table_name="activity")
