"""Each node's systemname is checked at its connection (review of #21, finding 6), and ARI and
AMI merge a phone's states over the nodes by one rule (finding 7)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from callgate.asterisk.ami.messages import AsteriskDeviceState, DeviceStatus, merged_status
from callgate.asterisk.ari.client import AriClient, AriUnavailable, JsonObject
from callgate.asterisk.ari.systemnames import SystemNames
from callgate.asterisk.device_merge import MERGE_ORDER, merged_state
from tests.unit.asterisk.test_ari_nodes import (
    FakeNode,
    Reader,
    _client,
    _connected,
    _stasis_start,
)


class ClosingNode(FakeNode):
    """A node whose event socket also reads: it answers the client's close (a refusal closes
    the socket, and would otherwise wait for the close timeout)."""

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)

        async def send() -> None:
            while True:
                await ws.send_json(await self.events.get())

        sender = asyncio.create_task(send())
        try:
            async for _ in ws:
                pass
        finally:
            sender.cancel()
        return ws


@pytest.fixture
async def nodes() -> AsyncIterator[list[FakeNode]]:
    made: list[FakeNode] = [ClosingNode("node1"), ClosingNode("node2")]
    for node in made:
        await node.start()
    yield made
    for node in made:
        await node.stop()


def _alarms(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("ALARM: Asterisk node refused")]


@pytest.mark.parametrize("systemname", ["", "node1"])
async def test_a_node_without_a_systemname_of_its_own_is_refused_until_it_has_one(
    nodes: list[FakeNode], caplog: pytest.LogCaptureFixture, systemname: str
) -> None:
    node1, node2 = nodes
    node2.systemname = systemname
    async with _client(nodes, refused_retry=0.2) as ari:
        reader = Reader(ari)
        await reader.until(_connected(1))
        async with asyncio.timeout(5):  # refused, and again at the retry
            while True:
                if len(_alarms(caplog)) >= 2:
                    break
                await asyncio.sleep(0.02)
        [alarm, *_] = _alarms(caplog)
        assert alarm.levelno == logging.ERROR
        assert (alarm.node, alarm.key, alarm.systemname) == ("node2", "systemname", systemname)  # type: ignore[attr-defined]
        assert ari.connected == {"node1"}
        # node2's Asterisk restarted with its own systemname: the next try takes it.
        node2.systemname = "node2"
        await reader.until(_connected(2))
        assert ari.connected == {"node1", "node2"}
        await node1.events.put(_stasis_start("node1-1.1"))
        await reader.until(lambda _: reader.events("StasisStart"))
        await reader.close()
    assert [e["channel"]["id"] for e in reader.events("StasisStart")] == ["node1-1.1"]
    assert ari.systemnames.of == {"node1": "node1", "node2": "node2"}


class _Info(AriClient):
    def __init__(self, answer: JsonObject | Exception) -> None:
        super().__init__("http://node.invalid", "u", "p", "callgate")
        self.answer = answer

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_a_node_whose_check_cannot_be_made_is_tried_again_soon() -> None:
    names = SystemNames(refused_retry=30, check_retry=1)
    assert await names.refusal("node1", _Info(AriUnavailable("refused"))) == 1
    assert await names.refusal("node1", _Info({"config": "?"})) == 30  # no name: refused
    assert await names.refusal("node1", _Info({"config": {"name": "node1"}})) is None
    assert await names.refusal("node1", _Info({"config": {"name": "node1"}})) is None  # again
    assert await names.refusal("node2", _Info({"config": {"name": "node1"}})) == 30


@given(st.lists(st.sampled_from(MERGE_ORDER), min_size=1, max_size=4))
def test_ari_and_ami_merge_a_phone_s_states_alike(states: list[str]) -> None:
    views = [DeviceStatus(AsteriskDeviceState(s), registered=True) for s in states]
    merged = merged_status(views)
    assert merged is not None
    assert merged.state.value == merged_state(states)
    assert merged_state(reversed(states)) == merged_state(states)  # whichever node spoke first
