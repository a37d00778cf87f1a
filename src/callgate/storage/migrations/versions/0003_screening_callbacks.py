"""Screening and callbacks: caller blocks with their audit trail, the callback worklist, and
the carrier's identity of SIM-less callers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("identity", sa.String(length=96), nullable=True))

    op.create_table(
        "caller_blocks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(length=64), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_caller_blocks")),
    )
    op.create_index(op.f("ix_caller_blocks_key"), "caller_blocks", ["key"])

    op.create_table(
        "callback_tasks",
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("call_ids", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("nuisance", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_callback_tasks")),
    )
    op.create_index(op.f("ix_callback_tasks_number"), "callback_tasks", ["number"])
    op.create_index(op.f("ix_callback_tasks_created_at"), "callback_tasks", ["created_at"])
    op.create_index(op.f("ix_callback_tasks_state"), "callback_tasks", ["state"])

    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["callback_tasks.task_id"],
            name=op.f("fk_callback_attempts_task_id_callback_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempts")),
    )
    op.create_index(op.f("ix_callback_attempts_task_id"), "callback_attempts", ["task_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_callback_attempts_task_id"), table_name="callback_attempts")
    op.drop_table("callback_attempts")
    op.drop_index(op.f("ix_callback_tasks_state"), table_name="callback_tasks")
    op.drop_index(op.f("ix_callback_tasks_created_at"), table_name="callback_tasks")
    op.drop_index(op.f("ix_callback_tasks_number"), table_name="callback_tasks")
    op.drop_table("callback_tasks")
    op.drop_index(op.f("ix_caller_blocks_key"), table_name="caller_blocks")
    op.drop_table("caller_blocks")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("identity")
