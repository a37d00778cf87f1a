"""Report periods: local days and shifts (``pagi`` 07-15, ``siang`` 15-23, ``malam`` 23-07 by
default) and date ranges, turned into time-zone-aware bounds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callgate.core.roster import TIME_ZONES


class ReportUsageError(ValueError):
    """Bad arguments (period, time zone, shifts); the message says which and why."""


@dataclass(frozen=True, slots=True)
class ShiftHours:
    """A named shift from ``start`` to ``end`` local time; ``end <= start`` crosses midnight."""

    name: str
    start: dtime
    end: dtime


DEFAULT_SHIFTS = (
    ShiftHours("pagi", dtime(7), dtime(15)),
    ShiftHours("siang", dtime(15), dtime(23)),
    ShiftHours("malam", dtime(23), dtime(7)),
)


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` in local time of ``tz``, with a label for the headings."""

    start: datetime
    end: datetime
    tz: ZoneInfo
    label: str

    def __post_init__(self) -> None:
        if self.start.utcoffset() is None or self.end.utcoffset() is None:
            raise ReportUsageError("a report period needs times with a time zone")
        if self.end <= self.start:
            raise ReportUsageError(
                f"the period must end after it starts ({local_time(self.start, self.tz)} to "
                f"{local_time(self.end, self.tz)})"
            )

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def hours(self) -> list[int]:
        """Local hours of the day the period covers, in order from its start (at most 24)."""
        seen: list[int] = []
        at = self.start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        while at < self.end and len(seen) < 24:
            hour = at.astimezone(self.tz).hour
            if hour not in seen:
                seen.append(hour)
            at += timedelta(hours=1)
        return seen


def zone(name: str) -> ZoneInfo:
    """The time zone ``name`` (IANA, or WIB/WITA/WIT); :class:`ReportUsageError` if unknown."""
    try:
        return ZoneInfo(TIME_ZONES.get(name.upper(), name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportUsageError(
            f"unknown time zone {name!r} (use e.g. Asia/Jakarta, Asia/Makassar, Asia/Jayapura)"
        ) from None


def parse_shifts(spec: str) -> tuple[ShiftHours, ...]:
    """``"pagi=07-15,siang=15-23,malam=23-07"`` (``HH`` or ``HH:MM``) -> shifts."""
    shifts: list[ShiftHours] = []
    for part in (p.strip() for p in spec.split(",")):
        name, eq, hours = part.partition("=")
        start_text, dash, end_text = hours.partition("-")
        if not (eq and dash and name.strip()):
            raise ReportUsageError(f"shift {part!r} is not NAME=HH-HH (e.g. malam=23-07)")
        start, end = _clock_time(start_text), _clock_time(end_text)
        if start == end:
            raise ReportUsageError(f"shift {part!r} starts and ends at the same time")
        if any(s.name == name.strip() for s in shifts):
            raise ReportUsageError(f"shift {name.strip()!r} is defined twice")
        shifts.append(ShiftHours(name.strip(), start, end))
    return tuple(shifts)


def _clock_time(text: str) -> dtime:
    text = text.strip()
    try:
        if text.isdigit() and len(text) <= 2:
            return dtime(int(text) % 24)
        if text == "24:00":
            return dtime(0)
        return dtime.fromisoformat(text)
    except ValueError:
        raise ReportUsageError(f"{text!r} is not a time of day (HH or HH:MM)") from None


def day_period(day: date, tz: ZoneInfo) -> Period:
    """The local calendar day ``day``."""
    start = datetime.combine(day, dtime(), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), dtime(), tzinfo=tz)
    return Period(start, end, tz, f"{day.isoformat()} ({tz.key})")


def shift_period(day: date, shift: ShiftHours, tz: ZoneInfo) -> Period:
    """The shift that *starts* on ``day``: ``malam`` of the 23rd runs 23rd 23:00 - 24th 07:00."""
    start = datetime.combine(day, shift.start, tzinfo=tz)
    end_day = day if shift.end > shift.start else day + timedelta(days=1)
    end = datetime.combine(end_day, shift.end, tzinfo=tz)
    hours = f"{shift.start:%H:%M}-{shift.end:%H:%M}"
    return Period(start, end, tz, f"{day.isoformat()} shift {shift.name} {hours} ({tz.key})")


def month_period(month: date, tz: ZoneInfo) -> Period:
    """The local calendar month of ``month`` (its day is ignored)."""
    first = month.replace(day=1)
    after = (first + timedelta(days=32)).replace(day=1)
    start = datetime.combine(first, dtime(), tzinfo=tz)
    end = datetime.combine(after, dtime(), tzinfo=tz)
    return Period(start, end, tz, f"{first:%Y-%m} ({tz.key})")


def parse_month(text: str) -> date:
    """``2026-11`` -> the first day of that month."""
    try:
        return date.fromisoformat(f"{text.strip()}-01")
    except ValueError:
        raise ReportUsageError(f"{text!r} is not a month (use 2026-11)") from None


def range_period(start: datetime, end: datetime, tz: ZoneInfo) -> Period:
    """From ``start`` to ``end`` (naive times are local in ``tz``)."""
    start = start if start.utcoffset() is not None else start.replace(tzinfo=tz)
    end = end if end.utcoffset() is not None else end.replace(tzinfo=tz)
    return Period(start, end, tz, f"{local_time(start, tz)} to {local_time(end, tz)} ({tz.key})")


def parse_datetime(text: str) -> datetime:
    """``2026-11-23``, ``2026-11-23 07:00`` or ISO 8601 with an offset; naive means local."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReportUsageError(
            f"{text!r} is not a date or time (use 2026-11-23 or '2026-11-23 07:00')"
        ) from None


def local_time(at: datetime, tz: ZoneInfo) -> str:
    """``at`` as local ``YYYY-MM-DD HH:MM`` in ``tz``, as headings and tables show times."""
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
