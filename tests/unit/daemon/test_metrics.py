from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest

from callgate.core.events import (
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    AgentPaused,
    CallArrived,
    CallBridged,
    CallerHungUp,
)
from callgate.daemon.health import Health
from callgate.daemon.metrics import Metrics
from callgate.daemon.projection import Projection
from tests.unit.daemon.conftest import Clock, Driven


async def _flow(driven: Driven, metrics: Metrics) -> None:
    """Two call-takers (one pauses), one call answered after 4 s and ended, one abandoned
    after 12 s, one waiting since t=1017."""
    d = driven
    d.feed(AgentLoggedIn("1001", "PJSIP/1001"), 1_000.0)
    d.feed(AgentLoggedIn("1002", "PJSIP/1002"), 1_000.0)
    d.feed(AgentPaused("1002", "break"), 1_000.0)
    d.feed(CallArrived("c1", caller="+62812", priority=1), 1_000.0)
    d.feed(AgentAnswered("c1", "1001"), 1_004.0)
    d.feed(CallBridged("c1"), 1_004.5)
    d.feed(CallArrived("c2", caller="+62813", priority=0), 1_005.0)
    d.feed(CallerHungUp("c2"), 1_017.0)
    d.feed(CallArrived("c3", caller="+62814", priority=1), 1_017.0)
    d.feed(AgentHungUp("c1", "1001"), 1_018.0)  # 1001 goes to wrap-up
    for note in d.notes:
        await metrics.notification(note)


async def test_after_a_call_flow_the_histories_count_each_ended_call_once() -> None:
    driven = Driven()
    metrics = Metrics(driven.projection, Health(), clock=Clock(1_020.0))
    await _flow(driven, metrics)
    value = metrics.registry.get_sample_value
    assert value("callgate_calls_ended_total", {"outcome": "COMPLETED", "priority": "1"}) == 1
    assert value("callgate_calls_ended_total", {"outcome": "ABANDONED", "priority": "0"}) == 1
    assert value("callgate_calls_ended_total", {"outcome": "FALLBACK", "priority": "1"}) == 0
    assert value("callgate_answer_time_seconds_count", {"priority": "1"}) == 1
    assert value("callgate_answer_time_seconds_sum", {"priority": "1"}) == 4.0
    # 4 s lands in the 5 s bucket, not the 2 s one: "answered within 10 s" reads off le=10.
    assert value("callgate_answer_time_seconds_bucket", {"priority": "1", "le": "2.0"}) == 0
    assert value("callgate_answer_time_seconds_bucket", {"priority": "1", "le": "5.0"}) == 1
    assert value("callgate_wait_time_seconds_sum", {"outcome": "ABANDONED"}) == 12.0
    assert value("callgate_wait_time_seconds_sum", {"outcome": "COMPLETED"}) == 4.0


async def test_live_gauges_are_read_from_the_core_at_scrape_time() -> None:
    driven = Driven()
    clock = Clock(1_020.0)
    metrics = Metrics(driven.projection, Health(), calltakers=["1001", "1002", "1003"], clock=clock)
    await _flow(driven, metrics)
    value = metrics.registry.get_sample_value
    # 1001 is in wrap-up, so c3 waits in the queue (since 1017).
    assert value("callgate_calls", {"state": "QUEUED", "priority": "1"}) == 1
    assert value("callgate_calls", {"state": "OFFERED", "priority": "1"}) == 0
    assert value("callgate_calls", {"state": "QUEUED", "priority": "2"}) == 0
    assert value("callgate_calls_waiting") == 1
    assert value("callgate_longest_wait_seconds") == 3.0
    assert value("callgate_calltakers", {"state": "WRAP_UP"}) == 1
    assert value("callgate_calltakers", {"state": "PAUSED"}) == 1
    assert value("callgate_calltakers", {"state": "LOGGED_OUT"}) == 1  # 1003, never seen
    # Wrap-up ends: c3 is offered to 1001 and leaves the queue.
    driven.timer(1_018.0)
    clock.now = 1_030.0
    assert value("callgate_calls", {"state": "OFFERED", "priority": "1"}) == 1
    assert value("callgate_calls_waiting") == 0
    assert value("callgate_longest_wait_seconds") == 0
    assert value("callgate_calltakers", {"state": "RINGING"}) == 1


def test_connection_states_and_readiness_follow_the_health_registry() -> None:
    driven = Driven()
    health = Health()
    metrics = Metrics(driven.projection, health)
    value = metrics.registry.get_sample_value
    assert value("callgate_ready") == 0
    for name in ("ari", "ami", "database"):
        health.set(name, True)
    assert value("callgate_connection_up", {"component": "ari"}) == 1
    assert value("callgate_connection_up", {"component": "mqtt"}) == 0
    assert value("callgate_ready") == 1


def test_given_a_serving_daemon_then_it_leads_and_readyz_names_its_role() -> None:
    # A clustered standby exports 0 on its own port (tests/unit/daemon/test_leadership.py).
    driven = Driven()
    for role in ("single", "leader"):
        health = Health(role=role)
        metrics = Metrics(driven.projection, health)
        assert metrics.registry.get_sample_value("callgate_leader") == 1
        assert health.to_json()["role"] == role
    assert Health().role == "single"


def test_outbox_depth_is_absent_until_a_source_reports_it() -> None:
    driven = Driven()
    depth: list[int | None] = [None]
    metrics = Metrics(driven.projection, Health(), outbox_depth=lambda: depth[0])
    assert b"callgate_outbox_depth" not in generate_latest(metrics.registry)
    depth[0] = 7
    assert metrics.registry.get_sample_value("callgate_outbox_depth") == 7


def test_recording_failures_are_counted() -> None:
    metrics = Metrics(Projection(), Health())
    metrics.recording_failed()
    metrics.recording_failed()
    assert metrics.registry.get_sample_value("callgate_recording_failures_total") == 2


def test_two_instances_do_not_share_series() -> None:
    first = Metrics(Projection(), Health())
    second = Metrics(Projection(), Health())
    first.recording_failed()
    assert second.registry.get_sample_value("callgate_recording_failures_total") == 0


def test_the_example_grafana_dashboard_only_queries_series_callgate_exports() -> None:
    dashboard = Path(__file__).resolve().parents[3] / "examples/grafana/callgate-dashboard.json"
    exprs = [t["expr"] for p in json.loads(dashboard.read_text())["panels"] for t in p["targets"]]
    metrics = Metrics(Projection(), Health(), outbox_depth=lambda: 0)
    exported = generate_latest(metrics.registry).decode()
    for name in {m for e in exprs for m in re.findall(r"callgate_[a-z_]+", e)}:
        assert f"\n{name}" in exported or exported.startswith(name), name


def test_with_several_asterisk_nodes_each_node_says_if_it_is_connected() -> None:
    nodes = {"node1": True, "node2": False}
    metrics = Metrics(Projection(), Health(), asterisk_nodes=lambda: nodes)
    value = metrics.registry.get_sample_value
    assert value("callgate_asterisk_node_up", {"node": "node1"}) == 1
    assert value("callgate_asterisk_node_up", {"node": "node2"}) == 0
    single = Metrics(Projection(), Health())
    assert b"callgate_asterisk_node_up" not in generate_latest(single.registry)
