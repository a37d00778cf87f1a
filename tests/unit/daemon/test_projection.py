"""The daemon's projection, kept from notifications alone, is what the core's read-only views say
at every step of any sequence of events (its readers no longer read the live core)."""

from __future__ import annotations

from hypothesis import given, settings

from callgate.core import Acd, AcdConfig
from callgate.daemon.projection import Projection
from tests.unit.mqtt.test_queue_view import event_for, ops


def core_view(acd: Acd) -> tuple[object, ...]:
    calls = {
        c.call_id: (c.state, c.caller, c.category, c.priority, c.arrived_at, c.answered_at,
                    c.agent_id, list(c.ringing))
        for c in acd.calls.values()
    }  # fmt: skip
    agents = {a.agent_id: (a.state, a.pause_reason, a.call_id) for a in acd.agents.values()}
    queued = [c.call_id for c in acd.queued_calls()]
    return calls, agents, queued, acd.waiting, acd.staffed, acd.shift_staffing


def projected(view: Projection) -> tuple[object, ...]:
    calls = {
        c.call_id: (c.state, c.caller, c.category, c.priority, c.arrived_at, c.answered_at,
                    c.agent_id, view.ringing(c.call_id))
        for c in view.calls.values()
    }  # fmt: skip
    agents = {a.agent_id: (a.state, a.pause_reason, a.call_id) for a in view.agents.values()}
    queued = [c.call_id for c in view.queued()]
    return calls, agents, queued, view.waiting, view.staffed, view.shift_staffing


@settings(max_examples=400, deadline=None)
@given(script=ops)
def test_the_projection_matches_the_core_s_views_at_every_step(
    script: list[tuple[str, int, float]],
) -> None:
    acd = Acd(AcdConfig(max_wait=120.0, wrap_up_time=5.0))
    view = Projection()
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
            view.apply(note)
        assert projected(view) == core_view(acd)
