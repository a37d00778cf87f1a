"""One callgate drives both Asterisk nodes of the multi-node lab (issue #21 item 3, "Done when"):
a whole node killed mid-burst, every caller who arrives afterwards talks to a call-taker through
the other node, served by callgate (its journal and log), not by the node's fallback queue.

The carrier (SIPp) sends every call to the dispatcher (127.0.0.10), which spreads them over
node1 and node2; the call-takers' softphones register with both nodes (one account each) and
answer at once. callgate runs as the lab's service user with ``[nodes]`` naming both nodes (no
etcd: one callgate). The nodes set ``systemname``, so a channel's id names its node
(``node1-<epoch>.<seq>``). Every wait is bounded polling.
"""

from __future__ import annotations

import json
import os
import signal
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
    NODES_RUN,
    _carrier,
    _count,
    _dispatcher_lines,
    _endpoint_state,
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


def _talking(daemon: Daemon, prefix: str) -> set[str]:
    """The calls connected and not ended whose id starts with ``prefix`` (its node)."""
    ended = {str(r["call_id"]) for r in daemon.records("call ended")}
    return {c for c in _connected(daemon) if c.startswith(prefix)} - ended


_LOST = "Asterisk node lost: its calls in progress are ended"


def test_given_node1_killed_mid_burst_then_every_later_caller_is_served_by_callgate_on_node2(
    callgate: Daemon, tmp_path: Path
) -> None:
    """node1's Asterisk dies (SIGKILL by its recorded PID: a crash or a power loss, not
    `scripts/lab nodes stop 1`, whose clean stop hangs up its own calls, so callgate's path for
    a lost node would not be what ends them) while a caller talks on it."""
    # A steady stream of callers, one every 2 s, each talking 6 s, spread over both nodes.
    stream = _carrier(tmp_path, "6", count=10, rate=0.5, talk=6)
    wait_for(lambda: bool(_talking(callgate, "node1-")), 40, "a caller talking on node1")
    wait_for(lambda: bool(_connected(callgate) - _talking(callgate, "node1-")), 40, "on node2")
    # The newest conversation on node1: its caller talks for seconds more when node1 dies.
    talking = _talking(callgate, "node1-")
    on_node1, taker = next(
        (str(r["call_id"]), str(r["agent_id"]))
        for r in reversed(callgate.records("call connected"))
        if r["call_id"] in talking
    )
    freed = f"agent {taker}: WRAP_UP -[WrapUpEnded]-> AVAILABLE"
    freed_before = len(callgate.records(freed))
    os.kill(int((NODES_RUN / "asterisk1.pid").read_text()), signal.SIGKILL)
    killed_wall = time.time()
    wait_for(
        lambda: bool(_dispatcher_lines("127.0.0.11:5060", "DOWN: no new calls")),
        30,
        "the dispatcher's log line: node1 DOWN",
    )
    down_wall = time.time()
    # Callers who arrive after the dispatcher marked node1 down.
    after = _carrier(tmp_path, "7", count=6, rate=0.5, talk=5)
    # callgate ends node1's calls itself (Asterisk cannot tell it any more), once, within
    # its grace, and frees the call-taker who talked there.
    wait_for(lambda: bool(callgate.records(_LOST)), 15, "callgate's line: node1 lost")
    wait_for(
        lambda: len(callgate.records(freed)) > freed_before,
        15,
        f"{taker}, who talked on node1, available again",
    )
    assert after.wait(timeout=120) == 0, after.errors()
    stream.wait(timeout=150)
    old = stream.stats()
    late = {normalise_number(f"0818{_RUN}7{n:02d}") for n in range(6)}
    try:
        wait_for(lambda: late <= set(_entered(callgate)), 15, "callgate took every later caller")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {sorted(late)} not all in {_entered(callgate)}") from None
    entered = _entered(callgate)
    late_ids = {entered[number] for number in late}
    wait_for(lambda: late_ids <= _connected(callgate), 15, "each later caller connected")
    # Every call callgate took has ended in its journal (none is left open).
    wait_for(lambda: all(c.ended_at is not None for c in callgate.calls()), 30, "every call ended")
    calls = callgate.calls()
    cut = {
        c.call_id: c.outcome
        for c in calls
        if c.call_id.startswith("node1-")
        and c.ended_at is not None
        and c.ended_at.timestamp() >= killed_wall
    }
    [lost] = callgate.records(_LOST)
    sent_to_node1 = len(_dispatcher_lines(f"0818{_RUN}6", "-> sip:127.0.0.11"))
    print(
        f"\nnode1 killed; dispatcher marked it down {down_wall - killed_wall:.1f} s later;"
        f" stream of 10 ({sent_to_node1} sent to node1): {old}; 6 callers after:"
        f" {after.stats()}; node1's calls in progress ended: {len(cut)} {cut}; callgate's line:"
        f" {lost.get('channels_ended')} channels, {lost.get('in_app_ended')} in the app"
    )
    assert lost.get("node") == "node1"
    assert on_node1 in cut
    # Every later caller went to node2 and talked to a call-taker through callgate ...
    assert all(call_id.startswith("node2-") for call_id in late_ids), late_ids
    assert after.stats() == {"successful": 6, "failed": 0}
    # ... and none through node2's fallback queue (a CONNECT there would be the queue's).
    assert _count(2, "CONNECT", killed_wall) == 0
    assert not {r[1] for r in _queue_log(2, down_wall) if r[4] == "CONNECT"} & late_ids
    # Of the stream, only callers node1 held may be lost; every caller on node2 talked.
    assert old.get("failed", 0) <= sent_to_node1
    assert all(c.answered_at is not None for c in calls if c.call_id.startswith("node2-"))
