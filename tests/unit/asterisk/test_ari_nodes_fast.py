"""A node that goes away is noticed and passed over fast (review of #21, finding 3): its event
socket's short heartbeat closes a socket nobody answers, a request to a node whose socket is
down fails at once; a ring that cannot reach Asterisk is left to the core's ring timeout (as a
miss at once it paused every free call-taker in milliseconds)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from callgate.asterisk.ari.client import (
    AriClient,
    AriUnavailable,
    Connected,
    Disconnected,
    JsonObject,
)
from callgate.asterisk.ari.nodes import AriNodes
from callgate.core.agents import AgentState
from callgate.core.config import AcdConfig
from tests.unit.asterisk.recorded_ari import RecordedAri
from tests.unit.phone_system import Daemon


@pytest.fixture
async def hung_asterisk() -> AsyncIterator[str]:
    """An ARI whose event socket accepts and then never reads again (a hung or cut-off host:
    no pong, no close)."""
    held: list[web.WebSocketResponse] = []

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        held.append(ws)
        await asyncio.sleep(3600)
        return ws  # pragma: no cover - cancelled at clean-up

    app = web.Application()
    app.router.add_get("/ari/events", socket)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_a_short_heartbeat_notices_a_hung_asterisk_in_about_its_period(
    hung_asterisk: str,
) -> None:
    async with AriClient(hung_asterisk, "u", "p", "callgate", heartbeat=0.2) as ari:
        stream = ari.events()
        assert isinstance(await anext(stream), Connected)
        started = time.monotonic()
        async with asyncio.timeout(5):  # the default heartbeat (20 s) would be far past this
            item = await anext(stream)
        await stream.aclose()
    assert isinstance(item, Disconnected)
    assert time.monotonic() - started < 5


async def test_rings_that_cannot_reach_asterisk_never_pause_every_call_taker() -> None:
    # A caller on a node whose socket is down (in its grace) or an Asterisk restarting: taken
    # as "no answer", each failed ring was a miss at once and the caller went straight to the
    # next call-taker, so in milliseconds every free call-taker reached the missed-ring limit
    # and was paused. The ring stays as it is until the core's ring timeout instead.
    daemon = Daemon(AcdConfig())
    daemon.asterisk.unreachable.add(("POST", "/channels"))
    for agent in ("1001", "1002", "1003"):
        await daemon.login(agent)
    await daemon.caller("1.1", "+6281100000001")
    paused = [
        a for a, agent in daemon.engine.acd.agents.items() if agent.state is AgentState.PAUSED
    ]
    assert paused == []


async def test_a_request_to_a_node_whose_socket_is_down_fails_at_once() -> None:
    one, two = RecordedAri(), RecordedAri()
    ari = AriNodes({"node1": one, "node2": two})
    ari.connected.update({"node1", "node2"})
    for rid in ("node1-1.1", "node2-1.1"):
        ari.ids.learn("channel", rid, rid.split("-")[0])
    ari.connected.discard("node1")  # node1's socket dropped: in its grace
    with pytest.raises(AriUnavailable, match="node1 is disconnected"):
        await ari.originate("PJSIP/1001", app_args="x", caller_id="c", ring_timeout=5,
                            channel_id="calltaker-1", near="node1-1.1")  # fmt: skip
    with pytest.raises(AriUnavailable, match="node1 is disconnected"):
        await ari.hangup("node1-1.1")
    with pytest.raises(AriUnavailable, match="node1 is disconnected"):
        await ari.create_bridge("call-node1-1.1", near="node1-1.1")
    await ari.hangup("node2-1.1")
    # Nothing went to node1 (each request would have waited for its REST timeout there).
    assert one.log == []
    assert two.count("DELETE", "/channels/node2-1.1") == 1


async def test_with_no_node_up_every_node_is_still_tried() -> None:
    one, two = RecordedAri(), RecordedAri()
    ari = AriNodes({"node1": one, "node2": two})
    ari.ids.learn("channel", "c", "node1")
    await ari.hangup("c")
    assert one.count("DELETE", "/channels/c") == 1


class SickNode(AriClient):
    """A node whose event socket is up and whose REST answers slowly (``delay`` s each)."""

    def __init__(self, name: str, delay: float = 0.0) -> None:
        super().__init__(f"http://{name}.invalid", "u", "p", "callgate")
        self.name = name
        self.delay = delay
        self.items: asyncio.Queue[JsonObject | Connected | Disconnected] = asyncio.Queue()
        self.endpoint: JsonObject = {"state": "online", "channel_ids": []}
        self.asked = asyncio.Event()

    async def request(self, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
        if path == "/asterisk/info":
            return {"config": {"name": self.name}}
        self.asked.set()
        await asyncio.sleep(self.delay)
        return self.endpoint

    async def events(self) -> AsyncIterator[JsonObject | Connected | Disconnected]:
        yield Connected(1)
        while True:
            yield await self.items.get()


async def test_a_sick_node_s_endpoint_is_asked_beside_the_others_not_after_them() -> None:
    one, two = SickNode("node1", 0.5), SickNode("node2", 0.5)
    ari = AriNodes({"node1": one, "node2": two})
    ari.connected.update({"node1", "node2"})
    started = time.monotonic()
    seen = await ari.get_endpoint("PJSIP", "1001")
    assert time.monotonic() - started < 0.9  # both asked at once (one after the other: 1 s)
    assert seen["state"] == "online"


async def test_phones_asked_after_a_loss_hold_up_no_other_node_s_events() -> None:
    one, two = SickNode("node1"), SickNode("node2", delay=2.0)
    ari = AriNodes({"node1": one, "node2": two}, lost_grace=0.05)
    stream = ari.events()
    got: asyncio.Queue[JsonObject] = asyncio.Queue()

    async def read() -> None:
        async for item in stream:
            if isinstance(item, dict):
                await got.put(item)

    reader = asyncio.create_task(read())
    phone = {"name": "PJSIP/1001", "state": "INUSE"}
    await one.items.put({"type": "DeviceStateChanged", "device_state": phone})
    await one.items.put(Disconnected("gone"))  # node1 lost: 1001 is asked of node2 (2 s)
    seen = []
    async with asyncio.timeout(10):
        seen.append(await got.get())
        await two.asked.wait()
        await two.items.put({"type": "StasisStart", "channel": {"id": "node2-1.1"}})
        seen.append(await got.get())
        seen.append(await got.get())
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    await stream.aclose()
    # node2's caller was passed on while its REST was still answering about the phone.
    assert [e["type"] for e in seen] == ["DeviceStateChanged", "StasisStart", "DeviceStateChanged"]
    assert seen[-1]["device_state"] == {"name": "PJSIP/1001", "state": "NOT_INUSE"}
