"""One ARI client over several Asterisk nodes (AriNodes): routing by resource, the merged
collections and device states, the merged event stream and a lost node's hang-ups, against
local aiohttp servers standing in for each node's ARI (a wire test, not Asterisk)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from callgate.asterisk.ari.client import (
    AriClient,
    AriError,
    AriUnavailable,
    Connected,
    Disconnected,
    JsonObject,
)
from callgate.asterisk.ari.nodes import (
    NODE_LOST_CAUSE,
    AriNodes,
    merged_device_state,
)
from callgate.asterisk.device_merge import MERGE_ORDER as _STATE_ORDER

Item = JsonObject | Connected | Disconnected


class FakeNode:
    """One node's ARI: channels and bridges it holds, every request it got, its event socket."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.systemname = name
        self.infos = 0
        self.channels: dict[str, JsonObject] = {}
        self.bridges: set[str] = set()
        self.endpoints: dict[str, JsonObject] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.events: asyncio.Queue[JsonObject] = asyncio.Queue()
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.sockets: list[web.WebSocketResponse] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ari/events", self._socket)
        app.router.add_route("*", "/ari/{tail:.*}", self._rest)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        """The node's Asterisk stops: sockets closed, connections refused."""
        for ws in self.sockets:
            await ws.close()
        assert self.runner is not None
        await self.runner.cleanup()
        self.runner = None

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        while not ws.closed:
            try:
                event = await asyncio.wait_for(self.events.get(), 0.05)
            except TimeoutError:
                continue
            await ws.send_json(event)
        return ws

    async def _rest(self, request: web.Request) -> web.Response:
        tail = request.match_info["tail"]
        if tail == "asterisk/info":  # asked at each connection (systemname): counted apart
            self.infos += 1
        else:
            self.requests.append((request.method, tail, dict(request.query)))
        parts = tail.split("/")
        head, rid = parts[0], parts[1] if len(parts) > 1 else None
        if head == "channels" and rid is None:
            if request.method == "GET":
                return web.json_response(list(self.channels.values()))
            made = request.query.get("channelId") or f"{self.name}-{len(self.channels)}"
            self.channels[made] = {"id": made, "name": f"PJSIP/x-{made}"}
            return web.json_response(self.channels[made])
        if head == "channels" and rid is not None:
            if rid not in self.channels:
                return web.json_response({"message": "Channel not found"}, status=404)
            if len(parts) == 3 and parts[2] == "play":
                return web.json_response({"id": f"pb-{self.name}"})
            if len(parts) == 3 and parts[2] == "snoop":
                snoop = request.query["snoopId"]
                self.channels[snoop] = {"id": snoop}
                return web.json_response(self.channels[snoop])
            return web.json_response(self.channels[rid])
        if head == "bridges" and rid is None:
            return web.json_response([{"id": b, "channels": []} for b in self.bridges])
        if head == "bridges" and rid is not None:
            if len(parts) == 2 and request.method == "POST":
                self.bridges.add(rid)
            elif rid not in self.bridges:
                return web.json_response({"message": "Bridge not found"}, status=404)
            return web.json_response({"id": rid})
        if head == "endpoints":
            found = self.endpoints.get("/".join(parts[1:]))
            if found is None:
                return web.json_response({"message": "Endpoint not found"}, status=404)
            return web.json_response(found)
        if head == "asterisk":
            # systemname = the node's name, as each node must set (checked at its connection).
            return web.json_response(
                {"system": {"entity_id": self.name}, "config": {"name": self.systemname}}
            )
        return web.Response(status=204)


@pytest.fixture
async def nodes() -> AsyncIterator[list[FakeNode]]:
    made = [FakeNode("node1"), FakeNode("node2")]
    for node in made:
        await node.start()
    yield made
    for node in made:
        if node.runner is not None:
            await node.stop()


def _client(nodes: list[FakeNode], **kwargs: Any) -> AriNodes:
    return AriNodes(
        {n.name: AriClient(n.url, "u", "p", "callgate", backoff_initial=0.05) for n in nodes},
        **kwargs,
    )


