"""Table-driven tests of a call's life through the facade, with an explicit clock."""

from __future__ import annotations

import pytest
from conftest import Harness, actions, of

from callgate.core import (
    Acd,
    AcdConfig,
    AcdUsageError,
    AgencyJoined,
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    AgentNoAnswer,
    AgentState,
    CallArrived,
    CallBridged,
    CallEnded,
    CallerHungUp,
    CallReprioritised,
    CallStateChanged,
    DestinationAnswered,
    DestinationFailed,
    Event,
    StartWrapUp,
)


def test_answered_call_is_rung_bridged_completed_and_the_agent_wraps_up() -> None:
    h = Harness(AcdConfig(wrap_up_time=10.0))
    h.login("a1")
    assert actions(h.arrive("c1")) == [("RingAgent", "c1", "a1")]
    assert actions(h.send(AgentAnswered("c1", "a1"), after=4.0)) == [("Bridge", "c1", "a1")]
    h.send(CallBridged("c1"))
    assert h.state("c1") == "CONNECTED"
    out = h.send(AgentHungUp("c1", "a1"), after=60.0)
    assert actions(out) == [("HangUpCaller", "c1"), ("StartWrapUp", "c1", "a1")]
    assert of(StartWrapUp, out)[0].until == h.now + 10.0
    (record,) = of(CallEnded, out)
    assert (record.outcome.name, record.answer_time, record.agent_id) == ("COMPLETED", 4.0, "a1")
    assert h.agent("a1") == "WRAP_UP"
    h.advance(9.9)
    assert h.agent("a1") == "WRAP_UP"
    h.advance(0.1)
    assert h.agent("a1") == "AVAILABLE"


def test_transition_log_reads_state_event_state_with_the_call_id() -> None:
    h = Harness()
    h.login("a1")
    h.arrive("c1")
    lines = [str(c) for c in h.log if isinstance(c, CallStateChanged)]
    assert lines == [
        "call c1: ARRIVED -[CallArrived]-> QUEUED",
        "call c1: QUEUED -[CallArrived]-> OFFERED",
    ]
    assert str(h.log[0]) == "agent a1: LOGGED_OUT -[AgentLoggedIn]-> AVAILABLE"


@pytest.mark.parametrize(
    ("reach", "expected_actions", "outcome", "agent_after"),
    [
        ("queued", [], "ABANDONED", "RINGING"),
        ("offered", [("CancelRing", "c1", "a1", "caller-hung-up")], "ABANDONED", "AVAILABLE"),
        ("connecting", [("HangUpAgent", "c1", "a1")], "ABANDONED", "AVAILABLE"),
        (
            "connected",
            [("HangUpAgent", "c1", "a1"), ("StartWrapUp", "c1", "a1")],
            "COMPLETED",
            "WRAP_UP",
        ),
    ],
)
def test_caller_hang_up_in_each_state_ends_the_call_and_frees_the_agent(
    reach: str, expected_actions: list[tuple[str, ...]], outcome: str, agent_after: str
) -> None:
    h = Harness()
    h.login("a1")
    h.arrive("c0")  # keeps a1 busy while c1 is queued
    h.arrive("c1")
    if reach != "queued":
        h.send(CallerHungUp("c0"))
        assert h.state("c1") == "OFFERED"
    if reach in ("connecting", "connected"):
        h.send(AgentAnswered("c1", "a1"))
    if reach == "connected":
        h.send(CallBridged("c1"))
    out = h.send(CallerHungUp("c1"), after=3.0)
    assert actions(out) == expected_actions
    assert h.state("c1") == outcome
    assert h.agent("a1") == agent_after
    assert "c1" not in h.acd.calls


def test_caller_hang_up_while_overflowing_abandons_the_call() -> None:
    h = Harness(AcdConfig(overflow_destinations=("sup", "fb")))
    assert actions(h.arrive("c1")) == [("SendToDestination", "c1", "nobody-logged-in", "sup")]
    assert actions(h.send(CallerHungUp("c1"))) == []
    assert h.state("c1") == "ABANDONED"


@pytest.mark.parametrize(
    "event",
    [
        CallerHungUp("ghost"),
        CallReprioritised("ghost", 0),
        CallBridged("ghost"),
        AgentHungUp("ghost", "a1"),
        AgentHungUp("c1", "nobody"),
        AgentNoAnswer("ghost", "a1"),
        AgentNoAnswer("c1", "nobody"),
        DestinationAnswered("ghost"),
        DestinationFailed("ghost"),
        DestinationAnswered("c1"),
        DestinationFailed("c1"),
        CallBridged("c1"),
    ],
)
def test_events_about_unknown_calls_or_calls_in_another_state_change_nothing(event: Event) -> None:
    h = Harness()
    h.login("a1")
    h.arrive("c1")
    before = len(h.log)
    assert h.send(event) == []
    assert len(h.log) == before
    assert h.state("c1") == "OFFERED"


