"""Indexes on the caller's number and identity: screening looks up every arriving caller's
history by them, and a year of a big centre's calls (Jakarta: ~637k) must not be scanned.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_calls_caller"), "calls", ["caller"])
    op.create_index(op.f("ix_calls_identity"), "calls", ["identity"])


def downgrade() -> None:
    op.drop_index(op.f("ix_calls_identity"), table_name="calls")
    op.drop_index(op.f("ix_calls_caller"), table_name="calls")
