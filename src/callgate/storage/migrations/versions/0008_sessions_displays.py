"""Browser sessions and wall screens' device tokens (#24): kept in the journal as digests, so
that a daemon restart or upgrade logs nobody out and a wall screen stays open.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "browser_sessions",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("display", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_browser_sessions")),
    )
    op.create_index("ix_browser_sessions_name_display", "browser_sessions", ["name", "display"])
    op.create_table(
        "display_tokens",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_display_tokens")),
        sa.UniqueConstraint("digest", name=op.f("uq_display_tokens_digest")),
    )


def downgrade() -> None:
    op.drop_table("display_tokens")
    op.drop_index("ix_browser_sessions_name_display", table_name="browser_sessions")
    op.drop_table("browser_sessions")
