"""``callgate report``: a centre's figures for a day, a shift or a date range, from the journal.

Three parts, kept apart so the figures can be tested without a database:

- **periods** (:func:`day_period`, :func:`shift_period`, :func:`range_period`): local days and
  shifts (``pagi`` 07-15, ``siang`` 15-23, ``malam`` 23-07 by default) turned into UTC bounds;
- **the figures** (:func:`build_report`): rows in, a :class:`Report` out; pure, no IO, no clock;
- **the loader** (:func:`open_journal_readonly`, :func:`load`) and the **renderers**
  (:func:`render_text`, :func:`write_csv`, :func:`write_png`).

Definitions, so the figures can be compared with NENA-STA-020.1 and :mod:`callgate.core.kpi`:

- a *112 call* is a row of ``calls`` started in the period whose category is not ``callback``
  (callback attempts are ACD pseudo-calls, not calls the public made);
- the figures cover the calls that *ended*; a call still in progress is only counted as such
  (the journal writes ``answered_at`` when a call ends);
- *answer time* = ``answered_at - started_at``: from the daemon taking the call to the answer
  of the call-taker who talked with the caller; a call with ``answered_at`` is *answered*;
- a call that was answered but has no ``answered_at`` (a conversation adopted after a restart)
  is counted apart, "answered, time unknown", and never as answered in time;
- overflow destinations may answer a call, but callgate does not know when: for answer times
  they count as not answered by a call-taker (the strict reading);
- calls of the fallback queue (outcome FALLBACK) are journaled from Asterisk's queue_log
  (:mod:`callgate.fallback`), with ``answered_at`` when a call-taker answered there: those count
  as answered, with that answer time; a fallback call answered by nobody has none.

The loader opens the database read-only and never migrates it: the report runs beside the
daemon (SQLite in WAL mode lets a reader in while it writes) or with the daemon stopped, and
must not change a schema a running daemon of another version relies on.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import math
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import URL, event, inspect, make_url, null, select
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from callgate.core.callbacks import (
    CALLBACK_CATEGORY,
    AttemptOutcome,
    CallbackReason,
    TaskState,
)
from callgate.core.calls import TERMINAL_CALL_STATES, CallState
from callgate.core.kpi import NENA_TARGETS as KPI_NENA_TARGETS
from callgate.core.roster import TIME_ZONES
from callgate.core.screening import (
    CATEGORY_ANONYMOUS,
    CATEGORY_BLOCKED,
    CATEGORY_BLOCKED_VALVE,
    CATEGORY_GHOST,
    CATEGORY_NONE,
    CATEGORY_REPEAT_NUISANCE,
    CATEGORY_SILENT_KEY_PRESSED,
    Disposition,
    history_key,
)
from callgate.storage import Journal, JournalError, redact_url
from callgate.storage.annotations import AnnotationRow
from callgate.storage.callbacks import CallbackAttemptRow, CallbackTaskRow
from callgate.storage.models import CallRow
from callgate.storage.settings import SUPPORTED_DRIVERS

OK, DATABASE, USAGE = 0, 1, 2
DEFAULT_TZ = "Asia/Jakarta"
DEFAULT_CONFIG = Path("/etc/callgate/callgate.toml")

#: NENA-STA-020.1-2020 (../shared/DOMAIN.md, "Standards"): 90% of calls answered within 15 s,
#: 95% within 20 s (the core's KPI targets). The standard counts every call offered to the centre,
#: so the targets are judged on "% of calls offered"; "% of calls answered" is shown beside it.
NENA_TARGETS: Mapping[int, float] = KPI_NENA_TARGETS
#: Answer-time distribution: upper bounds in seconds (inclusive), then "longer".
BUCKETS = (10, 15, 20, 30, 60, 120)

DISPOSITIONS = tuple(d.value for d in Disposition)
UNDISPOSED = "undisposed"
NUISANCE_DISPOSITIONS = frozenset({Disposition.PRANK.value, Disposition.GHOST.value})
#: Screening categories in ``calls.category`` ("" is a call screening had nothing to say about).
SCREENING_CATEGORIES = (
    CATEGORY_NONE,
    CATEGORY_ANONYMOUS,
    CATEGORY_REPEAT_NUISANCE,
    CATEGORY_GHOST,
    CATEGORY_SILENT_KEY_PRESSED,
    CATEGORY_BLOCKED,
    CATEGORY_BLOCKED_VALVE,
)
OUTCOMES = tuple(s.value for s in CallState if s in TERMINAL_CALL_STATES)
TASK_STATES = tuple(s.value for s in TaskState)
ATTEMPT_OUTCOMES = tuple(o.value for o in AttemptOutcome)
TASK_REASONS = tuple(r.value for r in CallbackReason)


class ReportUsageError(ValueError):
    """Bad arguments (period, time zone, shifts); the message says which and why."""


# -- periods --------------------------------------------------------------------------------


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
                f"the period must end after it starts ({_local(self.start, self.tz)} to "
                f"{_local(self.end, self.tz)})"
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


def range_period(start: datetime, end: datetime, tz: ZoneInfo) -> Period:
    """From ``start`` to ``end`` (naive times are local in ``tz``)."""
    start = start if start.utcoffset() is not None else start.replace(tzinfo=tz)
    end = end if end.utcoffset() is not None else end.replace(tzinfo=tz)
    return Period(start, end, tz, f"{_local(start, tz)} to {_local(end, tz)} ({tz.key})")


def parse_datetime(text: str) -> datetime:
    """``2026-11-23``, ``2026-11-23 07:00`` or ISO 8601 with an offset; naive means local."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReportUsageError(
            f"{text!r} is not a date or time (use 2026-11-23 or '2026-11-23 07:00')"
        ) from None


