"""A supervisor's requests answered by the core (#24): assign a waiting caller, monitor."""

from __future__ import annotations

import pytest
from conftest import Harness, of

from callgate.core import (
    AcdConfig,
    AgentAnswered,
    AgentHungUp,
    AgentPaused,
    AgentUnpaused,
    CallArrived,
    CallbackPolicy,
    CallBridged,
    CallerHungUp,
    CancelRing,
    RingAgent,
    SendToDestination,
)
from callgate.core.supervision import (
    CallAssigned,
    MonitorCall,
    MonitorRequested,
    SupervisorAnswered,
)


def assign(h: Harness, call_id: str, agent_id: str) -> tuple[str, list[object]]:
    out = h.send(CallAssigned(call_id, agent_id, by="sari", request_id="r1"))
    (answered,) = of(SupervisorAnswered, out)
    assert (answered.action, answered.call_id, answered.agent_id) == ("assign", call_id, agent_id)
    assert (answered.by, answered.request_id) == ("sari", "r1")
    return answered.answer, list(out)


def test_a_caller_ringing_one_call_taker_is_given_to_the_free_one_chosen() -> None:
    h = Harness()
    h.login("a1", "a2")
    rang = of(RingAgent, h.arrive("c1"))
    assert [r.agent_id for r in rang] == ["a1"]  # longest-idle rings one
    said, out = assign(h, "c1", "a2")
    assert said == "ok"
    (cancel,) = of(CancelRing, out)
    assert (cancel.agent_id, cancel.reason) == ("a1", "assigned")
    (ring,) = of(RingAgent, out)
    assert (ring.call_id, ring.agent_id) == ("c1", "a2")
    assert h.agent("a1") == "AVAILABLE"
    assert h.agent("a2") == "RINGING"
    assert "a1" not in h.acd.calls["c1"].missed_by  # a supervisor's choice, not a miss


def test_a_queued_caller_nobody_may_take_is_offered_to_the_chosen_one() -> None:
    h = Harness(AcdConfig(skill_relax_after=None))
    h.login("a1")
    h.arrive("c1", required_skill="bali")  # a1 has no such skill: the caller waits
    assert h.state("c1") == "QUEUED"
    said, out = assign(h, "c1", "a1")
    assert said == "ok"
    assert [r.agent_id for r in of(RingAgent, out)] == ["a1"]


@pytest.mark.parametrize("who", ["a2", "a9", "paused"])
def test_a_call_taker_who_is_not_free_is_refused(who: str) -> None:
    h = Harness()
    h.login("a1", "a2", "paused")
    h.send(AgentPaused("paused", "break"))
    h.arrive("c1")  # rings a1
    h.arrive("c2")  # rings a2
    said, out = assign(h, "c1", who)
    assert said == "not-free"
    assert not of(RingAgent, out)
    assert not of(CancelRing, out)


def test_a_caller_not_waiting_is_refused() -> None:
    h = Harness()
    h.login("a1", "a2")
    h.arrive("c1")
    h.connect("c1", "a1")
    assert assign(h, "c1", "a2")[0] == "not-waiting"
    assert assign(h, "nobody", "a2")[0] == "not-waiting"


def test_a_callback_attempt_stays_the_worklists() -> None:
    h = Harness(AcdConfig(max_wait=None, wrap_up_time=5.0, callbacks=CallbackPolicy()))
    h.login("a1", "a2")
    h.send(AgentPaused("a2", "break"))
    h.send(CallArrived("busy", caller="+6289999"))
    h.connect("busy", "a1")
    h.send(CallArrived("gone", caller="+6281234567"))
    h.send(CallerHungUp("gone"), after=5.0)
    h.send(AgentHungUp("busy", "a1"))
    h.advance(5.0)  # a1 free: the attempt rings them
    (attempt,) = h.acd.calls
    h.send(AgentUnpaused("a2"))
    assert assign(h, attempt, "a2")[0] == "not-waiting"


