"""``callgate report --calltakers``: what each call-taker did, over the period and per shift.

Pure: the journal's rows in (the call-takers' record, ``agent_events``, and the calls they
answered), figures out; no IO, no clock (``now`` is given: a session still open ends there).

Definitions:

- *logged in*: from a ``login`` (or the state the call-taker was in when the period began) to
  the ``logout``; a daemon stop logs everyone out (``daemon-stopped``), so downtime is not
  counted as logged in;
- *paused*: from a ``pause`` to the ``unpause`` or ``logout`` (a new reason while paused starts a
  new pause), by reason; the automatic pause after missed rings is ``auto: missed calls``;
- *handled*: 112 calls whose conversation with the call-taker began (``answered_at``) in the
  window; callback attempts the call-taker made are counted apart (*callbacks*);
- *talk*: the time of those conversations (``answered_at`` to ``ended_at``, 112 calls and
  callbacks) that falls in the window, so a call across a shift change is split between them;
- *missed rings*: rings the call-taker let ring out, declined, or answered and left before the
  bridge (the core's count for ``max_missed_in_a_row``);
- *occupancy*: talk / (logged in - paused): the share of the time a call-taker was available
  for calls that they spent talking. Wrap-up is not talk (it is a fixed time after each call);
  ``-`` when they were never available.

Shifts are the report's ``--shifts`` (``pagi`` 07-15, ``siang`` 15-23, ``malam`` 23-07 local time
by default); a shift that crosses midnight is named by the day it starts. Only shifts in which
someone was logged in, talked or missed a ring are listed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callgate.core.callbacks import CALLBACK_CATEGORY
from callgate.reports.periods import Period, ShiftHours, shift_period
from callgate.storage.agent_events import (
    LOGIN,
    LOGOUT,
    PAUSE,
    RING_MISSED,
    UNPAUSE,
    AgentEvent,
    HandledCall,
)

#: What a pause without a reason is listed as.
NO_REASON = "(no reason)"
#: The row of every call-taker together.
ALL = "all"

_Span = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class CallTakerFigures:
    """One call-taker's figures over one window (the period, or one shift)."""

    agent_id: str
    handled: int = 0
    "112 calls answered in the window."
    callbacks: int = 0
    "Callback attempts answered in the window."
    talk_seconds: float = 0.0
    logged_in_seconds: float = 0.0
    paused_seconds: float = 0.0
    pause_seconds: dict[str, float] = field(default_factory=dict)
    "Reason -> seconds paused for it in the window."
    pause_counts: dict[str, int] = field(default_factory=dict)
    "Reason -> pauses for it that began in the window."
    missed_rings: int = 0

    @property
    def available_seconds(self) -> float:
        """Logged in and not paused."""
        return max(0.0, self.logged_in_seconds - self.paused_seconds)

    @property
    def occupancy(self) -> float | None:
        """Talk as a percentage of the time available for calls; None if never available."""
        if self.available_seconds <= 0:
            return None
        return min(100.0, 100.0 * self.talk_seconds / self.available_seconds)

    @property
    def mean_talk(self) -> float | None:
        """Seconds of talk per call answered (112 calls and callbacks), or None."""
        calls = self.handled + self.callbacks
        return None if calls == 0 else self.talk_seconds / calls

    @property
    def active(self) -> bool:
        return bool(self.logged_in_seconds or self.handled or self.callbacks or self.missed_rings)


@dataclass(frozen=True, slots=True)
class ShiftFigures:
    """One shift of one day, cut to the period."""

    day: str
    "The local day the shift starts, ``2026-11-23``."
    shift: str
    start: datetime
    end: datetime
    calltakers: list[CallTakerFigures]
    total: CallTakerFigures


@dataclass(frozen=True, slots=True)
class CallTakerReport:
    """The call-takers' figures of one period."""

    period: Period
    calltakers: list[CallTakerFigures]
    "One per call-taker seen, by id."
    total: CallTakerFigures
    "Every call-taker together (``agent_id`` :data:`ALL`)."
    shifts: list[ShiftFigures]
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Timeline:
    sessions: list[_Span] = field(default_factory=list)
    pauses: list[tuple[datetime, datetime, str]] = field(default_factory=list)
    pause_starts: list[tuple[datetime, str]] = field(default_factory=list)
    missed: list[datetime] = field(default_factory=list)
    talks: list[tuple[datetime, datetime, bool]] = field(default_factory=list)
    "Conversations: answered, ended, whether a callback."


