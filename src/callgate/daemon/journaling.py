"""Writes every call's history to the journal, off the call path.

The engine and the ARI adapter hand records to :class:`CallJournal` without waiting; one writer
task stores them in order. A database that is slow or away delays the journal, never a 112
call: a record the database cannot take now stays at the head of the queue and is tried again
with backoff until it is written (:mod:`callgate.backlog`), so a call's start is always written
before its later records. Only a record the database refuses as such is logged and dropped.

Each record is data (:class:`JournalWrite`), applied by :func:`apply`, so that what is still
queued at a stop can be spooled to disk and written at the next start (:mod:`callgate.spool`).
Replaying is safe: the journal's writers are idempotent (a call already started is not started
again, a transition or call-taker already recorded is not recorded twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

from callgate.backlog import DatabaseStatus, write_until_stored
from callgate.core.commands import CallBlocked, CallEnded, CallScreened, CallStateChanged
from callgate.core.supervision import SupervisorAnswered
from callgate.ports import (
    AgencyConnected,
    AgentConnected,
    CallEndedOutsideCore,
    CallRecorded,
    CallStarted,
    Observed,
    OpenCall,
    RecordingFailed,
    RecordingInfo,
    SupervisorMonitoring,
    start_of,
)
from callgate.spool import JsonObject, Spool
from callgate.storage.journal import Journal
from callgate.storage.records import SUPERVISOR_ROLE

log = logging.getLogger(__name__)

WRITER = "journal"
#: A supervisor's steps on a call are rows of its call-takers (``agent_assigned``) with the
#: supervisor as ``agent_id`` and a role ``supervisor:<step>`` (:data:`SUPERVISOR_ROLE`), as an
#: agency's is; the journal keeps a role's first time per supervisor and call.
#: The journal's role column holds this many characters.
ROLE_LENGTH = 32

#: The journal's writers a record calls (:class:`~callgate.storage.journal.Journal`'s methods).
Op = Literal[
    "call_started",
    "agent_assigned",
    "call_state",
    "call_ended",
    "recording_ready",
    "recording_failed",
]
OPS: tuple[Op, ...] = get_args(Op)
#: A field's value: times are Unix seconds (``at``, ``answered_at``).
Value = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class JournalWrite:
    """One record for the journal: ``Journal.<op>(call_id, **fields)``, times as Unix seconds."""

    call_id: str
    op: Op
    fields: dict[str, Value] = field(default_factory=dict)

    def to_json(self) -> JsonObject:
        return {"call_id": self.call_id, "op": self.op, "fields": self.fields}

    @classmethod
    def from_json(cls, data: JsonObject) -> JournalWrite:
        """A record from :meth:`to_json`; ``ValueError`` if it is not one."""
        call_id, op, fields = data["call_id"], data["op"], data["fields"]
        if not isinstance(call_id, str) or op not in OPS or not isinstance(fields, dict):
            raise ValueError(f"not a journal record: {data!r}")
        if not all(isinstance(v, str | int | float | bool | None) for v in fields.values()):
            raise ValueError(f"journal record with a field that is not a value: {data!r}")
        return cls(call_id, op, fields)


async def apply(journal: Journal, write: JournalWrite) -> object:
    """Write ``write`` to ``journal``. ``ValueError`` when a field is missing or of the wrong
    type (a record from another version): dropped as any record the journal refuses."""
    f, call_id = _Fields(write), write.call_id
    match write.op:
        case "call_started":
            return await journal.call_started(
                call_id,
                caller=f.text("caller"),
                caller_sent=f.text("caller_sent"),
                dialed=f.text("dialed"),
                priority=f.integer("priority"),
                category=f.text("category"),
                identity=f.text_or_none("identity"),
                at=f.time("at"),
            )
        case "agent_assigned":
            return await journal.agent_assigned(
                call_id, agent_id=f.text("agent_id"), at=f.time("at"), role=f.text("role")
            )
        case "call_state":
            return await journal.call_state(
                call_id,
                at=f.time("at"),
                from_state=f.text_or_none("from_state"),
                to_state=f.text("to_state"),
                trigger=f.text("trigger"),
            )
        case "call_ended":
            priority = f.get("priority")
            await journal.call_ended(
                call_id,
                at=f.time("at"),
                outcome=f.text("outcome"),
                answered_at=f.time_or_none("answered_at"),
                answered_by=f.text_or_none("answered_by"),
                destination=f.text_or_none("destination"),
                category=f.text_or_none("category"),
                priority=None if priority is None else f.integer("priority"),
                if_open=f.get("if_open") is True,
            )
            return None
        case "recording_ready":
            return await journal.recording_ready(
                call_id,
                path=f.text("path"),
                sha256=f.text("sha256"),
                size_bytes=f.integer("size_bytes"),
                duration_s=f.number("duration_s"),
                at=f.time("at"),
            )
        case "recording_failed":
            return await journal.recording_failed(call_id, reason=f.text("reason"), at=f.time("at"))


class _Fields:
    """Typed reads of a record's fields (``ValueError`` for a missing or mistyped one)."""

    def __init__(self, write: JournalWrite) -> None:
        self._write = write

    def get(self, name: str) -> Value:
        return self._write.fields.get(name)

    def _bad(self, name: str, kind: str) -> ValueError:
        w = self._write
        return ValueError(f"{w.op} record of {w.call_id}: {name} is not {kind}")

    def text(self, name: str) -> str:
        value = self.get(name)
        if not isinstance(value, str):
            raise self._bad(name, "a string")
        return value

    def text_or_none(self, name: str) -> str | None:
        return None if self.get(name) is None else self.text(name)

    def integer(self, name: str) -> int:
        value = self.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._bad(name, "an integer")
        return value

    def number(self, name: str) -> float:
        value = self.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self._bad(name, "a number")
        return float(value)

    def time(self, name: str) -> datetime:
        return _at(self.number(name))

    def time_or_none(self, name: str) -> datetime | None:
        return None if self.get(name) is None else self.time(name)


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class CallJournal:
    """An ordered, non-blocking writer in front of :class:`~callgate.storage.Journal`.

    ``spool``: the folder (``[storage] spool_dir``) where records still queued at
    :meth:`close` wait for the next start (``journal.jsonl``); None keeps nothing.
    """

    def __init__(
        self, journal: Journal, status: DatabaseStatus | None = None, *, spool: Path | None = None
    ) -> None:
        self.journal = journal
        #: Shared with the other writers: the database's health, retry pace and queue bound.
        self.status = status or DatabaseStatus()
        self._queue: asyncio.Queue[JournalWrite] = asyncio.Queue(self.status.max_backlog)
        self._writing: JournalWrite | None = None  # taken from the queue, not yet written
        #: Calls with an end queued here, not yet written: not open, whatever the journal says.
        self._ending: Counter[str] = Counter()
        self.status.register(WRITER, lambda: self._queue.qsize() + (self._writing is not None))
        self.spool = Spool(spool, WRITER, JournalWrite.to_json, JournalWrite.from_json)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Queue what the last stop spooled, then start writing (before any new record)."""
        for write in self.spool.load():
            if not self._put(write):
                self.spool.done()  # dropped (a smaller max_backlog than before): not coming
        self._task = asyncio.create_task(self._writer(), name="journal-writer")

    async def close(self, drain_seconds: float = 10.0) -> None:
        """Write what is queued (for up to ``drain_seconds``), then stop; what is left (the
        database still away) is spooled for the next start."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), drain_seconds)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        left = [] if self._writing is None else [self._writing]
        while not self._queue.empty():
            left.append(self._queue.get_nowait())
            self._queue.task_done()
        self._writing = None
        self._ending.clear()
        self.spool.save(left)

    def spool_held(self) -> bool:
        """At a fenced leader's exit (:func:`callgate.daemon.leadership.fenced`): spool what is
        queued, the record being written first, without waiting and without the database (the
        process ends right after, with no orderly stop). Written at this node's next start as
        leader, as after :meth:`close`; replaying is safe (idempotent writers). True when kept
        (or none)."""
        left = [] if self._writing is None else [self._writing]
        while not self._queue.empty():
            left.append(self._queue.get_nowait())
            self._queue.task_done()
        self._writing = None
        # Nothing held: the spool file (if any) is left as it is; save([]) would remove it,
        # and after close() it holds what close() kept.
        return self.spool.save(left) if left else True

    def _put(self, write: JournalWrite) -> bool:
        try:
            self._queue.put_nowait(write)
        except asyncio.QueueFull:
            self.status.overflowed(WRITER, call_id=write.call_id)
            return False
        if write.op == "call_ended":
            self._ending[write.call_id] += 1
        return True

    def _taken(self, write: JournalWrite) -> None:
        """``write`` left the queue (written, refused or spooled)."""
        if write.op == "call_ended":
            self._ending[write.call_id] -= 1
            if self._ending[write.call_id] <= 0:
                del self._ending[write.call_id]

    async def open_calls(self) -> list[OpenCall]:
        """The journal's calls started and not ended, but for those whose end is queued here
        (the database behind or away): what the ARI adapter asks at each (re)connection."""
        return [
            OpenCall(
                r.call_id,
                max([r.started_at, *(t.at for t in r.transitions)]),
                recorded=r.recording is not None,
            )
            for r in await self.journal.open_calls()
            if r.call_id not in self._ending
        ]

    async def _writer(self) -> None:
        while True:
            write = await self._queue.get()
            self._writing = write
            # One record at a time, in order: while it waits for the database, so does
            # every record behind it (the same call's included).
            await write_until_stored(
                self.status,
                functools.partial(apply, self.journal, write),
                writer=WRITER,
                call_id=write.call_id,
            )
            self._writing = None
            self._taken(write)
            self._queue.task_done()
            self.spool.done()

    # -- what the engine tells its observers -----------------------------------------

    async def notification(self, note: Observed) -> None:
        """The one way in: the core's notifications and the daemon's records, in order."""
        if isinstance(note, CallStateChanged):
            fields: dict[str, Value] = {
                "at": note.at,
                "from_state": note.old.value,
                "to_state": note.new.value,
                "trigger": note.cause,
            }
            self._put(JournalWrite(note.call_id, "call_state", fields))
        elif isinstance(note, CallEnded):
            fields = {
                "at": note.ended_at,
                "outcome": note.outcome.value,
                "answered_at": note.answered_at,
                "answered_by": note.agent_id,
                "destination": note.destination,
                "category": note.category,
                "priority": note.priority,
            }
            self._put(JournalWrite(note.call_id, "call_ended", fields))
        elif isinstance(note, CallBlocked):
            # The row the call's start made ends BLOCKED, as the caller never queued.
            self._ended_outside_core(note.call_id, note.outcome, note.at)
        elif isinstance(note, CallScreened):
            # A new call's row, before any of its moves (the core sends this first).
            self._started(start_of(note))
        elif isinstance(note, CallStarted):
            self._started(note)
        elif isinstance(note, AgentConnected):
            self._assigned(note.call_id, note.agent_id, note.at, "call-taker")
        elif isinstance(note, AgencyConnected):
            self._assigned(note.call_id, note.agency, note.at, "agency")
        elif isinstance(note, SupervisorAnswered):
            if note.answer == "ok":
                detail = (
                    f"{note.action}:{note.agent_id}" if note.action == "assign" else note.action
                )
                self._supervisor(note.call_id, note.by, note.at, detail)
        elif isinstance(note, SupervisorMonitoring):
            if note.step in ("joined", "left"):
                self._supervisor(note.call_id, note.by, note.at, f"{note.mode}:{note.step}")
        elif isinstance(note, CallRecorded):
            self._recording(note.info, note.at)
        elif isinstance(note, RecordingFailed):
            self._recording_failed(note.call_id, note.reason, note.at)
        elif isinstance(note, CallEndedOutsideCore):
            # A conversation adopted after a restart, or a caller gone before the core had it.
            self._ended_outside_core(
                note.call_id, note.outcome, note.at, note.answered_by, note.answered_at
            )

    def _started(self, start: CallStarted) -> None:
        self._put(
            JournalWrite(
                start.call_id,
                "call_started",
                {
                    "caller": start.caller,
                    "caller_sent": start.caller_sent,
                    "dialed": start.dialed,
                    "priority": start.priority,
                    "category": start.category,
                    "identity": start.identity,
                    "at": start.at,
                },
            )
        )

    def _assigned(self, call_id: str, agent_id: str, at: float, role: str) -> None:
        fields: dict[str, Value] = {"agent_id": agent_id, "at": at, "role": role}
        self._put(JournalWrite(call_id, "agent_assigned", fields))

    def _supervisor(self, call_id: str, by: str, at: float, detail: str) -> None:
        role = f"{SUPERVISOR_ROLE}{detail}"
        if len(role) > ROLE_LENGTH:  # a long call-taker id: the step without it
            role = role[:ROLE_LENGTH].rpartition(":")[0]
        self._assigned(call_id, by or "-", at, role)

    def _ended_outside_core(
        self,
        call_id: str,
        outcome: str,
        at: float,
        answered_by: str | None = None,
        answered_at: float | None = None,
    ) -> None:
        """A call the core did not end ended: a conversation adopted after a restart, a
        blocked caller's call, a caller gone during set-up, or a call found gone at a
        (re)connection. Only an open call is closed: an end the call already has (written by
        the process before, or still in this queue ahead of this one) is never overwritten.
        Its answer is the one the journal holds (written before, or queued ahead of this);
        ``answered_by``/``answered_at`` (an adoption's, from Asterisk) only if it has none."""
        fields: dict[str, Value] = {"at": at, "outcome": outcome, "if_open": True}
        if answered_by is not None:
            fields |= {"answered_by": answered_by, "answered_at": answered_at}
        self._put(JournalWrite(call_id, "call_ended", fields))

    def _recording(self, info: RecordingInfo, at: float) -> None:
        fields: dict[str, Value] = {
            "path": str(info.path),
            "sha256": info.sha256,
            "size_bytes": info.size,
            "duration_s": info.duration_s,
            "at": at,
        }
        self._put(JournalWrite(info.call_id, "recording_ready", fields))
        if info.unsealed is not None:
            # The call's row keeps the hash (retention still deletes the file) and says why the
            # file is not sealed.
            self._put(
                JournalWrite(info.call_id, "recording_failed", {"reason": info.unsealed, "at": at})
            )

    def _recording_failed(self, call_id: str, reason: str, at: float) -> None:
        self._put(JournalWrite(call_id, "recording_failed", {"reason": reason, "at": at}))