def test_a_caller_past_max_wait_goes_to_the_chosen_one_not_to_overflow() -> None:
    # Withdrawing the last ring used to requeue the call, and past max_wait that overflowed
    # it: the caller went to the overflow destination instead of the chosen call-taker.
    h = Harness(AcdConfig(max_wait=30.0, ring_timeout=60.0))
    h.login("a1", "a2")
    h.arrive("c1")  # rings a1 (longest idle); its max-wait passes while it rings
    h.advance(40.0)
    said, out = assign(h, "c1", "a2")
    assert said == "ok"
    assert not of(SendToDestination, out)
    assert [c.agent_id for c in of(CancelRing, out)] == ["a1"]
    assert [r.agent_id for r in of(RingAgent, out)] == ["a2"]
    assert h.state("c1") == "OFFERED"
    assert (h.agent("a1"), h.agent("a2")) == ("AVAILABLE", "RINGING")
    # A ring that then fails sends the caller on, as any failed ring past max_wait does.
    out = h.advance(60.0)
    assert [s.reason for s in of(SendToDestination, out)][:1] == ["max-wait"]


def test_a_caller_ringing_all_is_given_to_the_one_chosen() -> None:
    h = Harness(AcdConfig(strategy="ring-all", max_wait=30.0, ring_timeout=60.0))
    h.login("a1", "a2", "a3")
    h.send(AgentPaused("a3", "break"))
    rang = of(RingAgent, h.arrive("c1"))
    assert sorted(r.agent_id for r in rang) == ["a1", "a2"]
    h.send(AgentUnpaused("a3"))
    h.advance(40.0)
    said, out = assign(h, "c1", "a3")
    assert said == "ok"
    assert not of(SendToDestination, out)
    cancels = of(CancelRing, out)
    assert sorted(c.agent_id for c in cancels) == ["a1", "a2"]
    assert {c.reason for c in cancels} == {"assigned"}
    assert [r.agent_id for r in of(RingAgent, out)] == ["a3"]
    assert h.state("c1") == "OFFERED"
    assert h.acd.calls["c1"].ringing == ["a3"]
    assert [h.agent(a) for a in ("a1", "a2", "a3")] == ["AVAILABLE", "AVAILABLE", "RINGING"]
    assert not h.acd.calls["c1"].missed_by
    h.send(AgentAnswered("c1", "a3"))
    h.send(CallBridged("c1"))
    assert h.state("c1") == "CONNECTED"


def monitor(h: Harness, agent_id: str, mode: str) -> tuple[SupervisorAnswered, list[object]]:
    out = h.send(MonitorRequested(agent_id, mode, "PJSIP/2001", by="sari", request_id="m1"))
    (answered,) = of(SupervisorAnswered, out)
    assert (answered.action, answered.by, answered.request_id) == (mode, "sari", "m1")
    return answered, list(out)


@pytest.mark.parametrize("mode", ["listen", "whisper", "barge"])
def test_a_connected_call_taker_may_be_monitored(mode: str) -> None:
    h = Harness()
    h.login("a1")
    h.arrive("c1")
    h.connect("c1", "a1")
    answered, out = monitor(h, "a1", mode)
    assert (answered.answer, answered.call_id) == ("ok", "c1")
    assert of(MonitorCall, out) == [MonitorCall("c1", "a1", mode, "PJSIP/2001", "sari")]


def test_nobody_is_monitored_off_a_conversation_nor_in_an_unknown_mode() -> None:
    h = Harness()
    assert monitor(h, "a1", "listen")[0].answer == "not-connected"  # never seen
    h.login("a1")
    assert monitor(h, "a1", "listen")[0].answer == "not-connected"  # free
    h.arrive("c1")
    assert monitor(h, "a1", "listen")[0].answer == "not-connected"  # ringing
    h.send(AgentAnswered("c1", "a1"))
    assert monitor(h, "a1", "listen")[0].answer == "not-connected"  # not bridged yet
    h.send(CallBridged("c1"))
    answered, out = monitor(h, "a1", "record")
    assert answered.answer == "invalid"
    assert not of(MonitorCall, out)
