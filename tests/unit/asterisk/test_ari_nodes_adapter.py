"""The ARI adapter over two nodes (AriNodes): a caller's call-taker leg and bridge are made on
the caller's node, and a lost node's synthesised hang-ups end its calls through the adapter's
normal paths. The real adapter, engine and core; each node's REST side recorded."""

from __future__ import annotations

from typing import Any

from callgate.asterisk.ari.nodes import NODE_LOST_CAUSE, AriNodes
from callgate.core.agents import AgentState
from callgate.core.calls import CallState
from callgate.core.commands import AgentStateChanged, CallEnded
from callgate.core.config import AcdConfig
from tests.unit.asterisk.recorded_ari import RecordedAri
from tests.unit.phone_system import Daemon


class Nodes:
    """Two recorded nodes behind one AriNodes, the daemon on top."""

    def __init__(self) -> None:
        self.node = {"node1": RecordedAri(), "node2": RecordedAri()}
        self.ari = AriNodes(dict(self.node))
        self.ari.connected.update(self.node)
        self.daemon = Daemon(AcdConfig(), asterisk=self.node["node1"], client=self.ari)

    async def event(self, name: str, kind: str, **fields: Any) -> None:
        for event in self.ari.on_node_event(name, RecordedAri.frame(kind, **fields)):
            await self.daemon.event(event)

    async def caller(self, name: str, call_id: str) -> None:
        channel = {
            "id": call_id,
            "state": "Up",
            "caller": {"number": "+6281100000001"},
            "channelvars": {"CALLGATE_RECORDING": f"callgate/{call_id}.wav"},
        }
        await self.event(name, "StasisStart", args=[], channel=channel)
        await self.daemon.settle()

    def leg(self, call_id: str, agent: str) -> str:
        return self.daemon.adapter.book.calls[call_id].agent_legs[agent]

    def paths(self, name: str) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in self.node[name].log]


async def test_a_caller_s_leg_and_bridge_are_made_on_the_caller_s_node() -> None:
    nodes = Nodes()
    await nodes.daemon.login("1001")
    await nodes.caller("node2", "node2-1.1")
    leg = nodes.leg("node2-1.1", "1001")
    await nodes.event("node2", "StasisStart", args=["calltaker", "node2-1.1", "1001"],
                      channel={"id": leg})  # fmt: skip
    await nodes.daemon.settle()
    assert nodes.paths("node1") == []  # nothing of node2's call went to node1
    made = nodes.paths("node2")
    assert ("POST", "/channels") in made
    assert ("POST", "/bridges/call-node2-1.1") in made
    assert ("POST", "/bridges/call-node2-1.1/addChannel") in made


async def test_a_lost_node_s_calls_end_and_its_call_taker_is_freed() -> None:
    nodes = Nodes()
    await nodes.daemon.login("1001", "1002")
    await nodes.caller("node1", "node1-1.1")  # talking on node1
    leg = nodes.leg("node1-1.1", "1001")
    await nodes.event("node1", "StasisStart", args=["calltaker", "node1-1.1", "1001"],
                      channel={"id": leg})  # fmt: skip
    await nodes.caller("node2", "node2-1.1")  # talking on node2
    other = nodes.leg("node2-1.1", "1002")
    await nodes.event("node2", "StasisStart", args=["calltaker", "node2-1.1", "1002"],
                      channel={"id": other})  # fmt: skip
    await nodes.caller("node1", "node1-1.2")  # waiting on node1: both call-takers busy
    await nodes.daemon.settle()
    nodes.ari.connected.discard("node1")
    lost = nodes.ari.node_lost("node1")
    assert {e["channel"]["id"] for e in lost} >= {"node1-1.1", "node1-1.2", leg}
    assert {e.get("cause_txt") for e in lost if e["type"] == "ChannelDestroyed"} == {
        NODE_LOST_CAUSE
    }
    for event in lost:
        await nodes.daemon.event(event)
    await nodes.daemon.advance(1)
    ended = {n.call_id: n.outcome for n in nodes.daemon.notes(CallEnded)}
    # The conversation ends as a hang-up does; the caller waiting there abandoned.
    assert ended == {"node1-1.1": CallState.COMPLETED, "node1-1.2": CallState.ABANDONED}
    freed = [
        n for n in nodes.daemon.notes(AgentStateChanged)
        if n.agent_id == "1001" and n.old is AgentState.ON_CALL
    ]  # fmt: skip
    assert freed, "1001's conversation on node1 ended"
    # node2's conversation goes on.
    assert "node2-1.1" in nodes.daemon.adapter.book.calls


async def test_a_partition_node1_back_with_its_waiting_caller_then_the_caller_is_queued_again() -> (
    None
):
    """Not a crash: node1 comes back with the caller callgate ended at the loss still waiting
    in Stasis. The set-up after its reconnection (every node, as after a restart) finds the
    caller and queues them again as a caller found after a restart (a restored start, which the
    journal takes as a no-op for a call it has; the call's later end replaces the abandoned one
    written at the loss)."""
    nodes = Nodes()
    await nodes.caller("node1", "node1-1.1")  # waiting: nobody logged in
    nodes.ari.connected.discard("node1")
    for event in nodes.ari.node_lost("node1"):
        await nodes.daemon.event(event)
    assert "node1-1.1" not in nodes.daemon.adapter.book.calls
    node1 = nodes.node["node1"]
    node1.channels = [
        {
            "id": "node1-1.1",
            "state": "Up",
            "caller": {"number": "+6281100000001"},
            "dialplan": {"app_name": "Stasis", "app_data": "callgate"},
        }
    ]
    node1.bridges = []
    nodes.ari.node_connected("node1")
    await nodes.daemon.adapter.on_connected()
    await nodes.daemon.settle()
    assert "node1-1.1" in nodes.daemon.adapter.book.calls  # queued again, on node1
    restored = [s for s in nodes.daemon.recorder.started if s.call_id == "node1-1.1"]
    assert [s.restored for s in restored] == [False, True]
    assert ("POST", "/channels/node1-1.1/moh") in nodes.paths("node1")
