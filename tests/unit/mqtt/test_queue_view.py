"""CAD's retained queue state, kept from notifications alone, is the core's queue at every step
of any sequence of events (the publisher no longer reads the live core)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from callgate.core import (
    Acd,
    AcdConfig,
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentPaused,
    AgentUnpaused,
    CallArrived,
    CallBridged,
    CallerHungUp,
    CallReprioritised,
    Event,
)
from callgate.core.calls import CallState
from callgate.mqtt.topics import QueueView

AGENTS = ("a1", "a2", "a3")
ops = st.lists(
    st.tuples(
        st.sampled_from(
            ["arrive", "login", "logout", "pause", "unpause", "answer", "bridge", "hangup",
             "agent-hangup", "reprioritise", "advance"]
        ),
        st.integers(0, 7),
        st.floats(0.0, 40.0),
    ),
    max_size=60,
)  # fmt: skip


def expected(acd: Acd, now: float) -> tuple[object, ...]:
    waiting = acd.queued_calls()
    return (
        len(waiting),
        {str(k): v for k, v in sorted(Counter(c.priority for c in waiting).items())},
        max((max(0.0, now - c.arrived_at) for c in waiting), default=0.0),
        dict(sorted(Counter(a.state.value for a in acd.agents.values()).items())),
    )


def event_for(acd: Acd, op: str, n: int, serial: int) -> Event | None:
    calls = sorted(acd.calls.values(), key=lambda c: c.call_id)
    call = calls[n % len(calls)] if calls else None
    agent = AGENTS[n % len(AGENTS)]
    offered = [(c.call_id, a) for c in calls for a in sorted(c.ringing)]
    match op:
        case "arrive":
            return CallArrived(f"c{serial}", "+62812", priority=n % 3)
        case "login":
            return AgentLoggedIn(agent, f"PJSIP/{agent}")
        case "logout":
            return AgentLoggedOut(agent)
        case "pause":
            return AgentPaused(agent)
        case "unpause":
            return AgentUnpaused(agent)
        case "answer" if offered:
            return AgentAnswered(*offered[n % len(offered)])
        case "bridge" if call is not None and call.state is CallState.CONNECTING:
            return CallBridged(call.call_id)
        case "hangup" if call is not None:
            return CallerHungUp(call.call_id)
        case "agent-hangup" if call is not None and call.agent_id is not None:
            return AgentHungUp(call.call_id, call.agent_id)
        case "reprioritise" if call is not None:
            return CallReprioritised(call.call_id, n % 4)
    return None


@settings(max_examples=200, deadline=None)
@given(script=ops)
def test_the_view_from_notifications_matches_the_core_s_queue_at_every_step(
    script: list[tuple[str, int, float]],
) -> None:
    acd = Acd(AcdConfig(max_wait=120.0, wrap_up_time=5.0))
    view = QueueView()
    now = 1_000.0
    for serial, (op, n, seconds) in enumerate(script):
        now += 0.5
        if op == "advance":
            now += seconds
            out = acd.handle_timer(now) if (d := acd.next_deadline()) and d <= now else []
        else:
            event = event_for(acd, op, n, serial)
            if event is None:
                continue
            try:
                out = acd.handle(event, now)
            except Exception:  # a report the core refuses (e.g. pause while logged out)
                continue
        for note in out:
            view.notification(note)
        state = view.state("s", now)
        got = (state.waiting, state.waiting_by_class, state.longest_wait_s, state.agents_by_state)
        assert got == expected(acd, now)