def test_late_answer_for_a_withdrawn_offer_is_hung_up_not_bridged() -> None:
    h = Harness()
    h.login("a1", "a2")
    h.arrive("c1")
    assert actions(h.send(AgentAnswered("c1", "a2"))) == [("CancelRing", "c1", "a2", "not-offered")]
    assert actions(h.send(AgentAnswered("ghost", "a1"))) == [
        ("CancelRing", "ghost", "a1", "not-offered")
    ]
    assert actions(h.send(AgentAnswered("c1", "zz"))) == [("CancelRing", "c1", "zz", "not-offered")]
    assert h.agent("a2") == "AVAILABLE"


def test_duplicate_answer_from_the_same_agent_is_ignored() -> None:
    h = Harness()
    h.login("a1")
    h.arrive("c1")
    h.send(AgentAnswered("c1", "a1"))
    assert h.send(AgentAnswered("c1", "a1")) == []
    assert h.state("c1") == "CONNECTING"


def test_no_answer_from_an_agent_already_talking_is_ignored() -> None:
    h = Harness()
    h.login("a1")
    h.arrive("c1")
    h.connect("c1", "a1")
    assert h.send(AgentNoAnswer("c1", "a1")) == []
    assert h.state("c1") == "CONNECTED"


def test_same_call_arriving_twice_is_a_driver_bug() -> None:
    h = Harness()
    h.login("a1")
    h.arrive("c1")
    with pytest.raises(AcdUsageError, match="arrived twice"):
        h.arrive("c1")


def test_an_object_that_is_not_a_core_event_is_refused() -> None:
    with pytest.raises(AcdUsageError, match="not a core event"):
        Acd().handle(Event(), 0.0)


def test_ring_timeout_cancels_the_ring_and_offers_the_call_to_the_next_agent() -> None:
    h = Harness(AcdConfig(ring_timeout=15.0))
    h.login("a1", "a2")
    h.arrive("c1")
    out = h.advance(15.0)
    assert actions(out) == [("CancelRing", "c1", "a1", "ring-timeout"), ("RingAgent", "c1", "a2")]
    assert h.acd.agents["a1"].misses == 1


def test_ring_timeout_with_a_single_agent_offers_the_call_to_them_again() -> None:
    h = Harness(AcdConfig(ring_timeout=15.0, max_consecutive_no_answers=5, max_wait=None))
    h.login("a1")
    h.arrive("c1")
    out = h.advance(15.0)
    assert actions(out) == [("CancelRing", "c1", "a1", "ring-timeout"), ("RingAgent", "c1", "a1")]


@pytest.mark.parametrize("event_kind", [AgentNoAnswer, AgentHungUp])
def test_agent_declining_a_ring_moves_the_call_on_before_the_timeout(event_kind: type) -> None:
    h = Harness()
    h.login("a1", "a2")
    h.arrive("c1")
    out = h.send(event_kind("c1", "a1"))
    assert actions(out) == [("CancelRing", "c1", "a1", "no-answer"), ("RingAgent", "c1", "a2")]


def test_answer_then_hang_up_before_the_bridge_requeues_the_caller_at_the_head() -> None:
    # app_queue#1557: the caller must not be dropped.
    h = Harness()
    h.login("a1", "a2")
    h.arrive("c1")
    h.send(AgentAnswered("c1", "a1"))
    out = h.send(AgentHungUp("c1", "a1"))
    assert actions(out) == [("RingAgent", "c1", "a2")]
    assert h.acd.agents["a1"].state is AgentState.AVAILABLE
    h.connect("c1", "a2")
    h.send(CallerHungUp("c1"))
    (record,) = of(CallEnded, h.log)
    assert (record.outcome.name, record.agent_id) == ("COMPLETED", "a2")


def test_max_wait_overflows_through_each_destination_to_the_fallback_queue() -> None:
    config = AcdConfig(
        max_wait=30.0, ring_timeout=40.0, overflow_destinations=("sup", "neighbour", "fb")
    )
    h = Harness(config)
    h.login("a1")
    h.arrive("c0")
    h.arrive("c1")
    assert actions(h.advance(30.0)) == [("SendToDestination", "c1", "max-wait", "sup")]
    assert h.state("c0") == "OFFERED"  # ringing calls keep ringing past max wait
    out = h.send(DestinationFailed("c1"))
    assert actions(out) == [("SendToDestination", "c1", "destination-failed", "neighbour")]
    out = h.send(DestinationFailed("c1"))
    assert actions(out) == [("SendToDestination", "c1", "destination-failed", "fb")]
    (record,) = of(CallEnded, out)
    assert (record.outcome.name, record.destination) == ("FALLBACK", "fb")


def test_destination_that_answers_ends_the_call_as_overflowed() -> None:
    h = Harness(AcdConfig(overflow_destinations=("sup", "fb")))
    h.arrive("c1")
    (record,) = of(CallEnded, h.send(DestinationAnswered("c1")))
    assert (record.outcome.name, record.destination, record.answered_at) == (
        "OVERFLOWED",
        "sup",
        None,
    )


