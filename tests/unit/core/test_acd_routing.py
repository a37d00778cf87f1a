"""Which call goes to whom: priority classes, aging, skills, strategies."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from conftest import Harness, actions, of

from callgate.core import (
    STRATEGIES,
    AcdConfig,
    AcdError,
    AgentHungUp,
    AgentNoAnswer,
    AgentPaused,
    AgentUnpaused,
    CallerHungUp,
    CallReprioritised,
    Priority,
    RingAgent,
)
from callgate.core.agents import Agent
from callgate.core.calls import Call


def _offers(h: Harness) -> list[str]:
    return [c.call_id for c in of(RingAgent, h.log)]


def _queue_then_release(h: Harness, arrivals: list[tuple[str, int]], gap: float = 1.0) -> list[str]:
    """Queue calls behind a paused agent, unpause, and serve them one by one."""
    h.login("a1")
    h.send(AgentPaused("a1"))
    for call_id, priority in arrivals:
        h.arrive(call_id, priority=priority)
        h.advance(gap)
    h.send(AgentUnpaused("a1"))
    for _ in arrivals[1:]:
        current = h.acd.agents["a1"].call_id or ""
        h.connect(current, "a1")
        h.send(AgentHungUp(current, "a1"))
        h.advance(h.acd.config.wrap_up_time)
    return _offers(h)


@pytest.mark.parametrize(
    ("arrivals", "order"),
    [
        ([("n1", 1), ("n2", 1), ("n3", 1)], ["n1", "n2", "n3"]),
        ([("n1", 1), ("cb", 0), ("n2", 1)], ["cb", "n1", "n2"]),
        ([("x1", 2), ("n1", 1), ("cb", 0), ("x2", 2)], ["cb", "n1", "x1", "x2"]),
    ],
)
def test_priority_classes_are_served_in_order_and_fifo_within_a_class(
    arrivals: list[tuple[str, int]], order: list[str]
) -> None:
    h = Harness(AcdConfig(max_wait=None))
    assert _queue_then_release(h, arrivals) == order


def test_aging_lets_an_old_low_class_call_overtake_a_fresh_high_class_call() -> None:
    config = AcdConfig(max_wait=None, aging_interval=10.0, wrap_up_time=0.0)
    h = Harness(config)
    # x1 (nuisance class) waited 25 s; n1 (normal) only 5 s: 25 - 2*10 = 5 < 20 - 1*10 + ...
    order = _queue_then_release(h, [("x1", Priority.NUISANCE), ("n1", Priority.NORMAL)], gap=20.0)
    assert order == ["x1", "n1"]
    h2 = Harness(AcdConfig(max_wait=None, wrap_up_time=0.0))
    assert _queue_then_release(h2, [("x1", 2), ("n1", 1)], gap=20.0) == ["n1", "x1"]


def test_reprioritising_a_waiting_call_moves_it_and_a_ringing_call_keeps_the_new_class() -> None:
    h = Harness(AcdConfig(max_wait=None, wrap_up_time=0.0))
    h.login("a1")
    h.arrive("c1")
    h.arrive("c2")
    h.arrive("c3")
    h.send(CallReprioritised("c3", Priority.CALLBACK))
    h.send(CallReprioritised("c1", Priority.NUISANCE))
    assert [c.call_id for c in h.acd.queued_calls()] == ["c3", "c2"]
    h.send(AgentNoAnswer("c1", "a1"))
    assert [c.call_id for c in h.acd.queued_calls()] == ["c2", "c1"]
    assert h.acd.calls["c1"].priority == Priority.NUISANCE


def test_reprioritising_with_a_category_and_tag_changes_the_record_and_the_next_ring() -> None:
    # Silence detection: a silent caller who pressed a key is raised and shown as such.
    h = Harness(AcdConfig(max_wait=None, wrap_up_time=0.0))
    h.login("a1")
    h.send(AgentPaused("a1", "break"))
    h.arrive("c1", caller_name="112 08c1")
    h.send(CallReprioritised("c1", Priority.CALLBACK, "silent-key-pressed", "KEY 08c1"))
    out = h.send(AgentUnpaused("a1"))
    assert [c.caller_id_name for c in out if isinstance(c, RingAgent)] == ["KEY 08c1"]
    assert h.acd.calls["c1"].category == "silent-key-pressed"


def test_call_needing_a_skill_waits_for_a_skilled_agent_then_relaxes() -> None:
    h = Harness(AcdConfig(skill_relax_after=30.0, max_wait=None))
    h.login("a1", skills={"id": 1})
    assert actions(h.arrive("c1", required_skill="tolaki")) == []
    out = h.advance(30.0)
    assert actions(out) == [("RingAgent", "c1", "a1")]
    assert h.acd.next_deadline() == h.now + 15.0


def test_skilled_agent_gets_the_skilled_call_ahead_of_an_older_unskilled_one() -> None:
    h = Harness(AcdConfig(max_wait=None))
    h.login("a1", skills={"id": 1})
    h.login("a2", skills={"tolaki": 1})
    h.send(AgentPaused("a1"))
    h.send(AgentPaused("a2"))
    h.arrive("c1")
    h.arrive("c2", required_skill="tolaki")
    assert actions(h.send(AgentUnpaused("a1"))) == [("RingAgent", "c1", "a1")]
    assert actions(h.send(AgentUnpaused("a2"))) == [("RingAgent", "c2", "a2")]


def test_skill_relaxing_while_the_call_rings_applies_when_it_is_requeued() -> None:
    h = Harness(AcdConfig(skill_relax_after=10.0, ring_timeout=15.0, max_wait=None))
    h.login("a1", skills={"tolaki": 1})
    h.login("a2")
    h.arrive("c1", required_skill="tolaki")
    h.advance(10.0)
    assert h.acd.calls["c1"].relaxed
    out = h.send(AgentNoAnswer("c1", "a1"))
    assert actions(out)[-1] == ("RingAgent", "c1", "a2")


def test_relax_timer_of_a_call_that_has_ended_is_skipped() -> None:
    h = Harness(AcdConfig(skill_relax_after=10.0))
    h.login("a1", skills={"tolaki": 1})
    h.arrive("c1", required_skill="tolaki")
    h.send(CallerHungUp("c1"))
    assert h.acd.next_deadline() is None


def _serve(
    strategy: str, agents: Sequence[str], calls: int, answered: dict[str, int] | None = None
) -> list[str]:
    h = Harness(AcdConfig(strategy=strategy, wrap_up_time=0.0))
    for agent_id in agents:
        h.login(agent_id)
        h.advance(1.0)
    for agent_id, count in (answered or {}).items():
        h.acd.agents[agent_id].calls_answered = count
    chosen = []
    for n in range(calls):
        out = h.arrive(f"c{n}")
        (ring,) = of(RingAgent, out)
        chosen.append(ring.agent_id)
        h.connect(ring.call_id, ring.agent_id)
        h.send(AgentHungUp(ring.call_id, ring.agent_id), after=1.0)
        h.advance(1.0)
    return chosen


@pytest.mark.parametrize(
    ("strategy", "agents", "calls", "answered", "expected"),
    [
        ("longest-idle", ["a1", "a2", "a3"], 4, None, ["a1", "a2", "a3", "a1"]),
        ("fewest-calls", ["a1", "a2", "a3"], 3, {"a1": 5, "a2": 1, "a3": 3}, ["a2", "a2", "a3"]),
        ("round-robin", ["a3", "a1", "a2"], 4, None, ["a1", "a2", "a3", "a1"]),
        ("skills", ["a1", "a2"], 2, None, ["a1", "a2"]),
    ],
)
def test_strategy_picks_the_expected_agents(
    strategy: str,
    agents: list[str],
    calls: int,
    answered: dict[str, int] | None,
    expected: list[str],
) -> None:
    assert _serve(strategy, agents, calls, answered) == expected


def test_skills_strategy_prefers_the_best_tier_even_after_the_requirement_relaxed() -> None:
    h = Harness(AcdConfig(strategy="skills", skill_relax_after=5.0, max_wait=None))
    h.login("a1", skills={"tolaki": 3})
    h.login("a2", skills={"tolaki": 1})
    h.login("a3")
    h.send(AgentPaused("a1"))
    h.send(AgentPaused("a2"))
    h.send(AgentPaused("a3"))
    h.arrive("c1", required_skill="tolaki")
    h.advance(6.0)
    h.send(AgentUnpaused("a3"))
    h.send(AgentUnpaused("a1"))
    assert _offers(h) == ["c1"]
    assert of(RingAgent, h.log)[0].agent_id == "a3"
    h2 = Harness(AcdConfig(strategy="skills"))
    h2.login("a3")
    h2.login("a1", skills={"tolaki": 3})
    h2.login("a2", skills={"tolaki": 1})
    assert actions(h2.arrive("c1", required_skill="tolaki")) == [("RingAgent", "c1", "a2")]


class _Broken:
    rings_all = False

    def choose(self, call: Call, candidates: Sequence[Agent], now: float) -> Sequence[Agent]:
        return list(candidates)


def test_a_registered_strategy_that_rings_several_agents_without_ring_all_is_refused() -> None:
    STRATEGIES["broken"] = _Broken
    try:
        h = Harness(AcdConfig(strategy="broken"))
        h.login("a1", "a2")
        with pytest.raises(AcdError, match="chose 2 agents"):
            h.arrive("c1")
    finally:
        del STRATEGIES["broken"]
