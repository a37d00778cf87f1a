"""Initial schema: calls, their transitions, the call-takers involved, recordings.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Revisions use plain SQLAlchemy types, never the models: a migration must keep creating the
# schema of its day however the models change later. ``UTCDateTime`` is ``DateTime(timezone=True)``
# in the database.
revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("caller_sent", sa.String(length=64), nullable=False),
        sa.Column("dialed", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.String(length=64), nullable=True),
        sa.Column("destination", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_calls")),
    )
    op.create_index(op.f("ix_calls_ended_at"), "calls", ["ended_at"])
    op.create_index(op.f("ix_calls_started_at"), "calls", ["started_at"])

    op.create_table(
        "call_agents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.call_id"],
            name=op.f("fk_call_agents_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_agents")),
        sa.UniqueConstraint(
            "call_id", "agent_id", "role", name=op.f("uq_call_agents_call_id_agent_id_role")
        ),
    )
    op.create_index(op.f("ix_call_agents_call_id"), "call_agents", ["call_id"])

    op.create_table(
        "call_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=True),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("trigger", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.call_id"],
            name=op.f("fk_call_transitions_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_transitions")),
    )
    op.create_index(op.f("ix_call_transitions_call_id"), "call_transitions", ["call_id"])

    op.create_table(
        "recordings",
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.call_id"],
            name=op.f("fk_recordings_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_recordings")),
    )
    op.create_index("ix_recordings_status_at", "recordings", ["status", "at"])


def downgrade() -> None:
    op.drop_table("recordings")
    op.drop_table("call_transitions")
    op.drop_table("call_agents")
    op.drop_table("calls")
