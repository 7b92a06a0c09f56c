"""job_run: longer period keys (escalation items) and a status (done / skipped)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_run") as batch:
        batch.alter_column(
            "period", existing_type=sa.String(32), type_=sa.String(64), existing_nullable=False
        )
        batch.add_column(sa.Column("status", sa.String(8), nullable=False, server_default="done"))


def downgrade() -> None:
    with op.batch_alter_table("job_run") as batch:
        batch.drop_column("status")
        batch.alter_column(
            "period", existing_type=sa.String(64), type_=sa.String(32), existing_nullable=False
        )
