"""Callback attempts: the worklist's tasks become calls for call-takers, one at a time.

With ``AcdConfig.callbacks`` set (rules in ``callbacks.py``): abandoned calls make tasks,
answered calls cancel them, and a due task becomes an attempt (``PrepareCallback``, a
pseudo-call in the queue, ``DialCallback`` once a call-taker answers it) only while a
call-taker is free, the driver is ready and fewer than ``max_concurrent`` attempts are in
progress: after the waiting 112 calls had their turn. Every change of a task is a
``CallbackTaskChanged`` for the record.

=======================  ===========================================================
Event                    Move
=======================  ===========================================================
CallbackRequested        a task for the call's number (CAD asked)
CallbacksRestored        the open tasks of the run, back from the journal
CallbackFailed           the attempt's outbound call failed: the attempt ends
ReadinessChanged         attempts start (or not) while the driver can carry them out
(a call ends)            an attempt's outcome; a 112 call answered cancels the task;
                         an abandoned one makes a task
=======================  ===========================================================
"""

from __future__ import annotations

from callgate.core.callbacks import AttemptOutcome, CallbackPolicy, CallbackTask, task_id_of
from callgate.core.calls import Call, CallState, CallTrigger
from callgate.core.commands import CallbackTaskChanged, CallEnded, CancelCallback, PrepareCallback
from callgate.core.conversations import Conversations
from callgate.core.events import (
    CallbackFailed,
    CallbackRequested,
    CallbacksRestored,
    ReadinessChanged,
)
from callgate.core.floor import Floor, Out, Table
from callgate.core.offers import Offers
from callgate.core.screening import CATEGORY_REPEAT_NUISANCE
from callgate.core.worklist import CallbackWorklist


