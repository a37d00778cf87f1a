"""The centre's time zone and shifts as a report reads them from the configuration: one function
for ``callgate report`` and the managers' report pages, so both cut the same days and shifts.

- the zone: ``[centre] timezone`` (WIB, WITA, WIT or an IANA name), the zone the roster runs
  its shifts in too;
- the shifts: the roster's own ``[[roster.shifts]]`` (name, start, end); only when the roster
  names none, the old fixed ``pagi`` 07-15, ``siang`` 15-23, ``malam`` 23-07.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from callgate.config import Settings
from callgate.core.roster import parse_time
from callgate.reports.periods import DEFAULT_SHIFTS, ShiftHours, zone


def centre_zone(settings: Settings) -> ZoneInfo:
    """The centre's time zone, in which a report's days, shifts and hours are local."""
    return zone(settings.centre.timezone)


def centre_shifts(settings: Settings) -> tuple[ShiftHours, ...]:
    """The shifts a report uses: the roster's, else :data:`~.periods.DEFAULT_SHIFTS`."""
    roster = settings.roster.shifts
    if not roster:
        return DEFAULT_SHIFTS
    # Built as the roster builds them: an end at or before the start is the next day (a shift
    # from 07:00 to 07:00 is a whole day).
    return tuple(ShiftHours(s.name, parse_time(s.start), parse_time(s.end)) for s in roster)


def shifts_spec(shifts: tuple[ShiftHours, ...]) -> str:
    """``shifts`` as ``--shifts`` writes them (``pagi=07:00-15:00,...``)."""
    return ",".join(f"{s.name}={s.start:%H:%M}-{s.end:%H:%M}" for s in shifts)
