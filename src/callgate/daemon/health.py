"""Which connections the daemon holds right now, and whether it is ready to take 112 calls.

The adapters report their connections here (``health.set("ami", True)``) or the daemon
registers a probe read on demand (``health.probe("ami", lambda: ami.connected)``). ``/readyz``,
``callgate status``, the metrics and the systemd status line all read this one registry, so
they never disagree.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: Every component reported, in display order.
COMPONENTS = ("ari", "ami", "database", "mqtt")
#: Components that must be connected for the daemon to be ready. MQTT is reported but not
#: required: CAD systems lose live events while it is down, callers lose nothing.
REQUIRED = frozenset({"ari", "ami"})
#: Components whose outage leaves the daemon taking calls but *degraded*. The database: calls
#: are distributed by the core without it and its records wait in memory (callgate.backlog); it
#: must be there to start (the journal is opened and migrated first).
DEGRADING = frozenset({"database"})


@dataclass(frozen=True, slots=True)
class ComponentState:
    """One connection as last reported."""

    connected: bool
    "Whether it is up."
    since: float | None
    "When it last changed (Unix time); None if it was never reported."
    detail: str | None = None
    "A short human note, e.g. the last error (never a secret)."


class Health:
    """The daemon's connections and lifecycle: the source of ``/readyz``."""

    def __init__(
        self,
        *,
        components: Iterable[str] = COMPONENTS,
        required: Iterable[str] = REQUIRED,
        degrading: Iterable[str] = DEGRADING,
        clock: Callable[[], float] = time.time,
        role: str = "single",
    ) -> None:
        self.clock = clock
        #: "single" (no [cluster]) or "leader"; a clustered standby shows "standby" on its own
        #: port (callgate.daemon.standby).
        self.role = role
        self.required = frozenset(required)
        self.degrading = frozenset(degrading)
        self._states = {name: ComponentState(False, None) for name in components}
        self._probes: dict[str, Callable[[], bool]] = {}
        self.started_at = clock()
        self._stopping = False
        unknown = (self.required | self.degrading) - self._states.keys()
        if unknown:
            raise ValueError(f"required or degrading components not reported: {sorted(unknown)}")

    def set(self, name: str, connected: bool, detail: str | None = None) -> None:
        """Report a component up or down; ``since`` moves only when the state changes."""
        old = self._get(name)
        since = old.since if old.connected == connected and old.since is not None else self.clock()
        self._states[name] = ComponentState(connected, since, detail)

    def probe(self, name: str, read: Callable[[], bool]) -> None:
        """Read ``name``'s state from ``read()`` whenever it is asked for (e.g. AMI's flag)."""
        self._get(name)
        self._probes[name] = read

    def state(self, name: str) -> ComponentState:
        read = self._probes.get(name)
        if read is not None:
            connected = bool(read())
            current = self._get(name)
            if current.since is None or current.connected != connected:
                self.set(name, connected, current.detail)
        return self._get(name)

    def snapshot(self) -> dict[str, ComponentState]:
        """Every component's state, in display order."""
        return {name: self.state(name) for name in self._states}

    def begin_stopping(self) -> None:
        """SIGTERM received: not ready any more, whatever the connections say."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def ready(self) -> bool:
        """Taking calls: every required connection up and not stopping (a degrading component
        may be down: see :meth:`degraded`)."""
        return not self._stopping and all(self.state(name).connected for name in self.required)

    def missing(self) -> list[str]:
        """Required components that are down, in display order (for logs and the status line)."""
        return [n for n in self._states if n in self.required and not self.state(n).connected]

    def degraded(self) -> list[str]:
        """Degrading components that are down, in display order: the daemon takes calls, but
        something it does for them waits (the journal, CAD's events, callbacks' records)."""
        return [n for n in self._states if n in self.degrading and not self.state(n).connected]

    def to_json(self) -> dict[str, object]:
        """The ``/readyz`` body."""
        return {
            "ready": self.ready,
            "role": self.role,
            "stopping": self._stopping,
            "degraded": self.degraded(),
            "components": {
                name: {
                    "connected": s.connected,
                    "required": name in self.required,
                    "degrading": name in self.degrading,
                    "since": s.since,
                    "detail": s.detail,
                }
                for name, s in self.snapshot().items()
            },
        }

    def _get(self, name: str) -> ComponentState:
        try:
            return self._states[name]
        except KeyError:
            raise KeyError(f"unknown component {name!r}; known: {list(self._states)}") from None
