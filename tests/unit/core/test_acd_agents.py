"""Call-takers: login, pause, logout, device state, missed calls and wrap-up."""

from __future__ import annotations

import pytest
from conftest import Harness, actions, of

from callgate.core import (
    AUTO_PAUSE_REASON,
    AcdConfig,
    AgentAnswered,
    AgentDetails,
    AgentHungUp,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNoAnswer,
    AgentPaused,
    AgentStateChanged,
    AgentUnpaused,
    CallBridged,
    CallerHungUp,
    DeviceState,
    DeviceStateChanged,
    Event,
    RingMissed,
)


def test_after_n_consecutive_no_answers_the_agent_is_paused_with_a_reason_not_logged_out() -> None:
    h = Harness(AcdConfig(max_consecutive_no_answers=3, max_wait=None))
    h.login("a1", "a2")
    h.send(AgentPaused("a2", "break"))
    h.arrive("c1")
    h.send(AgentNoAnswer("c1", "a1"))
    h.send(AgentNoAnswer("c1", "a1"))
    assert h.agent("a1") == "RINGING"
    h.send(AgentNoAnswer("c1", "a1"))
    assert h.agent("a1") == "PAUSED"
    assert h.acd.agents["a1"].pause_reason == AUTO_PAUSE_REASON
    assert of(AgentStateChanged, h.log)[-1].reason == AUTO_PAUSE_REASON
    assert h.state("c1") == "QUEUED"
    # Unpausing clears the count and the call is offered again straight away.
    assert actions(h.send(AgentUnpaused("a1"))) == [("RingAgent", "c1", "a1")]
    assert h.acd.agents["a1"].misses == 0


def test_a_bridged_call_resets_the_missed_count() -> None:
    h = Harness(AcdConfig(max_consecutive_no_answers=2))
    h.login("a1")
    h.arrive("c1")
    h.send(AgentNoAnswer("c1", "a1"))
    assert h.acd.agents["a1"].misses == 1
    h.connect("c1", "a1")
    assert h.acd.agents["a1"].misses == 0
    assert h.acd.agents["a1"].calls_answered == 1


@pytest.mark.parametrize(
    ("reach", "expected_actions", "state_after"),
    [
        ("available", [], "PAUSED"),
        ("ringing", [("CancelRing", "c1", "a1", "paused"), ("RingAgent", "c1", "a2")], "PAUSED"),
        ("on_call", [], "ON_CALL"),
        ("wrap_up", [], "PAUSED"),
        ("paused", [], "PAUSED"),
        ("logged_out", [], "LOGGED_OUT"),
    ],
)
def test_pause_in_each_agent_state(
    reach: str, expected_actions: list[tuple[str, ...]], state_after: str
) -> None:
    h = Harness(AcdConfig(wrap_up_time=30.0))
    h.login("a1")
    if reach == "paused":
        h.send(AgentPaused("a1", "first"))
    if reach == "logged_out":
        h.send(AgentLoggedOut("a1"))
    if reach in ("ringing", "on_call", "wrap_up"):
        h.arrive("c1")
        h.login("a2")
    if reach in ("on_call", "wrap_up"):
        h.connect("c1", "a1")
    if reach == "wrap_up":
        h.send(AgentHungUp("c1", "a1"))
    assert actions(h.send(AgentPaused("a1", "prayer"))) == expected_actions
    assert h.agent("a1") == state_after


def test_pause_during_a_call_takes_effect_after_wrap_up_and_unpause_can_cancel_it() -> None:
    h = Harness(AcdConfig(wrap_up_time=5.0))
    h.login("a1")
    h.arrive("c1")
    h.connect("c1", "a1")
    h.send(AgentPaused("a1", "meal"))
    h.send(AgentHungUp("c1", "a1"))
    h.advance(5.0)
    assert (h.agent("a1"), h.acd.agents["a1"].pause_reason) == ("PAUSED", "meal")
    h.send(AgentUnpaused("a1"))
    h.arrive("c2")
    h.connect("c2", "a1")
    h.send(AgentPaused("a1", "meal"))
    h.send(AgentUnpaused("a1"))
    h.send(CallerHungUp("c2"))
    h.advance(5.0)
    assert h.agent("a1") == "AVAILABLE"


