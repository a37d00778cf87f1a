"""AMI over several Asterisk nodes (``[nodes]``, issue #21 item 3): each node's phone views
merged into the centre's, a lost node's views dropped, the fallback queue added up.

The nodes are local AMI servers answering with traffic recorded from the lab's Asterisk
(:class:`tests.unit.test_ami.ReplayAsterisk`), one per node, on their own ports.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.asterisk.ami.client import AmiClient, AmiUnavailable
from callgate.asterisk.ami.messages import AsteriskDeviceState as S
from callgate.asterisk.ami.messages import (
    DeviceStatus,
    QueueSummary,
    merged_status,
    merged_summary,
)
from callgate.asterisk.ami.nodes import AmiNodes, ami_of
from callgate.asterisk.settings import AmiSettings, NodeSettings
from tests.unit.test_ami import (
    REGISTERED,
    Recorder,
    ReplayAsterisk,
    recorded_lab_asterisk,
    recorded_reply,
    until,
)

BUSY = {S.INUSE, S.BUSY, S.ONHOLD, S.RINGINUSE}
statuses = st.builds(DeviceStatus, st.sampled_from(list(S)), registered=st.booleans())


@given(st.lists(statuses, min_size=1, max_size=4))
def test_given_any_nodes_views_then_registered_if_any_node_can_ring_it_and_busy_if_any_is(
    views: list[DeviceStatus],
) -> None:
    merged = merged_status(views)
    assert merged is not None
    assert merged.registered == any(v.registered for v in views)
    if any(v.state in BUSY for v in views):
        assert merged.state in BUSY
    elif any(v.state is S.RINGING for v in views):
        assert merged.state is S.RINGING
    elif any(v.registered and v.state is S.NOT_INUSE for v in views):
        assert merged.state is S.NOT_INUSE


def test_given_a_phone_unavailable_on_one_node_and_free_on_the_other_then_it_can_be_rung() -> None:
    lapsed = DeviceStatus(S.UNAVAILABLE, registered=False)
    free = DeviceStatus(S.NOT_INUSE, registered=True)
    assert merged_status([lapsed, free]) == free
    assert merged_status([free, lapsed]) == free
    assert merged_status([]) is None


def test_given_two_nodes_fallback_queues_then_callers_add_up_and_members_do_not() -> None:
    one = QueueSummary("fallback", 2, 30, 10, 4, 1)
    two = QueueSummary("fallback", 1, 45, 20, 4, 3)
    assert merged_summary("fallback", [one, two]) == QueueSummary("fallback", 3, 45, 20, 4, 3)


def test_given_no_nodes_then_the_single_asterisk_client_is_made_and_with_nodes_one_per_node() -> (
    None
):
    recorder = Recorder()
    single = ami_of(AmiSettings(), {}, on_device_state=recorder.device)
    assert isinstance(single, AmiClient)
    nodes = {
        "node1": NodeSettings(ari_url="http://127.0.0.11:8088", ami_host="127.0.0.11"),
        "node2": NodeSettings(
            ari_url="http://127.0.0.12:8088", ami_host="127.0.0.12", ami_port=5039
        ),
    }
    several = ami_of(AmiSettings(), nodes, on_device_state=recorder.device)
    assert isinstance(several, AmiNodes)
    assert [(c.host, c.port) for c in several.nodes.values()] == [
        ("127.0.0.11", 5038),
        ("127.0.0.12", 5039),
    ]
    with pytest.raises(ValueError, match="at least one node"):
        AmiNodes.from_settings(AmiSettings(), {}, on_device_state=recorder.device)


@dataclass
class Node:
    replay: ReplayAsterisk
    server: asyncio.Server

    @property
    def port(self) -> int:
        port: int = self.server.sockets[0].getsockname()[1]
        return port


@pytest.fixture
async def two_nodes() -> AsyncIterator[tuple[Node, Node]]:
    """Node 1 has 1007 registered (as recorded); node 2 has no phone registered."""
    one, two = recorded_lab_asterisk(), recorded_lab_asterisk()
    one.replies["pjsipshowendpoints"] = recorded_reply(REGISTERED, "rec-1")
    servers = [await asyncio.start_server(r.handle, "127.0.0.1", 0) for r in (one, two)]
    yield Node(one, servers[0]), Node(two, servers[1])
    for replay, server in zip((one, two), servers, strict=True):
        replay.drop_all()
        server.close()
        await server.wait_closed()


def nodes_on(ports: dict[str, int], recorder: Recorder) -> AmiNodes:
    def client(name: str, state: object, connection: object) -> AmiClient:
        return AmiClient(
            "127.0.0.1",
            ports[name],
            "callgate",
            "lab-ami-secret",
            on_device_state=state,  # type: ignore[arg-type]
            on_connection=connection,  # type: ignore[arg-type]
            # Not a fraction of a second: a loaded CI machine stalls that long, which would
            # mark a node down (or fail queue_summary) mid-test. A node going is seen at once
            # anyway: its socket closes.
            action_timeout=5.0,
            ping_interval=0.5,
            backoff_initial=0.01,
            backoff_max=0.05,
        )

    return AmiNodes(
        client,
        list(ports),
        on_device_state=recorder.device,
        on_connection=recorder.connection.append,
    )


async def test_given_a_phone_registered_on_one_node_then_it_can_be_rung_until_that_node_goes(
    two_nodes: tuple[Node, Node],
) -> None:
    one, two = two_nodes
    recorder = Recorder()
    ami = nodes_on({"node1": one.port, "node2": two.port}, recorder)
    task = asyncio.create_task(ami.run())
    try:
        await until(lambda: all(ami.nodes_up().values()), 20)
        assert recorder.connection == [True]  # once, when the first node was up
        registered = ami.status("PJSIP/1007")
        assert registered is not None
        assert registered.registered
        assert len({e for e, _ in recorder.statuses}) == 9

        # Node 1 goes: its view no longer counts, so 1007 cannot be rung through node 2.
        one.server.close()
        one.replay.drop_all()
        await until(lambda: not ami.nodes_up()["node1"], 20)
        lost = ami.status("PJSIP/1007")
        assert lost is not None
        assert not lost.registered
        assert ami.connected  # node 2 still is
        assert recorder.connection == [True]
        summary = await ami.queue_summary("fallback-112")
        assert summary.callers == 0

        # Node 2 goes too: AMI is down for the daemon, and nothing answers a queue summary.
        two.server.close()
        two.replay.drop_all()
        await until(lambda: not ami.connected, 20)
        assert recorder.connection == [True, False]
        with pytest.raises(AmiUnavailable):
            await ami.queue_summary("fallback-112")
    finally:
        await ami.close()
        await asyncio.wait_for(task, 5)
