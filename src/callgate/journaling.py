"""Writes every call's history to the journal, off the call path.

The engine and the ARI adapter hand records to :class:`CallJournal` without waiting; one writer
task stores them in order. A database that is slow or briefly away delays the journal, never a
112 call; a write that fails is logged with the call id and the next one is tried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from callgate.asterisk.calls import CallStart
from callgate.asterisk.recordings import RecordingInfo
from callgate.core.commands import CallEnded, CallStateChanged
from callgate.engine import Notification
from callgate.storage import Journal, JournalError

log = logging.getLogger(__name__)

Write = Callable[[Journal], Awaitable[object]]


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class CallJournal:
    """An ordered, non-blocking writer in front of :class:`~callgate.storage.Journal`."""

    def __init__(
        self,
        journal: Journal,
        *,
        max_backlog: int = 100_000,
        on_health: Callable[[bool, str | None], None] | None = None,
    ) -> None:
        self.journal = journal
        #: Told whether writes succeed (the database's part of readiness).
        self.on_health = on_health
        self._queue: asyncio.Queue[tuple[str, Write]] = asyncio.Queue(max_backlog)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name="journal-writer")

    async def close(self, drain_seconds: float = 10.0) -> None:
        """Write what is queued (for up to ``drain_seconds``), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), drain_seconds)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _put(self, call_id: str, write: Write) -> None:
        try:
            self._queue.put_nowait((call_id, write))
        except asyncio.QueueFull:
            log.error("journal backlog full; record dropped", extra={"call_id": call_id})

    async def _writer(self) -> None:
        while True:
            call_id, write = await self._queue.get()
            try:
                await write(self.journal)
                if self.on_health is not None:
                    self.on_health(True, None)
            except (JournalError, ValueError) as exc:
                log.error("journal write failed", extra={"call_id": call_id, "error": str(exc)})
                if self.on_health is not None:
                    self.on_health(False, str(exc))
            finally:
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

    async def call_ended_outside_core(self, call_id: str, outcome: str, at: float) -> None:
        """A conversation adopted after a restart ended (the core never saw it)."""
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
