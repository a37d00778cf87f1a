"""AMI on every Asterisk node of the centre (``[nodes]``), seen by the daemon as one AMI.

Each node has its own :class:`~callgate.asterisk.ami.client.AmiClient` (its own session,
keepalive and reconnect, so one node going away never holds up the others). What the daemon
reads is the centre's view:

- a call-taker's phone registers with every node; its status is the merge of the connected
  nodes' views (:func:`~callgate.asterisk.ami.messages.merged_status`: busy on any node is busy),
  and only a change of the merged status is handed on;
- a node whose session is lost no longer counts: its views are dropped at once (a dead node's
  last word, "in use", must not keep a call-taker from the next caller), and come back with its
  next snapshot;
- AMI is up while any node's is; the fallback queue's summary adds up every connected node's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from callgate.asterisk.ami.client import AmiClient, AmiError, AmiUnavailable
from callgate.asterisk.ami.messages import (
    DeviceStatus,
    QueueSummary,
    merged_status,
    merged_summary,
)
from callgate.asterisk.settings import AmiSettings, NodeSettings

log = logging.getLogger(__name__)


class AmiNodes:
    """The AMI of several nodes behind :class:`AmiClient`'s interface (the part the daemon uses)."""

    def __init__(
        self,
        clients: Callable[
            [str, Callable[[str, DeviceStatus], None], Callable[[bool], None]], AmiClient
        ],
        names: list[str],
        *,
        on_device_state: Callable[[str, DeviceStatus], None],
        on_connection: Callable[[bool], None] | None = None,
    ) -> None:
        """``clients(name, on_device_state, on_connection)`` makes node ``name``'s client."""
        if not names:
            raise ValueError("AmiNodes needs at least one node")
        self._on_device_state = on_device_state
        self._on_connection = on_connection
        self._views: dict[str, dict[str, DeviceStatus]] = {name: {} for name in names}
        self._up: dict[str, bool] = dict.fromkeys(names, False)
        self._delivered: dict[str, DeviceStatus] = {}
        self._announced = False
        self.nodes: dict[str, AmiClient] = {
            name: clients(name, self._state_from(name), self._connection_from(name))
            for name in names
        }

    @classmethod
    def from_settings(
        cls,
        settings: AmiSettings,
        nodes: Mapping[str, NodeSettings],
        *,
        on_device_state: Callable[[str, DeviceStatus], None],
        on_connection: Callable[[bool], None] | None = None,
    ) -> AmiNodes:
        def client(
            name: str,
            state: Callable[[str, DeviceStatus], None],
            connection: Callable[[bool], None],
        ) -> AmiClient:
            node = nodes[name]
            return AmiClient.from_settings(
                settings.model_copy(update={"host": node.ami_host, "port": node.ami_port}),
                on_device_state=state,
                on_connection=connection,
            )

        return cls(
            client,
            list(nodes),
            on_device_state=on_device_state,
            on_connection=on_connection,
        )

    # --- what the daemon reads (AmiClient's interface) ---

    @property
    def connected(self) -> bool:
        """At least one node's AMI is logged in and synced."""
        return any(self._up.values())

    @property
    def sessions(self) -> int:
        return sum(client.sessions for client in self.nodes.values())

    def statuses(self) -> dict[str, DeviceStatus]:
        return dict(self._delivered)

    def status(self, endpoint: str) -> DeviceStatus | None:
        return self._delivered.get(endpoint)

    def nodes_up(self) -> dict[str, bool]:
        """Each node's AMI: logged in and synced, or not."""
        return dict(self._up)

    async def run(self) -> None:
        """Every node's session, each reconnecting on its own, until :meth:`close`."""
        await asyncio.gather(*(client.run() for client in self.nodes.values()))

    async def close(self) -> None:
        await asyncio.gather(*(client.close() for client in self.nodes.values()))

    async def queue_summary(self, queue: str) -> QueueSummary:
        """The fallback queue over every connected node. Raises :class:`AmiUnavailable` when no
        node answered, :class:`AmiError` when none has the queue."""
        summaries: list[QueueSummary] = []
        errors: list[Exception] = []
        for name, client in self.nodes.items():
            if not self._up[name]:
                continue
            try:
                summaries.append(await client.queue_summary(queue))
            except (AmiError, AmiUnavailable) as exc:
                errors.append(exc)
                log.warning(
                    "fallback queue unreadable on one node",
                    extra={"node": name, "queue": queue, "error": str(exc)},
                )
        if summaries:
            return merged_summary(queue, summaries)
        if errors and all(isinstance(e, AmiError) for e in errors):
            raise AmiError(f"no queue {queue!r} on any node (queues.conf)")
        raise AmiUnavailable("no node's AMI answered")

    # --- each node's callbacks ---

    def _state_from(self, node: str) -> Callable[[str, DeviceStatus], None]:
        def changed(endpoint: str, status: DeviceStatus) -> None:
            self._views[node][endpoint] = status
            if self._up[node]:
                self._deliver(endpoint)

        return changed

    def _connection_from(self, node: str) -> Callable[[bool], None]:
        def changed(up: bool) -> None:
            if up == self._up[node]:
                return
            self._up[node] = up
            log.info("AMI of one node", extra={"node": node, "up": up})
            if not up:
                # Its views no longer count; they are read again with its next snapshot
                # (AmiClient re-delivers every endpoint after each (re)connection).
                self._views[node] = {}
            for endpoint in {*self._delivered, *self._views[node]}:
                self._deliver(endpoint)
            self._announce()

        return changed

    def _deliver(self, endpoint: str) -> None:
        status = merged_status(
            views[endpoint]
            for node, views in self._views.items()
            if self._up[node] and endpoint in views
        )
        if status is None:
            # No connected node knows this phone: nobody can ring it.
            previous = self._delivered.get(endpoint)
            if previous is None or not previous.registered:
                return
            status = DeviceStatus(previous.state, registered=False)
        if self._delivered.get(endpoint) == status:
            return
        self._delivered[endpoint] = status
        try:
            self._on_device_state(endpoint, status)
        except Exception:
            log.exception("on_device_state callback failed", extra={"endpoint": endpoint})

    def _announce(self) -> None:
        up = self.connected
        if up == self._announced or self._on_connection is None:
            self._announced = up
            return
        self._announced = up
        try:
            self._on_connection(up)
        except Exception:
            log.exception("on_connection callback failed")


def ami_of(
    settings: AmiSettings,
    nodes: Mapping[str, NodeSettings],
    *,
    on_device_state: Callable[[str, DeviceStatus], None],
    on_connection: Callable[[bool], None] | None = None,
) -> AmiClient | AmiNodes:
    """The one Asterisk's AMI (``[ami]``), or, with ``[nodes]``, every node's as one."""
    if not nodes:
        return AmiClient.from_settings(
            settings, on_device_state=on_device_state, on_connection=on_connection
        )
    return AmiNodes.from_settings(
        settings, nodes, on_device_state=on_device_state, on_connection=on_connection
    )
