"""CAD events: the MQTT outbox and the calls' annotations (disposition, callback, incident).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("stream", sa.String(length=160), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("retain", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_event_outbox_event_id")),
    )
    op.create_index("ix_event_outbox_stream_seq", "event_outbox", ["stream", "seq"])
    op.create_index(op.f("ix_event_outbox_sent_at"), "event_outbox", ["sent_at"])

    op.create_table(
        "call_annotations",
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("disposition", sa.String(length=32), nullable=True),
        sa.Column("disposition_by", sa.String(length=64), nullable=True),
        sa.Column("disposition_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("incident_id", sa.String(length=128), nullable=True),
        sa.Column("incident_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("callback_by", sa.String(length=64), nullable=True),
        sa.Column("callback_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.call_id"],
            name=op.f("fk_call_annotations_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_call_annotations")),
    )


def downgrade() -> None:
    op.drop_table("call_annotations")
    op.drop_index(op.f("ix_event_outbox_sent_at"), table_name="event_outbox")
    op.drop_index("ix_event_outbox_stream_seq", table_name="event_outbox")
    op.drop_table("event_outbox")
