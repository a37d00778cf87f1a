"""The abandoned-call callback worklist as stored: one row per task, one per finished attempt.

The worklist itself is the core's :class:`~callgate.core.callbacks.CallbackWorklist`; these
tables are its record (for reports and the audit trail) and let open tasks outlive a restart.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callgate.storage.models import Base, UTCDateTime


class CallbackTaskRow(Base):
    """One number to call back."""

    __tablename__ = "callback_tasks"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(16))
    call_ids: Mapped[str] = mapped_column(Text)  # space-separated, oldest first
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    nuisance: Mapped[bool] = mapped_column(Boolean)


class CallbackAttemptRow(Base):
    """One finished attempt of a task."""

    __tablename__ = "callback_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(
        ForeignKey("callback_tasks.task_id", ondelete="CASCADE"), index=True
    )
    call_id: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
