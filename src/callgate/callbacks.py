"""The abandoned-call callback worklist in the daemon: persisted, restored, asked for by CAD.

:class:`CallbackRecords` is the daemon's whole part once the core runs the worklist
(``AcdConfig.callbacks``: tasks, offers behind the core's one deadline, attempts' outcomes):

- every task change the core reports (``CallbackTaskChanged``) is written to the journal
  (``callback_tasks``, ``callback_attempts``), off the call path, in order, and kept and
  retried while the database is away (:mod:`callgate.backlog`);
- at start the open tasks of earlier runs are read back and handed to the core
  (``CallbacksRestored``: their ids carry on; new ids get this run's prefix);
- CAD's ``request-callback`` becomes a ``CallbackRequested`` for the core, with the call's
  caller from the journal for a call the core no longer has.

:class:`Callbacks` below is the older service that runs the worklist itself (an offering loop
that polls the engine), kept until the ARI adapter carries out the core's callback commands:

- the engine's notifications (it is an engine observer): a 112 call ``ABANDONED`` makes or joins
  a task; a 112 call ``CONNECTED`` cancels its number's task (and withdraws an attempt still
  waiting or ringing); an attempt's own ``CallEnded`` is its outcome;
- CAD's ``request-callback`` command (a connected call that dropped), through a hook;
- an offering loop that, when a task is due, a call-taker is free and fewer than
  ``max_concurrent`` attempts are in progress, lays the attempt out in the ARI adapter
  (:meth:`~callgate.asterisk.ari.adapter.AriAdapter.expect_callback`) and queues it in the ACD as a
  ``callback`` call above waiting 112 calls;
- the journal (``callback_tasks``, ``callback_attempts``): every change is written, off the
  call path, in order, and kept and retried while the database is away
  (:mod:`callgate.backlog`); open tasks are reloaded at start (their ids carry on; new ids get
  this run's prefix, so they never collide with an earlier run's).

Nothing here feeds the engine from inside a notification (the engine is carrying out the
batch that produced it): such work goes to a background task. A notification may be carried
out after the core has moved on (the engine decides under its lock and carries out outside
it), so a call may already be gone from ``acd.calls``; an answered call's ``CallEnded``, which
carries its caller, cancels the number's task too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from callgate.backlog import DatabaseStatus, write_until_stored
from callgate.core.agents import AgentState
from callgate.core.callbacks import (
    CALLBACK_CATEGORY,
    AttemptOutcome,
    CallbackTask,
    CallbackWorklist,
    task_id_of,
)
from callgate.core.calls import CallState
from callgate.core.commands import CallbackTaskChanged, CallEnded, CallStateChanged
from callgate.core.events import CallbackRequested, CallbacksRestored
from callgate.core.screening import CATEGORY_REPEAT_NUISANCE
from callgate.ports import JournalError
from callgate.storage.callbacks import open_callback_tasks, save_callback_task
from callgate.storage.journal import Journal

if TYPE_CHECKING:
    from callgate.config import CallbackSettings
    from callgate.engine import Engine
    from callgate.ports import Notification

log = logging.getLogger(__name__)

#: Longest the offering loop sleeps: call-takers become free without waking it.
POLL_SECONDS = 5.0
#: Longest the journal may take to list open tasks at start before callbacks begin without them.
LOAD_TIMEOUT = 10.0
OFFERING = "callback-offers"
WRITER = "callback-writer"


class CallbackDialer(Protocol):
    """The phone-system side of an attempt (the ARI adapter)."""

    async def expect_callback(self, call_id: str, number: str, priority: int) -> None: ...
    def callback_result(self, call_id: str) -> tuple[AttemptOutcome, str] | None: ...
    async def cancel_callback(self, call_id: str) -> None: ...


#: Where events for the core go (the engine's ``feed``).
Feed = Callable[..., Awaitable[None]]
#: What the log says for each change the core reports.
_CHANGES = {
    "abandoned": "callback task for an abandoned call",
    "requested": "callback task requested by CAD",
    "offered": "callback offered",
    "attempt-ended": "callback attempt ended",
    "not-taken": "callback attempt not taken",
    "cancelled": "callback task cancelled: the number got through",
    "restored": "callback task restored",
}


def run_prefix(now: float) -> str:
    """Task id prefix of one daemon run: ``cb-`` and the start second in base 36."""
    n, digits = int(now), ""
    while True:
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
        if n == 0:
            return f"cb-{digits}-"


class CallbackRecords:
    """Stores the core's callback tasks, restores them at start, passes CAD's requests on."""

    def __init__(
        self,
        journal: Journal | None,
        feed: Feed,
        *,
        status: DatabaseStatus | None = None,
    ) -> None:
        self.journal = journal
        #: The engine's ``feed``: restored tasks and CAD's requests go to the core.
        self.feed = feed
        #: Shared with the other writers: the database's health, retry pace and queue bound.
        self.status = status or DatabaseStatus()
        self._writes: asyncio.Queue[CallbackTask] = asyncio.Queue(self.status.max_backlog)
        self._writing = 0  # the snapshot taken from the queue, not yet stored
        self.status.register(WRITER, lambda: self._writes.qsize() + self._writing)
        self._writer_task: asyncio.Task[None] | None = None
        #: Calls CAD asked about whose request made (or joined) a task, while it is fed.
        self._accepted: set[str] = set()

    async def start(self) -> None:
        """Hand the open tasks of earlier runs to the core, then start writing."""
        if self.journal is None:
            return
        try:
            stored = await asyncio.wait_for(open_callback_tasks(self.journal), LOAD_TIMEOUT)
        except (TimeoutError, JournalError) as exc:
            log.error(
                "open callback tasks could not be loaded; starting without them",
                extra={"error": str(exc) or type(exc).__name__},
            )
            stored = []
        if stored:
            await self.feed(CallbacksRestored(tuple(stored)))
        self._writer_task = asyncio.create_task(self._writer(), name=WRITER)

    async def close(self, drain_seconds: float = 5.0) -> None:
        """Write what is queued (bounded). Open tasks stay in the journal for the next start."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._writes.join(), drain_seconds)
        if self._writer_task is not None:
            self._writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer_task

    async def notification(self, note: Notification) -> None:
        """Engine observer: every task change the core reports is logged and stored."""
        if not isinstance(note, CallbackTaskChanged):
            return
        task = note.task
        extra = {
            "task_id": task.task_id,
            "number": task.number,
            "call_id": note.call_id,
            "state": task.state.value,
            "attempts": len(task.attempts),
        }
        if note.outcome:
            extra["outcome"] = note.outcome
        log.info(_CHANGES.get(note.change, "callback task changed"), extra=extra)
        if note.change == "requested":
            self._accepted.add(note.call_id)
        if note.change == "restored" or self.journal is None:
            return  # read from the journal just now
        try:
            self._writes.put_nowait(task)
        except asyncio.QueueFull:
            self.status.overflowed(WRITER, task_id=task.task_id)

    async def requested(self, call_id: str) -> bool:
        """CAD asked for a callback of ``call_id`` (a connected call that dropped); False if the
        call is not known or its caller cannot be called."""
        caller, category = await self._recorded(call_id)
        self._accepted.discard(call_id)
        # The core prefers what it knows of a call it still has; for an ended one it takes the
        # journal's record. feed() returns once the notifications were told.
        await self.feed(CallbackRequested(call_id, caller, category))
        accepted = call_id in self._accepted
        self._accepted.discard(call_id)
        return accepted

    async def _recorded(self, call_id: str) -> tuple[str, str]:
        if self.journal is None:
            return "", ""
        try:
            record = await self.journal.get_call(call_id)
        except JournalError as exc:
            log.warning("call unknown to callbacks", extra={"call_id": call_id, "error": str(exc)})
            return "", ""
        return ("", "") if record is None else (record.caller, record.category)

    async def _writer(self) -> None:
        journal = self.journal
        assert journal is not None
        while True:
            task = await self._writes.get()
            self._writing = 1
            try:
                # Snapshots in order: a later state of a task is never overwritten by an earlier
                # one that waited for the database.
                await write_until_stored(
                    self.status,
                    functools.partial(save_callback_task, journal, task),
                    writer=WRITER,
                    task_id=task.task_id,
                )
            finally:
                self._writing = 0
                self._writes.task_done()