class CallbackAttempts:
    """The callback worklist and its attempts in progress (``Floor.attempts``)."""

    def __init__(self, floor: Floor, offers: Offers, conversations: Conversations) -> None:
        self.floor = floor
        self.offers = offers
        self.conversations = conversations
        callbacks = floor.config.callbacks
        self.worklist = None if callbacks is None else CallbackWorklist.run_by(callbacks)
        #: Whether the driver can carry out an attempt now (``ReadinessChanged``).
        self.driver_ready = True

    def table(self) -> Table:
        return {
            CallbackRequested: self.callback_requested,
            CallbacksRestored: self.callbacks_restored,
            CallbackFailed: self.callback_failed,
            ReadinessChanged: self.readiness_changed,
        }

    def deadline(self) -> float | None:
        """When a task is next due (after the driver's latest ``now``)."""
        worklist = self.worklist
        return None if worklist is None else worklist.next_deadline(after=self.floor.now)

    def follow(self, policy: CallbackPolicy | None) -> None:
        """A reloaded configuration's rules, for the next attempts."""
        if self.worklist is not None:
            self.worklist.follow(policy)  # type: ignore[arg-type]

    def callback_requested(self, event: CallbackRequested, now: float, out: Out) -> None:
        worklist = self.worklist
        if worklist is None:
            return
        call = self.floor.calls.get(event.call_id)
        caller, category = (
            (event.caller, event.category)
            if call is None
            else (
                call.caller,
                call.category,
            )
        )
        nuisance = category == CATEGORY_REPEAT_NUISANCE
        task = worklist.dropped(event.call_id, caller, now, nuisance=nuisance)
        self._task_changed(task, "requested", event.call_id, now, out)

    def callbacks_restored(self, event: CallbacksRestored, now: float, out: Out) -> None:
        worklist = self.worklist
        if worklist is None:
            return
        for task in worklist.restore(event.tasks):
            out.append(CallbackTaskChanged(task, "restored", "", now))

    def callback_failed(self, event: CallbackFailed, now: float, out: Out) -> None:
        attempts = self.floor.attempts
        if event.call_id not in attempts:
            return
        attempts[event.call_id] = (event.outcome, event.note)
        self.conversations.caller_gone(self.floor.calls[event.call_id], "CallbackFailed", now, out)

    def readiness_changed(self, event: ReadinessChanged, now: float, out: Out) -> None:
        self.driver_ready = event.ready

    def offer_callbacks(self, now: float, out: Out) -> None:
        """Start attempts of due tasks while a call-taker is free: after the waiting 112
        calls had their turn, so a callback never takes a call-taker a caller could have."""
        floor = self.floor
        worklist = self.worklist
        if worklist is None or not self.driver_ready or not floor.staffed:
            return
        limit = floor.config.callbacks.max_concurrent  # type: ignore[union-attr]
        while len(floor.attempts) < limit and floor.someone_free():
            offerable = worklist.offerable(now)
            if not offerable:
                return
            due = offerable[0]
            arrived = worklist.offer(due.task_id, now)
            call_id = arrived.call_id
            floor.attempts[call_id] = None
            out.append(PrepareCallback(call_id, due.number, arrived.priority))
            task = worklist.task_for(due.number)
            assert task is not None
            out.append(CallbackTaskChanged(task, "offered", call_id, now))
            call = Call(
                call_id,
                caller=arrived.caller,
                caller_name=arrived.caller_name,
                priority=arrived.priority,
                category=arrived.category,
                required_skill=None,
                arrived_at=now,
                seq=next(floor.seq),
            )
            # No max-wait: an attempt never waits (a free call-taker rings for it at once,
            # and one that comes back to the queue is withdrawn).
            floor.calls[call_id] = call
            self.offers.route(call, "CallArrived", now, out)
            self.offers.dispatch("CallArrived", now, out)

    def call_bridged(self, call: Call, now: float, out: Out) -> None:
        """A call reached its call-taker: a 112 call answered cancels its number's task."""
        if self.worklist is not None and call.call_id not in self.floor.attempts:
            self._got_through(call.caller, call.call_id, now, out)

    def call_ended(self, record: CallEnded, taker: str | None, now: float, out: Out) -> None:
        """A call left the core: an attempt's outcome, or a 112 call's effect on the tasks."""
        worklist = self.worklist
        if worklist is None:
            return
        if record.call_id in self.floor.attempts:
            self._attempt_ended(record, taker, now, out)
        elif record.answered_at is not None:
            self._got_through(record.caller, record.call_id, now, out)
        elif record.outcome is CallState.ABANDONED:
            nuisance = record.category == CATEGORY_REPEAT_NUISANCE
            task = worklist.abandoned(record.call_id, record.caller, now, nuisance=nuisance)
            self._task_changed(task, "abandoned", record.call_id, now, out)

    def _got_through(self, caller: str, call_id: str, now: float, out: Out) -> None:
        """A 112 call from ``caller`` was answered: nobody needs to ring them back."""
        worklist = self.worklist
        assert worklist is not None
        open_task = worklist.task_for(caller)
        if open_task is not None and call_id in open_task.call_ids:
            return  # the task is about this very call (CAD asked to call back after it dropped)
        task = worklist.answered(caller, now)
        if task is None:
            return
        self._task_changed(task, "cancelled", call_id, now, out)
        attempt = self.floor.calls[task.attempt_call_id] if task.attempt_call_id else None
        if attempt is not None and attempt.state is not CallState.CONNECTED:
            # Withdrawn; an attempt that reached the number goes on as a conversation.
            self.conversations.caller_gone(attempt, "CallbackCancelled", now, out)
            out.append(CancelCallback(attempt.call_id))

    def withdraw_attempt(self, call: Call, cause: str, now: float, out: Out) -> None:
        """An attempt back in the queue (nobody took it) leaves it: retried later, uncounted,
        rather than waiting in the top class ahead of the 112 callers who arrive meanwhile."""
        self.floor.call_to(call, CallTrigger.CALLER_HANGUP, "CallbackWithdrawn", now, out)
        out.append(CancelCallback(call.call_id))
        self.conversations.end(call, now, out)

    def _attempt_ended(self, record: CallEnded, taker: str | None, now: float, out: Out) -> None:
        worklist = self.worklist
        assert worklist is not None
        call_id = record.call_id
        failure = self.floor.attempts.pop(call_id)
        task_id = task_id_of(call_id)
        if record.answered_at is not None:
            task = worklist.attempt_ended(
                task_id, AttemptOutcome.REACHED, now, agent_id=record.agent_id or ""
            )
            self._task_changed(task, "attempt-ended", call_id, now, out, "reached")
        elif failure is not None:
            outcome, note = failure
            task = worklist.attempt_ended(task_id, outcome, now, agent_id=taker or "", note=note)
            self._task_changed(task, "attempt-ended", call_id, now, out, outcome.value)
        else:
            # Never dialled: no call-taker took it (or it was withdrawn); no attempt counted.
            task = worklist.withdrawn(task_id, now)
            outcome_name = record.outcome.name.lower()
            self._task_changed(task, "not-taken", call_id, now, out, outcome_name)

    def _task_changed(
        self,
        task: CallbackTask | None,
        change: str,
        call_id: str,
        now: float,
        out: Out,
        outcome: str = "",
    ) -> None:
        # Every snapshot goes out in the notification: nothing else reads the closed ones.
        self.worklist.drain_closed()  # type: ignore[union-attr]
        if task is not None:
            out.append(CallbackTaskChanged(task, change, call_id, now, outcome))
