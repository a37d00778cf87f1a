"""Erlang C, the estimate ``callgate simulate --recommend`` prints beside its own count."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.tools.simulator import erlang


def test_given_the_textbook_10_erlangs_and_14_call_takers_then_the_published_figures() -> None:
    # 100 calls in 30 min, 180 s handling: 10 Erlangs. Published for 14 agents and a 20 s target
    # (R ErlangC 0.1.0 and pyworkforce's documentation): waiting 0.1741319, service level
    # 0.88835, mean speed of answer 7.8359 s.
    assert erlang.erlang_c(14, 10.0) == pytest.approx(0.1741319, abs=1e-7)
    assert erlang.service_level(14, 10.0, 180.0, 20.0) == pytest.approx(0.8883500, abs=1e-7)
    assert erlang.mean_wait(14, 10.0, 180.0) == pytest.approx(7.835937, abs=1e-6)


def test_given_the_textbook_traffic_then_14_call_takers_are_the_fewest_for_80_in_20_s() -> None:
    assert erlang.agents_needed(200.0, 180.0, target=20.0, level=0.8) == 14
    assert erlang.service_level(13, 10.0, 180.0, 20.0) < 0.8


def test_erlang_b_of_one_server_is_the_textbook_a_over_1_plus_a() -> None:
    assert erlang.erlang_b(1, 3.0) == pytest.approx(0.75)
    assert erlang.erlang_b(0, 3.0) == 1.0


def test_an_overloaded_centre_always_waits_and_never_meets_a_target() -> None:
    assert erlang.erlang_c(3, 3.0) == 1.0
    assert erlang.service_level(3, 4.0, 120.0, 15.0) == 0.0
    assert erlang.mean_wait(2, 2.0, 120.0) == math.inf


def test_no_calls_need_no_call_takers_and_bad_inputs_are_refused() -> None:
    assert erlang.agents_needed(0.0, 120.0) == 0
    assert erlang.agents_needed(10.0, 0.0) == 0
    with pytest.raises(ValueError, match="negative"):
        erlang.erlang_b(-1, 1.0)
    with pytest.raises(ValueError, match="more than 5"):
        erlang.agents_needed(3600.0, 60.0, limit=5)


def test_a_thousand_call_takers_do_not_overflow_floats() -> None:
    assert 0.0 < erlang.erlang_c(1000, 950.0) < 1.0


@given(
    rate=st.floats(0.5, 500.0),
    handle=st.floats(10.0, 900.0),
    target=st.sampled_from([10.0, 15.0, 20.0]),
)
def test_agents_needed_is_the_smallest_count_meeting_the_level(
    rate: float, handle: float, target: float
) -> None:
    n = erlang.agents_needed(rate, handle, target=target)
    load = rate / 3600.0 * handle
    assert erlang.service_level(n, load, handle, target) >= 0.9
    assert erlang.service_level(n - 1, load, handle, target) < 0.9


@given(agents=st.integers(1, 60), load=st.floats(0.01, 59.0))
def test_more_call_takers_never_lower_the_service_level(agents: int, load: float) -> None:
    one = erlang.service_level(agents, load, 120.0, 15.0)
    more = erlang.service_level(agents + 1, load, 120.0, 15.0)
    assert more >= one - 1e-12
