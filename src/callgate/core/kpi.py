"""KPIs computed from the core's own records (``CallEnded``, ``AgentStateChanged``).

Definitions, so that figures can be compared with NENA-STA-020.1 and the EU indicators:

- answer time: from the call's arrival in the core to the answer of the call-taker who then
  talked with the caller;
- "% answered within N s": calls answered by a call-taker within N s, over *all* calls that
  ended (abandoned and overflowed calls count as not answered in time: the strict reading);
- abandonment rate: calls whose caller hung up before anyone took them, over all calls;
- longest-10% average: the mean of the longest tenth of answer times (at least one call);
- percentiles (p50, p90): nearest rank, so always an answer time that occurred;
- occupancy: time on calls and in wrap-up over time logged in and not paused.

The figures over answer times (:func:`answered_within`, :func:`mean`, :func:`percentile`,
:func:`longest_tenth_mean`, :func:`percent`, :func:`meets_target`) are the one implementation:
:func:`compute_kpis` (the simulator) and ``callgate report`` (the journal) both use them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from callgate.core.agents import AgentState
from callgate.core.calls import CallState
from callgate.core.commands import AgentStateChanged, CallEnded

#: Answer-time thresholds reported, in seconds (NFPA 1225: 10 s; NENA: 15 s and 20 s).
THRESHOLDS = (10, 15, 20)
#: NENA-STA-020.1 targets: 90% within 15 s, 95% within 20 s.
NENA_TARGETS: Mapping[int, float] = {15: 90.0, 20: 95.0}

_BUSY = frozenset({AgentState.ON_CALL, AgentState.WRAP_UP})
_STAFFED = _BUSY | {AgentState.AVAILABLE, AgentState.RINGING}


@dataclass(frozen=True, slots=True)
class KpiReport:
    """KPIs over one set of calls."""

    calls: int
    "Calls that ended."
    answered: int
    "Calls a call-taker talked with."
    abandoned: int
    "Calls whose caller hung up first."
    overflowed: int
    "Calls taken by an overflow destination."
    fallback: int
    "Calls handed to the fallback queue."
    answered_within: Mapping[int, float]
    "Threshold in seconds -> percentage of all calls answered within it."
    abandonment_rate: float
    "Percentage of calls abandoned."
    mean_answer_time: float
    "Mean answer time of answered calls (NaN if none)."
    longest_10pct_mean: float
    "Mean of the longest 10% of answer times (NaN if none)."
    occupancy: Mapping[str, float]
    "Agent id -> percentage of staffed time spent on calls or in wrap-up."


def percent(part: int, whole: int) -> float | None:
    """``part`` as a percentage of ``whole``; None when ``whole`` is 0 (no calls, no rate)."""
    return 100.0 * part / whole if whole else None


def answered_within(answer_times: Iterable[float], seconds: float) -> int:
    """How many answer times are within ``seconds``, inclusive: 15.0 s counts as within 15 s."""
    return sum(1 for t in answer_times if t <= seconds)


def mean(values: Sequence[float]) -> float | None:
    """The mean of ``values``; None if there are none."""
    return sum(values) / len(values) if values else None


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (a value that occurred) of ascending values; None if empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def longest_tenth_mean(sorted_times: Sequence[float]) -> float | None:
    """The mean of the longest tenth of ascending answer times (at least one); None if empty."""
    if not sorted_times:
        return None
    return mean(sorted_times[-max(1, math.ceil(len(sorted_times) / 10)) :])


def meets_target(seconds: int, percent_within: float | None) -> bool | None:
    """Whether ``percent_within`` (% of calls offered answered within ``seconds``) meets the
    NENA target for ``seconds``; None without a target for it or without calls."""
    target = NENA_TARGETS.get(seconds)
    if target is None or percent_within is None:
        return None
    return percent_within >= target


def _percent(part: int, whole: int) -> float:
    rate = percent(part, whole)
    return 0.0 if rate is None else rate


def _nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


def compute_kpis(
    ended: Iterable[CallEnded],
    agent_changes: Iterable[AgentStateChanged] = (),
    until: float | None = None,
) -> KpiReport:
    """KPIs from call records and agent state changes (in time order) up to ``until``."""
    records = list(ended)
    outcomes = [r.outcome for r in records]
    times = sorted(t for r in records if (t := r.answer_time) is not None)
    total = len(records)
    within = {s: _percent(answered_within(times, s), total) for s in THRESHOLDS}
    return KpiReport(
        calls=total,
        answered=len(times),
        abandoned=outcomes.count(CallState.ABANDONED),
        overflowed=outcomes.count(CallState.OVERFLOWED),
        fallback=outcomes.count(CallState.FALLBACK),
        answered_within=within,
        abandonment_rate=_percent(outcomes.count(CallState.ABANDONED), total),
        mean_answer_time=_nan_if_none(mean(times)),
        longest_10pct_mean=_nan_if_none(longest_tenth_mean(times)),
        occupancy=occupancy(agent_changes, until),
    )


def occupancy(changes: Iterable[AgentStateChanged], until: float | None = None) -> dict[str, float]:
    """Agent id -> % of staffed time (available, ringing, on call, wrap-up) that was busy."""
    busy: dict[str, float] = {}
    staffed: dict[str, float] = {}
    last: dict[str, AgentStateChanged] = {}

    def close(change: AgentStateChanged, end: float) -> None:
        spent = end - change.at
        if change.new in _STAFFED:
            staffed[change.agent_id] = staffed.get(change.agent_id, 0.0) + spent
        if change.new in _BUSY:
            busy[change.agent_id] = busy.get(change.agent_id, 0.0) + spent

    for change in changes:
        previous = last.get(change.agent_id)
        if previous is not None:
            close(previous, change.at)
        last[change.agent_id] = change
    for change in last.values():
        close(change, change.at if until is None else max(until, change.at))
    return {
        agent_id: 100.0 * busy.get(agent_id, 0.0) / staffed[agent_id]
        if staffed.get(agent_id)
        else 0.0
        for agent_id in last
    }
