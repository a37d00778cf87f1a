"""Wrap-up counts from when the call ended by the phone system's clock, not when we heard of it."""

from __future__ import annotations

import math

import pytest
from conftest import Harness, of
from hypothesis import given
from hypothesis import strategies as st

from callgate.core import (
    AcdConfig,
    AgentHungUp,
    AgentState,
    CallerHungUp,
    RingAgent,
    StartWrapUp,
)

WRAP = 5.0


def _talking(talk: float = 30.0) -> Harness:
    """a1 in conversation with c1 (bridged at t=1000) for ``talk`` s, c2 waiting behind it."""
    h = Harness(AcdConfig(wrap_up_time=WRAP, max_wait=None))
    h.login("a1")
    h.arrive("c1")
    h.connect("c1", "a1")
    h.arrive("c2")
    h.advance(talk)
    return h


@pytest.mark.parametrize("kind", ["agent", "caller"])
def test_wrap_up_ends_wrap_up_time_after_the_hang_up_by_the_phone_system_s_clock(
    kind: str,
) -> None:
    h = _talking()
    heard = h.now  # 1030: the hang-up happened 0.25 s before we heard of it
    event = AgentHungUp("c1", "a1", at=heard - 0.25) if kind == "agent" else None
    out = h.send(event or CallerHungUp("c1", at=heard - 0.25))
    assert of(StartWrapUp, out)[0].until == heard - 0.25 + WRAP
    assert h.acd.next_deadline() == heard - 0.25 + WRAP
    # The next caller rings the call-taker at that moment, not 0.25 s later.
    rings = of(RingAgent, h.advance(WRAP - 0.25))
    assert [(r.call_id, r.agent_id) for r in rings] == [("c2", "a1")]
    assert h.now == heard + WRAP - 0.25


@pytest.mark.parametrize(
    ("at", "start"),
    [
        (None, 1030.0),  # no stamp: from when we heard of it, as before
        (1031.0, 1030.0),  # a clock ahead of ours never lengthens the wrap-up
        (math.inf, 1030.0),
        (math.nan, 1030.0),
        (1030.0, 1030.0),
        (1029.5, 1029.5),
        (900.0, 1000.0),  # before the conversation began (a replay): from its start
        (-math.inf, 1000.0),
    ],
)
def test_a_stamp_is_used_only_between_the_conversation_s_start_and_now(
    at: float | None, start: float
) -> None:
    h = _talking()
    out = h.send(AgentHungUp("c1", "a1", at=at))
    assert of(StartWrapUp, out)[0].until == start + WRAP


def test_a_wrap_up_already_over_ends_on_the_next_timer_and_the_next_call_rings() -> None:
    # Heard of the hang-up 10 s late, wrap-up 5 s: the call-taker is due at once.
    h = _talking(talk=20.0)
    out = h.send(AgentHungUp("c1", "a1", at=h.now - 10.0), after=10.0)
    assert h.agent("a1") == "WRAP_UP"  # never offered within the event that ended the call
    assert not of(RingAgent, out)
    deadline = h.acd.next_deadline()
    assert deadline is not None
    assert deadline < h.now
    assert h.acd.handle_timer(h.now)  # the driver fires it at once
    assert h.agent("a1") == "RINGING"
    assert h.acd.agents["a1"].call_id == "c2"


def test_stale_wrap_up_timer_of_an_early_stamp_does_not_end_a_later_wrap_up() -> None:
    h = _talking()
    h.send(AgentHungUp("c1", "a1", at=h.now - 1.0))
    h.advance(WRAP)  # a1 rung for c2 after its wrap-up ...
    h.connect("c2", "a1")
    h.advance(2.0)
    h.send(AgentHungUp("c2", "a1", at=h.now))
    h.advance(WRAP - 0.5)
    assert h.agent("a1") == "WRAP_UP"
    h.advance(0.5)
    assert h.agent("a1") == "AVAILABLE"


@given(
    talk=st.floats(0.0, 100.0),
    late=st.floats(0.0, 30.0),
    at=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    by_agent=st.booleans(),
)
def test_wrap_up_deadline_stays_between_the_conversation_s_start_and_now(
    talk: float, late: float, at: float | None, by_agent: bool
) -> None:
    h = _talking(talk)
    began = h.acd.calls["c1"].answered_at
    assert began is not None
    h.advance(late)
    event = AgentHungUp("c1", "a1", at=at) if by_agent else CallerHungUp("c1", at=at)
    until = of(StartWrapUp, h.send(event))[0].until
    assert began + WRAP <= until <= h.now + WRAP
    if at is not None and began <= at <= h.now:
        assert until == at + WRAP
    # Whatever the stamp, the call-taker comes back and takes the waiting caller.
    h.advance(max(0.0, until - h.now))
    assert h.acd.agents["a1"].state is AgentState.RINGING
    assert h.acd.agents["a1"].call_id == "c2"
