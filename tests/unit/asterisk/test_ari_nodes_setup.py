"""The set-up after a connection over several nodes (review of #21, findings 1, 2, 4): it judges
gone only the calls of the nodes it listed, a later node's connection does not cancel it, and a
node that reconnects within its grace does not keep a stale phone state."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from callgate.asterisk.ari.client import AriUnavailable
from callgate.asterisk.ari.nodes import AriNodes
from callgate.core.commands import CallEnded
from tests.unit.asterisk.recorded_ari import RecordedAri
from tests.unit.asterisk.test_ari_nodes_adapter import Nodes

CALLER = "node1-1.1"


async def _conversation(nodes: Nodes) -> str:
    """A conversation on node1 (caller and call-taker's leg bridged), node2 empty."""
    await nodes.daemon.login("1001")
    # No recording: a call ended here would wait for a file that never grows.
    channel = {"id": CALLER, "state": "Up", "caller": {"number": "+6281100000001"}}
    await nodes.event("node1", "StasisStart", args=[], channel=channel)
    await nodes.daemon.settle()
    leg = nodes.leg(CALLER, "1001")
    await nodes.event("node1", "StasisStart", args=["calltaker", CALLER, "1001"],
                      channel={"id": leg})  # fmt: skip
    await nodes.daemon.settle()
    app = {"app_name": "Stasis", "app_data": "callgate"}
    nodes.node["node1"].channels = [
        {"id": CALLER, "state": "Up", "caller": {"number": "+6281100000001"}, "dialplan": app},
        {"id": leg, "state": "Up", "caller": {"number": "1001"}, "dialplan": app},
    ]
    nodes.node["node1"].bridges = [
        {"id": f"call-{CALLER}", "channels": [CALLER, leg], "bridge_type": "mixing"}
    ]
    nodes.node["node2"].channels = []
    nodes.node["node2"].bridges = []
    return leg


class _Journal:
    """The journal's open calls, counting the asks."""

    def __init__(self) -> None:
        self.asked = 0

    async def open_calls(self) -> list[Any]:
        self.asked += 1
        return []


def _ended(nodes: Nodes) -> dict[str, str]:
    return {note.call_id: note.outcome for note in nodes.daemon.notes(CallEnded)}


def _deletes(nodes: Nodes, name: str, since: int) -> list[str]:
    return [r[1] for r in nodes.node[name].log[since:] if r[0] == "DELETE"]


async def test_a_set_up_while_a_node_is_in_its_grace_leaves_that_node_s_calls_alone() -> None:
    nodes = Nodes()
    await _conversation(nodes)
    journal = _Journal()
    nodes.daemon.adapter.shared.open_calls = journal.open_calls
    before = len(nodes.node["node1"].log)
    nodes.ari.connected.discard("node1")  # node1's socket dropped: its grace runs
    await nodes.daemon.adapter.on_connected()  # node2 (re)connected
    await nodes.daemon.settle()
    await nodes.daemon.advance(1)
    assert _ended(nodes) == {}
    assert _deletes(nodes, "node1", before) == []  # the call-taker's leg and bridge kept
    assert journal.asked == 0  # node1 may hold open calls: none is judged unseen
    nodes.ari.node_connected("node1")  # back: its own set-up judges everything
    await nodes.daemon.adapter.on_connected()
    assert journal.asked == 1
    assert _ended(nodes) == {}


async def test_a_connected_node_that_fails_to_list_fails_the_set_up_which_ends_nothing() -> None:
    nodes = Nodes()
    await _conversation(nodes)
    before = len(nodes.node["node1"].log)
    nodes.node["node1"].unreachable.add(("GET", "/channels"))
    with pytest.raises(AriUnavailable):
        await nodes.daemon.adapter.on_connected()  # retried by AriLink
    await nodes.daemon.settle()
    assert _ended(nodes) == {}
    assert _deletes(nodes, "node1", before) == []
    nodes.node["node1"].unreachable.clear()
    await nodes.daemon.adapter.on_connected()  # the retry: node1 listed, the call kept
    await nodes.daemon.settle()
    assert _ended(nodes) == {}


async def test_a_call_of_a_listed_node_missing_from_its_list_is_still_ended() -> None:
    nodes = Nodes()
    await _conversation(nodes)
    nodes.ari.connected.discard("node2")  # node2 in its grace: node1 is listed all the same
    nodes.node["node1"].channels = []
    nodes.node["node1"].bridges = []
    await nodes.daemon.adapter.on_connected()
    await nodes.daemon.settle()
    assert set(_ended(nodes)) == {CALLER}


def test_a_node_never_listed_is_not_judged_and_a_lost_one_is() -> None:
    ari = AriNodes({"node1": RecordedAri(), "node2": RecordedAri()})
    ari.ids.learn("channel", "a", "node1")
    ari.ids.learn("channel", "b", "node2")
    listed = ari.absence_judge()  # before any listing
    assert not listed.every
    assert not listed.judged("a")
    assert not listed.judged("unknown")
    ari._lost.update(ari.nodes)  # both lost: their calls are ended already
    listed = ari.absence_judge()
    assert listed.every
    assert listed.judged("a")
    assert listed.judged("unknown")


async def test_a_set_up_cancelled_while_taking_a_found_caller_does_not_strand_them() -> None:
    """A set-up cancelled (a reconnection) while it re-queues a caller found waiting: the caller
    is still queued and offered, not left in the book half set up for good."""
    nodes = Nodes()
    node1 = nodes.node["node1"]
    node1.channels = [
        {
            "id": CALLER,
            "state": "Up",
            "caller": {"number": "+6281100000001"},
            "creationtime": "2026-01-01T00:00:00.000+0000",
            "dialplan": {"app_name": "Stasis", "app_data": "callgate"},
        }
    ]
    node1.bridges = []
    nodes.node["node2"].channels = []
    nodes.node["node2"].bridges = []
    node1.slow[("GET", f"/channels/{CALLER}/variable")] = 0.5
    setup = asyncio.create_task(nodes.daemon.adapter.on_connected())
    async with asyncio.timeout(5):  # until it is taking the caller (reading their variables)
        while ("GET", f"/channels/{CALLER}/variable") not in nodes.paths("node1"):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    setup.cancel()
    await asyncio.gather(setup, return_exceptions=True)
    node1.slow.clear()
    await nodes.daemon.adapter.on_connected()  # the next set-up skips the caller held
    await nodes.daemon.login("1001")
    async with asyncio.timeout(5):
        while ("POST", "/channels") not in nodes.paths("node1"):
            await nodes.daemon.settle()
            await asyncio.sleep(0.01)


def _device(state: str) -> dict[str, Any]:
    return RecordedAri.frame(
        "DeviceStateChanged", device_state={"name": "PJSIP/1001", "state": state}
    )


def test_a_node_back_within_its_grace_forgets_the_phone_states_it_told_before() -> None:
    """node1 said RINGING, its socket dropped and came back within the grace while the ring
    ended: its old RINGING must not outrank what node2 says next (the phone is idle)."""
    ari = AriNodes({"node1": RecordedAri(), "node2": RecordedAri()})
    ari.connected.update(ari.nodes)
    assert ari.on_node_event("node1", _device("RINGING"))
    ari.connected.discard("node1")
    ari.node_connected("node1")  # its set-up tells the core the phones' states itself
    passed = [ari.on_node_event("node2", _device(s)) for s in ("RINGING", "INUSE", "NOT_INUSE")]
    assert [p[0]["device_state"]["state"] for p in passed] == ["RINGING", "INUSE", "NOT_INUSE"]
