"""stored_file: books sent for /导入 and built by /导出, and the /导入 preview state

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stored_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_external_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("for_message", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("preview_by", sa.String(length=128), nullable=False),
        sa.Column("previewed_at", sa.DateTime(), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_file")),
        sa.UniqueConstraint("key", name=op.f("uq_stored_file_key")),
    )
    op.create_index(
        "ix_stored_file_preview", "stored_file", ["platform", "chat_external_id", "preview_by"]
    )
    op.create_index("ix_stored_file_created_at", "stored_file", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_stored_file_created_at", "stored_file")
    op.drop_index("ix_stored_file_preview", "stored_file")
    op.drop_table("stored_file")