class Callbacks:
    """Owns the worklist: creates, cancels, offers and records callback tasks."""

    def __init__(
        self,
        settings: CallbackSettings,
        dialer: CallbackDialer,
        journal: Journal | None = None,
        *,
        clock: Callable[[], float] = time.time,
        ready: Callable[[], bool] = lambda: True,
        id_prefix: str | None = None,
        status: DatabaseStatus | None = None,
    ) -> None:
        self.settings = settings
        self.dialer = dialer
        self.journal = journal
        self.clock = clock
        #: Whether attempts may be offered now (ARI connected).
        self.ready = ready
        self.worklist = CallbackWorklist(
            settings.max_attempts,
            settings.retry_delay,
            first_delay=settings.first_delay,
            id_prefix=id_prefix or run_prefix(clock()),
        )
        #: The engine whose ACD takes the attempts; set by the composition root.
        self.engine: Engine | None = None
        self._in_progress: set[str] = set()  # attempt call ids in the ACD
        self._takers: dict[str, str] = {}  # attempt call id -> call-taker who took it
        self._wake = asyncio.Event()
        #: Shared with the other writers: the database's health, retry pace and queue bound.
        self.status = status or DatabaseStatus()
        self._writes: asyncio.Queue[CallbackTask] = asyncio.Queue(self.status.max_backlog)
        self._writing = 0  # the snapshot taken from the queue, not yet stored
        self.status.register(WRITER, lambda: self._writes.qsize() + self._writing)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, *, offering: bool = True) -> None:
        """Reload open tasks from the journal, then start writing and (unless ``offering`` is
        false: tests call :meth:`offer_due` themselves) offering."""
        if self.journal is not None:
            try:
                stored = await asyncio.wait_for(open_callback_tasks(self.journal), LOAD_TIMEOUT)
            except (TimeoutError, JournalError) as exc:
                log.error(
                    "open callback tasks could not be loaded; starting without them",
                    extra={"error": str(exc) or type(exc).__name__},
                )
                stored = []
            for task in self.worklist.restore(stored):
                log.info(
                    "callback task restored",
                    extra={"task_id": task.task_id, "number": task.number},
                )
            self._spawn(self._writer(), WRITER)
        if offering:
            self._spawn(self._offering(), OFFERING)

    async def close(self, drain_seconds: float = 5.0) -> None:
        """Stop offering; write what is queued (bounded). Open tasks stay in the journal."""
        loops = [t for t in self._tasks if t.get_name() in (OFFERING, WRITER)]
        for task in loops:
            if task.get_name() == OFFERING:
                task.cancel()
        work = [t for t in self._tasks if t not in loops]
        if work:  # withdrawals under way
            await asyncio.wait(work, timeout=drain_seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._writes.join(), drain_seconds)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- what happens to calls --------------------------------------------------------------

    async def notification(self, notification: Notification) -> None:
        """Engine observer: abandons make tasks, answered calls cancel them, attempts end."""
        if isinstance(notification, CallStateChanged):
            self._call_state(notification)
        elif isinstance(notification, CallEnded):
            if notification.category == CALLBACK_CATEGORY:
                self._attempt_ended(notification)
            elif notification.answered_at is not None:
                self._got_through(notification.caller, notification.ended_at, notification.call_id)
            elif notification.outcome is CallState.ABANDONED:
                task = self.worklist.abandoned(
                    notification.call_id,
                    notification.caller,
                    notification.ended_at,
                    nuisance=notification.category == CATEGORY_REPEAT_NUISANCE,
                )
                self._record(task, "callback task for an abandoned call", notification.call_id)
        else:
            return
        self._wake.set()

    async def requested(self, call_id: str) -> bool:
        """CAD asked for a callback of ``call_id`` (a connected call that dropped); False if
        the call is not known or its caller cannot be called."""
        caller, category = await self._caller_of(call_id)
        if caller is None:
            return False
        task = self.worklist.dropped(
            call_id, caller, self.clock(), nuisance=category == CATEGORY_REPEAT_NUISANCE
        )
        self._record(task, "callback task requested by CAD", call_id)
        self._wake.set()
        return task is not None

    def _call_state(self, change: CallStateChanged) -> None:
        call = self.engine.acd.calls.get(change.call_id) if self.engine is not None else None
        if call is None:
            return
        if call.category == CALLBACK_CATEGORY:
            if change.new is CallState.CONNECTING and call.agent_id is not None:
                self._takers[change.call_id] = call.agent_id
            elif change.old is CallState.OFFERED and change.new is CallState.QUEUED:
                # Offered because someone was free, not taken: do not let it wait in the top
                # class ahead of the 112 callers who arrive meanwhile. Offered again later.
                self._spawn(self.dialer.cancel_callback(change.call_id), "callback-withdraw")
            return
        if change.new is CallState.CONNECTED:
            self._got_through(call.caller, change.at, change.call_id)

    def _got_through(self, caller: str, at: float, call_id: str) -> None:
        """A 112 call from ``caller`` was answered: nobody needs to ring them back."""
        open_task = self.worklist.task_for(caller)
        if open_task is not None and call_id in open_task.call_ids:
            return  # the task is about this very call (CAD asked to call back after it dropped)
        task = self.worklist.answered(caller, at)
        if task is None:
            return
        self._record(task, "callback task cancelled: the number got through", call_id)
        if task.attempt_call_id is not None:
            # Not from here (the engine is carrying out this notification): it feeds the engine.
            self._spawn(self.dialer.cancel_callback(task.attempt_call_id), "callback-withdraw")

    def _attempt_ended(self, ended: CallEnded) -> None:
        call_id = ended.call_id
        self._in_progress.discard(call_id)
        agent_id = self._takers.pop(call_id, "")
        result = self.dialer.callback_result(call_id)
        task_id = task_id_of(call_id)
        now = ended.ended_at
        if ended.outcome is CallState.COMPLETED and ended.answered_at is not None:
            task = self.worklist.attempt_ended(
                task_id, AttemptOutcome.REACHED, now, agent_id=ended.agent_id or agent_id
            )
            self._record(task, "callback attempt ended", call_id, outcome="reached")
        elif result is not None:
            outcome, note = result
            task = self.worklist.attempt_ended(task_id, outcome, now, agent_id=agent_id, note=note)
            self._record(task, "callback attempt ended", call_id, outcome=outcome.value)
        else:
            # Never dialled: no call-taker took it (or it was withdrawn); no attempt counted.
            task = self.worklist.withdrawn(task_id, now)
            self._record(
                task, "callback attempt not taken", call_id, outcome=ended.outcome.name.lower()
            )

    # -- offering ---------------------------------------------------------------------------

    async def _offering(self) -> None:
        while True:
            try:
                await self.offer_due()
            except Exception:
                # One failed offer must not end callbacks for the rest of the run.
                log.exception("offering callbacks failed")
            self._wake.clear()
            deadline = self.worklist.next_deadline()
            timeout = POLL_SECONDS
            if deadline is not None:
                timeout = min(POLL_SECONDS, max(0.05, deadline - self.clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def offer_due(self) -> int:
        """Offer the tasks that are due, as far as call-takers and ``max_concurrent`` allow."""
        engine = self.engine
        if engine is None or not self.ready():
            return 0
        offered = 0
        now = self.clock()
        for task in self.worklist.offerable(now):
            if len(self._in_progress) >= self.settings.max_concurrent:
                break
            if not self._someone_free(engine):
                break
            arrived = self.worklist.offer(task.task_id, now)
            try:
                await self.dialer.expect_callback(arrived.call_id, task.number, arrived.priority)
            except Exception:
                log.exception("callback could not be laid out", extra={"call_id": arrived.call_id})
                self.worklist.withdrawn(task.task_id, now)
                continue
            self._in_progress.add(arrived.call_id)
            self._record(self.worklist.task_for(task.number), "callback offered", arrived.call_id)
            await engine.feed(arrived)
            offered += 1
        return offered

    @staticmethod
    def _someone_free(engine: Engine) -> bool:
        # Offered only to a free call-taker: with nobody there the ACD would overflow it.
        acd = engine.acd
        return acd.staffed and any(a.state is AgentState.AVAILABLE for a in acd.agents.values())

    # -- record -----------------------------------------------------------------------------

    def _record(
        self, task: CallbackTask | None, what: str, call_id: str, *, outcome: str = ""
    ) -> None:
        self.worklist.drain_closed()  # every snapshot is written below; nothing else reads it
        if task is None:
            return
        extra = {
            "task_id": task.task_id,
            "number": task.number,
            "call_id": call_id,
            "state": task.state.value,
            "attempts": len(task.attempts),
        }
        if outcome:
            extra["outcome"] = outcome
        log.info(what, extra=extra)
        if self.journal is not None:
            try:
                self._writes.put_nowait(task)
            except asyncio.QueueFull:
                self.status.overflowed(WRITER, task_id=task.task_id)

    async def _writer(self) -> None:
        journal = self.journal
        assert journal is not None
        while True:
            task = await self._writes.get()
            self._writing = 1
            try:
                # Snapshots in order: a later state of a task is never overwritten by an earlier
                # one that waited for the database.
                await write_until_stored(
                    self.status,
                    functools.partial(save_callback_task, journal, task),
                    writer=WRITER,
                    task_id=task.task_id,
                )
            finally:
                self._writing = 0
                self._writes.task_done()

    async def _caller_of(self, call_id: str) -> tuple[str | None, str]:
        if self.engine is not None:
            live = self.engine.acd.calls.get(call_id)
            if live is not None:
                return live.caller, live.category
        if self.journal is None:
            return None, ""
        try:
            record = await self.journal.get_call(call_id)
        except JournalError as exc:
            log.warning("call unknown to callbacks", extra={"call_id": call_id, "error": str(exc)})
            return None, ""
        return (None, "") if record is None else (record.caller, record.category)

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("callback work failed", exc_info=task.exception())
