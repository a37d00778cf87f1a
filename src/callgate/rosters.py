"""The config file's ``[roster]`` section: shifts, exceptions, out-of-hours routing, the alarm.

Beside :mod:`callgate.config` (which gathers it with the other sections) so that the config
stays one screen per concern; like the adapters' ``settings`` modules it imports only pydantic
and the pure core, and validates before anything connects, naming the key
(``roster.shifts.0.start``). :meth:`RosterSettings.roster` builds the core's
:class:`~callgate.core.roster.Roster`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from callgate.core.roster import Roster, Shift, parse_time


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
TimeOfDay = Annotated[str, Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]


class ShiftSettings(_Section):
    """One recurring shift (``[[roster.shifts]]``)."""

    name: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")]
    """Its name in logs, metrics and CAD events (e.g. ``pagi``)."""
    start: TimeOfDay
    """Local start time, ``HH:MM``."""
    end: TimeOfDay
    """Local end time, ``HH:MM``; at or before ``start``: the next day (``23:00``-``07:00``)."""
    days: list[Weekday] = Field(default_factory=lambda: list(get_args(Weekday)))
    """Days the shift starts on (``mon`` ... ``sun``); every day when left out."""
    calltakers: list[str] = Field(default_factory=list)
    """Call-taker ids rostered on it (``"1001"``): only they get its calls. Empty: anyone
    logged in."""
    head_count: Annotated[int, Field(ge=1)] | None = None
    """Call-takers it needs logged in (the alarm); default: as many as ``calltakers``."""


class RosterException(_Section):
    """A date on which shifts do not run, or run with another list (``[[roster.exceptions]]``)."""

    date: dt.date
    """The local date a shift starts on (``2026-08-17``: its 23:00 shift runs into the 18th)."""
    shifts: list[str] = Field(default_factory=list)
    """The shifts it is about, by name; empty: every shift."""
    off: bool = False
    """The shifts do not run that day (a holiday without staff: callers go out of hours)."""
    calltakers: list[str] | None = None
    """Another list of call-takers for that day (instead of ``off``)."""


class RosterSettings(_Section):
    """Shifts in the centre's own time zone; out of every shift the centre is out of hours.
    No shifts: no roster (always on)."""

    timezone: str = "WIB"
    """``WIB``, ``WITA``, ``WIT`` or an IANA zone name (``Asia/Makassar``)."""
    shifts: list[ShiftSettings] = Field(default_factory=list)
    """The shifts (``[[roster.shifts]]``); they may overlap."""
    exceptions: list[RosterException] = Field(default_factory=list)
    """Holidays and changed lists by date (``[[roster.exceptions]]``)."""
    out_of_hours: list[str] = Field(default_factory=list)
    """Dialstrings tried in order for a caller when no shift is on (the neighbouring regency's
    centre, an agency, supervisors' phones), then the fallback queue. Empty: ``[acd] overflow``."""
    logout_when_off_roster: bool = True
    """Log call-takers out when their shift ends (after their current call and wrap-up)."""
    alarm_grace: Annotated[int, Field(ge=0, le=3600)] = 120
    """Seconds after a shift starts (or callgate does) before too few logged in is an alarm."""

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        Roster(value)
        return value

    @field_validator("shifts")
    @classmethod
    def _unique_names(cls, value: list[ShiftSettings]) -> list[ShiftSettings]:
        names = [shift.name for shift in value]
        if twice := [name for name in names if names.count(name) > 1]:
            raise ValueError(f"two shifts are named {twice[0]!r}")
        return value

    @field_validator("exceptions")
    @classmethod
    def _known_shifts(cls, value: list[RosterException], info: ValidationInfo) -> Any:
        names = {shift.name for shift in info.data.get("shifts", [])}
        for i, exception in enumerate(value):
            if exception.off == (exception.calltakers is not None):
                raise ValueError(f"exceptions.{i}: give either off = true or calltakers")
            for name in exception.shifts:
                if name not in names:
                    raise ValueError(f"exceptions.{i}.shifts: no shift is named {name!r}")
        return value

    def roster(self) -> Roster | None:
        """The core's roster, or None without shifts."""
        if not self.shifts:
            return None
        shifts = []
        for s in self.shifts:
            mine = [e for e in self.exceptions if not e.shifts or s.name in e.shifts]
            shifts.append(
                Shift(
                    start=parse_time(s.start),
                    end=parse_time(s.end),
                    weekdays=frozenset(get_args(Weekday).index(day) for day in s.days),
                    agents=frozenset(s.calltakers),
                    name=s.name,
                    head_count=s.head_count,
                    off_dates=frozenset(e.date for e in mine if e.off),
                    agents_by_date=tuple(
                        (e.date, frozenset(e.calltakers)) for e in mine if e.calltakers is not None
                    ),
                )
            )
        return Roster(
            self.timezone,
            tuple(shifts),
            logout_off_roster=self.logout_when_off_roster,
            alarm_grace=float(self.alarm_grace),
        )