def test_ringing_call_past_max_wait_overflows_when_the_ring_fails() -> None:
    h = Harness(AcdConfig(max_wait=20.0, ring_timeout=15.0))
    h.login("a1")
    h.arrive("c1")
    h.advance(14.0)
    h.send(AgentNoAnswer("c1", "a1"), after=1.0)
    assert h.state("c1") == "QUEUED" or h.state("c1") == "OFFERED"
    out = h.advance(15.0)
    assert ("SendToDestination", "c1", "max-wait", "fallback-queue") in actions(out)
    assert h.state("c1") == "FALLBACK"


def test_calls_waiting_when_the_last_agent_logs_out_overflow_at_once() -> None:
    from callgate.core import AgentLoggedOut

    h = Harness(AcdConfig(max_wait=None))
    h.login("a1")
    h.arrive("c0")
    h.arrive("c1")
    out = h.send(AgentLoggedOut("a1"))
    assert actions(out) == [
        ("CancelRing", "c0", "a1", "logged-out"),
        ("SendToDestination", "c0", "nobody-logged-in", "fallback-queue"),
        ("SendToDestination", "c1", "nobody-logged-in", "fallback-queue"),
    ]
    assert [h.state("c0"), h.state("c1")] == ["FALLBACK", "FALLBACK"]


def test_next_deadline_is_none_when_nothing_is_pending_and_skips_stale_timers() -> None:
    h = Harness(AcdConfig(max_wait=60.0, ring_timeout=15.0))
    assert h.acd.next_deadline() is None
    h.login("a1")
    h.arrive("c1")
    assert h.acd.next_deadline() == h.now + 15.0
    h.connect("c1", "a1")
    # The ring timer and the max-wait timer are both stale once the call is connected.
    assert h.acd.next_deadline() is None


def test_queued_call_arriving_with_no_agent_but_staffed_centre_waits_for_a_login() -> None:
    h = Harness(AcdConfig(max_wait=None))
    h.login("a1")
    h.arrive("c0")
    h.arrive("c1", priority=0)
    assert [c.call_id for c in h.acd.queued_calls()] == ["c1"]
    assert h.acd.waiting == 1
    assert h.acd.staffed
    assert CallArrived("x").priority == 1


def test_given_a_handed_off_call_when_the_calltaker_leaves_then_caller_stays_with_agency() -> None:
    h = Harness(AcdConfig(wrap_up_time=5.0))
    h.login("a1")
    h.arrive("c1")
    h.send(AgentAnswered("c1", "a1"), after=2.0)
    h.send(CallBridged("c1"))
    assert h.send(AgencyJoined("c1", "damkar"), after=30.0) == []
    out = h.send(AgentHungUp("c1", "a1"), after=5.0)
    # No HangUpCaller: the caller is talking to the fire brigade now.
    assert actions(out) == [("StartWrapUp", "c1", "a1")]
    (record,) = of(CallEnded, out)
    assert (record.outcome.name, record.destination, record.agent_id) == (
        "COMPLETED",
        "damkar",
        "a1",
    )
    assert h.agent("a1") == "WRAP_UP"


def test_given_a_handed_off_call_when_the_caller_leaves_then_the_calltaker_is_hung_up() -> None:
    h = Harness()
    h.login("a1")
    h.arrive("c1")
    h.send(AgentAnswered("c1", "a1"))
    h.send(CallBridged("c1"))
    h.send(AgencyJoined("c1", "polres"))
    out = h.send(CallerHungUp("c1"))
    assert ("HangUpAgent", "c1", "a1") in actions(out)
    assert of(CallEnded, out)[0].destination == "polres"


@pytest.mark.parametrize("connected", [False, True])
def test_given_no_conversation_when_an_agency_joins_then_nothing_happens(connected: bool) -> None:
    h = Harness()
    h.login("a1")
    h.arrive("c1")
    if connected:
        h.send(AgentAnswered("c1", "a1"))  # CONNECTING, not yet bridged
    assert h.send(AgencyJoined("c1", "damkar")) == []
    assert h.send(AgencyJoined("unknown", "damkar")) == []
    assert h.state("c1") in ("OFFERED", "CONNECTING")


def test_given_a_stale_ring_timer_when_timers_fire_directly_then_it_is_ignored() -> None:
    # A driver may call handle_timer without asking next_deadline first (which prunes stale
    # timers): the ring timer of an offer that was answered must then do nothing.
    acd = Acd(AcdConfig(ring_timeout=15.0))
    acd.handle(AgentLoggedIn("a1", "PJSIP/a1"), 0.0)
    acd.handle(CallArrived("c1", caller="0811"), 0.0)
    acd.handle(AgentAnswered("c1", "a1"), 1.0)
    acd.handle(CallBridged("c1"), 1.0)
    out = acd.handle_timer(16.0)
    assert not [c for c in out if type(c).__name__ in ("CancelRing", "RingAgent")]
    assert acd.calls["c1"].state.name == "CONNECTED"