class Reader:
    """The merged stream read in the background, each item kept."""

    def __init__(self, ari: AriNodes) -> None:
        self.items: list[Item] = []
        self._more = asyncio.Event()
        self._stream = ari.events()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for item in self._stream:
            self.items.append(item)
            self._more.set()

    async def until(self, check: Any, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while not check(self.items):
                self._more.clear()
                await self._more.wait()

    async def close(self) -> None:
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task
        await self._stream.aclose()

    def events(self, kind: str) -> list[JsonObject]:
        return [i for i in self.items if isinstance(i, dict) and i.get("type") == kind]


def _connected(count: int) -> Any:
    return lambda items: sum(isinstance(i, Connected) for i in items) >= count


def _stasis_start(channel_id: str) -> JsonObject:
    return {"type": "StasisStart", "channel": {"id": channel_id, "name": f"PJSIP/c-{channel_id}"}}


async def test_given_events_of_each_node_then_requests_about_their_ids_go_to_that_node(
    nodes: list[FakeNode],
) -> None:
    node1, node2 = nodes
    node2.channels["caller-2"] = {"id": "caller-2"}
    async with _client(nodes) as ari:
        reader = Reader(ari)
        await reader.until(_connected(2))
        await node2.events.put(_stasis_start("caller-2"))
        await reader.until(lambda items: reader.events("StasisStart"))
        await ari.answer("caller-2")
        # A call-taker's leg and the call's bridge are made near the caller: on node2.
        await ari.originate(
            "PJSIP/1001", app_args="x", caller_id="c", ring_timeout=5,
            channel_id="calltaker-1", near="caller-2",
        )  # fmt: skip
        await ari.create_bridge("call-caller-2", near="caller-2")
        await ari.add_to_bridge("call-caller-2", "caller-2", "calltaker-1")
        await ari.request("POST", "/channels/caller-2/play/greet-1", params={"media": "x"})
        await ari.request("DELETE", "/playbacks/greet-1")
        await reader.close()
    assert node1.requests == []  # nothing about node2's call went to node1
    assert [(m, p) for m, p, _ in node2.requests] == [
        ("POST", "channels/caller-2/answer"),
        ("POST", "channels"),
        ("POST", "bridges/call-caller-2"),
        ("POST", "bridges/call-caller-2/addChannel"),
        ("POST", "channels/caller-2/play/greet-1"),
        ("DELETE", "playbacks/greet-1"),
    ]
    assert reader.items[:2] == [Connected(1), Connected(2)]


async def test_given_an_id_no_node_named_then_each_node_is_asked_and_the_answer_learned(
    nodes: list[FakeNode],
) -> None:
    node1, node2 = nodes
    node2.channels["adopted"] = {"id": "adopted"}
    async with _client(nodes) as ari:
        await ari.hangup("adopted")  # node1: 404, node2: found
        await ari.hangup("adopted")  # learned: straight to node2
        with pytest.raises(AriError) as missing:
            await ari.answer("nowhere")
    assert missing.value.status == 404
    assert [p for _, p, _ in node1.requests] == ["channels/adopted", "channels/nowhere/answer"]
    assert [p for _, p, _ in node2.requests] == [
        "channels/adopted",
        "channels/adopted",
        "channels/nowhere/answer",
    ]


async def test_given_several_nodes_then_collections_are_merged(nodes: list[FakeNode]) -> None:
    node1, node2 = nodes
    node1.channels["a"] = {"id": "a"}
    node2.channels["b"] = {"id": "b"}
    node1.bridges.add("call-a")
    node1.endpoints["PJSIP/1001"] = {"state": "offline", "channel_ids": []}
    node2.endpoints["PJSIP/1001"] = {"state": "online", "channel_ids": ["b"]}
    node2.endpoints["PJSIP/1002"] = {"state": "offline", "channel_ids": []}
    async with _client(nodes) as ari:
        listed = await ari.list_channels()
        bridges = await ari.request("GET", "/bridges")
        phone = await ari.get_endpoint("PJSIP", "1001")
        away = await ari.get_endpoint("PJSIP", "1002")
        info = await ari.info()
        await ari.request(
            "POST", "/applications/callgate/subscription", params={"eventSource": "x"}
        )
        await ari.hangup("b")  # learned from the listing: straight to node2
        # A callback's call (near nothing) goes on the first node in config order.
        await ari.originate("Local/1@out", app_args="", caller_id="c", ring_timeout=5)
    assert [c["id"] for c in listed] == ["a", "b"]
    assert [b["id"] for b in bridges] == ["call-a"]
    assert phone == {"state": "online", "channel_ids": ["b"]}
    assert away["state"] == "offline"
    assert info["system"] == {"entity_id": "node1"}
    for node in nodes:
        assert ("POST", "applications/callgate/subscription", {"eventSource": "x"}) in (
            node.requests
        )
    assert ("DELETE", "channels/b") in [(m, p) for m, p, _ in node2.requests]
    assert ("POST", "channels") in [(m, p) for m, p, _ in node1.requests]


async def test_given_one_phone_on_two_nodes_then_only_the_merged_state_is_passed_on(
    nodes: list[FakeNode],
) -> None:
    node1, node2 = nodes

    def state(value: str) -> JsonObject:
        device = {"name": "PJSIP/1001", "state": value}
        return {"type": "DeviceStateChanged", "device_state": device}

    async with _client(nodes) as ari:
        reader = Reader(ari)
        await reader.until(_connected(2))

        async def told(node: FakeNode, value: str) -> None:
            # One frame at a time, each waited for until the merge took it: the two nodes'
            # sockets do not keep an order between them.
            await node.events.put(state(value))
            async with asyncio.timeout(20):
                while ari._devices.get("PJSIP/1001", {}).get(node.name) != value:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)

        await told(node1, "NOT_INUSE")
        await told(node2, "NOT_INUSE")  # no change: not passed on
        await told(node2, "INUSE")  # busy on one node: busy
        await told(node1, "UNAVAILABLE")  # still busy on node2: not passed on
        await told(node2, "NOT_INUSE")
        await reader.until(lambda _: len(reader.events("DeviceStateChanged")) >= 3, 20)
        await reader.close()
    seen = [e["device_state"]["state"] for e in reader.events("DeviceStateChanged")]
    assert seen == ["NOT_INUSE", "INUSE", "NOT_INUSE"]


