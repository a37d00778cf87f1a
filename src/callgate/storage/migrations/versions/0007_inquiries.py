"""Inquiries (#23): legal holds on recordings, the inquiry audit trail, and the indexes a search
by call-taker and a call's timeline need on a year of a big centre's calls.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "recording_holds",
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("by", sa.String(length=255), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.call_id"],
            name=op.f("fk_recording_holds_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_recording_holds")),
    )
    op.create_table(
        "inquiry_audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry_audit")),
    )
    op.create_index(op.f("ix_inquiry_audit_at"), "inquiry_audit", ["at"])
    op.create_index("ix_inquiry_audit_call_id_at", "inquiry_audit", ["call_id", "at"])
    op.create_index("ix_calls_answered_by_started_at", "calls", ["answered_by", "started_at"])
    op.create_index(op.f("ix_agent_events_call_id"), "agent_events", ["call_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_agent_events_call_id"), table_name="agent_events")
    op.drop_index("ix_calls_answered_by_started_at", table_name="calls")
    op.drop_index("ix_inquiry_audit_call_id_at", table_name="inquiry_audit")
    op.drop_index(op.f("ix_inquiry_audit_at"), table_name="inquiry_audit")
    op.drop_table("inquiry_audit")
    op.drop_table("recording_holds")
