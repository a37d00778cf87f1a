"""One callgate drives both Asterisk nodes of the multi-node lab (issue #21 item 3, "Done when"):
a whole node stopped mid-burst, every caller who arrives afterwards talks to a call-taker through
the other node, served by callgate (its journal and log), not by the node's fallback queue.

The carrier (SIPp) sends every call to the dispatcher (127.0.0.10), which spreads them over
node1 and node2; the call-takers' softphones register with both nodes (one account each) and
answer at once. callgate runs as the lab's service user with ``[nodes]`` naming both nodes (no
etcd: one callgate). The nodes set ``systemname``, so a channel's id names its node
(``node1-<epoch>.<seq>``). Every wait is bounded polling.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import labpeers
import pytest

from callgate.core.screening import normalise_number

from .conftest import Daemon, wait_for
from .test_nodes_lab import (
    _RUN,
    NODES,
    _carrier,
    _count,
    _dispatcher_lines,
    _endpoint_state,
    _lab_nodes,
    _queue_log,
)
from .test_nodes_lab import nodes as nodes  # the module's `scripts/lab nodes up`

# Not marked `smoke`: it runs in the whole suite on Asterisk 22, not in 16's smoke pass.
pytestmark = pytest.mark.timeout(280)

TAKERS = [str(1001 + n) for n in range(6)]


@pytest.fixture(scope="module")
def takers(nodes: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Six call-takers, each registered with both nodes (two accounts, auto-answer)."""
    base = tmp_path_factory.mktemp("callgate-node-phones")
    servers = [(address, 5060) for address in NODES.values()]
    phones = [labpeers.Softphone(ext, base / f"phone-{ext}", servers=servers) for ext in TAKERS]
    try:
        for phone in phones:
            phone.start()
        for phone in phones:
            for node in NODES:
                wait_for(
                    lambda p=phone, n=node: _endpoint_state(n, p.extension) == "online",
                    20,
                    f"{phone.extension} registered with node{node}",
                )
        yield TAKERS
    finally:
        for phone in phones:
            phone.stop()


@pytest.fixture
def callgate(takers: list[str], tmp_path: Path) -> Iterator[Daemon]:
    config = {
        f"node{n}": {"ari_url": f"http://{address}:8088", "ami_host": address}
        for n, address in NODES.items()
    }
    daemon = Daemon(
        tmp_path / "callgate.log",
        CALLGATE_NODES=json.dumps(config),
        CALLGATE_CALLTAKERS__ENDPOINTS=json.dumps([f"PJSIP/{t}" for t in takers]),
        CALLGATE_CALLTAKERS__WRAP_UP_TIME="1",
    )
    try:
        daemon.start()
        wait_for(lambda: bool(daemon.records("ready: taking calls")), 30, "callgate ready")
        yield daemon
    finally:
        daemon.stop()


def _entered(daemon: Daemon) -> dict[str, str]:
    """Caller number (national form) -> callgate's call id, for every caller callgate took."""
    return {
        normalise_number(str(r.get("caller"))): str(r["call_id"])
        for r in daemon.records("112 call entered")
    }


def _connected(daemon: Daemon) -> set[str]:
    return {str(r["call_id"]) for r in daemon.records("call connected")}


def test_given_node1_stopped_mid_burst_then_every_later_caller_is_served_by_callgate_on_node2(
    callgate: Daemon, tmp_path: Path
) -> None:
    # A steady stream of callers, one every 2 s, each talking 6 s, spread over both nodes.
    stream = _carrier(tmp_path, "6", count=10, rate=0.5, talk=6)
    wait_for(
        lambda: {c.split("-")[0] for c in _connected(callgate)} >= {"node1", "node2"},
        40,
        "callgate connecting callers on both nodes",
    )
    _lab_nodes("stop", "1", timeout=60)
    stopped_wall = time.time()
    wait_for(
        lambda: bool(_dispatcher_lines("127.0.0.11:5060", "DOWN: no new calls")),
        30,
        "the dispatcher's log line: node1 DOWN",
    )
    down_wall = time.time()
    # Callers who arrive after the dispatcher marked node1 down.
    after = _carrier(tmp_path, "7", count=6, rate=0.5, talk=5)
    assert after.wait(timeout=120) == 0, after.errors()
    stream.wait(timeout=120)
    old = stream.stats()
    late = {normalise_number(f"0818{_RUN}7{n:02d}") for n in range(6)}
    try:
        wait_for(lambda: late <= set(_entered(callgate)), 15, "callgate took every later caller")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {sorted(late)} not all in {_entered(callgate)}") from None
    entered = _entered(callgate)
    late_ids = {entered[number] for number in late}
    wait_for(lambda: late_ids <= _connected(callgate), 15, "each later caller connected")
    lost = callgate.records("Asterisk node lost: its calls in progress are ended")
    # Every call callgate took on node1 has ended in its journal (none is left waiting).
    wait_for(lambda: all(c.ended_at is not None for c in callgate.calls()), 30, "every call ended")
    calls = callgate.calls()
    cut = [
        c.outcome
        for c in calls
        if c.call_id.startswith("node1-")
        and c.ended_at is not None
        and c.ended_at.timestamp() >= stopped_wall
    ]
    print(
        f"\nnode1 stopped; dispatcher marked it down {down_wall - stopped_wall:.1f} s later;"
        f" stream of 10: {old}; 6 callers after: {after.stats()}; node1's calls in progress"
        f" ended by the stop: {len(cut)} {cut}; callgate's node-lost lines:"
        f" {[(r.get('channels_ended'), r.get('in_app_ended')) for r in lost]}"
    )
    # Every later caller went to node2 and talked to a call-taker through callgate ...
    assert all(call_id.startswith("node2-") for call_id in late_ids), late_ids
    assert after.stats() == {"successful": 6, "failed": 0}
    # ... and none through node2's fallback queue (a CONNECT there would be the queue's).
    fallback = {r[1] for r in _queue_log(2, down_wall) if r[4] == "CONNECT"}
    assert not fallback & late_ids, fallback & late_ids
    assert _count(2, "CONNECT", stopped_wall) == 0
    # callgate said once that node1 was lost (if it still held calls there), and no stream
    # caller but those node1 held is lost.
    assert len(lost) <= 1
    assert all(r.get("node") == "node1" for r in lost)
    assert old.get("failed", 0) <= len(_dispatcher_lines(f"0818{_RUN}6", "-> sip:127.0.0.11"))
    # Every caller callgate took on node2 talked to a call-taker.
    assert all(c.answered_at is not None for c in calls if c.call_id.startswith("node2-"))
