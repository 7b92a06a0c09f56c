"""outbox indexes for per-chat leasing and the last send; maintenance_run (the daily purge's claim)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_status_chat_id", "outbox", ["status", "platform", "chat_external_id", "id"]
    )
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])
    op.create_table(
        "maintenance_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_run")),
        sa.UniqueConstraint("task", "period", name=op.f("uq_maintenance_run_task_period")),
    )


def downgrade() -> None:
    op.drop_table("maintenance_run")
    op.drop_index("ix_outbox_sent_at", "outbox")
    op.drop_index("ix_outbox_status_chat_id", "outbox")
