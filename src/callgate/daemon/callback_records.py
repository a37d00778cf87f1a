"""The abandoned-call callback worklist in the daemon: persisted, restored, asked for by CAD.

:class:`CallbackRecords` is the daemon's whole part once the core runs the worklist
(``AcdConfig.callbacks``: tasks, offers behind the core's one deadline, attempts' outcomes):

- every task change the core reports (``CallbackTaskChanged``) is written to the journal
  (``callback_tasks``, ``callback_attempts``), off the call path, in order, and kept and
  retried while the database is away (:mod:`callgate.backlog`);
- at start the open tasks of earlier runs are read back and handed to the core
  (``CallbacksRestored``: their ids carry on; new ids get this run's prefix);
- snapshots still queued at a stop (the database away) are spooled (``callbacks.jsonl``,
  :mod:`callgate.spool`); at start they count over the journal's rows when the tasks are
  restored, and are written before anything new;
- CAD's ``request-callback`` becomes a ``CallbackRequested`` for the core, with the call's
  caller from the journal for a call the core no longer has.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from pathlib import Path
from typing import Any

from callgate.backlog import DatabaseStatus, write_until_stored
from callgate.core.callbacks import (
    AttemptOutcome,
    AttemptRecord,
    CallbackReason,
    CallbackTask,
    TaskState,
)
from callgate.core.commands import CallbackTaskChanged
from callgate.core.events import CallbackRequested, CallbacksRestored
from callgate.ports import EventSink, JournalError, Observed
from callgate.spool import JsonObject, Spool
from callgate.storage.callbacks import open_callback_tasks, save_callback_task
from callgate.storage.journal import Journal

log = logging.getLogger(__name__)

#: Longest the journal may take to list open tasks at start before callbacks begin without them.
LOAD_TIMEOUT = 10.0
WRITER = "callback-writer"
#: The states of a task the core restores (the journal's open tasks).
_OPEN = (TaskState.OPEN, TaskState.DIALLING)

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
        feed: EventSink,
        *,
        status: DatabaseStatus | None = None,
        spool: Path | None = None,
    ) -> None:
        self.journal = journal
        #: The engine's ``feed``: restored tasks and CAD's requests go to the core.
        self.feed = feed
        #: Shared with the other writers: the database's health, retry pace and queue bound.
        self.status = status or DatabaseStatus()
        self._writes: asyncio.Queue[CallbackTask] = asyncio.Queue(self.status.max_backlog)
        self._writing: CallbackTask | None = None  # taken from the queue, not yet stored
        self.status.register(WRITER, lambda: self._writes.qsize() + (self._writing is not None))
        self.spool = Spool(spool, "callbacks", task_to_json, task_from_json)
        self._writer_task: asyncio.Task[None] | None = None
        #: Calls CAD asked about whose request made (or joined) a task, while it is fed.
        self._accepted: set[str] = set()

    async def start(self) -> None:
        """Hand the open tasks of earlier runs to the core, then start writing (the snapshots
        the last stop spooled first)."""
        if self.journal is None:
            return
        spooled = self.spool.load()
        try:
            stored = await asyncio.wait_for(open_callback_tasks(self.journal), LOAD_TIMEOUT)
        except (TimeoutError, JournalError) as exc:
            log.error(
                "open callback tasks could not be loaded; starting without them",
                extra={"error": str(exc) or type(exc).__name__},
            )
            stored = []
        # The journal as it will be once the spool is written: a task's latest snapshot wins.
        tasks = {t.task_id: t for t in stored} | {t.task_id: t for t in spooled}
        restored = sorted(
            (t for t in tasks.values() if t.state in _OPEN), key=lambda t: (t.created_at, t.task_id)
        )
        if restored:
            await self.feed(CallbacksRestored(tuple(restored)))
        for task in spooled:
            if not self._put(task):
                self.spool.done()  # dropped (a smaller max_backlog than before): not coming
        self._writer_task = asyncio.create_task(self._writer(), name=WRITER)

    async def close(self, drain_seconds: float = 5.0) -> None:
        """Write what is queued (bounded); what the database did not take is spooled. Open
        tasks stay in the journal for the next start."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._writes.join(), drain_seconds)
        if self._writer_task is None:
            return
        self._writer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer_task
        left = [] if self._writing is None else [self._writing]
        while not self._writes.empty():
            left.append(self._writes.get_nowait())
            self._writes.task_done()
        self._writing = None
        self.spool.save(left)

    async def notification(self, note: Observed) -> None:
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
            return  # read from the journal (or the spool) just now
        self._put(task)

    def _put(self, task: CallbackTask) -> bool:
        try:
            self._writes.put_nowait(task)
        except asyncio.QueueFull:
            self.status.overflowed(WRITER, task_id=task.task_id)
            return False
        return True

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
            self._writing = task
            # Snapshots in order: a later state of a task is never overwritten by an earlier
            # one that waited for the database.
            await write_until_stored(
                self.status,
                functools.partial(save_callback_task, journal, task),
                writer=WRITER,
                task_id=task.task_id,
            )
            self._writing = None
            self._writes.task_done()
            self.spool.done()


