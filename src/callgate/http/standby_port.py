"""A clustered standby's admin port (issue #21): read-only health and metrics, nothing else.

A standby does not serve the admin API (the leader does), but the on-call admin, ``callgate
status`` and the load balancer in front of the admin pages must see "standby" there rather
than a connection refused. So it binds the same ``[ops] http_host``/``http_port`` with:

- ``GET /healthz``: 200 (the process answers), ``{"alive": true, "role": "standby"}``;
- ``GET /readyz``: 503, ``{"ready": false, "role": "standby", ...}`` (what it can reach):
  a load balancer sends the pages to the leader only;
- ``GET /metrics``: ``callgate_leader 0`` and the standby's view of ARI and AMI;
- ``GET /api/status``: the same body as ``/readyz``, with 200, for ``callgate status``.

Nothing else: no login, no session, no state change (every other request is 503, naming the
standby). The daemon closes it before it binds the port itself on winning the election.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from callgate.http.bad_requests import server_log
from callgate.http.bounds import ConnectionGuard, GuardedSite, HttpLimits, bounded, runner
from callgate.http.settings import is_loopback

log = logging.getLogger(__name__)

#: The answer to every request a standby does not serve.
NOT_HERE = "standby: this callgate does not lead its centre; the leader serves the admin API"


def _json(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(body), status=status, content_type="application/json", charset="utf-8"
    )


class StandbyHttp:
    """The standby's read-only admin port; ``await start()`` binds, ``await stop()`` closes.

    ``status``: the standby's body (``{"ready": False, "role": "standby", ...}``);
    ``registry``: its metrics."""

    def __init__(
        self,
        status: Callable[[], dict[str, Any]],
        registry: CollectorRegistry,
        *,
        host: str = "127.0.0.1",
        port: int = 8089,
        limits: HttpLimits | None = None,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"admin HTTP host {host!r} is not a loopback address")
        self.status = status
        self.registry = registry
        self.host = host
        self.port = port
        self.limits = limits if limits is not None else HttpLimits()
        self.guard = ConnectionGuard(self.limits)
        self._runner: web.AppRunner | None = None
        self._closed = False

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024)  # no request of ours has a body
        bounded(app, self.guard)
        app.router.add_get("/healthz", self._healthz, allow_head=False)
        app.router.add_get("/readyz", self._readyz, allow_head=False)
        app.router.add_get("/metrics", self._metrics, allow_head=False)
        app.router.add_get("/api/status", self._status, allow_head=False)
        app.router.add_route("*", "/{anything:.*}", self._elsewhere)
        return app

    @property
    def closed(self) -> bool:
        """Stopped for good (:meth:`stop`)."""
        return self._closed

    async def start(self) -> None:
        if self._closed:
            # Stopped for the winner: a late retry must not take the port back from it.
            raise OSError("the standby's admin port is closed for good")
        self._runner = runner(self.app(), self.limits, server_log)
        await self._runner.setup()
        try:
            await GuardedSite(self._runner, self.host, self.port, self.guard).start()
        except OSError:
            await self._runner.cleanup()  # the port is taken: nothing half-built
            self._runner = None
            raise
        if self._runner.addresses:
            self.port = int(self._runner.addresses[0][1])  # port 0 asked: the one bound
        log.info("standby: admin port listening", extra={"host": self.host, "port": self.port})

    async def stop(self) -> None:
        """Close the port for good (the daemon binds it next, on winning)."""
        self._closed = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        return _json({"alive": True, "role": "standby"})

    async def _readyz(self, _request: web.Request) -> web.Response:
        return _json(self.status(), 503)

    async def _status(self, _request: web.Request) -> web.Response:
        return _json(self.status())

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _elsewhere(self, _request: web.Request) -> web.Response:
        return _json({"error": NOT_HERE, "role": "standby"}, 503)
