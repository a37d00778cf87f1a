"""The abandoned-call callback worklist as stored: one row per task, one per finished attempt.

The worklist itself is the core's :class:`~callgate.core.worklist.CallbackWorklist`; these
tables are its record (for reports and the audit trail) and let open tasks outlive a restart.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from callgate.core.callbacks import (
    AttemptOutcome,
    AttemptRecord,
    CallbackReason,
    CallbackTask,
    TaskState,
)
from callgate.storage.database import require_aware
from callgate.storage.journal import Journal
from callgate.storage.models import WIDE, Base, Clipped, UTCDateTime

#: States of tasks still to be worked on (reloaded at start).
_OPEN_STATES = (TaskState.OPEN.value, TaskState.DIALLING.value)


class CallbackTaskRow(Base):
    """One number to call back."""

    __tablename__ = "callback_tasks"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[str] = mapped_column(Clipped(WIDE, "callback_tasks.number"), index=True)
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
    agent_id: Mapped[str] = mapped_column(Clipped(64, "callback_attempts.agent_id"))
    note: Mapped[str] = mapped_column(Text)


# -- the worklist's record ---------------------------------------------------------------


async def save_callback_task(journal: Journal, task: CallbackTask) -> None:
    """Store a task snapshot: insert or update its row, append attempts not yet stored.

    Idempotent: saving the same snapshot twice stores each attempt once.
    """
    async with journal.transaction() as session:
        row = await session.get(CallbackTaskRow, task.task_id)
        if row is None:
            row = CallbackTaskRow(task_id=task.task_id)
            session.add(row)
        row.number = task.number
        row.reason = task.reason.value
        row.call_ids = " ".join(task.call_ids)
        row.created_at = _at(task.created_at)
        row.state = task.state.value
        row.next_attempt_at = _at(task.next_attempt_at)
        row.closed_at = None if task.closed_at is None else _at(task.closed_at)
        row.nuisance = task.nuisance
        stored = set(
            (
                await session.scalars(
                    select(CallbackAttemptRow.call_id).where(
                        CallbackAttemptRow.task_id == task.task_id
                    )
                )
            ).all()
        )
        # The task row must exist before its attempts reference it.
        await session.flush()
        for attempt in task.attempts:
            if attempt.call_id in stored:
                continue
            session.add(
                CallbackAttemptRow(
                    task_id=task.task_id,
                    call_id=attempt.call_id,
                    started_at=_at(attempt.started_at),
                    ended_at=_at(attempt.ended_at),
                    outcome=attempt.outcome.value,
                    agent_id=attempt.agent_id,
                    note=attempt.note,
                )
            )


async def open_callback_tasks(journal: Journal) -> list[CallbackTask]:
    """Tasks not yet final (OPEN or DIALLING), oldest first, with their finished attempts."""
    async with journal.transaction() as session:
        rows = (
            await session.scalars(
                select(CallbackTaskRow)
                .where(CallbackTaskRow.state.in_(_OPEN_STATES))
                .order_by(CallbackTaskRow.created_at, CallbackTaskRow.task_id)
            )
        ).all()
        return [await _task(session, row) for row in rows]


async def callback_tasks_between(
    journal: Journal, start: datetime, end: datetime
) -> list[CallbackTask]:
    """Tasks created in ``[start, end)``, oldest first, with their finished attempts."""
    require_aware(start=start, end=end)
    async with journal.transaction() as session:
        rows = (
            await session.scalars(
                select(CallbackTaskRow)
                .where(CallbackTaskRow.created_at >= start, CallbackTaskRow.created_at < end)
                .order_by(CallbackTaskRow.created_at, CallbackTaskRow.task_id)
            )
        ).all()
        return [await _task(session, row) for row in rows]


async def _task(session: AsyncSession, row: CallbackTaskRow) -> CallbackTask:
    attempts = (
        await session.scalars(
            select(CallbackAttemptRow)
            .where(CallbackAttemptRow.task_id == row.task_id)
            .order_by(CallbackAttemptRow.id)
        )
    ).all()
    return CallbackTask(
        task_id=row.task_id,
        number=row.number,
        reason=CallbackReason(row.reason),
        call_ids=tuple(row.call_ids.split()),
        created_at=row.created_at.timestamp(),
        state=TaskState(row.state),
        next_attempt_at=row.next_attempt_at.timestamp(),
        attempts=tuple(
            AttemptRecord(
                a.call_id,
                a.started_at.timestamp(),
                a.ended_at.timestamp(),
                AttemptOutcome(a.outcome),
                a.agent_id,
                a.note,
            )
            for a in attempts
        ),
        closed_at=None if row.closed_at is None else row.closed_at.timestamp(),
        nuisance=row.nuisance,
    )


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
