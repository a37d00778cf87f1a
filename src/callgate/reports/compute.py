"""The figures of a report from the journal's rows: pure, no IO, no clock.

Every figure over answer times (percentiles, longest 10%, answered within N s, rates) comes from
:mod:`callgate.core.kpi`, the one implementation the simulator's KPIs use too.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from callgate.core import kpi
from callgate.core.callbacks import CALLBACK_CATEGORY
from callgate.core.screening import history_key
from callgate.reports.figures import (
    ATTEMPT_OUTCOMES,
    BUCKETS,
    DISPOSITIONS,
    NENA_TARGETS,
    NUISANCE_DISPOSITIONS,
    OUTCOMES,
    SCREENING_CATEGORIES,
    TASK_REASONS,
    TASK_STATES,
    UNDISPOSED,
    AnswerTimes,
    Callbacks,
    CategoryRow,
    HourRow,
    Nena,
    NuisanceRow,
    Report,
    Share,
)
from callgate.reports.periods import Period
from callgate.storage.reports import CallbackAttemptFacts, CallbackTaskFacts, CallFacts


def _answer_times(times: Sequence[float]) -> AnswerTimes:
    ordered = sorted(times)
    counts = [0] * (len(BUCKETS) + 1)
    for t in ordered:
        counts[next((i for i, b in enumerate(BUCKETS) if t <= b), len(BUCKETS))] += 1
    labels = [f"{lo}-{hi} s" for lo, hi in zip((0, *BUCKETS), BUCKETS, strict=False)]
    labels.append(f">{BUCKETS[-1]} s")
    return AnswerTimes(
        count=len(ordered),
        mean=kpi.mean(ordered),
        p50=kpi.percentile(ordered, 50),
        p90=kpi.percentile(ordered, 90),
        longest_10pct_mean=kpi.longest_tenth_mean(ordered),
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
                within_15=kpi.answered_within(times, 15),
                within_20=kpi.answered_within(times, 20),
                abandoned=sum(1 for c in group if c.outcome == "ABANDONED"),
                p50=kpi.percentile(times, 50),
                p90=kpi.percentile(times, 90),
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
        first_attempt_p50=kpi.percentile(waits, 50),
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
        of_answered={s: Share(kpi.answered_within(times, s), len(times)) for s in NENA_TARGETS},
        of_offered={s: Share(kpi.answered_within(times, s), len(ended)) for s in NENA_TARGETS},
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
        abandon_wait_p50=kpi.percentile(abandon_waits, 50),
        answer_times=_answer_times(times),
        nena=nena,
        dispositions=_category_rows(ended, "disposition", [*DISPOSITIONS, UNDISPOSED]),
        screening=_category_rows(ended, "category", SCREENING_CATEGORIES),
        hours=_hour_rows(ended, period),
        nuisance=_nuisance_rows(ended, top),
        callbacks=_callbacks(period, tasks, attempts, callbacks_available, pseudo),
        notes=tuple(notes),
    )
