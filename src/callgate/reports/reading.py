"""A report read from the journal: the rows of a period, then its figures. ``callgate report``
(on its own read-only journal) and the daemon's report pages (on the daemon's) both read
through here, so the same period gives the same figures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from callgate.reports.calltaker_figures import CallTakerReport, build_calltaker_report
from callgate.reports.compute import build_report
from callgate.reports.figures import Report
from callgate.reports.periods import Period, ShiftHours
from callgate.storage.agent_events import (
    agent_events_between,
    handled_calls_between,
    has_agent_events,
)
from callgate.storage.database import JournalError
from callgate.storage.journal import Journal
from callgate.storage.reports import load_report_rows, open_journal_readonly

T = TypeVar("T")
#: The journal a report reads (a name for the daemon's report service, which imports no
#: storage of its own: it reaches the journal only through this module).
ReadOnlyJournal = Journal


async def with_readonly_journal(url: str, read: Callable[[Journal, bool], Awaitable[T]]) -> T:
    """``read(journal, callbacks)`` on the journal at ``url`` opened read-only (never created
    nor migrated; ``callbacks``: it has the callback tables), closed after;
    :class:`~callgate.storage.database.JournalError` when it cannot be read."""
    journal, callbacks = await open_journal_readonly(url)
    try:
        return await read(journal, callbacks)
    finally:
        await journal.close()


async def read_report(
    journal: Journal, period: Period, *, callbacks: bool = True, top: int = 10
) -> Report:
    """The figures of ``period``; ``callbacks``: the journal has the callback tables."""
    calls, tasks, attempts = await load_report_rows(
        journal, period.start, period.end, callbacks=callbacks
    )
    return build_report(period, calls, tasks, attempts, callbacks_available=callbacks, top=top)


async def read_calltakers(
    journal: Journal, period: Period, shifts: Sequence[ShiftHours], *, now: datetime
) -> CallTakerReport:
    """The call-takers' figures of ``period``, per shift of ``shifts``; :class:`JournalError`
    when the journal has no call-takers' record (schema older than 0006)."""
    if not await has_agent_events(journal):
        raise JournalError(
            "this journal has no call-takers' record (schema older than 0006: run the "
            "daemon of this version once to migrate it)"
        )
    found = await agent_events_between(journal, period.start, period.end)
    handled = await handled_calls_between(journal, period.start, period.end)
    return build_calltaker_report(
        period, found.before, found.events, handled, shifts=shifts, now=now
    )
