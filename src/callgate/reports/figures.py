"""What a report holds: its figures as plain frozen dataclasses, and the names it counts by.

Definitions (answer time, offered, answered within N s, longest 10%) are in the package's
docstring; the arithmetic over answer times is :mod:`callgate.core.kpi`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from callgate.core import kpi
from callgate.core.callbacks import AttemptOutcome, CallbackReason, TaskState
from callgate.core.calls import TERMINAL_CALL_STATES, CallState
from callgate.core.screening import (
    CATEGORY_ANONYMOUS,
    CATEGORY_BLOCKED,
    CATEGORY_BLOCKED_VALVE,
    CATEGORY_GHOST,
    CATEGORY_NONE,
    CATEGORY_REPEAT_NUISANCE,
    CATEGORY_SILENT_KEY_PRESSED,
    Disposition,
)
from callgate.reports.periods import Period

#: NENA-STA-020.1-2020 (../shared/DOMAIN.md, "Standards"): 90% of calls answered within 15 s,
#: 95% within 20 s (the core's KPI targets). The standard counts every call offered to the centre,
#: so the targets are judged on "% of calls offered"; "% of calls answered" is shown beside it.
NENA_TARGETS: Mapping[int, float] = kpi.NENA_TARGETS
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
        return kpi.percent(self.part, self.whole)


@dataclass(frozen=True, slots=True)
class Nena:
    """Answer within 15 s and 20 s: of answered calls, and of all calls offered (the standard)."""

    of_answered: Mapping[int, Share]
    of_offered: Mapping[int, Share]

    def met(self, seconds: int) -> bool | None:
        """Whether the NENA target for ``seconds`` is met (None without calls)."""
        return kpi.meets_target(seconds, self.of_offered[seconds].percent)


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
