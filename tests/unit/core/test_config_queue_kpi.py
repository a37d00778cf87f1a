"""AcdConfig validation, the waiting queue's bookkeeping, strategy registry and KPIs."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.core import (
    AcdConfig,
    AcdConfigError,
    AgentState,
    AgentStateChanged,
    CallEnded,
    CallState,
    compute_kpis,
)
from callgate.core.calls import Call
from callgate.core.kpi import occupancy
from callgate.core.queue import WaitingQueue
from callgate.core.strategies import make_strategy


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "random"}, "unknown strategy"),
        ({"overflow_destinations": ()}, "fallback queue"),
        ({"ring_timeout": 0}, "ring_timeout"),
        ({"wrap_up_time": -1}, "wrap_up_time"),
        ({"max_consecutive_no_answers": 0}, "max_consecutive_no_answers"),
        ({"max_wait": 0}, "max_wait"),
        ({"aging_interval": -5}, "aging_interval"),
        ({"skill_relax_after": 0}, "skill_relax_after"),
    ],
)
def test_impossible_config_is_refused_with_the_key_named(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(AcdConfigError, match=message):
        AcdConfig(**kwargs)


def test_make_strategy_names_the_known_strategies_when_the_name_is_unknown() -> None:
    with pytest.raises(AcdConfigError, match="longest-idle"):
        make_strategy("nope")


def _call(n: int, priority: int = 1) -> Call:
    return Call(
        f"c{n}",
        caller="",
        caller_name="",
        priority=priority,
        category="",
        required_skill=None,
        arrived_at=float(n),
        seq=n,
    )


def test_queue_discarding_most_calls_compacts_the_heap_and_keeps_order() -> None:
    queue = WaitingQueue()
    calls = [_call(n) for n in range(300)]
    for call in calls:
        queue.push(call)
    for call in calls[:290]:
        queue.discard(call)
    queue.discard(calls[0])  # already gone: a no-op
    assert len(queue) == 10
    assert len(queue._heaps[None]) < 100
    assert queue.calls() == calls[290:]
    assert queue.heads() == [calls[290]]


def test_queue_drops_empty_skill_groups() -> None:
    queue = WaitingQueue()
    call = _call(1)
    queue.push(call)
    queue.discard(call)
    assert queue.heads() == []
    assert queue._heaps == {}


def _ended(call_id: str, outcome: CallState, answer: float | None) -> CallEnded:
    return CallEnded(
        call_id=call_id,
        outcome=outcome,
        caller="",
        category="",
        priority=1,
        arrived_at=100.0,
        answered_at=None if answer is None else 100.0 + answer,
        ended_at=200.0,
        agent_id=None,
        destination=None,
    )


def test_kpis_follow_the_documented_definitions() -> None:
    records = [_ended(f"c{n}", CallState.COMPLETED, float(n)) for n in range(1, 19)]
    records += [_ended("ab", CallState.ABANDONED, None), _ended("ov", CallState.OVERFLOWED, None)]
    report = compute_kpis(records)
    assert (
        report.calls,
        report.answered,
        report.abandoned,
        report.overflowed,
        report.fallback,
    ) == (20, 18, 1, 1, 0)
    assert report.answered_within == {10: 50.0, 15: 75.0, 20: 90.0}
    assert report.abandonment_rate == 5.0
    assert report.mean_answer_time == pytest.approx(9.5)
    assert report.longest_10pct_mean == pytest.approx(17.5)  # ceil(18 / 10) = 2 longest: 17, 18
    assert report.occupancy == {}


def test_kpis_of_no_calls_are_zero_or_nan_not_errors() -> None:
    report = compute_kpis([])
    assert report.answered_within == {10: 0.0, 15: 0.0, 20: 0.0}
    assert math.isnan(report.mean_answer_time)
    assert math.isnan(report.longest_10pct_mean)


def _change(agent_id: str, new: AgentState, at: float) -> AgentStateChanged:
    return AgentStateChanged(agent_id, AgentState.LOGGED_OUT, new, "test", at)


def test_occupancy_is_busy_time_over_staffed_time_excluding_pauses() -> None:
    changes = [
        _change("a1", AgentState.AVAILABLE, 0.0),
        _change("a2", AgentState.AVAILABLE, 0.0),
        _change("a1", AgentState.RINGING, 10.0),
        _change("a1", AgentState.ON_CALL, 20.0),
        _change("a1", AgentState.WRAP_UP, 50.0),
        _change("a1", AgentState.PAUSED, 60.0),
        _change("a2", AgentState.LOGGED_OUT, 0.0),
        _change("a3", AgentState.PAUSED, 5.0),
    ]
    # a1: staffed 0..60 (60 s), busy 20..60 (40 s); the pause until 100 does not count.
    assert occupancy(changes, until=100.0) == {"a1": pytest.approx(200 / 3), "a2": 0.0, "a3": 0.0}
    assert occupancy(changes)["a1"] == pytest.approx(200 / 3)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["push", "discard", "reprioritise"]),
            st.integers(0, 30),
            st.integers(0, 3),
        ),
        max_size=200,
    ),
    st.sampled_from([None, 7.0]),
)
def test_queue_matches_a_sorted_list_model_under_random_operations(
    ops: list[tuple[str, int, int]], aging: float | None
) -> None:
    queue = WaitingQueue(aging)
    calls = [_call(n, priority=n % 3) for n in range(31)]
    model: set[int] = set()
    for op, n, priority in ops:
        call = calls[n]
        if op == "push" and n not in model:
            queue.push(call)
            model.add(n)
        elif op == "discard":
            queue.discard(call)
            model.discard(n)
        elif op == "reprioritise" and n in model:
            queue.discard(call)
            call.priority = priority
            queue.push(call)
        expected = sorted((queue.key(calls[m]), calls[m].seq) for m in model)
        assert [(queue.key(c), c.seq) for c in queue.calls()] == expected
        assert len(queue) == len(model)
        heads = queue.heads()
        assert heads == (
            [calls[min(model, key=lambda m: (queue.key(calls[m]), m))]] if model else []
        )