def test_logout_during_a_call_waits_for_the_call_and_wrap_up_and_the_call_survives() -> None:
    h = Harness(AcdConfig(wrap_up_time=5.0))
    h.login("a1", "a2")
    h.arrive("c1")
    h.connect("c1", "a1")
    out = h.send(AgentLoggedOut("a1"))
    # Nothing is done now; only the log-out waiting for the call's end is reported.
    assert [o for o in out if not isinstance(o, AgentDetails)] == []
    assert [(d.agent_id, d.pending_logout) for d in of(AgentDetails, out)] == [("a1", True)]
    assert h.state("c1") == "CONNECTED"
    h.send(AgentHungUp("c1", "a1"))
    h.advance(5.0)
    assert h.agent("a1") == "LOGGED_OUT"


def test_who_asked_is_carried_to_the_state_change_also_when_applied_after_the_call() -> None:
    """A supervisor's log-in, pause, unpause and log-out name the supervisor in the change the
    core reports; one asked during a call names them at the call's end; the call-taker's own
    phone (no ``by``) and the core's own decisions name nobody."""
    h = Harness(AcdConfig(wrap_up_time=0.0, max_consecutive_no_answers=1))

    def changes() -> list[tuple[str, str]]:
        return [(n.new.name, n.by) for n in of(AgentStateChanged, h.log)]

    h.send(AgentLoggedIn("a1", "PJSIP/a1", by="sup"))
    h.send(AgentPaused("a1", "briefing", by="sup"))
    h.send(AgentUnpaused("a1", by="sup2"))
    assert changes() == [("AVAILABLE", "sup"), ("PAUSED", "sup"), ("AVAILABLE", "sup2")]
    h.arrive("c1")
    h.connect("c1", "a1")
    h.send(AgentPaused("a1", "meal", by="sup"))
    h.send(AgentHungUp("c1", "a1"))
    h.advance(0.0)
    assert changes()[-1] == ("PAUSED", "sup")
    assert h.acd.agents["a1"].pause_reason == "meal"
    h.send(AgentUnpaused("a1"))  # the phone's own *14
    h.arrive("c2")
    h.connect("c2", "a1")
    h.send(AgentLoggedOut("a1", by="sup"))
    h.send(AgentPaused("a1", "meal"))  # a logout asked for wins over the pause at the end
    h.send(CallerHungUp("c2"))
    h.advance(0.0)
    assert changes()[-3:] == [("ON_CALL", ""), ("WRAP_UP", ""), ("LOGGED_OUT", "sup")]
    # The core's own pause after missed rings names nobody (the journal says "callgate").
    h.send(AgentLoggedIn("a1", "PJSIP/a1"))
    h.arrive("c3")
    h.send(AgentNoAnswer("c3", "a1"))
    assert changes()[-1] == ("PAUSED", "")
    assert of(AgentStateChanged, h.log)[-1].reason == AUTO_PAUSE_REASON


def test_logging_in_again_during_a_call_cancels_a_pending_logout_and_updates_details() -> None:
    h = Harness(AcdConfig(wrap_up_time=0.0))
    h.login("a1")
    h.arrive("c1")
    h.connect("c1", "a1")
    h.send(AgentLoggedOut("a1"))
    h.send(AgentLoggedIn("a1", "PJSIP/new", {"id": 1}, name="Sari"))
    h.send(AgentHungUp("c1", "a1"))
    h.advance(0.0)
    agent = h.acd.agents["a1"]
    assert (agent.state.name, agent.endpoint, agent.skills, agent.name) == (
        "AVAILABLE",
        "PJSIP/new",
        {"id": 1},
        "Sari",
    )


@pytest.mark.parametrize(
    ("pending", "misses_before", "state_after"),
    [
        ("logout", 0, "LOGGED_OUT"),
        ("pause", 0, "PAUSED"),
        ("none", 0, "AVAILABLE"),
        ("none", 2, "PAUSED"),
        ("logout", 2, "LOGGED_OUT"),
    ],
)
def test_agent_whose_answered_call_never_bridged_honours_what_was_asked_meanwhile(
    pending: str, misses_before: int, state_after: str
) -> None:
    h = Harness(AcdConfig(max_consecutive_no_answers=3, max_wait=None))
    h.login("a1", "a2")
    h.arrive("c1")
    h.acd.agents["a1"].misses = misses_before
    h.send(AgentAnswered("c1", "a1"))
    if pending == "logout":
        h.send(AgentLoggedOut("a1"))
    if pending == "pause":
        h.send(AgentPaused("a1", "supervisor"))
    out = h.send(AgentHungUp("c1", "a1"))
    assert h.agent("a1") == state_after
    assert actions(out)[-1] == ("RingAgent", "c1", "a2")