# -- the spool's lines --------------------------------------------------------------------


def task_to_json(task: CallbackTask) -> JsonObject:
    """A task snapshot as a JSON object (enums by value, times as Unix seconds)."""
    return {
        "task_id": task.task_id,
        "number": task.number,
        "reason": task.reason.value,
        "call_ids": list(task.call_ids),
        "created_at": task.created_at,
        "state": task.state.value,
        "next_attempt_at": task.next_attempt_at,
        "attempt_call_id": task.attempt_call_id,
        "attempt_started_at": task.attempt_started_at,
        "attempts": [
            {
                "call_id": a.call_id,
                "started_at": a.started_at,
                "ended_at": a.ended_at,
                "outcome": a.outcome.value,
                "agent_id": a.agent_id,
                "note": a.note,
            }
            for a in task.attempts
        ],
        "closed_at": task.closed_at,
        "nuisance": task.nuisance,
    }


def task_from_json(data: JsonObject) -> CallbackTask:
    """The snapshot :func:`task_to_json` wrote; ``TypeError``/``ValueError``/``KeyError`` when
    it is not one (the core's dataclasses check no types: the journal would choke later)."""
    call_ids = _typed(data, "call_ids", list)
    return CallbackTask(
        task_id=_typed(data, "task_id", str),
        number=_typed(data, "number", str),
        reason=CallbackReason(data["reason"]),
        call_ids=tuple(_checked(c, str, "call_ids") for c in call_ids),
        created_at=_time(data, "created_at"),
        state=TaskState(data["state"]),
        next_attempt_at=_time(data, "next_attempt_at"),
        attempt_call_id=_typed(data, "attempt_call_id", str | None),
        attempt_started_at=None
        if data["attempt_started_at"] is None
        else _time(data, "attempt_started_at"),
        attempts=tuple(
            AttemptRecord(
                call_id=_typed(a, "call_id", str),
                started_at=_time(a, "started_at"),
                ended_at=_time(a, "ended_at"),
                outcome=AttemptOutcome(a["outcome"]),
                agent_id=_typed(a, "agent_id", str),
                note=_typed(a, "note", str),
            )
            for a in _typed(data, "attempts", list)
        ),
        closed_at=None if data["closed_at"] is None else _time(data, "closed_at"),
        nuisance=_typed(data, "nuisance", bool),
    )


def _typed(data: JsonObject, key: str, kind: Any) -> Any:
    return _checked(data[key], kind, key)


def _checked(value: Any, kind: Any, what: str) -> Any:
    if not isinstance(value, kind):
        raise TypeError(f"{what} is not {kind}: {value!r}")
    return value


def _time(data: JsonObject, key: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} is not a time: {value!r}")
    return float(value)
