"""Shift rosters in the centre's own time zone (WIB, WITA or WIT).

The core's ``now`` is seconds since the Unix epoch (UTC); this module turns it into local
wall-clock time with :mod:`zoneinfo` (pure data, no clock read). A roster answers three
questions: is the centre staffed now, who is rostered now, and when does that next change.

Exceptions (holidays, a changed team) are by the local date a shift's occurrence *starts* on:
on an ``off_dates`` date the shift does not run; on a date of ``agents_by_date`` it runs with
that list instead of ``agents``. A night shift 23:00-07:00 of 17 August is the one that
starts on the evening of the 17th.

:class:`StaffingWatch` compares, for each shift on, the call-takers logged in with the
rostered number and says when a shift is short-handed (after a grace period in which the
shift is expected to be logging in).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo

from callgate.core.commands import ShiftStaffing
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


class StaffingWatch:
    """Per shift on: the call-takers it needs, those logged in, and whether it is short-handed.

    A shift is short-handed once fewer call-takers who count for it are logged in than it
    needs and its grace period is over (``grace`` seconds after the core first saw it on: its
    start, or the driver's start in the middle of it). Every change of the figures, and the end
    of a shift, is a :class:`ShiftStaffing` notification.
    """

    def __init__(self, grace: float) -> None:
        self.grace = grace
        #: The latest figures of each occurrence on, by (name, start).
        self._last: dict[tuple[str, float], ShiftStaffing] = {}
        #: When each occurrence's grace period ends.
        self._grace_ends: dict[tuple[str, float], float] = {}

    @property
    def figures(self) -> tuple[ShiftStaffing, ...]:
        """The latest figures of every shift on that needs call-takers."""
        return tuple(self._last.values())

    def update(
        self, shifts: Collection[OnShift], present: Collection[str], now: float
    ) -> list[ShiftStaffing]:
        """New figures for ``shifts`` (those on), given the call-takers ``present``."""
        out: list[ShiftStaffing] = []
        live = set()
        for shift in shifts:
            if not shift.target:
                continue
            key = (shift.name, shift.start)
            live.add(key)
            grace_end = self._grace_ends.setdefault(key, now + self.grace)
            logged_in = sum(1 for agent_id in present if shift.counts(agent_id))
            short = logged_in < shift.target and now >= grace_end
            last = self._last.get(key)
            if last is None or (last.logged_in, last.short) != (logged_in, short):
                note = ShiftStaffing(shift.name, shift.target, logged_in, short, True, now)
                self._last[key] = note
                out.append(note)
        for key in [k for k in self._last if k not in live]:
            del self._grace_ends[key]
            out.append(replace(self._last.pop(key), short=False, on=False, at=now))
        return out

    def deadline(self) -> float | None:
        """When a shift now under its number, still in its grace period, becomes short-handed."""
        return min(
            (
                self._grace_ends[key]
                for key, note in self._last.items()
                if not note.short and note.logged_in < note.rostered
            ),
            default=None,
        )


def parse_time(text: str) -> dt.time:
    """``"08:00"`` -> ``time(8, 0)``, ``"24:00"`` -> midnight."""
    if text == "24:00":
        return dt.time(0, 0)
    try:
        return dt.time.fromisoformat(text)
    except ValueError as exc:
        raise AcdConfigError(f"bad time of day {text!r}, expected HH:MM") from exc
