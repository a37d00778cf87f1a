"""Shift rosters in the centre's own time zone (WIB, WITA or WIT).

The core's ``now`` is seconds since the Unix epoch (UTC); this module turns it into local
wall-clock time with :mod:`zoneinfo` (pure data, no clock read). A roster answers three
questions: is the centre staffed now, who is rostered now, and when does that next change.

Exceptions (holidays, a changed team) are by the local date a shift's occurrence *starts* on:
on an ``off_dates`` date the shift does not run; on a date of ``agents_by_date`` it runs with
that list instead of ``agents``. A night shift 23:00-07:00 of 17 August is the one that
starts on the evening of the 17th.

The ACD's ``staffing.py`` acts on it: who may take calls, where callers go out of hours, and
(its ``StaffingWatch``) which shift on is short-handed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from callgate.core.errors import AcdConfigError

#: Indonesia's three time zones by their local names.
TIME_ZONES = {"WIB": "Asia/Jakarta", "WITA": "Asia/Makassar", "WIT": "Asia/Jayapura"}

ALL_WEEKDAYS = frozenset(range(7))
_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Shift:
    """One recurring shift: from ``start`` to ``end`` local time on the given weekdays."""

    start: dt.time
    "Local start time."
    end: dt.time
    "Local end time; at or before ``start`` means the shift ends the next day."
    weekdays: frozenset[int] = ALL_WEEKDAYS
    "Days the shift *starts* on, 0 = Monday."
    agents: frozenset[str] = frozenset()
    "Call-takers rostered on this shift; empty means anyone logged in may take calls."
    name: str = ""
    "Label for reports, metrics and CAD (e.g. ``pagi``)."
    head_count: int | None = None
    "Call-takers who must be logged in; None: as many as ``agents`` names (none: no minimum)."
    off_dates: frozenset[dt.date] = frozenset()
    "Local dates on which the shift does not start (holidays)."
    agents_by_date: tuple[tuple[dt.date, frozenset[str]], ...] = ()
    "Local dates on which the shift runs with another list than ``agents``."

    def __post_init__(self) -> None:
        if self.head_count is not None and self.head_count < 1:
            raise AcdConfigError("head_count must be at least 1")

    def label(self) -> str:
        """``name``, or the times when the shift has none."""
        return self.name or f"{self.start:%H:%M}-{self.end:%H:%M}"

    def _occurrences(self, local_day: dt.date, tz: ZoneInfo) -> list[OnShift]:
        """The occurrence that starts on ``local_day``, if it does."""
        if local_day.weekday() not in self.weekdays or local_day in self.off_dates:
            return []
        agents = dict(self.agents_by_date).get(local_day, self.agents)
        start = dt.datetime.combine(local_day, self.start, tzinfo=tz)
        end_day = local_day if self.end > self.start else local_day + _DAY
        end = dt.datetime.combine(end_day, self.end, tzinfo=tz)
        target = len(agents) if self.head_count is None else self.head_count
        return [OnShift(self.label(), start.timestamp(), end.timestamp(), agents, target)]


@dataclass(frozen=True, slots=True)
class OnShift:
    """One occurrence of a shift, as the roster sees it on a given day."""

    name: str
    "The shift's label."
    start: float
    "Epoch it starts."
    end: float
    "Epoch it ends."
    agents: frozenset[str]
    "Call-takers rostered on it that day; empty means anyone."
    target: int
    "How many call-takers it needs logged in (0: no minimum)."

    def counts(self, agent_id: str) -> bool:
        """True if ``agent_id`` logged in counts towards this shift."""
        return not self.agents or agent_id in self.agents


@dataclass(frozen=True, slots=True)
class RosterState:
    """What the roster says for a stretch of time."""

    staffed: bool
    "True if at least one shift is on."
    rostered: frozenset[str] | None
    "Call-takers allowed new calls; None means anyone logged in."
    until: float
    "Epoch at which this may next change."
    shifts: tuple[OnShift, ...] = ()
    "The shifts on, in roster order."

    def allows(self, agent_id: str) -> bool:
        """True if ``agent_id`` is rostered now (any shift on that names them or names nobody)."""
        return self.staffed and (self.rostered is None or agent_id in self.rostered)


@dataclass(frozen=True, slots=True)
class Roster:
    """Shifts of a centre; outside every shift the centre is out of hours."""

    timezone: str = "WIB"
    "``WIB``/``WITA``/``WIT`` or any IANA zone name (e.g. ``Asia/Makassar``)."
    shifts: tuple[Shift, ...] = field(default_factory=tuple)
    "The shifts; they may overlap."
    logout_off_roster: bool = False
    "Log out call-takers the roster no longer has on (after their current call and wrap-up)."
    alarm_grace: float = 120.0
    "Seconds after a shift starts (or the core first sees it) before a shortfall is reported."

    def __post_init__(self) -> None:
        try:
            ZoneInfo(TIME_ZONES.get(self.timezone, self.timezone))
        except (ValueError, KeyError) as exc:
            raise AcdConfigError(f"unknown time zone {self.timezone!r}") from exc

    @property
    def zone(self) -> ZoneInfo:
        """The centre's time zone."""
        return ZoneInfo(TIME_ZONES.get(self.timezone, self.timezone))

    def state_at(self, now: float) -> RosterState:
        """Who is on at ``now`` (epoch seconds) and until when that holds."""
        tz = self.zone
        today = dt.datetime.fromtimestamp(now, tz).date()
        anyone = False
        names: set[str] = set()
        on: list[OnShift] = []
        # A week later every shift has recurred, so the next change is within 8 days.
        until = now + 8 * 86400.0
        for offset in range(-1, 8):
            day = today + offset * _DAY
            for shift in self.shifts:
                for occurrence in shift._occurrences(day, tz):
                    start, end = occurrence.start, occurrence.end
                    if start <= now < end:
                        on.append(occurrence)
                        anyone = anyone or not occurrence.agents
                        names |= occurrence.agents
                    until = min([until, *(t for t in (start, end) if t > now)])
        staffed = bool(on)
        rostered = None if anyone or not staffed else frozenset(names)
        return RosterState(staffed=staffed, rostered=rostered, until=until, shifts=tuple(on))


def parse_time(text: str) -> dt.time:
    """``"08:00"`` -> ``time(8, 0)``, ``"24:00"`` -> midnight."""
    if text == "24:00":
        return dt.time(0, 0)
    try:
        return dt.time.fromisoformat(text)
    except ValueError as exc:
        raise AcdConfigError(f"bad time of day {text!r}, expected HH:MM") from exc
