"""Records waiting for the database: kept in order, bounded, retried until written.

The journal's writers (the calls' history in :mod:`callgate.daemon.journaling`, CAD's events in
:mod:`callgate.mqtt.publisher`, the callback worklist in
:mod:`callgate.daemon.callback_records`) queue what the daemon reports and store it off the call
path. When the database is away (:class:`~callgate.ports.JournalUnavailable`: stopped, refusing,
locked, disk full) a writer keeps the record at the head of its queue and tries it again with
capped exponential backoff, so nothing behind it (a call's later records) is written before it.
Calls go on being distributed meanwhile; only the records wait.

:class:`DatabaseStatus` is shared by the writers: it says whether the database takes writes and
since when (readiness and the metrics read it), logs one ``ALARM`` line when it stops and one
INFO line when it is back (not one per failed write), and counts records dropped because a
queue was full. The bound (``[storage] max_backlog`` per writer) is far above what an outage of
hours produces, so in practice nothing is dropped; if it ever is, it is an ALARM and a counter,
never silence. What a writer still holds when callgate stops is kept on disk for the next start
(:mod:`callgate.spool`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator

from callgate.logs import LogThrottle
from callgate.ports import JournalError, JournalUnavailable

log = logging.getLogger(__name__)

#: First pause before writing a record again after the database refused it.
FIRST_RETRY_SECONDS = 0.5
#: At most one ALARM per writer this often for records dropped on a full queue.
DROP_ALARM_INTERVAL = 60.0


class DatabaseStatus:
    """Whether the journal's database takes writes, as the writers last found it.

    ``on_change(up, detail)`` is called only when that changes (the composition root passes
    it to the health registry).
    """

    def __init__(
        self,
        on_change: Callable[[bool, str | None], None] | None = None,
        *,
        max_backlog: int = 100_000,
        first_retry: float = FIRST_RETRY_SECONDS,
        max_retry: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_backlog < 1 or first_retry <= 0 or max_retry < first_retry:
            raise ValueError("need max_backlog >= 1 and 0 < first_retry <= max_retry")
        self.on_change = on_change
        self.max_backlog = max_backlog
        "How many records each writer may hold."
        self.first_retry = first_retry
        self.max_retry = max_retry
        self.clock = clock
        self.up = True
        "False from the first write the database refused as unavailable until one succeeds."
        self.since = clock()
        "When ``up`` last changed (Unix time)."
        self.detail: str | None = None
        "Why the database is down (the journal's message: password hidden)."
        self.dropped = 0
        "Records dropped since start: a writer's queue was full, or the database refused them."
        self._backlogs: dict[str, Callable[[], int]] = {}
        self._drop_alarms = LogThrottle(DROP_ALARM_INTERVAL)
        self.stuck = 0
        "Records being retried after the database refused them as unavailable."

    # -- what the writers report -----------------------------------------------------------

    def register(self, writer: str, size: Callable[[], int]) -> None:
        """Count ``writer``'s queue (``size()`` records) in :meth:`backlog`."""
        self._backlogs[writer] = size

    def backlog(self) -> int:
        """Records queued for the database across every writer."""
        return sum(size() for size in self._backlogs.values())

    def failed(self, error: JournalUnavailable) -> None:
        """A write found the database away."""
        self.detail = str(error)
        if not self.up:
            return
        self.up = False
        self.since = self.clock()
        log.error(
            "ALARM: journal database unavailable; records are kept in memory and written when"
            " it is back, calls go on",
            extra={"error": self.detail, "backlog": self.backlog()},
        )
        if self.on_change is not None:
            self.on_change(False, self.detail)

    def succeeded(self) -> None:
        """The database answered a write.

        It is back only once no record is still being retried: on a full disk a write that
        needs no new page (marking events sent) succeeds while every insert still fails, and
        counting that as "back" flapped the status (an ALARM and a "back" line every retry).
        """
        if self.up or self.stuck:
            return
        down_s = round(self.clock() - self.since, 1)
        self.up = True
        self.since = self.clock()
        self.detail = None
        log.info(
            "journal database is back; writing the records kept meanwhile",
            extra={"down_s": down_s, "backlog": self.backlog()},
        )
        if self.on_change is not None:
            self.on_change(True, None)

    def overflowed(self, writer: str, **extra: object) -> None:
        """``writer``'s queue was full: one record dropped, counted and (rate-limited) alarmed."""
        self.dropped += 1
        held_back = self._drop_alarms.admit(writer)
        if held_back is not None:
            log.error(
                "ALARM: database backlog full; record dropped",
                extra={
                    "writer": writer,
                    "max_backlog": self.max_backlog,
                    "dropped_total": self.dropped,
                    "not_logged": held_back,
                    **extra,
                },
            )

    def retry_delays(self) -> Iterator[float]:
        """Pauses between attempts at one record: ``first_retry`` doubling up to ``max_retry``."""
        delay = self.first_retry
        while True:
            yield delay
            delay = min(delay * 2, self.max_retry)


async def write_until_stored(
    status: DatabaseStatus,
    write: Callable[[], Awaitable[object]],
    *,
    records: int = 1,
    **extra: object,
) -> bool:
    """Run ``write`` (of ``records`` records) until the database takes it; True when written.

    While the database is unavailable the write is tried again after each of
    :meth:`DatabaseStatus.retry_delays`, for as long as it takes (cancel to stop). False (and an
    error logged with ``extra``) when the record itself is refused (a bug or bad data): retrying
    that would block every record behind it. Dropped records are counted in
    :attr:`DatabaseStatus.dropped`.
    """
    delays = status.retry_delays()
    retrying = False
    try:
        while True:
            try:
                await write()
            except JournalUnavailable as exc:
                if not retrying:
                    retrying = True
                    status.stuck += 1
                status.failed(exc)
                delay = next(delays)
                log.debug("database write failed; retrying", extra={"retry_in_s": delay, **extra})
                await asyncio.sleep(delay)
                continue
            except JournalError as exc:
                status.stuck -= retrying
                retrying = False
                status.succeeded()  # the database answered; it refused this record
                status.dropped += records
                log.error("database refused a record; dropped", extra={"error": str(exc), **extra})
                return False
            except ValueError as exc:
                status.dropped += records
                log.error("record not valid; dropped", extra={"error": str(exc), **extra})
                return False
            status.stuck -= retrying
            retrying = False
            status.succeeded()
            return True
    finally:
        status.stuck -= retrying  # cancelled (a stop) while retrying
