"""The answer-time figures of :mod:`callgate.core.kpi`: the one implementation that the
simulator's :func:`compute_kpis` and ``callgate report`` share."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.core.calls import CallState
from callgate.core.commands import CallEnded
from callgate.core.kpi import (
    NENA_TARGETS,
    THRESHOLDS,
    answered_within,
    compute_kpis,
    longest_tenth_mean,
    mean,
    meets_target,
    percent,
    percentile,
)


def test_percent_is_none_without_a_whole_not_zero() -> None:
    assert percent(0, 0) is None
    assert percent(0, 4) == 0.0
    assert percent(1, 3) == pytest.approx(100 / 3)


def test_answered_within_counts_the_limit_itself() -> None:
    assert answered_within([14.9, 15.0, 15.001, 3.0], 15) == 3
    assert answered_within([], 15) == 0


def test_mean_of_nothing_is_none() -> None:
    assert mean([]) is None
    assert mean([1.0, 2.0, 6.0]) == 3.0


@pytest.mark.parametrize(
    ("p", "expected"),
    [(0, 1.0), (10, 1.0), (50, 5.0), (51, 6.0), (90, 9.0), (91, 10.0), (100, 10.0)],
)
def test_percentile_is_nearest_rank(p: float, expected: float) -> None:
    values = [float(n) for n in range(1, 11)]
    assert percentile(values, p) == expected


def test_percentile_of_nothing_is_none() -> None:
    assert percentile([], 90) is None


def test_longest_tenth_is_at_least_one_call_and_rounds_up() -> None:
    assert longest_tenth_mean([]) is None
    assert longest_tenth_mean([7.0]) == 7.0
    assert longest_tenth_mean([float(n) for n in range(1, 11)]) == 10.0
    # 11 calls: ceil(1.1) = the 2 longest.
    assert longest_tenth_mean([float(n) for n in range(1, 12)]) == 10.5


@pytest.mark.parametrize(
    ("seconds", "share", "met"),
    [(15, 90.0, True), (15, 89.99, False), (20, 95.0, True), (20, 94.0, False)],
)
def test_meets_target_follows_nena(seconds: int, share: float, met: bool) -> None:
    assert NENA_TARGETS[seconds] in (90.0, 95.0)
    assert meets_target(seconds, share) is met


def test_meets_target_has_no_verdict_without_calls_or_target() -> None:
    assert meets_target(15, None) is None
    assert meets_target(10, 100.0) is None  # NFPA's 10 s is shown, not judged against NENA


def _ended(n: int, answer: float | None, outcome: CallState) -> CallEnded:
    return CallEnded(
        call_id=f"c{n}",
        outcome=outcome,
        caller="0811",
        category="",
        priority=1,
        arrived_at=0.0,
        answered_at=answer,
        ended_at=500.0,
        agent_id=None,
        destination=None,
    )


@given(
    st.lists(
        st.one_of(st.none(), st.floats(min_value=0, max_value=400, allow_nan=False)),
        max_size=40,
    )
)
def test_compute_kpis_is_made_of_the_same_figures(answers: list[float | None]) -> None:
    records = [
        _ended(n, a, CallState.ABANDONED if a is None else CallState.COMPLETED)
        for n, a in enumerate(answers)
    ]
    report = compute_kpis(records)
    times = sorted(a for a in answers if a is not None)
    for s in THRESHOLDS:
        assert report.answered_within[s] == (percent(answered_within(times, s), len(records)) or 0)
    for got, want in [
        (report.mean_answer_time, mean(times)),
        (report.longest_10pct_mean, longest_tenth_mean(times)),
    ]:
        assert math.isnan(got) if want is None else got == want