@given(st.lists(st.sampled_from(_STATE_ORDER), max_size=4))
def test_a_merged_state_is_busy_before_idle_before_unavailable(states: list[str]) -> None:
    merged = merged_device_state(states)
    busy = {"RINGINUSE", "INUSE", "BUSY", "ONHOLD", "RINGING"}
    if busy & set(states):
        assert merged in busy
    elif "NOT_INUSE" in states:
        assert merged == "NOT_INUSE"
    else:
        assert merged not in busy | {"NOT_INUSE"}
    assert merged_device_state(reversed(states)) == merged


def _device(name: str, state: str) -> JsonObject:
    return {"type": "DeviceStateChanged", "device_state": {"name": name, "state": state}}


async def test_given_a_node_lost_then_its_channels_hang_up_and_the_stream_stays_up(
    nodes: list[FakeNode], caplog: pytest.LogCaptureFixture
) -> None:
    node1, node2 = nodes
    node1.channels["caller-1"] = {"id": "caller-1"}
    # 1001 told a state by node1 only (node2 has it online, idle); 1002 by both; 1003 by node1
    # only, unknown to node2.
    node2.endpoints["PJSIP/1001"] = {"state": "online", "channel_ids": []}
    states: list[tuple[str, bool]] = []
    async with _client(nodes, lost_grace=0.3, on_node=lambda n, up: states.append((n, up))) as ari:
        reader = Reader(ari)
        await reader.until(_connected(2))
        await node1.events.put(_stasis_start("caller-1"))
        await node2.events.put(_stasis_start("caller-2"))
        await node2.events.put(_device("PJSIP/1002", "NOT_INUSE"))
        await reader.until(lambda _: len(reader.events("DeviceStateChanged")) == 1)
        for device in ("1001", "1002", "1003"):
            await node1.events.put(_device(f"PJSIP/{device}", "INUSE"))
        await reader.until(lambda _: len(reader.events("StasisStart")) == 2)
        await reader.until(lambda _: len(reader.events("DeviceStateChanged")) == 4)
        with caplog.at_level(logging.WARNING, logger="callgate.asterisk.ari.nodes"):
            await node1.stop()
            await reader.until(lambda _: len(reader.events("DeviceStateChanged")) >= 6)
            await asyncio.sleep(0.1)
        assert ari.node_states() == {"node1": False, "node2": True}
        # A request about a channel gone with its node: Asterisk's "not found", no connection.
        with pytest.raises(AriError) as gone:
            await ari.hangup("caller-1")
        assert gone.value.status == 404
        await reader.close()
    assert not any(isinstance(i, Disconnected) for i in reader.items)  # node2 still serves
    ends = [
        (e["type"], e["channel"]["id"])
        for e in reader.events("StasisEnd") + reader.events("ChannelDestroyed")
    ]
    assert ends == [("StasisEnd", "caller-1"), ("ChannelDestroyed", "caller-1")]
    assert reader.events("ChannelDestroyed")[0]["cause_txt"] == NODE_LOST_CAUSE
    # The calls end first, then each phone as the other node has it; 1003 stays as it was.
    after = [
        (e["device_state"]["name"], e["device_state"]["state"])
        for e in reader.events("DeviceStateChanged")[4:]
    ]
    assert sorted(after) == [("PJSIP/1001", "NOT_INUSE"), ("PJSIP/1002", "NOT_INUSE")]
    kinds = [e["type"] for e in reader.items if isinstance(e, dict)]
    assert kinds.index("ChannelDestroyed") < len(kinds) - 2
    lost = [r for r in caplog.records if r.getMessage().startswith("Asterisk node lost")]
    assert len(lost) == 1
    assert (lost[0].node, lost[0].in_app_ended) == ("node1", 1)  # type: ignore[attr-defined]
    assert states[-1] == ("node1", False)


