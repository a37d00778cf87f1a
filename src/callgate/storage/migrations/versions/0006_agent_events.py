"""The call-takers' record: logins, logouts, pauses with their reason, missed rings and the calls
they answered and ended (``agent_events``), for ``callgate report --calltakers``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "agent_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("call_id", sa.String(length=128), nullable=True),
        sa.Column("cause", sa.String(length=64), nullable=False),
        sa.Column("by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_events")),
    )
    # By call-taker over a period (the report), and by time alone (the period's events).
    op.create_index("ix_agent_events_agent_id_at", "agent_events", ["agent_id", "at"])
    op.create_index(op.f("ix_agent_events_at"), "agent_events", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_agent_events_at"), table_name="agent_events")
    op.drop_index("ix_agent_events_agent_id_at", table_name="agent_events")
    op.drop_table("agent_events")
