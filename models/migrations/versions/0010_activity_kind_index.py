"""activity by chat, kind and time (new customers per week); outbox by the platform's message id
(the card a tap names)

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
    op.create_index("ix_outbox_platform_message", "outbox", ["platform", "platform_message_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_platform_message", table_name="outbox")
    op.drop_index("ix_activity_chat_kind_created", table_name="activity")