async def test_given_every_node_gone_then_disconnected_and_no_hang_up_is_made_up(
    nodes: list[FakeNode],
) -> None:
    node1, node2 = nodes
    async with _client(nodes, lost_grace=0.2) as ari:
        reader = Reader(ari)
        await reader.until(_connected(2))
        await node1.events.put(_stasis_start("caller-1"))
        await reader.until(lambda _: reader.events("StasisStart"))
        await node1.stop()
        await node2.stop()
        await reader.until(lambda items: any(isinstance(i, Disconnected) for i in items))
        await asyncio.sleep(0.5)  # past the grace: the reconnection's reconciliation ends calls
        await reader.close()
    assert reader.events("ChannelDestroyed") == []
    assert sum(isinstance(i, Disconnected) for i in reader.items) == 1


async def test_given_a_lost_node_back_then_connected_again_and_its_ids_relearned(
    nodes: list[FakeNode],
) -> None:
    """A partition, not a crash: the node comes back with its caller still there. The merged
    stream says Connected, so the adapter's set-up reconciles every node, as after a restart
    (its listing adopts the caller again: tests/unit/test_restored_calls.py covers that path);
    the caller's requests go to its node again."""
    node1, _ = nodes
    node1.channels["caller-1"] = {"id": "caller-1"}
    # The reconnection's backoff capped low: doubling while node1 is down (longer on a loaded
    # machine) must not outlast the wait for it to be back.
    clients = {
        n.name: AriClient(n.url, "u", "p", "callgate", backoff_initial=0.05, backoff_max=0.2)
        for n in nodes
    }
    async with AriNodes(clients, lost_grace=0.2) as ari:
        reader = Reader(ari)
        await reader.until(_connected(2), 20)
        await node1.events.put(_stasis_start("caller-1"))
        await reader.until(lambda _: reader.events("StasisStart"), 20)
        await node1.stop()
        await reader.until(lambda _: reader.events("ChannelDestroyed"), 20)
        await node1.start()  # same port
        # (The loss itself said Connected once more: the set-up runs again without node1.)
        await reader.until(lambda _: ari.node_states()["node1"], 20)
        listed = await ari.list_channels()
        await ari.answer("caller-1")
        await reader.close()
    assert [c["id"] for c in listed] == ["caller-1"]
    assert ("POST", "channels/caller-1/answer") in [(m, p) for m, p, _ in node1.requests]


async def test_given_one_channel_id_on_two_nodes_then_an_error_names_systemname(
    nodes: list[FakeNode], caplog: pytest.LogCaptureFixture
) -> None:
    ari = _client(nodes)
    ari.on_node_event("node1", _stasis_start("1765000000.1"))
    with caplog.at_level(logging.ERROR, logger="callgate.asterisk.ari.nodes"):
        ari.on_node_event("node2", _stasis_start("1765000000.1"))
        ari.on_node_event("node2", _stasis_start("1765000000.1"))  # same node again: fine
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "systemname" in errors[0].getMessage()


