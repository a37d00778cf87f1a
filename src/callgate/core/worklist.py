"""The abandoned-call callback worklist: the open tasks of one centre, at most one per number.

The rules are at the top of ``callbacks.py`` (beside the policy and the task snapshots this
worklist hands out); the ACD runs the worklist from ``callback_attempts.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import replace

from callgate.core.callbacks import (
    CALLBACK_CATEGORY,
    AttemptOutcome,
    AttemptRecord,
    CallbackPolicy,
    CallbackReason,
    CallbackTask,
    TaskState,
    attempt_call_id,
    check_rules,
)
from callgate.core.calls import Priority
from callgate.core.errors import AcdUsageError
from callgate.core.events import CallArrived
from callgate.core.screening import normalise_number


class CallbackWorklist:
    """The open callback tasks of one centre, at most one per number."""

    def __init__(
        self,
        max_attempts: int = 3,
        retry_delay: float = 120.0,
        *,
        first_delay: float = 0.0,
        id_prefix: str = "cb-",
    ) -> None:
        check_rules(max_attempts, retry_delay, first_delay, id_prefix)
        self.id_prefix = id_prefix
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        #: Seconds from a new task to its first attempt: callers often ring back themselves.
        self.first_delay = first_delay
        self._open: dict[str, CallbackTask] = {}
        self._by_number: dict[str, str] = {}
        self._closed: list[CallbackTask] = []
        self._ids = itertools.count(1)
        # Listing order among tasks created at the same instant: the order they were added.
        self._order = itertools.count()
        self._rank: dict[str, int] = {}

    @classmethod
    def run_by(cls, policy: CallbackPolicy) -> CallbackWorklist:
        """An empty worklist run by ``policy``."""
        return cls(
            policy.max_attempts,
            policy.retry_delay,
            first_delay=policy.first_delay,
            id_prefix=policy.id_prefix,
        )

    def follow(self, policy: CallbackPolicy) -> None:
        """Run by ``policy`` from now on (a reloaded configuration): its attempts, delays and
        retries count for the next attempts; the id prefix stays the run's (ids must not repeat)."""
        self.max_attempts = policy.max_attempts
        self.retry_delay = policy.retry_delay
        self.first_delay = policy.first_delay

    # -- events -------------------------------------------------------------------------

    def abandoned(
        self, call_id: str, caller: str, now: float, *, nuisance: bool = False
    ) -> CallbackTask | None:
        """The caller hung up before a call-taker answered; None if there is nobody to call.

        ``nuisance``: screening found the caller a repeat nuisance (``repeat-nuisance``).
        """
        return self._add(call_id, caller, now, CallbackReason.ABANDONED, nuisance)

    def dropped(
        self, call_id: str, caller: str, now: float, *, nuisance: bool = False
    ) -> CallbackTask | None:
        """A connected call dropped (not ended by the call-taker); None if nobody to call."""
        return self._add(call_id, caller, now, CallbackReason.DROPPED, nuisance)

    def answered(self, caller: str, now: float) -> CallbackTask | None:
        """A call from ``caller`` was answered: cancel its open task and return it, if any.

        If the returned task has an ``attempt_call_id``, that attempt was in progress: the
        daemon withdraws it from the ACD (and hangs up the outbound leg if one exists).
        """
        task_id = self._by_number.get(normalise_number(caller))
        if task_id is None:
            return None
        return self._close(task_id, TaskState.CANCELLED, now)

    def offer(self, task_id: str, now: float) -> CallArrived:
        """Start an attempt: the ``CallArrived`` that queues it for call-takers."""
        task = self._open.get(task_id)
        if task is None or task.state is not TaskState.OPEN:
            raise AcdUsageError(f"callback task {task_id} is not open for an attempt")
        call_id = attempt_call_id(task_id, len(task.attempts) + 1)
        self._open[task_id] = replace(
            task, state=TaskState.DIALLING, attempt_call_id=call_id, attempt_started_at=now
        )
        return CallArrived(
            call_id,
            caller=task.number,
            priority=Priority.NORMAL if task.nuisance else Priority.CALLBACK,
            category=CALLBACK_CATEGORY,
            caller_name=f"CALLBACK {task.number}",
        )

    def attempt_ended(
        self,
        task_id: str,
        outcome: AttemptOutcome,
        now: float,
        *,
        agent_id: str = "",
        note: str = "",
    ) -> CallbackTask | None:
        """Record how the attempt in progress ended; None for a stale report.

        REACHED closes the task; otherwise it is offered again after ``retry_delay`` until
        ``max_attempts`` attempts have failed, then it is closed as GAVE_UP.
        """
        task = self._open.get(task_id)
        if task is None or task.state is not TaskState.DIALLING:
            # The task was cancelled by a call from the same number meanwhile: nothing to do.
            return None
        assert task.attempt_call_id is not None
        assert task.attempt_started_at is not None
        record = AttemptRecord(
            task.attempt_call_id, task.attempt_started_at, now, outcome, agent_id, note
        )
        task = replace(
            task,
            attempts=(*task.attempts, record),
            attempt_call_id=None,
            attempt_started_at=None,
        )
        self._open[task_id] = task
        if outcome is AttemptOutcome.REACHED:
            return self._close(task_id, TaskState.REACHED, now)
        if len(task.attempts) >= self.max_attempts:
            return self._close(task_id, TaskState.GAVE_UP, now)
        task = replace(task, state=TaskState.OPEN, next_attempt_at=now + self.retry_delay)
        self._open[task_id] = task
        return task

    def withdrawn(self, task_id: str, now: float) -> CallbackTask | None:
        """The attempt in progress never reached a call-taker (nobody took the offer, or the
        daemon lost it): back to OPEN after ``retry_delay``, no attempt counted. None if the
        task is not dialling (cancelled meanwhile)."""
        task = self._open.get(task_id)
        if task is None or task.state is not TaskState.DIALLING:
            return None
        task = replace(
            task,
            state=TaskState.OPEN,
            attempt_call_id=None,
            attempt_started_at=None,
            next_attempt_at=now + self.retry_delay,
        )
        self._open[task_id] = task
        return task

    def restore(self, tasks: Iterable[CallbackTask]) -> list[CallbackTask]:
        """Reload open tasks stored by an earlier run, keeping their ids; returns them.

        A task that was DIALLING lost its attempt with the old process (the ACD pseudo-call
        is gone): it is OPEN again, at its ``next_attempt_at``, without an attempt counted.
        """
        restored = []
        for task in tasks:
            if task.state not in (TaskState.OPEN, TaskState.DIALLING):
                raise AcdUsageError(f"callback task {task.task_id} is closed; not restored")
            if task.task_id in self._open or task.number in self._by_number:
                raise AcdUsageError(f"callback task {task.task_id} is already open")
            task = replace(
                task, state=TaskState.OPEN, attempt_call_id=None, attempt_started_at=None
            )
            self._open[task.task_id] = task
            self._by_number[task.number] = task.task_id
            self._rank[task.task_id] = next(self._order)
            restored.append(task)
        return restored

    # -- views --------------------------------------------------------------------------

    def open_tasks(self) -> list[CallbackTask]:
        """Tasks not yet final, oldest first, nuisance ones last (dialling ones included)."""
        return sorted(
            self._open.values(), key=lambda t: (t.nuisance, t.created_at, self._rank[t.task_id])
        )

    def offerable(self, now: float) -> list[CallbackTask]:
        """Open tasks that may be offered at ``now``, in :meth:`open_tasks` order."""
        return [
            t for t in self.open_tasks() if t.state is TaskState.OPEN and t.next_attempt_at <= now
        ]

    def next_deadline(self, after: float | None = None) -> float | None:
        """When a waiting retry next becomes offerable (later than ``after``, if given), or None.

        ``after``: tasks already due wait for a free call-taker, not for a time."""
        times = [
            t.next_attempt_at
            for t in self._open.values()
            if t.state is TaskState.OPEN and (after is None or t.next_attempt_at > after)
        ]
        return min(times) if times else None

    def task_for(self, caller: str) -> CallbackTask | None:
        """The open task for ``caller``'s number, if any."""
        task_id = self._by_number.get(normalise_number(caller))
        return None if task_id is None else self._open[task_id]

    def drain_closed(self) -> list[CallbackTask]:
        """Tasks closed since the last call, in closing order, for the record."""
        closed, self._closed = self._closed, []
        return closed

    # -- internals ----------------------------------------------------------------------

    def _add(
        self, call_id: str, caller: str, now: float, reason: CallbackReason, nuisance: bool
    ) -> CallbackTask | None:
        number = normalise_number(caller)
        if not number:
            return None
        task_id = self._by_number.get(number)
        if task_id is not None:
            task = self._open[task_id]
            if call_id not in task.call_ids:
                task = replace(task, call_ids=(*task.call_ids, call_id), nuisance=nuisance)
                self._open[task_id] = task
            return task
        task_id = f"{self.id_prefix}{next(self._ids)}"
        task = CallbackTask(
            task_id,
            number,
            reason,
            (call_id,),
            now,
            next_attempt_at=now + self.first_delay,
            nuisance=nuisance,
        )
        self._open[task_id] = task
        self._by_number[number] = task_id
        self._rank[task_id] = next(self._order)
        return task

    def _close(self, task_id: str, state: TaskState, now: float) -> CallbackTask:
        task = replace(self._open.pop(task_id), state=state, closed_at=now)
        del self._by_number[task.number]
        del self._rank[task_id]
        self._closed.append(task)
        return task
