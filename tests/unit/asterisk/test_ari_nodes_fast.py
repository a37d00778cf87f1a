"""A node that goes away is noticed and passed over fast (review of #21, finding 3): its event
socket's short heartbeat closes a socket nobody answers, a request to a node whose socket is
down fails at once, and a ring that cannot reach Asterisk is no answer (the call-taker is not
left RINGING until the ring timeout)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from callgate.asterisk.ari.client import AriClient, AriUnavailable, Connected, Disconnected
from callgate.asterisk.ari.nodes import AriNodes
from callgate.core.agents import AgentState
from callgate.core.commands import AgentStateChanged
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


async def test_a_ring_that_cannot_reach_asterisk_is_no_answer() -> None:
    daemon = Daemon(AcdConfig())
    daemon.asterisk.unreachable.add(("POST", "/channels"))
    await daemon.login("1001")
    await daemon.caller("1.1", "+6281100000001")
    states = [(n.old, n.new) for n in daemon.notes(AgentStateChanged) if n.agent_id == "1001"]
    # Rung, then at once no answer: not left RINGING until the core's ring timeout.
    assert states[-1][0] is AgentState.RINGING
    assert daemon.engine.acd.agents["1001"].state is not AgentState.RINGING


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