def _timelines(
    before: Iterable[AgentEvent],
    events: Iterable[AgentEvent],
    handled: Iterable[HandledCall],
    start: datetime,
    end: datetime,
) -> dict[str, _Timeline]:
    lines: dict[str, _Timeline] = defaultdict(_Timeline)
    session: dict[str, datetime] = {}
    paused: dict[str, tuple[datetime, str]] = {}
    for e in before:
        if e.event in (LOGIN, UNPAUSE, PAUSE):
            session[e.agent_id] = start
        if e.event == PAUSE:
            paused[e.agent_id] = (start, e.reason or NO_REASON)
    for e in events:
        line, agent = lines[e.agent_id], e.agent_id
        if e.event == RING_MISSED:
            line.missed.append(e.at)
            continue
        if e.event not in (LOGIN, PAUSE, UNPAUSE, LOGOUT):
            continue
        if e.event in (PAUSE, UNPAUSE, LOGOUT) and agent in paused:
            began, reason = paused.pop(agent)
            line.pauses.append((began, e.at, reason))
        if e.event in (LOGIN, PAUSE):
            session.setdefault(agent, e.at)  # a pause says they are logged in
        if e.event == PAUSE:
            paused[agent] = (e.at, e.reason or NO_REASON)
            line.pause_starts.append((e.at, e.reason or NO_REASON))
        if e.event == LOGOUT and agent in session:
            line.sessions.append((session.pop(agent), e.at))
    for agent, (began, reason) in paused.items():
        lines[agent].pauses.append((began, end, reason))
    for agent, began in session.items():
        lines[agent].sessions.append((began, end))
    for call in handled:
        talk_end = min(call.ended_at or end, end)
        lines[call.agent_id].talks.append(
            (call.answered_at, talk_end, call.category == CALLBACK_CATEGORY)
        )
    return lines


def _overlap(a: datetime, b: datetime, start: datetime, end: datetime) -> float:
    return max(0.0, (min(b, end) - max(a, start)).total_seconds())


def _figures(agent_id: str, line: _Timeline, start: datetime, end: datetime) -> CallTakerFigures:
    pause_seconds: dict[str, float] = defaultdict(float)
    for began, ended, reason in line.pauses:
        if (seconds := _overlap(began, ended, start, end)) > 0:
            pause_seconds[reason] += seconds
    pause_counts: dict[str, int] = defaultdict(int)
    for began, reason in line.pause_starts:
        if start <= began < end:
            pause_counts[reason] += 1
    answered = [t for t in line.talks if start <= t[0] < end]
    return CallTakerFigures(
        agent_id=agent_id,
        handled=sum(1 for t in answered if not t[2]),
        callbacks=sum(1 for t in answered if t[2]),
        talk_seconds=sum(_overlap(a, b, start, end) for a, b, _ in line.talks),
        logged_in_seconds=sum(_overlap(a, b, start, end) for a, b in line.sessions),
        paused_seconds=sum(pause_seconds.values()),
        pause_seconds=dict(sorted(pause_seconds.items())),
        pause_counts=dict(sorted(pause_counts.items())),
        missed_rings=sum(1 for at in line.missed if start <= at < end),
    )


def _sum(rows: Sequence[CallTakerFigures]) -> CallTakerFigures:
    pauses: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        for reason, seconds in row.pause_seconds.items():
            pauses[reason] += seconds
        for reason, count in row.pause_counts.items():
            counts[reason] += count
    return CallTakerFigures(
        agent_id=ALL,
        handled=sum(r.handled for r in rows),
        callbacks=sum(r.callbacks for r in rows),
        talk_seconds=sum(r.talk_seconds for r in rows),
        logged_in_seconds=sum(r.logged_in_seconds for r in rows),
        paused_seconds=sum(r.paused_seconds for r in rows),
        pause_seconds=dict(sorted(pauses.items())),
        pause_counts=dict(sorted(counts.items())),
        missed_rings=sum(r.missed_rings for r in rows),
    )


def shift_windows(period: Period, shifts: Sequence[ShiftHours]) -> list[tuple[str, str, _Span]]:
    """Every shift of every local day that overlaps the period, cut to it, in time order:
    ``(day, shift name, (start, end))``."""
    first = period.start.astimezone(period.tz).date() - timedelta(days=1)
    last = period.end.astimezone(period.tz).date()
    out: list[tuple[str, str, _Span]] = []
    day = first
    while day <= last:
        for shift in shifts:
            p = shift_period(day, shift, period.tz)
            start, end = max(p.start, period.start), min(p.end, period.end)
            if start < end:
                out.append((day.isoformat(), shift.name, (start, end)))
        day += timedelta(days=1)
    out.sort(key=lambda w: w[2][0])
    return out


def build_calltaker_report(
    period: Period,
    before: Sequence[AgentEvent],
    events: Sequence[AgentEvent],
    handled: Sequence[HandledCall],
    *,
    shifts: Sequence[ShiftHours],
    now: datetime,
) -> CallTakerReport:
    """The figures of ``period`` from its rows (:func:`~callgate.storage.agent_events.
    agent_events_between` and :func:`~callgate.storage.agent_events.handled_calls_between`)."""
    end = min(period.end, max(now, period.start))
    lines = _timelines(before, events, handled, period.start, end)
    agents = sorted(lines)
    rows = [_figures(a, lines[a], period.start, end) for a in agents]
    rows = [r for r in rows if r.active]
    by_shift: list[ShiftFigures] = []
    for day, name, (start, stop) in shift_windows(period, shifts):
        stop = min(stop, end)
        if start >= stop:
            continue
        shift_rows = [_figures(a, lines[a], start, stop) for a in agents]
        shift_rows = [r for r in shift_rows if r.active]
        if shift_rows:
            by_shift.append(ShiftFigures(day, name, start, stop, shift_rows, _sum(shift_rows)))
    notes = []
    if end < period.end:
        notes.append("the period is not over: open sessions, pauses and calls count until now")
    return CallTakerReport(period, rows, _sum(rows), by_shift, notes)
