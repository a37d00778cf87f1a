"""One ACD over several Asterisk nodes (``[nodes.<name>]``, issue #21): an :class:`AriClient` that
holds one client per node, so the ARI adapter keeps talking to one client.

- **Routing.** Every channel, bridge, playback and live recording lives on one node, learned
  from its events and the requests made on it. An id not known is asked of each connected node
  in turn (the first answer other than 404 wins and is learned); ids are forgotten a while after
  they are gone (a bounded map).
- **New resources.** :meth:`AriNodes.originate` and :meth:`AriNodes.create_bridge` put the new leg
  or bridge on the node of ``near`` (the caller's channel, a bridge); without one (a callback's
  outbound call) on the first connected node in config order.
- **Collections.** Channels and bridges are the union over the connected nodes (one of them
  failing to list fails the listing, and :meth:`AriNodes.absence_judge` tells the set-up whose
  calls a channel listing may judge gone); an endpoint is online if it is online on any node;
  the application's subscriptions go to every connected node; a phone's device state (one per
  node: every phone registers with every node) is merged by one rule with AMI
  (:mod:`callgate.asterisk.device_merge`), and only the merged change is passed on.
- **Events.** One stream: :class:`Connected` when any node (re)connects (the adapter's set-up
  then runs over every node again, which is idempotent), :class:`Disconnected` only when no node
  is connected. A node that stays disconnected for :data:`NODE_LOST_GRACE` is lost: for each
  channel known on it, the ``StasisEnd`` and ``ChannelDestroyed`` Asterisk would have sent had it
  hung up are passed on, so the adapter ends those calls through its normal paths.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Final
from urllib.parse import quote, unquote

import aiohttp

from callgate.asterisk.ari.client import (
    AriClient,
    AriError,
    AriUnavailable,
    Connected,
    Disconnected,
    JsonObject,
)
from callgate.asterisk.ari.node_ids import Listed, NodeIds
from callgate.asterisk.ari.systemnames import (
    CHECK_RETRY,
    REFUSED_RETRY,
    SystemNames,
    checked_events,
)
from callgate.asterisk.ari.translate import in_app
from callgate.asterisk.device_merge import merged_state as merged_device_state

log = logging.getLogger(__name__)

#: How long a node's event stream may stay down before its calls are ended as lost: past a
#: blip's reconnection (the client's first backoff, 0.25-0.75 s), short against a caller's
#: patience (a lost node's callers are gone: this frees their call-takers and the queue).
NODE_LOST_GRACE: Final = 3.0
#: How long an id stays mapped to its node after it is gone: late requests about it (a hang-up
#: racing its end) still go straight to its node. A forgotten id is asked of every node.
FORGET_AFTER: Final = 600.0
#: A node's socket is pinged this often: a node powered off, hung or cut off is noticed in ~3 s.
NODE_HEARTBEAT: Final = 2.0
#: A node's REST limits (Asterisk answers in milliseconds; one Asterisk alone waits 10 s).
NODE_REQUEST_TIMEOUT: Final = aiohttp.ClientTimeout(total=5, sock_connect=2)
#: Why the synthesised hang-up of a lost node's channel happened (its ``cause_txt``).
NODE_LOST_CAUSE: Final = "Asterisk node lost"

#: Events after which the resource they name is gone (its id is forgotten later).
_ENDS: Final = {
    "ChannelDestroyed": "channel",
    "StasisEnd": "channel",
    "BridgeDestroyed": "bridge",
    "PlaybackFinished": "playback",
    "RecordingFinished": "recording",
    "RecordingFailed": "recording",
}
#: The kinds of id, by the first part of a REST path.
_KIND_OF_PATH: Final = {"channels": "channel", "bridges": "bridge", "playbacks": "playback"}


_Item = JsonObject | Connected | Disconnected


class AriNodes(AriClient):
    """One application over several Asterisk nodes (see the module): ``nodes`` in config
    order, each a client of its own (fenced when clustered)."""

    def __init__(
        self,
        nodes: Mapping[str, AriClient],
        *,
        lost_grace: float = NODE_LOST_GRACE,
        forget_after: float = FORGET_AFTER,
        clock: Callable[[], float] = time.monotonic,
        on_node: Callable[[str, bool], None] | None = None,
        refused_retry: float = REFUSED_RETRY,
        check_retry: float = CHECK_RETRY,
    ) -> None:
        if not nodes:
            raise ValueError("AriNodes needs at least one node")
        first = next(iter(nodes.values()))
        # The base's own session is never opened: every request goes to a node's client.
        super().__init__("http://nodes.invalid", "", "", first.app)
        self.nodes = dict(nodes)
        self.connected: set[str] = set()
        self.ids = NodeIds(forget_after, clock)
        #: The last snapshot of each channel known (what a synthesised hang-up carries), and
        #: the channels in the application (the calls a lost node ends, in its log line).
        self._snapshots: dict[str, JsonObject] = {}
        self._in_app: set[str] = set()
        self._devices: dict[str, dict[str, str]] = {}
        self._passed: dict[str, str] = {}
        #: The nodes the last channel listing answered for (see :meth:`absence_judge`).
        self._listed: frozenset[str] = frozenset()
        #: Nodes lost (disconnected past the grace) and not connected again since.
        self._lost: set[str] = set()
        self._lost_grace = lost_grace
        self._clock = clock
        self._on_node = on_node
        self.systemnames = SystemNames(refused_retry, check_retry)

    async def __aenter__(self) -> AriNodes:
        for client in self.nodes.values():
            await client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self.nodes.values():
            await client.__aexit__(*exc)

    def _purge(self) -> None:
        for kind, rid in self.ids.purge():
            if kind == "channel":
                self._snapshots.pop(rid, None)
                self._in_app.discard(rid)

    def node_states(self) -> dict[str, bool]:
        """Each node (config order): its event stream connected or not."""
        return {name: name in self.connected for name in self.nodes}

    def live(self) -> list[str]:
        """The connected nodes in config order; every node while none is (yet) connected, so a
        request before the first connection, or during an outage, is still tried."""
        up = [name for name in self.nodes if name in self.connected]
        return up or list(self.nodes)

    # ---------------------------------------------------------------- REST

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        body: JsonObject | None = None,
    ) -> Any:
        self._purge()
        parts = [unquote(p) for p in path.strip("/").split("/")]
        head = parts[0]
        if head in ("channels", "bridges") and len(parts) == 1 and method == "GET":
            return await self._union(head, path)
        if head in _KIND_OF_PATH and len(parts) >= 2:
            kind = _KIND_OF_PATH[head]
            node, result = await self._on_owner(kind, parts[1], method, path, params, body)
            self._learn_from_request(node, parts, params, result)
            return result
        if head == "recordings" and len(parts) >= 3 and parts[1] == "live":
            _, result = await self._on_owner("recording", parts[2], method, path, params, body)
            return result
        if head == "applications" and parts[-1] == "subscription":
            return await self._everywhere(method, path, params, body)
        if head == "endpoints" and len(parts) == 3 and method == "GET":
            return await self._endpoint(path)
        # Anything else (/asterisk/info, /deviceStates, ...): the first node that answers.
        return (await self._first(self.live(), method, path, params, body))[1]

    async def _first(
        self,
        names: list[str],
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        body: JsonObject | None,
        *,
        past_404: bool = False,
    ) -> tuple[str, Any]:
        """The first of ``names`` that answers (past a 404 too, with ``past_404``); raises the
        last failure when none does."""
        failure: Exception | None = None
        for name in names:
            try:
                return name, await self.nodes[name].request(method, path, params, body)
            except AriError as exc:
                if exc.status != 404 or not past_404:
                    raise
                failure = exc
            except AriUnavailable as exc:
                failure = exc
        assert failure is not None  # names is never empty: live() has every node at worst
        raise failure

    async def _on_owner(
        self,
        kind: str,
        rid: str,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        body: JsonObject | None,
    ) -> tuple[str, Any]:
        node = self.ids.node.get((kind, rid))
        if node is not None and node in self._lost:
            # Gone with its node, whose calls were ended as hung up: Asterisk's own answer for a
            # resource that is no more (a hang-up of it is then no failure), not a refused
            # connection that would be logged as one.
            raise AriError(method, path, 404, f"gone with Asterisk node {node}")
        if node is not None:
            self._check_up(node, method, path)
            return node, await self.nodes[node].request(method, path, params, body)
        node, result = await self._first(self.live(), method, path, params, body, past_404=True)
        self.ids.learn(kind, rid, node)
        return node, result

    def _check_up(self, node: str, method: str, path: str) -> None:
        """Fail fast on ``node`` while its socket is down and another node's is up: a node gone
        away would hold the request (and the event pump awaiting it) for the REST timeout."""
        if node not in self.connected and self.connected:
            raise AriUnavailable(f"ARI {method} {path}: Asterisk node {node} is disconnected")

    def _learn_from_request(
        self, node: str, parts: list[str], params: Mapping[str, str | int] | None, result: Any
    ) -> None:
        """What a request on ``node`` made there: a playback, a snoop channel, a recording."""
        given = params or {}
        action = parts[2] if len(parts) >= 3 else ""
        if action == "play":
            playback = parts[3] if len(parts) >= 4 else _id_of(result)
            if playback:
                self.ids.learn("playback", playback, node)
        elif action == "snoop":
            snoop = str(given.get("snoopId", "")) or _id_of(result)
            if snoop:
                self.ids.learn("channel", snoop, node)
        elif action == "record" and given.get("name"):
            self.ids.learn("recording", str(given["name"]), node)

    async def _union(self, head: str, path: str) -> list[JsonObject]:
        """Every node's list. A connected node that fails to list raises (a set-up judging
        calls missing from a list that silently left out a node would end that node's live
        calls); a node not connected is passed over, and :meth:`absence_judge` says so."""
        kind = _KIND_OF_PATH[head]
        found: list[JsonObject] = []
        answered: set[str] = set()
        failure: Exception | None = None
        for name in self.live():
            try:
                listed: list[JsonObject] = await self.nodes[name].request("GET", path)
            except (AriError, AriUnavailable) as exc:
                if name in self.connected:
                    raise
                failure = exc
                continue
            answered.add(name)
            present = {str(item["id"]) for item in listed}
            for rid in self.ids.live_on(name, kind):
                if rid not in present:  # gone without an event we saw: forget it in time
                    self.ids.gone(kind, rid)
            for item in listed:
                rid = str(item["id"])
                self.ids.learn(kind, rid, name)
                if kind == "channel":
                    self._snapshots[rid] = item
                    if in_app(item, self.app):
                        self._in_app.add(rid)
            found.extend(listed)
        if not answered and failure is not None:
            raise failure
        if kind == "channel":
            self._listed = frozenset(answered)
        return found

    def absence_judge(self) -> Listed:
        """After a channel listing: whether a channel missing from it is gone. Only a channel
        of a node that was listed (or of a lost node, whose calls are ended already) is; one
        of a node in its grace, not yet connected, or unknown while some node was not listed
        is not judged (that node's next connection runs the set-up again)."""
        listed = self._listed
        every = all(name in listed or name in self._lost for name in self.nodes)

        def judged(channel_id: str) -> bool:
            node = self.ids.node.get(("channel", channel_id))
            if node is None:
                return every
            return node in listed or node in self._lost

        return Listed(every, judged)

    async def _everywhere(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None,
        body: JsonObject | None,
    ) -> Any:
        """On every connected node. A node that cannot be reached is passed over (it is going
        down, and its next connection runs the set-up again); a refusal is raised."""
        names = self.live()
        answers = await asyncio.gather(  # at once: a sick node holds up none of the others
            *(self.nodes[name].request(method, path, params, body) for name in names),
            return_exceptions=True,
        )
        results = [a for a in answers if not isinstance(a, BaseException)]
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, AriUnavailable):
                raise answer
        if not results:
            raise answers[0]  # every node unreachable
        return results[0]

    async def _endpoint(self, path: str) -> JsonObject:
        """An endpoint as the nodes see it together: online on one node is online."""
        names = self.live()
        answers = await asyncio.gather(  # at once: a sick node holds up none of the others
            *(self.nodes[name].request("GET", path) for name in names), return_exceptions=True
        )
        best: JsonObject | None = None
        channels: list[Any] = []
        for seen in answers:
            if isinstance(seen, (AriError, AriUnavailable)):
                continue
            if isinstance(seen, BaseException):
                raise seen
            channels.extend(seen.get("channel_ids") or [])
            if best is None or (best.get("state") != "online" and seen.get("state") == "online"):
                best = seen
        if best is None:
            raise answers[-1]  # every node failed: the last failure
        return {**best, "channel_ids": channels}

    async def originate(
        self,
        endpoint: str,
        *,
        app_args: str,
        caller_id: str,
        ring_timeout: int,
        channel_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        dialplan: tuple[str, str, int] | None = None,
        near: str | None = None,
    ) -> JsonObject:
        node = self._node_near(near)
        self._check_up(node, "POST", "/channels")
        result = await self.nodes[node].originate(
            endpoint,
            app_args=app_args,
            caller_id=caller_id,
            ring_timeout=ring_timeout,
            channel_id=channel_id,
            variables=variables,
            dialplan=dialplan,
        )
        made = channel_id or _id_of(result)
        if made:
            self.ids.learn("channel", made, node)
            if isinstance(result, dict):
                self._snapshots[made] = result
        return result

    async def create_bridge(
        self, bridge_id: str, bridge_type: str = "mixing", *, near: str | None = None
    ) -> None:
        node = self._node_near(near)
        self._check_up(node, "POST", f"/bridges/{bridge_id}")
        await self.nodes[node].create_bridge(bridge_id, bridge_type)
        self.ids.learn("bridge", bridge_id, node)

    def _node_near(self, near: str | None) -> str:
        """The node of ``near`` (a channel or a bridge); else the first connected node."""
        if near is not None:
            for kind in ("channel", "bridge"):
                node = self.ids.node.get((kind, near))
                if node is not None:
                    return node
        return self.live()[0]

    # ---------------------------------------------------------------- events

    async def events(self) -> AsyncIterator[JsonObject | Connected | Disconnected]:
        """Every node's events as one stream (see the module)."""
        queue: asyncio.Queue[tuple[str, _Item | list[JsonObject] | BaseException]]
        queue = asyncio.Queue()
        asks: set[asyncio.Task[None]] = set()

        async def pump(name: str, client: AriClient) -> None:
            try:
                async for item in checked_events(name, client, self.systemnames):
                    await queue.put((name, item))
            except Exception as exc:  # handed to the merged stream, which raises it
                await queue.put((name, exc))
            else:
                await queue.put((name, RuntimeError(f"node {name}: ARI event stream ended")))

        pumps = [
            asyncio.create_task(pump(name, client), name=f"ari-events-{name}")
            for name, client in self.nodes.items()
        ]
        # A node not connected within the grace of the start is lost too: a new leader whose
        # node died with the old one must still end that node's calls and the journal's.
        lost_at = dict.fromkeys(self.nodes, self._clock() + self._lost_grace)
        connections = 0
        try:
            while True:
                timeout = None
                if lost_at:
                    timeout = max(0.0, min(lost_at.values()) - self._clock())
                try:
                    name, item = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    now = self._clock()
                    due = [n for n, at in lost_at.items() if at <= now]
                    for name in due:
                        del lost_at[name]
                        for event in self.node_lost(name):
                            yield event
                        # Off this loop: asking the other nodes (REST) must not hold their events.
                        asks.add(asyncio.create_task(self._ask_phones(name, queue)))
                    if due and self.connected:  # set up again: the journal's open calls of
                        # a lost node can be judged now (they ended with no event).
                        connections += 1
                        yield Connected(connections)
                    continue
                if isinstance(item, list):  # the phones' states after a loss
                    for event in item:
                        yield event
                    continue
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, Connected):
                    connections += 1
                    lost_at.pop(name, None)
                    self.node_connected(name)
                    yield Connected(connections)
                elif isinstance(item, Disconnected):
                    self.connected.discard(name)
                    lost_at[name] = self._clock() + self._lost_grace
                    self._node_state(name, False)
                    if not self.connected:
                        yield Disconnected(f"every node disconnected ({name}: {item.reason})")
                else:
                    for event in self.on_node_event(name, item):
                        yield event
        finally:
            for task in [*pumps, *asks]:
                task.cancel()
            await asyncio.gather(*pumps, *asks, return_exceptions=True)

    def node_connected(self, name: str) -> None:
        """Node ``name``'s event socket is (again) connected: its resources are reached again."""
        self.connected.add(name)
        self._lost.discard(name)
        # What it told of the phones before is stale (a ring may have ended in the gap, its
        # events lost with the socket), and the set-up this connection runs tells the core the
        # phones' states itself: the merge starts afresh, and passes the next change on.
        for device, states in self._devices.items():
            if states.pop(name, None) is not None:
                self._passed.pop(device, None)
        self._node_state(name, True)

    def _node_state(self, name: str, up: bool) -> None:
        log.log(
            logging.INFO if up else logging.WARNING,
            "Asterisk node connected" if up else "Asterisk node disconnected",
            extra={"node": name, "connected": len(self.connected), "nodes": len(self.nodes)},
        )
        if self._on_node is not None:
            self._on_node(name, up)

    def on_node_event(self, name: str, event: JsonObject) -> list[JsonObject]:
        """What node ``name``'s ``event`` teaches (the node of each id it names) and what of it
        to pass on (a device state only when the merged state changes)."""
        self._purge()
        kind = event.get("type")
        if kind == "StasisStart":
            channel_id = str(event.get("channel", {}).get("id", ""))
            before = self.ids.node.get(("channel", channel_id))
            if before is not None and before != name:
                log.error(
                    "a channel id is on two Asterisk nodes: set systemname in each node's "
                    "asterisk.conf [options] (README, Several Asterisk nodes)",
                    extra={"channel": channel_id, "node": name, "other_node": before},
                )
            self._in_app.add(channel_id)
        for field in ("channel", "peer", "bridge", "playback", "recording", "replace_channel"):
            value = event.get(field)
            if not isinstance(value, dict):
                continue
            rid = value.get("name" if field == "recording" else "id")
            if not isinstance(rid, str):
                continue
            id_kind = "channel" if field in ("peer", "replace_channel") else field
            self.ids.learn(id_kind, rid, name)
            if id_kind == "channel":
                self._snapshots[rid] = value
        ending = _ENDS.get(str(kind))
        if ending is not None and isinstance(event.get(ending), dict):
            rid = event[ending].get("name" if ending == "recording" else "id")
            if isinstance(rid, str):
                self.ids.gone(ending, rid)
                if ending == "channel":
                    self._in_app.discard(rid)
        if kind == "DeviceStateChanged":
            return self._device_changed(name, event)
        return [event]

    def _device_changed(self, name: str, event: JsonObject) -> list[JsonObject]:
        device = event.get("device_state")
        if not isinstance(device, dict) or not isinstance(device.get("name"), str):
            return [event]  # not ours to judge: the adapter logs a malformed event
        self._devices.setdefault(device["name"], {})[name] = str(device.get("state", ""))
        return self._merged(device["name"], event)

    def _merged(self, device: str, event: JsonObject | None = None) -> list[JsonObject]:
        state = merged_device_state(self._devices.get(device, {}).values())
        if self._passed.get(device) == state:
            return []
        self._passed[device] = state
        base = event or {"type": "DeviceStateChanged", "application": self.app}
        return [{**base, "device_state": {"name": device, "state": state}}]

    def node_lost(self, name: str) -> list[JsonObject]:
        """Node ``name`` stayed disconnected past the grace: the hang-up of every channel known
        on it, only while another node is connected (with none, the next set-up judges)."""
        events: list[JsonObject] = []
        if not self.connected:
            return events
        self._lost.add(name)
        channels = self.ids.live_on(name, "channel")
        in_app_count = sum(1 for channel_id in channels if channel_id in self._in_app)
        for channel_id in channels:
            self._in_app.discard(channel_id)
            channel = self._snapshots.get(channel_id) or {"id": channel_id}
            # No timestamp: the adapter's clock stamps them (Asterisk, which would know, is gone).
            common = {"channel": channel, "application": self.app}
            events.append({"type": "StasisEnd", **common})
            events.append(
                {"type": "ChannelDestroyed", **common, "cause": 0, "cause_txt": NODE_LOST_CAUSE}
            )
            self.ids.gone("channel", channel_id)
        log.warning(
            "Asterisk node lost: its calls in progress are ended",
            extra={
                "node": name,
                "channels_ended": len(channels),
                "in_app_ended": in_app_count,
                "grace_s": self._lost_grace,
            },
        )
        return events

    async def _ask_phones(self, name: str, queue: asyncio.Queue[Any]) -> None:
        events = await self.phones_without(name)
        if events:
            await queue.put((name, events))

    async def phones_without(self, name: str) -> list[JsonObject]:
        """The phones' states merged without lost node ``name`` (after its calls ended). A phone
        no other node has told a state of is asked of them (its endpoint: online, in use), as
        the set-up after a connection does; with no node connected, that set-up does it."""
        events: list[JsonObject] = []
        ask: list[str] = []
        for device, states in self._devices.items():  # before any await: events change them
            if states.pop(name, None) is None or not self.connected:
                continue
            if states:
                events.extend(self._merged(device))
            else:
                ask.append(device)
        found = await asyncio.gather(*(self._endpoint(_endpoint_path(d)) for d in ask),
                                     return_exceptions=True)  # fmt: skip
        for device, endpoint in zip(ask, found, strict=True):
            if isinstance(endpoint, BaseException) or self._devices.get(device):
                continue  # not known there, or a node told its state meanwhile: that stands
            state = "UNAVAILABLE"
            if endpoint.get("state") == "online":
                state = "INUSE" if endpoint.get("channel_ids") else "NOT_INUSE"
            if self._passed.get(device) != state:
                self._passed[device] = state
                base = {"type": "DeviceStateChanged", "application": self.app}
                events.append({**base, "device_state": {"name": device, "state": state}})
        return events


def _endpoint_path(device: str) -> str:
    tech, _, resource = (quote(part, safe="") for part in device.partition("/"))
    return f"/endpoints/{tech}/{resource}"


def _id_of(result: Any) -> str:
    return str(result.get("id", "")) if isinstance(result, dict) else ""
