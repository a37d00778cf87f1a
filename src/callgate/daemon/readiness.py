"""The daemon's readiness: the health registry kept, systemd told READY once ARI, AMI and the
database are up, and its status line kept while they come and go."""

from __future__ import annotations

import logging
from collections.abc import Callable

from callgate.daemon.health import Health
from callgate.daemon.systemd import Notifier

log = logging.getLogger(__name__)


class Readiness:
    """Keeps the health registry and tells systemd READY once ARI, AMI and the database are up;
    ``on_ready`` hears each change of readiness (the core starts callback attempts only while
    ready)."""

    def __init__(
        self,
        health: Health,
        notifier: Notifier,
        on_ready: Callable[[bool], None] = lambda ready: None,
    ) -> None:
        self.health = health
        self.notifier = notifier
        self.on_ready = on_ready
        self.announced = False

    def changed(
        self, component: str, up: bool, detail: str | None = None, *, logged: bool = False
    ) -> None:
        """``logged``: the reporter logs the change itself (the database's ALARM)."""
        was_ready = self.health.ready
        self.health.set(component, up, detail)
        if self.health.ready != was_ready:
            self.on_ready(self.health.ready)
        if not logged and up:
            log.info("connected", extra={"component": component})
        elif not logged:
            log.warning("disconnected", extra={"component": component, "detail": detail})
        if self.health.ready and not self.announced:
            self.announced = True
            self.notifier.ready()
            log.info("ready: taking calls")
        elif self.announced:
            down = self.health.missing() + self.health.degraded()
            self.notifier.status(
                "taking calls" if not down else f"degraded: {', '.join(down)} down"
            )
