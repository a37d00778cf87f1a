"""The managers' reports for the admin port (:mod:`callgate.http.reporting`): the journal read
through :mod:`callgate.reports.reading`, in the centre's zone and shifts
(:mod:`callgate.reports.centre_time`), exactly as ``callgate report`` reads them.

A month of a large centre is tens of thousands of rows turned into figures: never on the
daemon's event loop, which routes the calls. Each report is read in a worker thread with its
own loop and its own read-only connection to the journal (as ``callgate report`` opens it),
at most :data:`AT_ONCE` at a time; the loop only waits for the answer (measured on a busy
2-core host, a month of 9,000 calls: read on the loop it stalled it 117-203 ms, so 16-43 ms
once warm)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from callgate.config import Settings
from callgate.http.reporting import ReportQuery, ReportRoutes
from callgate.ports import JournalError, agent_id_of
from callgate.reports.calltaker_figures import CallTakerReport
from callgate.reports.centre_time import centre_shifts, centre_zone
from callgate.reports.figures import Report
from callgate.reports.payload import calltaker_json, report_json
from callgate.reports.periods import (
    Period,
    ReportUsageError,
    ShiftHours,
    day_period,
    month_period,
    parse_month,
    shift_period,
)
from callgate.reports.reading import (
    ReadOnlyJournal,
    read_calltakers,
    read_report,
    with_readonly_journal,
)
from callgate.reports.report_tables import (
    CALLTAKER_CSV_FILES,
    CSV_FILES,
    calltaker_tables,
    one_csv,
    report_tables,
)

JsonDict = dict[str, Any]


#: Reports read at once; more wait their turn (each is a thread and a connection).
AT_ONCE = 2

T = TypeVar("T")


class ReportService:
    """Reports of a day, a shift, a month or a call-taker from the daemon's journal."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.url = settings.storage.url.get_secret_value()
        self.turns = asyncio.Semaphore(AT_ONCE)
        self.zone = centre_zone(settings)
        self.shifts: tuple[ShiftHours, ...] = centre_shifts(settings)
        self.calltakers = sorted(agent_id_of(e) for e in settings.calltakers.endpoints)
        self.clock = clock

    def options(self) -> JsonDict:
        return {
            "zone": self.zone.key,
            "today": self.clock().astimezone(self.zone).date().isoformat(),
            "shifts": [
                {"name": s.name, "start": f"{s.start:%H:%M}", "end": f"{s.end:%H:%M}"}
                for s in self.shifts
            ],
            "calltakers": self.calltakers,
        }

    def period(self, query: ReportQuery) -> Period:
        """The period ``query`` asks for; :class:`ValueError` (a :class:`ReportUsageError`)
        saying what is wrong."""
        if query.kind == "month" or (query.kind == "calltaker" and query.month):
            if query.month is None:
                raise ReportUsageError("month is required (2026-11)")
            return month_period(parse_month(query.month), self.zone)
        if query.day is None:
            raise ReportUsageError("day is required (2026-11-23)")
        day = _day(query.day)
        if query.kind != "shift":
            return day_period(day, self.zone)
        shift = next((s for s in self.shifts if s.name == query.shift), None)
        if shift is None:
            names = ", ".join(s.name for s in self.shifts)
            raise ReportUsageError(f"shift must be one of {names}")
        return shift_period(day, shift, self.zone)

    async def _read(self, read: Callable[[ReadOnlyJournal, bool], Awaitable[T]]) -> T:
        """``read(journal, callbacks)`` in a worker thread on a read-only journal of its own;
        :class:`ConnectionError` when the journal cannot be read."""

        async with self.turns:
            try:
                return await asyncio.to_thread(asyncio.run, with_readonly_journal(self.url, read))
            except JournalError as exc:
                raise ConnectionError(str(exc)) from None

    async def _calls(self, period: Period) -> Report:
        return await self._read(lambda j, callbacks: read_report(j, period, callbacks=callbacks))

    async def _calltakers(self, period: Period) -> CallTakerReport:
        now = self.clock()
        return await self._read(lambda j, _: read_calltakers(j, period, self.shifts, now=now))

    async def report(self, query: ReportQuery) -> JsonDict:
        period = self.period(query)
        if query.kind == "calltaker":
            agent = _agent(query)
            found = await self._calltakers(period)
            return {"kind": "calltaker", **calltaker_json(found, agent)}
        return {"kind": query.kind, **report_json(await self._calls(period))}

    async def csv(self, query: ReportQuery) -> tuple[str, str]:
        period = self.period(query)
        stamp = period.start.astimezone(self.zone).strftime(
            "%Y-%m" if query.kind == "month" or query.month else "%Y-%m-%d"
        )
        if query.kind == "calltaker":
            agent = _agent(query)
            found = await self._calltakers(period)
            only = replace(
                found,
                calltakers=[r for r in found.calltakers if r.agent_id == agent],
                shifts=[
                    replace(s, calltakers=[r for r in s.calltakers if r.agent_id == agent])
                    for s in found.shifts
                    if any(r.agent_id == agent for r in s.calltakers)
                ],
            )
            text = one_csv(calltaker_tables(only, total=False), CALLTAKER_CSV_FILES)
            return f"laporan-operator-{_safe(agent)}-{stamp}.csv", text
        report = await self._calls(period)
        kind = f"-{_safe(query.shift or '')}" if query.kind == "shift" else ""
        return f"laporan-112-{stamp}{kind}.csv", one_csv(report_tables(report), CSV_FILES)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ReportUsageError(f"{text!r} is not a date (use 2026-11-23)") from None


def _agent(query: ReportQuery) -> str:
    if not query.agent:
        raise ValueError("agent (the call-taker's id) is required")
    return query.agent


def _safe(text: str) -> str:
    """``text`` fit for a file name in a header: letters, digits, ``-`` and ``_`` only."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in text)


def report_routes(settings: Settings) -> ReportRoutes:
    """The report routes for the admin port (the composition root's one call)."""
    return ReportRoutes(ReportService(settings))
