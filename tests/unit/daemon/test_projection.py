"""The daemon's projection, kept from notifications alone, is what the core's read-only views say
at every step of any sequence of events (its readers no longer read the live core)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from callgate.core import Acd, AcdConfig
from callgate.core.agents import DeviceState
from callgate.core.calls import CallState
from callgate.core.commands import Output
from callgate.core.events import (
    AgencyJoined,
    AgentLoggedIn,
    AgentNoAnswer,
    AgentPaused,
    CallArrived,
    CallReprioritised,
    DeviceStateChanged,
    Event,
)
from callgate.daemon.projection import Projection
from callgate.ports import AgencyConnected
from tests.unit.mqtt.test_queue_view import AGENTS, event_for

#: The queue view's moves and those that change what only ``AgentDetails`` and the
#: ``AgencyConnected`` record tell: a phone's state, a missed ring, a pause asked during a call,
#: a hand-off to an agency; callers with a name.
ops = st.lists(
    st.tuples(
        st.sampled_from(
            ["arrive", "login", "logout", "pause", "unpause", "answer", "bridge", "hangup",
             "agent-hangup", "reprioritise", "advance", "device", "no-answer", "pause-on-call",
             "agency", "named", "resumed", "renamed"]
        ),
        st.integers(0, 7),
        st.floats(0.0, 40.0),
    ),
    max_size=60,
)  # fmt: skip


def more_event_for(acd: Acd, op: str, n: int, serial: int) -> Event | AgencyJoined | None:
    calls = sorted(acd.calls.values(), key=lambda c: c.call_id)
    call = calls[n % len(calls)] if calls else None
    agent = AGENTS[n % len(AGENTS)]
    match op:
        case "device":
            return DeviceStateChanged(agent, list(DeviceState)[n % len(DeviceState)])
        case "no-answer":
            rung = [(c.call_id, a) for c in calls for a in sorted(c.ringing)]
            return AgentNoAnswer(*rung[n % len(rung)]) if rung else None
        case "pause-on-call":
            busy = sorted(a.agent_id for a in acd.agents.values() if a.call_id is not None)
            return AgentPaused(busy[n % len(busy)], "meal") if busy else None
        case "agency" if call is not None:
            return AgencyJoined(call.call_id, f"agency{n}")
        case "named":
            return CallArrived(f"c{serial}", "+62812", priority=n % 3, caller_name=f"name{n}")
        case "resumed":
            return CallArrived(f"c{serial}", f"+6281{n}", priority=n % 3, resumed=True)
        case "renamed" if call is not None:
            return CallReprioritised(call.call_id, n % 4, caller_name=f"PRANK {n}")
    return event_for(acd, op, n, serial)


def core_view(acd: Acd) -> tuple[object, ...]:
    calls = {
        c.call_id: (c.state, c.caller, c.category, c.priority, c.arrived_at, c.answered_at,
                    c.agent_id, list(c.ringing), c.caller_name, c.handed_to)
        for c in acd.calls.values()
    }  # fmt: skip
    agents = {
        a.agent_id: (a.state, a.pause_reason, a.call_id, a.endpoint, a.device, a.pending_pause,
                     a.pending_logout, a.calls_answered, a.misses)
        for a in acd.agents.values()
    }  # fmt: skip
    queued = [c.call_id for c in acd.queued_calls()]
    return calls, agents, queued, acd.waiting, acd.staffed, acd.shift_staffing


def projected(view: Projection) -> tuple[object, ...]:
    calls = {
        c.call_id: (c.state, c.caller, c.category, c.priority, c.arrived_at, c.answered_at,
                    c.agent_id, view.ringing(c.call_id), c.caller_name, c.handed_to)
        for c in view.calls.values()
    }  # fmt: skip
    agents = {
        a.agent_id: (a.state, a.pause_reason, a.call_id, a.endpoint, a.device, a.pending_pause,
                     a.pending_logout, a.calls_answered, a.misses)
        for a in view.agents.values()
    }  # fmt: skip
    queued = [c.call_id for c in view.queued()]
    return calls, agents, queued, view.waiting, view.staffed, view.shift_staffing


@settings(max_examples=400, deadline=None)
@given(script=ops, aging=st.sampled_from([None, 30.0]))
def test_the_projection_matches_the_core_s_views_at_every_step(
    script: list[tuple[str, int, float]], aging: float | None
) -> None:
    acd = Acd(AcdConfig(max_wait=120.0, wrap_up_time=5.0, aging_interval=aging))
    view = Projection(aging)
    now = 1_000.0
    for serial, (op, n, seconds) in enumerate(script):
        now += 0.5
        out: list[Output | AgencyConnected]
        if op == "advance":
            now += seconds
            out = [*acd.handle_timer(now)] if (d := acd.next_deadline()) and d <= now else []
        else:
            event = more_event_for(acd, op, n, serial)
            if event is None:
                continue
            try:
                out = [*acd.handle(event, now)]
            except Exception:  # a report the core refuses (e.g. pause while logged out)
                continue
            if isinstance(event, AgencyJoined):
                # The ARI adapter's record follows the event the core heard, in the one feed.
                out.append(AgencyConnected(event.call_id, event.agency, False, now))
        for note in out:
            view.apply(note)
        assert projected(view) == core_view(acd)


def test_a_hand_off_to_a_call_not_in_conversation_is_not_shown() -> None:
    view = Projection()
    view.apply(AgencyConnected("gone", "police", True, 1.0))
    acd = Acd(AcdConfig())
    for event in (AgentLoggedIn("a1", "PJSIP/a1"), AgentPaused("a1"), CallArrived("c1", "+62812")):
        for note in acd.handle(event, 1.0):
            view.apply(note)
    view.apply(AgencyConnected("c1", "police", True, 2.0))
    assert view.calls["c1"].state is CallState.QUEUED
    assert view.calls["c1"].handed_to is None
