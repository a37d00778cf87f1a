"""The transition tables are the state machines: check them as data."""

from __future__ import annotations

import pytest

from callgate.core import (
    AGENT_TRANSITIONS,
    CALL_TRANSITIONS,
    TERMINAL_CALL_STATES,
    AgentState,
    CallState,
    InvalidTransitionError,
)
from callgate.core.agents import Agent, AgentTrigger
from callgate.core.calls import Call, CallTrigger


def _call(state: CallState) -> Call:
    call = Call(
        "c1",
        caller="0812",
        caller_name="0812",
        priority=1,
        category="",
        required_skill=None,
        arrived_at=0.0,
        seq=0,
    )
    call.state = state
    return call


@pytest.mark.parametrize(("move", "target"), list(CALL_TRANSITIONS.items()))
def test_each_call_table_entry_moves_the_call_to_its_target(
    move: tuple[CallState, CallTrigger], target: CallState
) -> None:
    call = _call(move[0])
    assert call.transition(move[1]) is move[0]
    assert call.state is target
    assert call.token == 1


@pytest.mark.parametrize(("move", "target"), list(AGENT_TRANSITIONS.items()))
def test_each_agent_table_entry_moves_the_agent_to_its_target(
    move: tuple[AgentState, AgentTrigger], target: AgentState
) -> None:
    agent = Agent("a1")
    agent.state = move[0]
    assert agent.transition(move[1]) is move[0]
    assert agent.state is target


def test_terminal_call_states_have_no_way_out() -> None:
    assert not [move for move in CALL_TRANSITIONS if move[0] in TERMINAL_CALL_STATES]


def test_every_call_state_but_arrived_is_reachable_and_every_live_state_can_end() -> None:
    targets = set(CALL_TRANSITIONS.values())
    assert targets == set(CallState) - {CallState.ARRIVED}
    live = set(CallState) - TERMINAL_CALL_STATES - {CallState.ARRIVED}
    # The caller can always hang up: no live state can trap a call.
    assert all((state, CallTrigger.CALLER_HANGUP) in CALL_TRANSITIONS for state in live)


def test_call_move_missing_from_the_table_raises_and_leaves_the_state_alone() -> None:
    call = _call(CallState.QUEUED)
    with pytest.raises(InvalidTransitionError, match="c1: no transition from QUEUED on BRIDGED"):
        call.transition(CallTrigger.BRIDGED)
    assert call.state is CallState.QUEUED


def test_agent_move_missing_from_the_table_raises_and_leaves_the_state_alone() -> None:
    agent = Agent("a1")
    with pytest.raises(InvalidTransitionError, match="a1: no transition from LOGGED_OUT on OFFER"):
        agent.transition(AgentTrigger.OFFER)
    assert agent.state is AgentState.LOGGED_OUT
