"""The call-takers' record in the journal: what each call-taker did, kept for the report.

:class:`CallTakerRecords` is an engine observer. Every change the core reports about a
call-taker becomes a row of ``agent_events`` (:mod:`callgate.storage.agent_events`):

============================================  =================================================
the core reports                              the record
============================================  =================================================
``AgentStateChanged`` from LOGGED_OUT         ``login``
``AgentStateChanged`` from WRAP_UP            ``wrap-up-ended`` (then what follows it)
``AgentStateChanged`` to PAUSED               ``pause`` with its reason (``by`` ``callgate`` for
                                              the automatic pause after missed rings)
``AgentStateChanged`` PAUSED -> AVAILABLE     ``unpause``
``AgentStateChanged`` to LOGGED_OUT           ``logout`` (a pause in force ends with it)
``RingMissed``                                ``ring-missed`` with the call and its cause
``CallStateChanged`` to CONNECTED             ``call-answered`` (caller and call-taker bridged)
``CallEnded`` with a call-taker who talked    ``call-ended``
the daemon stops                              ``logout``, cause ``daemon-stopped``, for each
                                              call-taker still logged in (the next start logs
                                              them in again)
============================================  =================================================

The rows are written off the call path, in order, by one writer that keeps them while the
database is away and writes them when it is back (:mod:`callgate.backlog`), as the calls'
history is. ``by`` is who asked, as the core reports it on the change: the admin API's user (a
supervisor, the CLI's mapped user, the wallboard) for a log-in, log-out, pause or unpause they
made, also one applied at the end of a call; ``callgate`` for what the daemon decided itself
(the automatic pause, the logouts at a stop); empty for the call-taker's own feature code.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from callgate.backlog import DatabaseStatus, write_until_stored
from callgate.core.acd import AUTO_PAUSE_REASON
from callgate.core.agents import AgentState
from callgate.core.calls import CallState
from callgate.core.commands import AgentStateChanged, CallEnded, CallStateChanged, RingMissed
from callgate.ports import Observed
from callgate.storage.agent_events import (
    CALL_ANSWERED,
    CALL_ENDED,
    LOGIN,
    LOGOUT,
    PAUSE,
    RING_MISSED,
    UNPAUSE,
    WRAP_UP_ENDED,
    AgentEvent,
    save_agent_event,
)
from callgate.storage.journal import Journal

log = logging.getLogger(__name__)

WRITER = "calltaker-records"
#: Who ``by`` names for what the daemon decided itself.
DAEMON = "callgate"
#: The cause of the logouts written at a stop.
DAEMON_STOPPED = "daemon-stopped"


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def agent_events_of(note: Observed) -> list[AgentEvent]:
    """The record's rows for one notification (none for most)."""
    if isinstance(note, AgentStateChanged):
        return _state_change(note)
    if isinstance(note, RingMissed):
        return [
            AgentEvent(
                _at(note.at), note.agent_id, RING_MISSED, call_id=note.call_id, cause=note.cause
            )
        ]
    if (
        isinstance(note, CallStateChanged)
        and note.new is CallState.CONNECTED
        and note.call_taker is not None
    ):
        return [
            AgentEvent(
                _at(note.at), note.call_taker, CALL_ANSWERED, call_id=note.call_id, cause=note.cause
            )
        ]
    if isinstance(note, CallEnded) and note.agent_id is not None and note.answered_at is not None:
        return [
            AgentEvent(
                _at(note.ended_at),
                note.agent_id,
                CALL_ENDED,
                call_id=note.call_id,
                cause=note.outcome.value,
            )
        ]
    return []


def _state_change(note: AgentStateChanged) -> list[AgentEvent]:
    at, agent, cause = _at(note.at), note.agent_id, note.cause
    old, new = note.old, note.new
    by = note.by or None
    out: list[AgentEvent] = []
    if old is AgentState.LOGGED_OUT:
        out.append(AgentEvent(at, agent, LOGIN, cause=cause, by=by))
    if old is AgentState.WRAP_UP:
        out.append(AgentEvent(at, agent, WRAP_UP_ENDED, cause=cause))
    if new is AgentState.PAUSED:
        if by is None and note.reason == AUTO_PAUSE_REASON:
            by = DAEMON
        out.append(AgentEvent(at, agent, PAUSE, reason=note.reason, cause=cause, by=by))
    elif new is AgentState.LOGGED_OUT:
        out.append(AgentEvent(at, agent, LOGOUT, cause=cause, by=by))
    elif old is AgentState.PAUSED:
        out.append(AgentEvent(at, agent, UNPAUSE, cause=cause, by=by))
    return out


class CallTakerRecords:
    """Writes the call-takers' record to the journal, off the call path, in order."""

    def __init__(
        self,
        journal: Journal,
        *,
        status: DatabaseStatus | None = None,
        clock: Callable[[], float],
    ) -> None:
        self.journal = journal
        #: Shared with the other writers: the database's health, retry pace and queue bound.
        self.status = status or DatabaseStatus()
        self.clock = clock
        self._writes: asyncio.Queue[AgentEvent] = asyncio.Queue(self.status.max_backlog)
        self._writing = 0  # the row taken from the queue, not yet stored
        self.status.register(WRITER, lambda: self._writes.qsize() + self._writing)
        self._task: asyncio.Task[None] | None = None
        #: Call-takers logged in as far as the notifications say, for the logouts at a stop.
        self._logged_in: set[str] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name=WRITER)

    async def close(self, drain_seconds: float = 5.0) -> None:
        """Log out whoever is still logged in (the record's sessions end at the stop), write
        what is queued (for up to ``drain_seconds``), then stop."""
        at = _at(self.clock())
        for agent in sorted(self._logged_in):
            self._put(AgentEvent(at, agent, LOGOUT, cause=DAEMON_STOPPED, by=DAEMON))
        self._logged_in.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._writes.join(), drain_seconds)
        if self._writes.qsize():
            log.error(
                "ALARM: call-taker records not written at stop (database unavailable)",
                extra={"records": self._writes.qsize(), "error": self.status.detail},
            )
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def notification(self, note: Observed) -> None:
        """Engine observer: queue the rows of ``note``; never waits for the database."""
        if isinstance(note, AgentStateChanged):
            if note.new is AgentState.LOGGED_OUT:
                self._logged_in.discard(note.agent_id)
            else:
                self._logged_in.add(note.agent_id)
        for record in agent_events_of(note):
            self._put(record)

    def _put(self, record: AgentEvent) -> None:
        try:
            self._writes.put_nowait(record)
        except asyncio.QueueFull:
            self.status.overflowed(WRITER, agent_id=record.agent_id, agent_event=record.event)

    async def _writer(self) -> None:
        while True:
            record = await self._writes.get()
            self._writing = 1
            try:
                # One row at a time, in order: a pause is never stored after its unpause.
                await write_until_stored(
                    self.status,
                    functools.partial(save_agent_event, self.journal, record),
                    writer=WRITER,
                    agent_id=record.agent_id,
                    agent_event=record.event,
                )
            finally:
                self._writing = 0
                self._writes.task_done()
