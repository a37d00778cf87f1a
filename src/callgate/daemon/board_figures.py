"""Today's and this shift's figures on the wallboard, from the journal.

The daemon reads the journal's calls of the day (and of the shift on, which may have started the
evening before) once at start (:class:`CallsSince`, a port) and folds each call the core ends into
the same list, and so the calls ending outside the core (adopted after a restart, gone before
the core had them: their start is the journal's open row or this run's ``CallStarted``) and the
fallback queue's as its reader journals them; each call counts once, whichever comes first, so
a restart changes nothing on the board. "Today" is the centre's day
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
#: Ends of calls outside the core remembered until the journal's read tells their start.
ENDS_KEPT = 512


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


def from_fallback(
    call_id: str, entered_at: float, answered_at: float | None, category: str = ""
) -> EndedCall:
    """A call the dialplan's fallback queue took, as the journal keeps it (FALLBACK)."""
    answer = None if answered_at is None else max(0.0, answered_at - entered_at)
    return EndedCall(call_id, entered_at, "FALLBACK", category, answer)


@dataclass(slots=True)
class _Open:
    """A call started but not ended whose end the core will not tell (outside the core)."""

    started_at: float
    category: str
    answer_time: float | None = None


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
        #: Calls open in the journal (or started outside the core since): ended outside the
        #: core (an adopted call, a caller gone before the core had it), they count then.
        self._open: dict[str, _Open] = {}
        #: Such ends seen before the journal's read told their calls' start.
        self._ends: dict[str, str] = {}

    def next_change(self, now: float) -> float:
        """When today or the shift on next changes (the figures roll over then)."""
        day_end = day_of(now, self.zone).end
        roster = self.roster()
        return day_end if roster is None else min(day_end, roster.state_at(now).until)

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
        # A call the core ended while the journal was read may be in both: counted once, as
        # the journal has it (a fallback call folded in before the read too).
        seen = {c.call_id for c in known}
        self.calls = known + [c for c in self.calls if c.call_id not in seen]
        counted = {c.call_id for c in self.calls}
        for row in rows:
            if row.ended_at is None and row.category != CALLBACK_CATEGORY:
                if row.call_id in counted:
                    continue
                opened = _Open(row.started_at.timestamp(), row.category, row.answer_time)
                self._open.setdefault(row.call_id, opened)
        self.from_journal = True
        # Ended outside the core before the read, their end not journaled yet: counted now.
        # An end whose call is in neither started before the periods on: not counted.
        ends, self._ends = self._ends, {}
        for call_id, outcome in ends.items():
            self.ended_outside(call_id, outcome)

    def started(self, now: float) -> None:
        """No journal (or it did not answer): the figures count from ``now``."""
        self.since = now

    def add(self, note: CallEnded) -> None:
        call = from_note(note)
        if call is not None:
            self.add_call(call)

    def add_call(self, call: EndedCall) -> None:
        """Fold in an ended call (once: a call already counted is left as it is)."""
        self._open.pop(call.call_id, None)
        if all(c.call_id != call.call_id for c in self.calls):
            self.calls.append(call)

    def opened(self, call_id: str, started_at: float, category: str) -> None:
        """A call started outside the core's queue (not queued yet, or found after a restart)."""
        if category != CALLBACK_CATEGORY:
            self._open.setdefault(call_id, _Open(started_at, category))

    def answered(self, call_id: str, at: float) -> None:
        call = self._open.get(call_id)
        if call is not None and call.answer_time is None:
            call.answer_time = max(0.0, at - call.started_at)

    def ended_outside(self, call_id: str, outcome: str) -> None:
        """A call ended outside the core (``CallEndedOutsideCore``) with ``outcome``."""
        call = self._open.pop(call_id, None)
        if call is not None:
            self.add_call(
                EndedCall(call_id, call.started_at, outcome, call.category, call.answer_time)
            )
        elif not self.from_journal:
            self._ends[call_id] = outcome
            if len(self._ends) > ENDS_KEPT:
                del self._ends[next(iter(self._ends))]

    def to_json(self, now: float, callbacks_open: int) -> JsonDict:
        start = self.earliest(now)
        self.calls = [c for c in self.calls if c.started_at >= start]
        self._open = {k: c for k, c in self._open.items() if c.started_at >= start}
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
