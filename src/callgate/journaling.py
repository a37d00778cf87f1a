"""Writes every call's history to the journal, off the call path.

The engine and the ARI adapter hand records to :class:`CallJournal` without waiting; one writer
task stores them in order. A database that is slow or away delays the journal, never a 112
call: a record the database cannot take now stays at the head of the queue and is tried again
with backoff until it is written (:mod:`callgate.backlog`), so a call's start is always written
before its later records. Only a record the database refuses as such is logged and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from callgate.backlog import DatabaseStatus, write_until_stored
from callgate.core.commands import CallBlocked, CallEnded, CallStateChanged
from callgate.ports import CallStart, Notification, RecordingInfo
from callgate.storage.journal import Journal

log = logging.getLogger(__name__)

Write = Callable[[Journal], Awaitable[object]]
WRITER = "journal"


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class CallJournal:
    """An ordered, non-blocking writer in front of :class:`~callgate.storage.Journal`."""

    def __init__(self, journal: Journal, status: DatabaseStatus | None = None) -> None:
        self.journal = journal
        #: Shared with the other writers: the database's health, retry pace and queue bound.
        self.status = status or DatabaseStatus()
        self._queue: asyncio.Queue[tuple[str, Write]] = asyncio.Queue(self.status.max_backlog)
        self._writing = 0  # the record taken from the queue, not yet written
        self.status.register(WRITER, lambda: self._queue.qsize() + self._writing)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name="journal-writer")

    async def close(self, drain_seconds: float = 10.0) -> None:
        """Write what is queued (for up to ``drain_seconds``), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), drain_seconds)
        if self._queue.qsize():
            # The database is still away at stop: the records in memory cannot be kept.
            log.error(
                "ALARM: journal records not written at stop (database unavailable)",
                extra={"records": self._queue.qsize(), "error": self.status.detail},
            )
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _put(self, call_id: str, write: Write) -> None:
        try:
            self._queue.put_nowait((call_id, write))
        except asyncio.QueueFull:
            self.status.overflowed(WRITER, call_id=call_id)

    async def _writer(self) -> None:
        while True:
            call_id, write = await self._queue.get()
            self._writing = 1
            try:
                # One record at a time, in order: while it waits for the database, so does
                # every record behind it (the same call's included).
                await write_until_stored(
                    self.status,
                    functools.partial(write, self.journal),
                    writer=WRITER,
                    call_id=call_id,
                )
            finally:
                self._writing = 0
                self._queue.task_done()

    # -- what the daemon reports -----------------------------------------------------

    async def call_started(self, start: CallStart) -> None:
        self._put(
            start.call_id,
            lambda j: j.call_started(
                start.call_id,
                caller=start.caller,
                caller_sent=start.caller_sent,
                dialed=start.dialed,
                priority=start.priority,
                category=start.category,
                identity=start.identity,
                at=_at(start.at),
            ),
        )

    async def agent_connected(self, call_id: str, agent_id: str, at: float) -> None:
        self._put(call_id, lambda j: j.agent_assigned(call_id, agent_id=agent_id, at=_at(at)))

    async def agency_joined(self, call_id: str, agency: str, hand_off: bool, at: float) -> None:
        self._put(
            call_id, lambda j: j.agent_assigned(call_id, agent_id=agency, at=_at(at), role="agency")
        )

    async def notification(self, note: Notification) -> None:
        if isinstance(note, CallStateChanged):
            self._put(
                note.call_id,
                lambda j: j.call_state(
                    note.call_id,
                    at=_at(note.at),
                    from_state=note.old.value,
                    to_state=note.new.value,
                    trigger=note.cause,
                ),
            )
        elif isinstance(note, CallEnded):
            self._put(
                note.call_id,
                lambda j: j.call_ended(
                    note.call_id,
                    at=_at(note.ended_at),
                    outcome=note.outcome.value,
                    answered_at=None if note.answered_at is None else _at(note.answered_at),
                    answered_by=note.agent_id,
                    destination=note.destination,
                    category=note.category,
                    priority=note.priority,
                ),
            )
        elif isinstance(note, CallBlocked):
            # The row the call's start made ends BLOCKED, as the caller never queued.
            await self.call_ended_outside_core(note.call_id, note.outcome, note.at)

    async def call_ended_outside_core(self, call_id: str, outcome: str, at: float) -> None:
        """A call the core did not end ended: a conversation adopted after a restart, or a
        blocked caller's call."""
        self._put(call_id, lambda j: j.call_ended(call_id, at=_at(at), outcome=outcome))

    async def recording(self, info: RecordingInfo, at: float) -> None:
        self._put(
            info.call_id,
            lambda j: j.recording_ready(
                info.call_id,
                path=str(info.path),
                sha256=info.sha256,
                size_bytes=info.size,
                duration_s=info.duration_s,
                at=_at(at),
            ),
        )
        if info.unsealed is not None:
            # The call's row keeps the hash (retention still deletes the file) and says why the
            # file is not sealed.
            unsealed = info.unsealed
            self._put(
                info.call_id,
                lambda j: j.recording_failed(info.call_id, reason=unsealed, at=_at(at)),
            )

    async def recording_failed(self, call_id: str, reason: str, at: float) -> None:
        self._put(call_id, lambda j: j.recording_failed(call_id, reason=reason, at=_at(at)))
