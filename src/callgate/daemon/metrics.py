"""Prometheus metrics on a registry of callgate's own.

Live figures (calls by state and priority class, call-takers by state, connections, outbox
depth) are read at scrape time from the daemon's projection of the notifications
(:mod:`callgate.daemon.projection`, never the live core) and from
:class:`~callgate.daemon.health.Health`. Histories (answer and waiting times, calls ended,
recording failures) are counted from the engine's notifications as they happen.

Scrapes are served by the daemon's own event loop (``callgate.http.server``), which is also the only
thread that feeds the projection: reading it there needs no lock. Never expose this registry
through prometheus-client's threaded HTTP server.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callgate.backlog import DatabaseStatus
from callgate.core.agents import AgentState
from callgate.core.callbacks import CALLBACK_CATEGORY
from callgate.core.calls import TERMINAL_CALL_STATES, CallState
from callgate.core.commands import CallEnded
from callgate.core.events import Priority
from callgate.daemon.health import Health
from callgate.daemon.projection import Projection
from callgate.daemon.standby import LEADER_HELP, LEADER_METRIC
from callgate.mqtt.backpressure import PublishMonitor
from callgate.ports import CallRecorded, Observed, RecordingFailed

#: Seconds; the 10/15/20 s edges are the answer-time targets the KPIs report (NFPA, NENA), so a
#: dashboard can show "answered within 15 s" straight from the buckets.
TIME_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0)

LIVE_CALL_STATES = tuple(s for s in CallState if s not in TERMINAL_CALL_STATES)


class Metrics:
    """callgate's metrics: an engine observer plus a scrape-time collector."""

    def __init__(
        self,
        projection: Projection,
        health: Health,
        *,
        calltakers: Iterable[str] = (),
        outbox_depth: Callable[[], int | None] = lambda: None,
        database: DatabaseStatus | None = None,
        mqtt: PublishMonitor | None = None,
        asterisk_nodes: Callable[[], Mapping[str, bool]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        #: The calls, call-takers and shifts as the notifications told them (never the core).
        self.projection = projection
        self.health = health
        #: Call-takers named in the config: LOGGED_OUT until a notification names them.
        self.calltakers = tuple(calltakers)
        self.outbox_depth = outbox_depth
        #: The journal writers' shared view of the database: backlog and records dropped.
        self.database = database
        #: The CAD event publisher's view of the broker: in flight, late, backed up.
        self.mqtt = mqtt
        #: With ``[nodes]``: each Asterisk node's ARI event stream, connected or not.
        self.asterisk_nodes = asterisk_nodes
        self.clock = clock
        self._priorities: set[int] = {int(p) for p in Priority}
        self.answer_time = Histogram(
            "callgate_answer_time_seconds",
            "From a call's arrival to the answer of the call-taker who talked with the caller.",
            ["priority"],
            buckets=TIME_BUCKETS,
            registry=self.registry,
        )
        self.wait_time = Histogram(
            "callgate_wait_time_seconds",
            "How long callers waited for a call-taker: until answered, or until the call left"
            " the ACD unanswered (abandoned, overflowed, fallback queue).",
            ["outcome"],
            buckets=TIME_BUCKETS,
            registry=self.registry,
        )
        self.calls_ended = Counter(
            "callgate_calls_ended",
            "Calls that left the ACD, by outcome and priority class.",
            ["outcome", "priority"],
            registry=self.registry,
        )
        self.recording_failures = Counter(
            "callgate_recording_failures",
            "Recordings that failed (Asterisk error, disk full, file missing or unreadable).",
            registry=self.registry,
        )
        self.recordings_unsealed = Counter(
            "callgate_recordings_unsealed",
            "Recordings hashed and journaled but not sealed: someone besides their owner can"
            " still change them (Asterisk's umask; see the ALARM line).",
            registry=self.registry,
        )
        # Zero series exist from the start, so rate() and alerts work before the first call.
        for outcome in TERMINAL_CALL_STATES:
            self.wait_time.labels(outcome.name)
            for priority in self._priorities:
                self.calls_ended.labels(outcome.name, str(priority))
        for priority in self._priorities:
            self.answer_time.labels(str(priority))
        self.registry.register(_LiveCollector(self))

    # -- fed by the daemon ------------------------------------------------------------------

    async def notification(self, note: Observed) -> None:
        """Engine observer: counts each call once, when it leaves the core."""
        # Callback attempts are the centre calling out, not 112 calls: not in these figures.
        if isinstance(note, CallEnded) and note.category != CALLBACK_CATEGORY:
            self.call_ended(note)

    def call_ended(self, ended: CallEnded) -> None:
        priority = str(ended.priority)
        self._priorities.add(ended.priority)
        self.calls_ended.labels(ended.outcome.name, priority).inc()
        answer_time = ended.answer_time
        if answer_time is not None:
            self.answer_time.labels(priority).observe(max(0.0, answer_time))
            waited = answer_time
        else:
            waited = ended.ended_at - ended.arrived_at
        self.wait_time.labels(ended.outcome.name).observe(max(0.0, waited))

    def recording_failed(self) -> None:
        """The ARI adapter could not produce a usable recording for a call."""
        self.recording_failures.inc()

    def recording_unsealed(self) -> None:
        """A recording was hashed but others than its owner can still write it."""
        self.recordings_unsealed.inc()


class _LiveCollector(Collector):
    """Figures computed from the projection and the health registry at each scrape."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.m
        acd = m.projection
        calls = GaugeMetricFamily(
            "callgate_calls",
            "Calls in the ACD now, by state and priority class (lower is served first).",
            labels=["state", "priority"],
        )
        tally = Tally((c.state, c.priority) for c in acd.calls.values())
        priorities = m._priorities | {p for _, p in tally}
        for state in LIVE_CALL_STATES:
            for priority in sorted(priorities):
                calls.add_metric([state.name, str(priority)], tally[(state, priority)])
        yield calls

        yield GaugeMetricFamily(
            "callgate_calls_waiting", "Callers waiting in the queue now.", value=acd.waiting
        )
        queued = acd.queued()
        oldest = min((c.arrived_at for c in queued), default=None)
        yield GaugeMetricFamily(
            "callgate_longest_wait_seconds",
            "How long the longest-waiting caller in the queue has waited (0 when none).",
            value=0.0 if oldest is None else max(0.0, m.clock() - oldest),
        )

        agents = GaugeMetricFamily(
            "callgate_calltakers",
            "Call-takers by state (configured ones the ACD has not seen count as LOGGED_OUT).",
            labels=["state"],
        )
        states = Tally(a.state for a in acd.agents.values())
        states[AgentState.LOGGED_OUT] += sum(1 for a in m.calltakers if a not in acd.agents)
        for agent_state in AgentState:
            agents.add_metric([agent_state.name], states[agent_state])
        yield agents
        yield from _shift_figures(acd)

        up = GaugeMetricFamily(
            "callgate_connection_up",
            "1 while the daemon's connection to the component is up.",
            labels=["component"],
        )
        since = GaugeMetricFamily(
            "callgate_connection_since_timestamp_seconds",
            "When the component last went up or down (Unix time): with callgate_connection_up,"
            " how long it has been down.",
            labels=["component"],
        )
        for name, component in m.health.snapshot().items():
            up.add_metric([name], 1.0 if component.connected else 0.0)
            if component.since is not None:
                since.add_metric([name], component.since)
        yield up
        yield since
        yield GaugeMetricFamily(
            "callgate_ready",
            "1 while ARI and AMI are connected and the daemon is not stopping (what /readyz"
            " answers).",
            value=1.0 if m.health.ready else 0.0,
        )
        # A daemon that serves leads its centre (a clustered standby exports 0 on its own port).
        yield GaugeMetricFamily(LEADER_METRIC, LEADER_HELP, value=1.0)
        yield GaugeMetricFamily(
            "callgate_degraded",
            "1 while taking calls with a component down whose work waits (the database: the"
            " journal, CAD events and callbacks' records are held in memory).",
            value=1.0 if m.health.degraded() else 0.0,
        )
        if m.database is not None:
            yield GaugeMetricFamily(
                "callgate_database_backlog",
                "Records (call history, CAD events, callback tasks) waiting to be written to the"
                " journal's database.",
                value=m.database.backlog(),
            )
            yield CounterMetricFamily(
                "callgate_database_records_dropped",
                "Records never written to the journal's database: a writer's backlog was full"
                " ([storage] max_backlog) or the database refused the record.",
                value=m.database.dropped,
            )
        depth = m.outbox_depth()
        if depth is not None:
            yield GaugeMetricFamily(
                "callgate_outbox_depth",
                "Call events stored but not yet published to MQTT.",
                value=depth,
            )
        if m.mqtt is not None:
            yield from _mqtt_figures(m.mqtt)
        if m.asterisk_nodes is not None:
            nodes = GaugeMetricFamily(
                "callgate_asterisk_node_up",
                "1 while the node's ARI event stream is connected ([nodes]; ARI is ready while"
                " one node is).",
                labels=["node"],
            )
            for node, connected in m.asterisk_nodes().items():
                nodes.add_metric([node], 1.0 if connected else 0.0)
            yield nodes


def _mqtt_figures(monitor: PublishMonitor) -> Iterator[Metric]:
    """The broker keeping up with CAD's events, or not (never a log line a publish)."""
    figures = monitor.figures()
    yield GaugeMetricFamily(
        "callgate_mqtt_in_flight",
        "CAD events handed to the MQTT broker and not yet acknowledged (PUBACK).",
        value=figures.in_flight,
    )
    yield GaugeMetricFamily(
        "callgate_mqtt_backlog_alarm",
        "1 while CAD events back up at the broker (the one ALARM log line says the same);"
        " calls are not affected.",
        value=1.0 if figures.backed_up else 0.0,
    )
    yield CounterMetricFamily(
        "callgate_mqtt_publish_delays",
        "CAD events the MQTT broker acknowledged late (over 2 s after they were handed to it).",
        value=figures.delayed,
    )
    yield CounterMetricFamily(
        "callgate_mqtt_client_warnings",
        "The MQTT client library's 'pending publish calls' warnings, counted instead of logged.",
        value=figures.client_warnings,
    )
    yield CounterMetricFamily(
        "callgate_mqtt_state_updates_held",
        "Retained queue-state snapshots held back while CAD events backed up (the latest is"
        " published once cleared).",
        value=figures.state_updates_held,
    )


def _shift_figures(acd: Projection) -> Iterator[Metric]:
    """Each shift on that needs call-takers (a ``[roster]``): its figures and its alarm."""
    staffing = acd.shift_staffing
    rostered = GaugeMetricFamily(
        "callgate_shift_rostered",
        "Call-takers a shift on needs logged in: its head count, or as many as it names.",
        labels=["shift"],
    )
    logged_in = GaugeMetricFamily(
        "callgate_shift_logged_in",
        "Call-takers counting for a shift on: logged in (paused too) with a registered phone.",
        labels=["shift"],
    )
    short = GaugeMetricFamily(
        "callgate_shift_short_handed",
        "1 while a shift on has fewer call-takers logged in than rostered, after [roster]"
        " alarm_grace (the ALARM log line and the CAD shift-staffing event say the same).",
        labels=["shift"],
    )
    for figures in staffing:
        rostered.add_metric([figures.shift], figures.rostered)
        logged_in.add_metric([figures.shift], figures.logged_in)
        short.add_metric([figures.shift], 1.0 if figures.short else 0.0)
    yield rostered
    yield logged_in
    yield short


class RecordingCounts:
    """Counts failed and unsealed recordings for the metrics (an observer of the engine)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def notification(self, note: Observed) -> None:
        if isinstance(note, CallRecorded) and note.info.unsealed is not None:
            self.metrics.recording_unsealed()
        elif isinstance(note, RecordingFailed):
            self.metrics.recording_failed()
