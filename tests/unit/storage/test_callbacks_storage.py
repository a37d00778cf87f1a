"""The callback worklist's record: task snapshots, attempts, open tasks, a period's tasks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callgate.core.callbacks import AttemptOutcome, TaskState
from callgate.core.worklist import CallbackWorklist
from callgate.storage.callbacks import (
    callback_tasks_between,
    open_callback_tasks,
    save_callback_task,
)
from callgate.storage.journal import Journal

T0 = 1_790_000_000.0


async def test_snapshots_round_trip_and_attempts_are_stored_once(journal: Journal) -> None:
    worklist = CallbackWorklist(max_attempts=3, retry_delay=10.0)
    task = worklist.abandoned("c1", "+6281234567", T0)
    assert task is not None
    await save_callback_task(journal, task)
    worklist.offer(task.task_id, T0 + 1)
    retry = worklist.attempt_ended(task.task_id, AttemptOutcome.BUSY, T0 + 20, note="busy")
    assert retry is not None
    await save_callback_task(journal, retry)
    await save_callback_task(journal, retry)  # idempotent
    assert await open_callback_tasks(journal) == [retry]

    worklist.offer(task.task_id, T0 + 40)
    reached = worklist.attempt_ended(task.task_id, AttemptOutcome.REACHED, T0 + 90, agent_id="1006")
    assert reached is not None
    await save_callback_task(journal, reached)
    assert await open_callback_tasks(journal) == []
    [stored] = await callback_tasks_between(
        journal, datetime.fromtimestamp(T0 - 1, UTC), datetime.fromtimestamp(T0 + 1, UTC)
    )
    assert stored == reached
    assert stored.state is TaskState.REACHED
    assert [(a.call_id, a.outcome, a.agent_id) for a in stored.attempts] == [
        (f"{task.task_id}.1", AttemptOutcome.BUSY, ""),
        (f"{task.task_id}.2", AttemptOutcome.REACHED, "1006"),
    ]
    assert (
        await callback_tasks_between(
            journal, datetime.fromtimestamp(T0 + 1, UTC), datetime.fromtimestamp(T0 + 9, UTC)
        )
        == []
    )


async def test_a_period_needs_aware_times(journal: Journal) -> None:
    with pytest.raises(ValueError, match="naive"):
        await callback_tasks_between(journal, datetime(2026, 1, 1), datetime(2026, 1, 2))
