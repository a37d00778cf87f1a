"""Shift rosters in the centre's own time zone (WIB, WITA or WIT).

The core's ``now`` is seconds since the Unix epoch (UTC); this module turns it into local
wall-clock time with :mod:`zoneinfo` (pure data, no clock read). A roster answers three
questions: is the centre staffed now, who is rostered now, and when does that next change.
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
    "Label for reports (e.g. ``night``)."

    def _occurrences(self, local_day: dt.date, tz: ZoneInfo) -> list[tuple[float, float]]:
        """Start/end epochs of the occurrence that starts on ``local_day``, if it does."""
        if local_day.weekday() not in self.weekdays:
            return []
        start = dt.datetime.combine(local_day, self.start, tzinfo=tz)
        end_day = local_day if self.end > self.start else local_day + _DAY
        end = dt.datetime.combine(end_day, self.end, tzinfo=tz)
        return [(start.timestamp(), end.timestamp())]


@dataclass(frozen=True, slots=True)
class RosterState:
    """What the roster says for a stretch of time."""

    staffed: bool
    "True if at least one shift is on."
    rostered: frozenset[str] | None
    "Call-takers allowed new calls; None means anyone logged in."
    until: float
    "Epoch at which this may next change."


@dataclass(frozen=True, slots=True)
class Roster:
    """Shifts of a centre; outside every shift the centre is out of hours."""

    timezone: str = "WIB"
    "``WIB``/``WITA``/``WIT`` or any IANA zone name (e.g. ``Asia/Makassar``)."
    shifts: tuple[Shift, ...] = field(default_factory=tuple)
    "The shifts; they may overlap."

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
        staffed = False
        anyone = False
        names: set[str] = set()
        # A week later every shift has recurred, so the next change is within 8 days.
        until = now + 8 * 86400.0
        for offset in range(-1, 8):
            day = today + offset * _DAY
            for shift in self.shifts:
                for start, end in shift._occurrences(day, tz):
                    if start <= now < end:
                        staffed = True
                        anyone = anyone or not shift.agents
                        names |= shift.agents
                    until = min([until, *(t for t in (start, end) if t > now)])
        rostered = None if anyone or not staffed else frozenset(names)
        return RosterState(staffed=staffed, rostered=rostered, until=until)


def parse_time(text: str) -> dt.time:
    """``"08:00"`` -> ``time(8, 0)``, ``"24:00"`` -> midnight."""
    if text == "24:00":
        return dt.time(0, 0)
    try:
        return dt.time.fromisoformat(text)
    except ValueError as exc:
        raise AcdConfigError(f"bad time of day {text!r}, expected HH:MM") from exc