def _local(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


# -- input rows -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the report needs of one ``calls`` row and its disposition."""

    call_id: str
    caller: str
    category: str
    started_at: datetime
    ended_at: datetime | None = None
    outcome: str | None = None
    answered_at: datetime | None = None
    disposition: str | None = None
    identity: str | None = None

    @property
    def answer_time(self) -> float | None:
        if self.answered_at is None:
            return None
        # A clock step between two hosts must not produce a negative wait.
        return max(0.0, (self.answered_at - self.started_at).total_seconds())


@dataclass(frozen=True, slots=True)
class CallbackTaskFacts:
    """One ``callback_tasks`` row."""

    task_id: str
    number: str
    reason: str
    created_at: datetime
    state: str
    nuisance: bool = False


@dataclass(frozen=True, slots=True)
class CallbackAttemptFacts:
    """One ``callback_attempts`` row."""

    task_id: str
    started_at: datetime
    outcome: str


# -- the report -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnswerTimes:
    """Distribution of answer times of answered calls (seconds; None without calls)."""

    count: int
    mean: float | None
    p50: float | None
    p90: float | None
    longest_10pct_mean: float | None
    max: float | None
    buckets: tuple[tuple[str, int], ...]
    "Bucket label (``0-10 s``, ..., ``>120 s``) -> calls answered in it."


@dataclass(frozen=True, slots=True)
class Share:
    """``part`` of ``whole``, with the percentage (None when ``whole`` is 0)."""

    part: int
    whole: int

    @property
    def percent(self) -> float | None:
        return 100.0 * self.part / self.whole if self.whole else None


@dataclass(frozen=True, slots=True)
class Nena:
    """Answer within 15 s and 20 s: of answered calls, and of all calls offered (the standard)."""

    of_answered: Mapping[int, Share]
    of_offered: Mapping[int, Share]

    def met(self, seconds: int) -> bool | None:
        """Whether the NENA target for ``seconds`` is met (None without calls)."""
        percent = self.of_offered[seconds].percent
        return None if percent is None else percent >= NENA_TARGETS[seconds]


@dataclass(frozen=True, slots=True)
class HourRow:
    """Calls that started in one local hour of the day (over every day of the period)."""

    hour: int
    offered: int
    answered: int
    within_15: int
    within_20: int
    abandoned: int
    p50: float | None
    p90: float | None

    @property
    def later(self) -> int:
        return self.answered - self.within_20

    @property
    def not_answered(self) -> int:
        return self.offered - self.answered


@dataclass(frozen=True, slots=True)
class CategoryRow:
    """Calls of one disposition or screening category."""

    name: str
    calls: int
    answered: int
    abandoned: int


@dataclass(frozen=True, slots=True)
class NuisanceRow:
    """A caller with prank or ghost dispositions in the period."""

    caller: str
    prank: int
    ghost: int
    calls: int
    last_call: datetime

    @property
    def nuisance(self) -> int:
        return self.prank + self.ghost


@dataclass(frozen=True, slots=True)
class Callbacks:
    """Callback tasks created in the period (by reason, by state now) and attempts made in it."""

    available: bool
    "False when the journal has no callback tables (schema older than 0003)."
    tasks: int
    by_reason: Mapping[str, int]
    by_state: Mapping[str, int]
    nuisance_tasks: int
    attempts: int
    attempts_by_outcome: Mapping[str, int]
    first_attempt_p50: float | None
    "Median seconds from a task's creation to its first attempt (tasks with an attempt)."
    pseudo_calls: int
    "Callback pseudo-calls in ``calls`` (category ``callback``), left out of the 112 figures."


@dataclass(frozen=True, slots=True)
class Report:
    """Every figure of one report."""

    period: Period
    received: int
    "112 calls started in the period (callback pseudo-calls excluded)."
    in_progress: int
    "Of those, calls not ended yet: left out of every other figure."
    ended: int
    "Calls offered: the denominator of the rates."
    outcomes: Mapping[str, int]
    answered: int
    "Answered by a call-taker, with a known answer time."
    answered_time_unknown: int
    abandoned: Share
    abandon_wait_p50: float | None
    "Median seconds callers waited before hanging up."
    answer_times: AnswerTimes
    nena: Nena
    dispositions: tuple[CategoryRow, ...]
    screening: tuple[CategoryRow, ...]
    hours: tuple[HourRow, ...]
    nuisance: tuple[NuisanceRow, ...]
    callbacks: Callbacks
    notes: tuple[str, ...] = field(default=())


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (a value that occurred) of ascending values; None if empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def _answer_times(times: Sequence[float]) -> AnswerTimes:
    ordered = sorted(times)
    counts = [0] * (len(BUCKETS) + 1)
    for t in ordered:
        counts[next((i for i, b in enumerate(BUCKETS) if t <= b), len(BUCKETS))] += 1
    labels = [f"{lo}-{hi} s" for lo, hi in zip((0, *BUCKETS), BUCKETS, strict=False)]
    labels.append(f">{BUCKETS[-1]} s")
    tail = ordered[-max(1, math.ceil(len(ordered) / 10)) :] if ordered else []
    return AnswerTimes(
        count=len(ordered),
        mean=sum(ordered) / len(ordered) if ordered else None,
        p50=percentile(ordered, 50),
        p90=percentile(ordered, 90),
        longest_10pct_mean=sum(tail) / len(tail) if tail else None,
        max=ordered[-1] if ordered else None,
        buckets=tuple(zip(labels, counts, strict=True)),
    )


def _category_rows(
    calls: Sequence[CallFacts], key: str, known: Sequence[str]
) -> tuple[CategoryRow, ...]:
    groups: dict[str, list[CallFacts]] = defaultdict(list)
    for call in calls:
        groups[_category_of(call, key)].append(call)
    names = [*known, *sorted(n for n in groups if n not in known)]
    return tuple(
        CategoryRow(
            name=name,
            calls=len(groups[name]),
            answered=sum(1 for c in groups[name] if c.answered_at is not None),
            abandoned=sum(1 for c in groups[name] if c.outcome == "ABANDONED"),
        )
        for name in names
    )


def _category_of(call: CallFacts, key: str) -> str:
    if key == "disposition":
        return call.disposition or UNDISPOSED
    return call.category


def _hour_rows(calls: Sequence[CallFacts], period: Period) -> tuple[HourRow, ...]:
    by_hour: dict[int, list[CallFacts]] = defaultdict(list)
    for call in calls:
        by_hour[call.started_at.astimezone(period.tz).hour].append(call)
    rows = []
    for hour in period.hours():
        group = by_hour[hour]
        times = sorted(t for c in group if (t := c.answer_time) is not None)
        rows.append(
            HourRow(
                hour=hour,
                offered=len(group),
                answered=len(times),
                within_15=sum(1 for t in times if t <= 15),
                within_20=sum(1 for t in times if t <= 20),
                abandoned=sum(1 for c in group if c.outcome == "ABANDONED"),
                p50=percentile(times, 50),
                p90=percentile(times, 90),
            )
        )
    return tuple(rows)


def _nuisance_rows(calls: Sequence[CallFacts], top: int) -> tuple[NuisanceRow, ...]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    last: dict[str, datetime] = {}
    for call in calls:
        # Withheld callers without an identity share no history: never one "anonymous" caller.
        key = history_key(call.caller, call.identity)
        if key is None:
            continue
        counts[key]["calls"] += 1
        if call.disposition in NUISANCE_DISPOSITIONS:
            counts[key][call.disposition] += 1
        last[key] = max(last.get(key, call.started_at), call.started_at)
    rows = [
        NuisanceRow(key, c["prank"], c["ghost"], c["calls"], last[key])
        for key, c in counts.items()
        if c["prank"] + c["ghost"]
    ]
    rows.sort(key=lambda r: (-r.nuisance, -r.last_call.timestamp(), r.caller))
    return tuple(rows[:top])


def _callbacks(
    period: Period,
    tasks: Iterable[CallbackTaskFacts],
    attempts: Iterable[CallbackAttemptFacts],
    available: bool,
    pseudo_calls: int,
) -> Callbacks:
    created = [t for t in tasks if period.contains(t.created_at)]
    all_attempts = list(attempts)
    made = [a for a in all_attempts if period.contains(a.started_at)]
    first: dict[str, datetime] = {}
    for attempt in all_attempts:
        first[attempt.task_id] = min(
            first.get(attempt.task_id, attempt.started_at), attempt.started_at
        )
    waits = sorted(
        max(0.0, (first[t.task_id] - t.created_at).total_seconds())
        for t in created
        if t.task_id in first
    )
    by_reason = Counter(t.reason for t in created)
    by_state = Counter(t.state for t in created)
    by_outcome = Counter(a.outcome for a in made)
    return Callbacks(
        available=available,
        tasks=len(created),
        by_reason=_ordered(by_reason, TASK_REASONS),
        by_state=_ordered(by_state, TASK_STATES),
        nuisance_tasks=sum(1 for t in created if t.nuisance),
        attempts=len(made),
        attempts_by_outcome=_ordered(by_outcome, ATTEMPT_OUTCOMES),
        first_attempt_p50=percentile(waits, 50),
        pseudo_calls=pseudo_calls,
    )


def _ordered(counts: Mapping[str, int], known: Sequence[str]) -> dict[str, int]:
    return {name: counts.get(name, 0) for name in [*known, *sorted(set(counts) - set(known))]}


def build_report(
    period: Period,
    calls: Iterable[CallFacts],
    tasks: Iterable[CallbackTaskFacts] = (),
    attempts: Iterable[CallbackAttemptFacts] = (),
    *,
    callbacks_available: bool = True,
    top: int = 10,
) -> Report:
    """Every figure for ``period`` from the journal's rows (rows outside it are ignored)."""
    in_period = [c for c in calls if period.contains(c.started_at)]
    pseudo = sum(1 for c in in_period if c.category == CALLBACK_CATEGORY)
    received = [c for c in in_period if c.category != CALLBACK_CATEGORY]
    ended = [c for c in received if c.ended_at is not None]
    times = [t for c in ended if (t := c.answer_time) is not None]
    outcomes = Counter(c.outcome or "?" for c in ended)
    abandon_waits = sorted(
        (c.ended_at - c.started_at).total_seconds()
        for c in ended
        if c.outcome == "ABANDONED" and c.ended_at is not None
    )
    nena = Nena(
        of_answered={s: Share(sum(1 for t in times if t <= s), len(times)) for s in NENA_TARGETS},
        of_offered={s: Share(sum(1 for t in times if t <= s), len(ended)) for s in NENA_TARGETS},
    )
    unknown = sum(1 for c in ended if c.outcome == "COMPLETED" and c.answered_at is None)
    notes = []
    if unknown:
        notes.append(
            f"{unknown} call(s) answered with no answer time (adopted after a restart): "
            "counted as not answered in time"
        )
    if not callbacks_available:
        notes.append("no callback tables in this journal (schema older than 0003)")
    return Report(
        period=period,
        received=len(received),
        in_progress=len(received) - len(ended),
        ended=len(ended),
        outcomes=_ordered(outcomes, OUTCOMES),
        answered=len(times),
        answered_time_unknown=unknown,
        abandoned=Share(outcomes.get("ABANDONED", 0), len(ended)),
        abandon_wait_p50=percentile(abandon_waits, 50),
        answer_times=_answer_times(times),
        nena=nena,
        dispositions=_category_rows(ended, "disposition", [*DISPOSITIONS, UNDISPOSED]),
        screening=_category_rows(ended, "category", SCREENING_CATEGORIES),
        hours=_hour_rows(ended, period),
        nuisance=_nuisance_rows(ended, top),
        callbacks=_callbacks(period, tasks, attempts, callbacks_available, pseudo),
        notes=tuple(notes),
    )


# -- renderers ------------------------------------------------------------------------------


def _pct(share: Share) -> str:
    percent = share.percent
    return "-" if percent is None else f"{percent:.1f}%"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> str:
    cells = [[str(v) for v in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        # Numbers read best right-aligned; the first column is a name.
        parts = [row[0].ljust(widths[0])] + [
            v.rjust(w) for v, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append(indent + "  ".join(parts).rstrip())
    return "\n".join(lines)


def _screening_name(name: str) -> str:
    return name or "(none)"


def render_text(report: Report) -> str:
    """The report as plain-text tables for a terminal or an e-mail."""
    r = report
    p = r.period
    lines = [
        f"callgate report: {p.label}",
        f"from {_local(p.start, p.tz)} to {_local(p.end, p.tz)} local time",
        "",
        "112 calls",
    ]
    summary: list[tuple[str, int, str]] = [
        ("received", r.received, ""),
        ("still in progress", r.in_progress, "not counted below"),
        ("offered (ended)", r.ended, "the denominator of the rates below"),
        ("answered by a call-taker", r.answered, _pct(Share(r.answered, r.ended))),
    ]
    if r.answered_time_unknown:
        summary.append(("answered, time unknown", r.answered_time_unknown, "after a restart"))
    summary += [
        ("abandoned", r.abandoned.part, f"{_pct(r.abandoned)} abandonment"),
        ("overflowed", r.outcomes.get("OVERFLOWED", 0), "to an overflow destination"),
        ("fallback queue", r.outcomes.get("FALLBACK", 0), "Asterisk's own queue"),
    ]
    for name, count in r.outcomes.items():
        if name not in OUTCOMES and count:
            summary.append((f"outcome {name}", count, ""))
    # The notes read as sentences: left-aligned after the numbers.
    lines += [f"  {name:<26}{count:>7}  {note}".rstrip() for name, count, note in summary]
    if r.abandon_wait_p50 is not None:
        lines.append(f"  abandoned callers waited {_secs(r.abandon_wait_p50)} s (median)")

    a = r.answer_times
    lines += [
        "",
        f"Answer time ({a.count} answered calls, seconds)",
        f"  mean {_secs(a.mean)}  p50 {_secs(a.p50)}  p90 {_secs(a.p90)}  "
        f"longest-10% mean {_secs(a.longest_10pct_mean)}  max {_secs(a.max)}",
        _table(
            ["answered in", "calls", "share"],
            [[label, n, _pct(Share(n, a.count))] for label, n in a.buckets],
        ),
        "",
        "NENA-STA-020.1: 90% of calls answered within 15 s, 95% within 20 s",
    ]
    nena_rows: list[list[object]] = []
    for s, target in NENA_TARGETS.items():
        offered, answered = r.nena.of_offered[s], r.nena.of_answered[s]
        met = r.nena.met(s)
        verdict = "-" if met is None else "met" if met else "NOT met"
        nena_rows.append(
            [
                f"within {s} s",
                f"{offered.part}/{offered.whole}",
                _pct(offered),
                f"{target:.0f}%",
                verdict,
                f"{answered.part}/{answered.whole}",
                _pct(answered),
            ]
        )
    lines.append(
        _table(
            ["", "of offered", "%", "target", "", "of answered", "%"],
            nena_rows,
        )
    )

    lines += ["", "Calls by disposition (set after the call)"]
    lines.append(_category_table(r.dispositions, r.ended, str))
    lines += ["", "Calls by screening category (at arrival)"]
    lines.append(_category_table(r.screening, r.ended, _screening_name))

    lines += ["", f"By hour of the day ({p.tz.key}; calls that started in that hour)"]
    lines.append(
        _table(
            ["hour", "offered", "answered", "<=15s", "<=20s", "abandoned", "p50 s", "p90 s"],
            [
                [
                    f"{h.hour:02d}:00",
                    h.offered,
                    h.answered,
                    _pct(Share(h.within_15, h.offered)),
                    _pct(Share(h.within_20, h.offered)),
                    h.abandoned,
                    _secs(h.p50),
                    _secs(h.p90),
                ]
                for h in r.hours
            ],
        )
    )
    lines.append("  (<=15s and <=20s: share of the hour's offered calls)")

    c = r.callbacks
    lines += ["", "Callbacks of abandoned calls"]
    if not c.available:
        lines.append("  not recorded in this journal (schema older than 0003)")
    else:
        lines.append(
            f"  tasks created {c.tasks} ("
            + ", ".join(f"{k} {v}" for k, v in c.by_reason.items())
            + f"; {c.nuisance_tasks} flagged nuisance)"
        )
        lines.append("  their state now: " + ", ".join(f"{k} {v}" for k, v in c.by_state.items()))
        lines.append(
            f"  attempts made {c.attempts}: "
            + ", ".join(f"{k} {v}" for k, v in c.attempts_by_outcome.items())
        )
        lines.append(f"  first attempt after {_secs(c.first_attempt_p50)} s (median)")
    lines.append(f"  callback calls left out of the 112 figures: {c.pseudo_calls}")

    lines += ["", f"Top nuisance callers (prank + ghost dispositions; {len(r.nuisance)} shown)"]
    if r.nuisance:
        lines.append(
            _table(
                ["caller", "prank", "ghost", "calls", "last call"],
                [
                    [n.caller, n.prank, n.ghost, n.calls, _local(n.last_call, p.tz)]
                    for n in r.nuisance
                ],
            )
        )
    else:
        lines.append("  none")
    if r.notes:
        lines += ["", "Notes"] + [f"  - {note}" for note in r.notes]
    return "\n".join(lines) + "\n"


def _category_table(rows: Sequence[CategoryRow], total: int, name: Any) -> str:
    return _table(
        ["", "calls", "share", "answered", "abandoned"],
        [
            [name(c.name), c.calls, _pct(Share(c.calls, total)), c.answered, c.abandoned]
            for c in rows
        ],
    )


#: Files written by :func:`write_csv`, one table each.
CSV_FILES = (
    "summary.csv",
    "answer_times.csv",
    "hours.csv",
    "dispositions.csv",
    "screening.csv",
    "callbacks.csv",
    "nuisance.csv",
)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def write_csv(report: Report, folder: Path) -> list[Path]:
    """Write one CSV file per table into ``folder`` (created if needed); return the files."""
    r = report
    p = r.period
    folder.mkdir(parents=True, exist_ok=True)
    a = r.answer_times
    summary: list[list[object]] = [
        ["period_start", p.start.astimezone(p.tz).isoformat()],
        ["period_end", p.end.astimezone(p.tz).isoformat()],
        ["time_zone", p.tz.key],
        ["received", r.received],
        ["in_progress", r.in_progress],
        ["offered", r.ended],
        ["answered", r.answered],
        ["answered_time_unknown", r.answered_time_unknown],
        *[[f"outcome_{k.lower()}", v] for k, v in r.outcomes.items()],
        ["abandonment_pct", _num(r.abandoned.percent)],
        ["abandon_wait_p50_s", _num(r.abandon_wait_p50)],
        ["answer_mean_s", _num(a.mean)],
        ["answer_p50_s", _num(a.p50)],
        ["answer_p90_s", _num(a.p90)],
        ["answer_longest_10pct_mean_s", _num(a.longest_10pct_mean)],
        ["answer_max_s", _num(a.max)],
    ]
    for s in NENA_TARGETS:
        offered, answered = r.nena.of_offered[s], r.nena.of_answered[s]
        summary += [
            [f"within_{s}s_of_offered", offered.part],
            [f"within_{s}s_of_offered_pct", _num(offered.percent)],
            [f"within_{s}s_of_answered_pct", _num(answered.percent)],
            [f"nena_{s}s_target_pct", f"{NENA_TARGETS[s]:.0f}"],
            [f"nena_{s}s_met", {None: "", True: "yes", False: "no"}[r.nena.met(s)]],
        ]
    tables: dict[str, tuple[list[str], list[list[object]]]] = {
        "summary.csv": (["metric", "value"], summary),
        "answer_times.csv": (["answered_in", "calls"], [[lbl, n] for lbl, n in a.buckets]),
        "hours.csv": (
            [
                "hour",
                "offered",
                "answered",
                "within_15s",
                "within_20s",
                "abandoned",
                "p50_s",
                "p90_s",
            ],
            [
                [
                    f"{h.hour:02d}",
                    h.offered,
                    h.answered,
                    h.within_15,
                    h.within_20,
                    h.abandoned,
                    _num(h.p50),
                    _num(h.p90),
                ]
                for h in r.hours
            ],
        ),
        "dispositions.csv": (
            ["disposition", "calls", "answered", "abandoned"],
            [[c.name, c.calls, c.answered, c.abandoned] for c in r.dispositions],
        ),
        "screening.csv": (
            ["category", "calls", "answered", "abandoned"],
            [[c.name, c.calls, c.answered, c.abandoned] for c in r.screening],
        ),
        "callbacks.csv": (["kind", "name", "count"], _callback_rows(r.callbacks)),
        "nuisance.csv": (
            ["caller", "prank", "ghost", "calls", "last_call"],
            [
                [n.caller, n.prank, n.ghost, n.calls, n.last_call.astimezone(p.tz).isoformat()]
                for n in r.nuisance
            ],
        ),
    }
    written = []
    for name in CSV_FILES:
        headers, rows = tables[name]
        path = folder / name
        with path.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(headers)
            writer.writerows(rows)
        written.append(path)
    return written


def _callback_rows(c: Callbacks) -> list[list[object]]:
    rows: list[list[object]] = [
        ["tasks", "created", c.tasks],
        ["tasks", "nuisance", c.nuisance_tasks],
        *[["task_reason", k, v] for k, v in c.by_reason.items()],
        *[["task_state", k, v] for k, v in c.by_state.items()],
        ["attempts", "made", c.attempts],
        *[["attempt_outcome", k, v] for k, v in c.attempts_by_outcome.items()],
        ["pseudo_calls", "callback", c.pseudo_calls],
    ]
    return rows


def write_png(report: Report, path: Path) -> Path:
    """A bar chart of the hours: calls answered within 15 s, 15-20 s, later, and not answered
    by a call-taker, stacked, with the p90 answer time on the right axis."""
    # Imported here: matplotlib is slow to import and the daemon never needs it.
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    hours = report.hours
    labels = [f"{h.hour:02d}" for h in hours]
    x = list(range(len(hours)))
    stacks = [
        ("answered <= 15 s", [h.within_15 for h in hours], "#2e7d32"),
        ("15-20 s", [h.within_20 - h.within_15 for h in hours], "#f9a825"),
        ("> 20 s", [h.later for h in hours], "#ef6c00"),
        ("not answered by a call-taker", [h.not_answered for h in hours], "#9e9e9e"),
    ]
    figure, axes = plt.subplots(figsize=(11, 5), dpi=100)
    try:
        bottom = [0] * len(hours)
        for label, values, colour in stacks:
            axes.bar(x, values, bottom=bottom, label=label, color=colour, width=0.8)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        axes.set_xticks(x, labels)
        axes.set_xlabel(f"hour of the day ({report.period.tz.key})")
        axes.set_ylabel("calls offered")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_title(f"112 calls by hour: {report.period.label}")
        p90_axes = axes.twinx()
        p90 = [math.nan if h.p90 is None else h.p90 for h in hours]
        p90_axes.plot(x, p90, "o-", color="#c62828", label="p90 answer time (s)")
        p90_axes.axhline(15, color="#c62828", linestyle=":", linewidth=1)
        p90_axes.set_ylabel("p90 answer time (s); dotted: 15 s")
        p90_axes.set_ylim(bottom=0)
        handles, names = axes.get_legend_handles_labels()
        more_handles, more_names = p90_axes.get_legend_handles_labels()
        # Below the plot, so it never hides a bar.
        axes.legend(
            handles + more_handles,
            names + more_names,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.12),
            ncol=5,
            fontsize=8,
            frameon=False,
        )
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)
    return path


# -- loader ---------------------------------------------------------------------------------


def readonly_url(url: str) -> tuple[URL, dict[str, Any]]:
    """The URL and connect arguments that open the journal read-only, never creating it."""
    shown = redact_url(url)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise JournalError(f"journal URL {shown} is not a database URL") from None
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise JournalError(
            f"journal URL {shown}: use {' or '.join(d + '://' for d in SUPPORTED_DRIVERS)}"
        )
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            raise JournalError(f"journal URL {shown} names no database file")
        if database.startswith("file:"):
            return parsed, {}
        if not Path(database).is_file():
            raise JournalError(f"no journal at {database} (has the daemon ever run here?)")
        # mode=ro: SQLite refuses every write, and never creates a missing file.
        uri = f"file:{quote(database)}"
        return parsed.set(database=uri, query={"mode": "ro", "uri": "true"}), {}
    return parsed, {"server_settings": {"default_transaction_read_only": "on"}}


async def open_journal_readonly(url: str) -> tuple[Journal, bool]:
    """The journal on ``url`` opened read-only and not migrated, and whether it has the
    callback tables. :class:`JournalError` if it cannot be read or is not a callgate journal."""
    parsed, connect_args = readonly_url(url)
    shown = redact_url(url)
    hidden = [parsed.password if isinstance(parsed.password, str) else None]
    engine = create_async_engine(parsed, connect_args=connect_args)
    if parsed.get_backend_name() == "sqlite":
        # A writer holding the lock for a moment must not fail the report at once.
        event.listen(engine.sync_engine, "connect", _sqlite_busy_timeout)
    journal = Journal(engine, shown, hidden)
    try:
        async with journal.transaction() as session:
            tables = set(await session.run_sync(_table_names))
    except JournalError as exc:
        await journal.close()
        raise JournalError(f"cannot open the journal: {exc}") from None
    missing = {"calls", "call_annotations"} - tables
    if missing:
        await journal.close()
        raise JournalError(
            f"{shown} is not a callgate journal, or older than this report "
            f"(no table {', '.join(sorted(missing))})"
        )
    return journal, {"callback_tasks", "callback_attempts"} <= tables


def _sqlite_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _table_names(session: Any) -> list[str]:
    names: list[str] = inspect(session.connection()).get_table_names()
    return names


async def load(
    journal: Journal, period: Period, *, callbacks: bool = True
) -> tuple[list[CallFacts], list[CallbackTaskFacts], list[CallbackAttemptFacts]]:
    """The rows of ``period``: calls with their disposition, callback tasks created in it, and
    every attempt of those tasks or made in the period."""
    async with journal.transaction() as session:
        # ``callbacks``: schema 0003, which also added ``calls.identity``.
        calls = await _load_calls(session, period, with_identity=callbacks)
        if not callbacks:
            return calls, [], []
        tasks = [
            CallbackTaskFacts(
                task_id=t.task_id,
                number=t.number,
                reason=t.reason,
                created_at=t.created_at,
                state=t.state,
                nuisance=bool(t.nuisance),
            )
            for t in await session.scalars(
                select(CallbackTaskRow).where(
                    CallbackTaskRow.created_at >= period.start,
                    CallbackTaskRow.created_at < period.end,
                )
            )
        ]
        created_in_period = (CallbackTaskRow.created_at >= period.start) & (
            CallbackTaskRow.created_at < period.end
        )
        # A subquery, not a list of ids: a year's tasks would pass SQLite's variable limit.
        of_these_tasks = CallbackAttemptRow.task_id.in_(
            select(CallbackTaskRow.task_id).where(created_in_period).scalar_subquery()
        )
        condition = (
            (CallbackAttemptRow.started_at >= period.start)
            & (CallbackAttemptRow.started_at < period.end)
        ) | of_these_tasks
        attempts = [
            CallbackAttemptFacts(task_id=a.task_id, started_at=a.started_at, outcome=a.outcome)
            for a in await session.execute(
                select(
                    CallbackAttemptRow.task_id,
                    CallbackAttemptRow.started_at,
                    CallbackAttemptRow.outcome,
                ).where(condition)
            )
        ]
    return calls, tasks, attempts


async def _load_calls(
    session: AsyncSession, period: Period, *, with_identity: bool
) -> list[CallFacts]:
    query = (
        select(
            CallRow.call_id,
            CallRow.caller,
            CallRow.category,
            CallRow.started_at,
            CallRow.ended_at,
            CallRow.outcome,
            CallRow.answered_at,
            AnnotationRow.disposition,
            CallRow.identity if with_identity else null().label("identity"),
        )
        .outerjoin(AnnotationRow, AnnotationRow.call_id == CallRow.call_id)
        .where(CallRow.started_at >= period.start, CallRow.started_at < period.end)
        .order_by(CallRow.started_at)
    )
    return [CallFacts(**row._mapping) for row in await session.execute(query)]


# -- command line ---------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``report`` options to ``parser``."""
    parser.add_argument(
        "-c",
        "--config",
        help=f"config file with the journal's [storage] url (default: {DEFAULT_CONFIG} if "
        "present, else built-in defaults; CALLGATE_STORAGE__URL overrides either)",
    )
    parser.add_argument("--day", help="a local day: 2026-11-23, today or yesterday")
    parser.add_argument(
        "--shift", help="with --day: the shift that starts that day (pagi, siang or malam)"
    )
    parser.add_argument(
        "--shifts",
        default="pagi=07-15,siang=15-23,malam=23-07",
        help="shift hours, local time (default: %(default)s)",
    )
    parser.add_argument(
        "--from", dest="start", metavar="FROM", help="start: '2026-11-01' or '2026-11-01 07:00'"
    )
    parser.add_argument("--to", dest="end", metavar="TO", help="end (not included), same forms")
    parser.add_argument(
        "--tz",
        default=DEFAULT_TZ,
        help="the centre's time zone: Asia/Jakarta (WIB, default), Asia/Makassar (WITA), "
        "Asia/Jayapura (WIT)",
    )
    parser.add_argument(
        "--csv", type=Path, metavar="DIR", help=f"also write {', '.join(CSV_FILES)} into DIR"
    )
    parser.add_argument(
        "--png", type=Path, metavar="FILE", help="also draw answer times per hour into FILE"
    )
    parser.add_argument(
        "--top", type=_positive, default=10, help="nuisance callers to list (default 10)"
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def period_from_args(args: argparse.Namespace, today: date) -> Period:
    """The period the arguments ask for; ``today`` is the local date (for today/yesterday)."""
    tz = zone(args.tz)
    if args.day is not None and (args.start is not None or args.end is not None):
        raise ReportUsageError("give either --day (with --shift) or --from and --to, not both")
    if args.day is not None:
        day = _parse_day(args.day, today)
        if args.shift is None:
            return day_period(day, tz)
        shifts = {s.name: s for s in parse_shifts(args.shifts)}
        if args.shift not in shifts:
            raise ReportUsageError(
                f"unknown shift {args.shift!r}: use {', '.join(shifts)} (or define it in --shifts)"
            )
        return shift_period(day, shifts[args.shift], tz)
    if args.shift is not None:
        raise ReportUsageError("--shift needs --day (the day the shift starts)")
    if args.start is None or args.end is None:
        raise ReportUsageError(
            "say which period: --day 2026-11-23, --day 2026-11-23 --shift malam, "
            "or --from 2026-11-01 --to 2026-12-01"
        )
    return range_period(parse_datetime(args.start), parse_datetime(args.end), tz)


def _parse_day(text: str, today: date) -> date:
    named = {"today": today, "yesterday": today - timedelta(days=1)}
    if text.lower() in named:
        return named[text.lower()]
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ReportUsageError(f"--day {text!r} is not a date (use 2026-11-23)") from None


def _storage_url(config: str | None) -> str:
    from callgate.config import ConfigError, load_settings

    path = config or (str(DEFAULT_CONFIG) if DEFAULT_CONFIG.is_file() else None)
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        raise ReportUsageError(f"{path or 'configuration'}: {exc}") from None
    return settings.storage.url.get_secret_value()


async def _read(url: str, period: Period, top: int) -> Report:
    journal, callbacks = await open_journal_readonly(url)
    try:
        calls, tasks, attempts = await load(journal, period, callbacks=callbacks)
    finally:
        await journal.close()
    return build_report(period, calls, tasks, attempts, callbacks_available=callbacks, top=top)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``callgate report``; returns the exit code."""
    try:
        tz = zone(args.tz)
        period = period_from_args(args, datetime.now(tz).date())
        url = _storage_url(args.config)
    except ReportUsageError as exc:
        print(f"callgate report: {exc}", file=sys.stderr)
        return USAGE
    began = time.monotonic()
    try:
        report = asyncio.run(_read(url, period, args.top))
    except JournalError as exc:
        print(f"callgate report: {exc}", file=sys.stderr)
        return DATABASE
    except SQLAlchemyError as exc:  # pragma: no cover - JournalError wraps the known cases
        print(
            f"callgate report: cannot read {redact_url(url)}: {type(exc).__name__}", file=sys.stderr
        )
        return DATABASE
    print(
        f"callgate report: {report.received + report.callbacks.pseudo_calls} calls read from "
        f"{redact_url(url)} in {time.monotonic() - began:.1f} s",
        file=sys.stderr,
    )
    sys.stdout.write(render_text(report))
    try:
        if args.csv is not None:
            files = write_csv(report, args.csv)
            print(f"callgate report: wrote {len(files)} CSV files into {args.csv}", file=sys.stderr)
        if args.png is not None:
            write_png(report, args.png)
            print(f"callgate report: wrote the chart {args.png}", file=sys.stderr)
    except OSError as exc:
        print(
            f"callgate report: cannot write {exc.filename or ''}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return USAGE
    return OK


def main(argv: Sequence[str] | None = None) -> int:
    """``callgate report ...`` (argv without the ``report`` word)."""
    parser = argparse.ArgumentParser(
        prog="callgate report",
        description="Figures of a day, a shift or a date range from the journal (read-only): "
        "calls by category, answer times and NENA compliance, abandonment, callbacks, "
        "nuisance callers. Exit 0 done, 1 journal unreadable, 2 bad arguments or config.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
