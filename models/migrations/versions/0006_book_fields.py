"""the team's book: customer tags, soft delete and pool release; member away

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("released_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("released_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_customer_released_by_id_member"),
            "member",
            ["released_by_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("away_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("away_until")
    with op.batch_alter_table("customer", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_customer_released_by_id_member"), type_="foreignkey"
        )
        batch_op.drop_column("released_by_id")
        batch_op.drop_column("released_at")
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("tags")
