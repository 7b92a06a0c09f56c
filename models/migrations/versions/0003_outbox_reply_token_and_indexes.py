"""outbox.reply_token (WeCom response_url); indexes for the reports' per-chat time ranges

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("reply_token", sa.Text(), nullable=False, server_default=""))
    op.create_index("ix_activity_chat_created", "activity", ["chat_id", "created_at"])
    op.create_index("ix_customer_chat_status", "customer", ["chat_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_customer_chat_status", "customer")
    op.drop_index("ix_activity_chat_created", "activity")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("reply_token")
