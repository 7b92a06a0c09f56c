"""the board: a covering index of the stage changes (the funnel's "reached" and "at month start")

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS = ["chat_id", "customer_id", "stage_from", "stage_to", "undone_at", "created_at"]
WHERE = sa.text("stage_to IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_activity_stage_changes",
        "activity",
        COLUMNS,
        sqlite_where=WHERE,
        postgresql_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index("ix_activity_stage_changes", table_name="activity")
