"""Today's and this shift's figures on the wallboard, from the journal.

The daemon reads the journal's calls of the day (and of the shift on, which may have started the
evening before) once at start (:class:`CallsSince`, a port) and folds each call the core ends into
the same list, so a restart changes nothing on the board. "Today" is the centre's day
(``[centre] timezone``) and "this shift" the roster's shift on now; a call counts in the period in
which it started, as in ``callgate report`` (whose figures these are: calls that ended, answered
within the marks of all of them, abandoned, fallback, nuisance and ghost by screening category;
the worklist's own call-backs are not callers and are left out).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from callgate.core.callbacks import CALLBACK_CATEGORY
from callgate.core.commands import CallEnded
from callgate.core.roster import Roster
from callgate.core.screening import CATEGORY_GHOST, CATEGORY_REPEAT_NUISANCE

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EndedCall:
    """What the figures need of one ended call."""

    call_id: str
    started_at: float
    outcome: str
    category: str
    answer_time: float | None = None


class EndedCallFacts(Protocol):
    """A journal row as :mod:`callgate.storage.reports` reads it (``CallFacts``)."""

    @property
    def call_id(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def started_at(self) -> dt.datetime: ...
    @property
    def ended_at(self) -> dt.datetime | None: ...
    @property
    def outcome(self) -> str | None: ...
    @property
    def answer_time(self) -> float | None: ...


#: The port: the journal's calls started in ``[start, end)``.
CallsSince = Callable[[dt.datetime, dt.datetime], Awaitable[Sequence[EndedCallFacts]]]


def from_journal(row: EndedCallFacts) -> EndedCall | None:
    """A journal row as the figures count it (None: not ended, or a call-back of the worklist)."""
    if row.ended_at is None or row.category == CALLBACK_CATEGORY:
        return None
    return EndedCall(
        row.call_id, row.started_at.timestamp(), row.outcome or "?", row.category, row.answer_time
    )


def from_note(note: CallEnded) -> EndedCall | None:
    """The core's record of an ended call as the figures count it (as the journal keeps it)."""
    if note.category == CALLBACK_CATEGORY:
        return None
    answer = None if note.answered_at is None else max(0.0, note.answered_at - note.arrived_at)
    return EndedCall(note.call_id, note.arrived_at, note.outcome.value, note.category, answer)


@dataclass(frozen=True, slots=True)
class Period:
    """A day or a shift, epoch seconds ``[start, end)``."""

    name: str
    start: float
    end: float


def day_of(now: float, zone: ZoneInfo) -> Period:
    """The centre's day around ``now``."""
    day = dt.datetime.fromtimestamp(now, zone).date()
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return Period(day.isoformat(), start.timestamp(), end.timestamp())


def shift_of(now: float, roster: Roster | None) -> Period | None:
    """The roster's shift on at ``now`` (the one that started last), or None."""
    if roster is None:
        return None
    on = roster.state_at(now).shifts
    if not on:
        return None
    last = max(on, key=lambda s: s.start)
    return Period(last.name, last.start, last.end)


def count(calls: Iterable[EndedCall], period: Period, marks: Sequence[int]) -> JsonDict:
    """The figures of the calls that started in ``period``."""
    mine = [c for c in calls if period.start <= c.started_at < period.end]
    times = [c.answer_time for c in mine if c.answer_time is not None]
    return {
        "calls": len(mine),
        "answered": len(times),
        "within": [[m, sum(1 for t in times if t <= m)] for m in marks],
        "abandoned": sum(1 for c in mine if c.outcome == "ABANDONED"),
        "fallback": sum(1 for c in mine if c.outcome == "FALLBACK"),
        "nuisance": sum(1 for c in mine if c.category == CATEGORY_REPEAT_NUISANCE),
        "ghost": sum(1 for c in mine if c.category == CATEGORY_GHOST),
    }


class BoardFigures:
    """The ended calls of today and of the shift on, and their figures."""

    def __init__(
        self,
        zone: ZoneInfo,
        roster: Callable[[], Roster | None],
        marks: Callable[[], Sequence[int]],
    ) -> None:
        self.zone = zone
        self.roster = roster
        self.marks = marks
        self.calls: list[EndedCall] = []
        #: Whether the journal's calls were read (False: since this daemon started only).
        self.from_journal = False
        self.since: float | None = None

    def periods(self, now: float) -> tuple[Period, Period | None]:
        return day_of(now, self.zone), shift_of(now, self.roster())

    def earliest(self, now: float) -> float:
        """The start of the oldest period on at ``now`` (what must be kept, or read)."""
        day, shift = self.periods(now)
        return day.start if shift is None else min(day.start, shift.start)

    async def load(self, read: CallsSince, now: float) -> None:
        """Read the journal's calls of the periods on at ``now``; the calls already folded in
        (ended while it was read) are kept."""
        start = self.earliest(now)
        rows = await read(
            dt.datetime.fromtimestamp(start, dt.UTC),
            dt.datetime.fromtimestamp(now + 86400.0, dt.UTC),
        )
        known = [c for c in (from_journal(r) for r in rows) if c is not None]
        # A call the core ended while the journal was read may be in both: counted once.
        seen = {c.call_id for c in known}
        self.calls = known + [c for c in self.calls if c.call_id not in seen]
        self.from_journal = True

    def started(self, now: float) -> None:
        """No journal (or it did not answer): the figures count from ``now``."""
        self.since = now

    def add(self, note: CallEnded) -> None:
        call = from_note(note)
        if call is not None:
            self.calls.append(call)

    def to_json(self, now: float, callbacks_open: int) -> JsonDict:
        start = self.earliest(now)
        self.calls = [c for c in self.calls if c.started_at >= start]
        day, shift = self.periods(now)
        marks = list(self.marks())
        shown: JsonDict = {
            "day": day.name,
            "since": None if self.from_journal else self.since,
            "marks": marks,
            **count(self.calls, day, marks),
            "callbacks_open": callbacks_open,
            "shift": None,
        }
        if shift is not None:
            shown["shift"] = {
                "name": shift.name,
                "start": shift.start,
                "end": shift.end,
                **count(self.calls, shift, marks),
            }
        return shown
