"""The leader's fence (#21): one row with the epoch of the newest leader that claimed the
journal; each write of a clustered callgate checks it in its own transaction.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    fence = op.create_table(
        "fence",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fence")),
    )
    op.bulk_insert(fence, [{"id": 1, "epoch": 0}])


def downgrade() -> None:
    op.drop_table("fence")