def test_caller_leaving_before_the_bridge_frees_the_agent_without_a_miss() -> None:
    h = Harness()
    h.login("a1")
    h.arrive("c1")
    h.send(AgentAnswered("c1", "a1"))
    h.send(CallerHungUp("c1"))
    assert (h.agent("a1"), h.acd.agents["a1"].misses) == ("AVAILABLE", 0)
    assert h.send(CallBridged("c1")) == []


def test_device_unregistered_or_in_use_makes_the_agent_unofferable_until_it_is_back() -> None:
    h = Harness()
    h.login("a1")
    h.send(DeviceStateChanged("a1", DeviceState.UNAVAILABLE))
    assert actions(h.arrive("c1")) == []
    h.send(DeviceStateChanged("a1", DeviceState.IN_USE))
    assert h.state("c1") == "QUEUED"
    assert actions(h.send(DeviceStateChanged("a1", DeviceState.NOT_INUSE))) == [
        ("RingAgent", "c1", "a1")
    ]


def test_device_lost_mid_ring_withdraws_the_offer_without_counting_a_miss() -> None:
    h = Harness()
    h.login("a1", "a2")
    h.arrive("c1")
    h.send(DeviceStateChanged("a1", DeviceState.RINGING))
    assert h.agent("a1") == "RINGING"
    out = h.send(DeviceStateChanged("a1", DeviceState.UNAVAILABLE))
    assert actions(out) == [
        ("CancelRing", "c1", "a1", "device-unavailable"),
        ("RingAgent", "c1", "a2"),
    ]
    assert (h.agent("a1"), h.acd.agents["a1"].misses) == ("AVAILABLE", 0)
    assert not h.acd.agents["a1"].offerable


def test_agent_logged_in_with_an_unregistered_phone_is_not_offered_calls() -> None:
    h = Harness()
    h.send(AgentLoggedIn("a1", "PJSIP/a1", device=DeviceState.UNAVAILABLE))
    h.login("a2")
    h.send(AgentPaused("a2"))
    assert actions(h.arrive("c1")) == []


@pytest.mark.parametrize(
    "event",
    [
        AgentLoggedOut("zz"),
        AgentPaused("zz"),
        AgentUnpaused("zz"),
        DeviceStateChanged("zz", DeviceState.IN_USE),
        AgentUnpaused("a1"),
    ],
)
def test_events_about_unknown_or_unaffected_agents_change_nothing(event: Event) -> None:
    h = Harness()
    h.login("a1")
    assert h.send(event) == []
    assert h.agent("a1") == "AVAILABLE"


def test_logging_out_twice_is_harmless_and_logout_from_wrap_up_is_immediate() -> None:
    h = Harness(AcdConfig(wrap_up_time=60.0))
    h.login("a1", "a2")
    h.arrive("c1")
    h.connect("c1", "a1")
    h.send(AgentHungUp("c1", "a1"))
    h.send(AgentLoggedOut("a1"))
    assert h.agent("a1") == "LOGGED_OUT"
    assert h.send(AgentLoggedOut("a1")) == []
    # The stale wrap-up timer must not bring the agent back.
    h.advance(60.0)
    assert h.agent("a1") == "LOGGED_OUT"


def test_ring_all_first_answer_wins_and_the_others_are_cancelled_cleanly() -> None:
    h = Harness(AcdConfig(strategy="ring-all"))
    h.login("a1", "a2", "a3")
    out = h.arrive("c1")
    assert actions(out) == [("RingAgent", "c1", a) for a in ("a1", "a2", "a3")]
    out = h.send(AgentAnswered("c1", "a2"))
    assert actions(out) == [
        ("CancelRing", "c1", "a1", "answered-elsewhere"),
        ("CancelRing", "c1", "a3", "answered-elsewhere"),
        ("Bridge", "c1", "a2"),
    ]
    assert [h.agent(a) for a in ("a1", "a2", "a3")] == ["AVAILABLE", "ON_CALL", "AVAILABLE"]
    assert h.acd.agents["a1"].misses == 0


