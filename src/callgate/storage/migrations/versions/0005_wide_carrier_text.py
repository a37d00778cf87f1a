"""Columns that hold what a carrier or a client sends made wide enough for it: on PostgreSQL a
caller ID longer than ``VARCHAR(64)`` made the database refuse the call's start, and the whole
call was lost from the journal. The raw caller ID and the dialed number become ``TEXT``; the
indexed caller, identity and block key, and the names of who did something, become
``VARCHAR(255)`` (the journal clips anything longer, with a warning, rather than lose the row).

Only widening: no value changes, and on PostgreSQL widening a ``VARCHAR`` or making it ``TEXT``
rewrites no table. SQLite never enforced the widths; batch mode copies its tables.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

#: (table, column, nullable, width before, type after): the same list for both directions.
WIDENED: tuple[tuple[str, str, bool, int, sa.types.TypeEngine[str]], ...] = (
    ("calls", "caller", False, 64, sa.String(length=255)),
    ("calls", "caller_sent", False, 64, sa.Text()),
    ("calls", "dialed", False, 64, sa.Text()),
    ("calls", "answered_by", True, 64, sa.String(length=255)),
    ("calls", "destination", True, 128, sa.String(length=255)),
    ("calls", "identity", True, 96, sa.String(length=255)),
    ("call_agents", "agent_id", False, 64, sa.String(length=255)),
    ("call_annotations", "disposition_by", True, 64, sa.String(length=255)),
    ("call_annotations", "incident_id", True, 128, sa.String(length=255)),
    ("call_annotations", "callback_by", True, 64, sa.String(length=255)),
    ("caller_blocks", "key", False, 96, sa.String(length=255)),
    ("caller_blocks", "by", False, 64, sa.String(length=255)),
    ("caller_blocks", "lifted_by", True, 64, sa.String(length=255)),
    ("callback_tasks", "number", False, 64, sa.String(length=255)),
)


def _alter(*, narrow: bool) -> None:
    # One batch per table: on SQLite each batch copies the table, and a year of calls is big.
    tables = list(dict.fromkeys(table for table, *_ in WIDENED))
    for table in reversed(tables) if narrow else tables:
        with op.batch_alter_table(table) as batch:
            for name, column, nullable, before, after in WIDENED:
                if name == table:
                    wide, narrowed = after, sa.String(length=before)
                    batch.alter_column(
                        column,
                        existing_type=wide if narrow else narrowed,
                        type_=narrowed if narrow else wide,
                        existing_nullable=nullable,
                    )


def upgrade() -> None:
    _alter(narrow=False)


def downgrade() -> None:
    # Narrowing fails on PostgreSQL if a longer value was stored since: deliberate, a downgrade
    # must not cut callers' numbers silently.
    _alter(narrow=True)