def test_gone_ids_are_forgotten_after_a_while() -> None:
    now = [0.0]
    ari = AriNodes(
        {"node1": AriClient("http://127.0.0.1:9", "u", "p", "callgate")},
        forget_after=10,
        clock=lambda: now[0],
    )
    for n in range(1000):
        ari.on_node_event("node1", _stasis_start(f"c{n}"))
        ari.on_node_event("node1", {"type": "PlaybackStarted", "playback": {"id": f"p{n}"}})
        ari.on_node_event("node1", {"type": "PlaybackFinished", "playback": {"id": f"p{n}"}})
        ari.on_node_event("node1", {"type": "ChannelDestroyed", "channel": {"id": f"c{n}"}})
    ari.on_node_event("node1", _stasis_start("c5"))  # back again before it was forgotten
    assert len(ari.ids) == 2000
    now[0] = 11
    ari.on_node_event("node1", {"type": "ChannelVarset", "channel": {"id": "live"}})
    assert set(ari.ids.node) == {("channel", "c5"), ("channel", "live")}


def test_a_device_state_without_a_name_is_passed_on_for_the_adapter_to_judge() -> None:
    ari = AriNodes({"node1": AriClient("http://127.0.0.1:9", "u", "p", "callgate")})
    odd = {"type": "DeviceStateChanged", "device_state": "?"}
    assert ari.on_node_event("node1", odd) == [odd]
    with pytest.raises(ValueError, match="at least one node"):
        AriNodes({})


async def test_given_a_node_unreachable_then_requests_pass_it_over_where_they_can(
    nodes: list[FakeNode],
) -> None:
    node1, node2 = nodes
    node2.channels["c2"] = {"id": "c2"}
    await node1.stop()  # refuses connections
    async with _client(nodes) as ari:
        assert [c["id"] for c in await ari.list_channels()] == ["c2"]
        await ari.answer("c2")  # node1 unreachable, node2 has it
        await ari.request("POST", "/applications/callgate/subscription", params={"x": "y"})
        await ari.snoop("c2", spy="both", whisper="none", app_args="s", snoop_id="snoop-1")
        await ari.request("POST", "/channels/c2/record", params={"name": "rec-1"})
        await ari.request("POST", "/recordings/live/rec-1/stop")
        await ari.hangup("snoop-1")  # learned with the snoop: straight to node2
        await node2.stop()
        with pytest.raises(AriUnavailable):
            await ari.list_channels()
        with pytest.raises(AriUnavailable):
            await ari.request("POST", "/applications/callgate/subscription")
    paths = [(m, p) for m, p, _ in node2.requests]
    assert ("POST", "recordings/live/rec-1/stop") in paths
    assert paths[-1] == ("DELETE", "channels/snoop-1")


async def test_given_a_node_s_stream_failing_then_the_merged_stream_raises_it() -> None:
    class Broken(AriClient):
        async def events(self) -> AsyncIterator[Item]:
            raise RuntimeError("boom")
            yield Connected(1)  # pragma: no cover - makes this an async generator

    ari = AriNodes({"node1": Broken("http://127.0.0.1:9", "u", "p", "callgate")})
    with pytest.raises(RuntimeError, match="boom"):
        async for _ in ari.events():
            pass


async def test_given_a_node_that_never_connects_then_it_is_lost_after_the_grace(
    nodes: list[FakeNode],
) -> None:
    # A new leader whose node died with the old one: without this the journal's open calls
    # were never ended (the node was "not yet listed" for ever), seen in the node benchmark.
    node1, _ = nodes
    await node1.stop()  # refuses connections from the start
    async with _client(nodes, lost_grace=0.2) as ari:
        reader = Reader(ari)
        try:
            await reader.until(_connected(1))
            await ari.list_channels()  # as the set-up does
            assert not ari.absence_judge().every  # node1 may still come
            # Once node1 is lost, the set-up runs again (a Connected), and its listing judges
            # every node: the journal's open calls of node1 can be ended.
            await reader.until(_connected(2))
            async with asyncio.timeout(5):
                while True:
                    await ari.list_channels()
                    if ari.absence_judge().every:
                        break
                    await asyncio.sleep(0.02)
        finally:
            await reader.close()