def test_ring_all_answer_then_hang_up_before_bridge_rings_the_others_again() -> None:
    # app_queue#1557: the early hang-up must neither drop the caller nor the other agents.
    h = Harness(AcdConfig(strategy="ring-all"))
    h.login("a1", "a2", "a3")
    h.arrive("c1")
    h.send(AgentAnswered("c1", "a2"))
    out = h.send(AgentHungUp("c1", "a2"))
    assert [a for a in actions(out) if a[0] == "RingAgent"] == [
        ("RingAgent", "c1", "a1"),
        ("RingAgent", "c1", "a3"),
    ]
    h.connect("c1", "a3")
    assert h.state("c1") == "CONNECTED"


def test_ring_all_one_decline_leaves_the_others_ringing_and_timeout_cancels_all() -> None:
    h = Harness(AcdConfig(strategy="ring-all", ring_timeout=10.0, max_wait=None))
    h.login("a1", "a2")
    h.arrive("c1")
    assert actions(h.send(AgentNoAnswer("c1", "a1"))) == [("CancelRing", "c1", "a1", "no-answer")]
    assert h.state("c1") == "OFFERED"
    out = h.advance(10.0)
    assert actions(out)[:1] == [("CancelRing", "c1", "a2", "ring-timeout")]


def test_timers_made_stale_by_later_events_do_nothing_when_fired_directly() -> None:
    # A driver may call handle_timer for a deadline it read before the state changed.
    h = Harness(AcdConfig(wrap_up_time=60.0, ring_timeout=15.0))
    h.login("a1", "a2")
    h.arrive("c1")
    h.arrive("c2")
    h.connect("c1", "a1")
    h.connect("c2", "a2")
    h.send(AgentHungUp("c1", "a1"))
    h.send(AgentLoggedOut("a1"))
    assert h.acd.handle_timer(h.now + 100.0) == []
    assert (h.agent("a1"), h.agent("a2")) == ("LOGGED_OUT", "ON_CALL")


def _missed(h: Harness) -> list[tuple[str, str, str]]:
    return [(m.agent_id, m.call_id, m.cause) for m in of(RingMissed, h.log)]


def test_given_a_ring_that_times_out_then_ring_missed_names_the_call_taker_and_call() -> None:
    h = Harness(AcdConfig(ring_timeout=15, max_wait=None))
    h.login("a1")
    h.arrive("c1")
    h.advance(15)
    assert _missed(h) == [("a1", "c1", "RingTimedOut")]
    # Sent before the call-taker's own move away from RINGING.
    missed = h.log.index(of(RingMissed, h.log)[0])
    moved = next(
        c for c in h.log[missed:] if isinstance(c, AgentStateChanged) and c.agent_id == "a1"
    )
    assert (moved.old.name, moved.new.name) == ("RINGING", "AVAILABLE")


def test_given_a_declined_ring_or_an_answer_gone_before_the_bridge_then_each_is_a_miss() -> None:
    h = Harness(AcdConfig(max_consecutive_no_answers=5, max_wait=None))
    h.login("a1")
    h.arrive("c1")
    h.send(AgentNoAnswer("c1", "a1"))
    h.send(AgentAnswered("c1", "a1"))
    h.send(AgentHungUp("c1", "a1"))
    assert _missed(h) == [("a1", "c1", "AgentNoAnswer"), ("a1", "c1", "AgentHungUp")]


def test_given_rings_withdrawn_for_other_reasons_then_no_miss_is_reported() -> None:
    h = Harness(AcdConfig(strategy="ring-all", max_wait=None))
    h.login("a1", "a2", "a3")
    h.arrive("c1")
    h.send(AgentAnswered("c1", "a1"))  # a2, a3: answered elsewhere
    h.arrive("c2")
    h.send(AgentPaused("a2", "break"))
    h.send(AgentLoggedOut("a3"))
    h.send(CallerHungUp("c2"))
    assert _missed(h) == []
