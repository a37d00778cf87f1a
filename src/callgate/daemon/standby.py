"""What a clustered standby shows on its read-only admin port
(:mod:`callgate.http.standby_port`): its role, the leader it last saw, and what it can reach
(issue #21)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callgate import __version__

#: The gauge both a leader (1) and a standby (0) export.
LEADER_METRIC = "callgate_leader"
LEADER_HELP = (
    "1 while this callgate leads its centre (a single callgate always does), 0 on a clustered"
    " standby."
)


class StandbyState:
    """The standby's view: ``found`` (each part it checks: None when it answers, else why
    not) kept by its warm checks; ``leader``: who leads, as etcd last said."""

    def __init__(self, leader: Callable[[], str | None], clock: Callable[[], float] = time.time):
        self.found: dict[str, str | None] = {}
        self.since: dict[str, float] = {}
        self._leader = leader
        self.clock = clock
        self.started_at = clock()

    def saw(self, found: dict[str, str | None]) -> None:
        for part, problem in found.items():
            if part not in self.found or (self.found[part] is None) != (problem is None):
                self.since[part] = self.clock()
        self.found = dict(found)

    def to_json(self) -> dict[str, Any]:
        """The ``/readyz`` (503) and ``/api/status`` body."""
        return {
            "version": __version__,
            "ready": False,
            "role": "standby",
            "leader": self._leader(),
            "stopping": False,
            "degraded": [],
            "uptime_s": round(self.clock() - self.started_at, 1),
            "components": {
                part: {
                    "connected": problem is None,
                    "required": False,
                    "degrading": False,
                    "since": self.since.get(part),
                    "detail": problem,
                }
                for part, problem in self.found.items()
            },
        }

    def registry(self) -> CollectorRegistry:
        """The standby's metrics: ``callgate_leader 0``, ``callgate_ready 0``, and
        ``callgate_connection_up`` for what it checks."""
        registry = CollectorRegistry(auto_describe=True)
        registry.register(_Figures(self))
        return registry


class _Figures(Collector):
    def __init__(self, state: StandbyState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(LEADER_METRIC, LEADER_HELP, value=0.0)
        yield GaugeMetricFamily(
            "callgate_ready", "1 while taking calls: never on a standby.", value=0.0
        )
        up = GaugeMetricFamily(
            "callgate_connection_up",
            "1 while the standby reaches the component (ARI's REST side, AMI's port).",
            labels=["component"],
        )
        for part, problem in self.state.found.items():
            up.add_metric([part], 1.0 if problem is None else 0.0)
        yield up
