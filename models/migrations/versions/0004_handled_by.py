"""inbox.handled_by and outbox.sent_by: which process did the work (host:pid); the inbox's per-chat index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("handled_by", sa.String(64), nullable=False, server_default=""))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("sent_by", sa.String(64), nullable=False, server_default=""))
    op.create_index("ix_inbox_chat_status_id", "inbox", ["chat_external_id", "status", "id"])


def downgrade() -> None:
    op.drop_index("ix_inbox_chat_status_id", "inbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("sent_by")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("handled_by")
