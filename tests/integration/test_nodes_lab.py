"""The multi-node lab (issue #21 items 5 and 6): two Asterisk nodes behind Kamailio's dispatcher.

callgate is not involved: each node's dialplan falls back to its own Asterisk queue when callgate
is away, as a single node does. The carrier (SIPp) sends every call to the dispatcher
(127.0.0.10); each call-taker's softphone registers with both nodes (one account per node). The
tests count calls by what SIPp saw and by each node's queue_log (CONNECT: a call-taker answered),
and wait for conditions with bounded polling only.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import labpeers
import pytest

from .conftest import REPO, wait_for

NODES = {1: "127.0.0.11", 2: "127.0.0.12"}
DISPATCHER = ("127.0.0.10", 5060)
ROOT = labpeers.LAB_DIR / f"asterisk-{os.environ.get('CALLGATE_ASTERISK', '22')}"
NODES_RUN = labpeers.LAB_DIR / "run" / "nodes"
KAMAILIO_LOG = NODES_RUN / "kamailio.log"
_AUTH = "Basic " + base64.b64encode(b"callgate:lab-ari-secret").decode()
_RUN = f"{int(time.time()) % 10**6:06d}"


def _lab_nodes(*args: str, timeout: float = 180) -> None:
    subprocess.run([str(REPO / "scripts" / "lab"), "nodes", *args], check=True, timeout=timeout)


@pytest.fixture(scope="module")
def nodes() -> Iterator[None]:
    """`scripts/lab nodes up` for this module; `nodes down` stops exactly what it started."""
    try:
        _lab_nodes("up")
        yield
    finally:
        _lab_nodes("down", timeout=60)


def _queue_log(node: int, since: float) -> list[list[str]]:
    """Node N's queue_log lines (time|call|queue|agent|event|...) from ``since`` on."""
    path = ROOT / "srv" / "callgate-nodes" / f"node{node}" / "log" / "queue_log"
    if not path.exists():
        return []
    rows = [line.split("|") for line in path.read_text(errors="replace").splitlines()]
    return [r for r in rows if len(r) > 4 and r[0].isdigit() and int(r[0]) >= int(since)]


def _count(node: int, event: str, since: float) -> int:
    return sum(1 for r in _queue_log(node, since) if r[4] == event)


def _endpoint_state(node: int, extension: str) -> str:
    request = urllib.request.Request(
        f"http://{NODES[node]}:8088/ari/endpoints/PJSIP/{extension}",
        headers={"Authorization": _AUTH},
    )
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return str(json.load(response).get("state", ""))
    except OSError:
        return ""


def _dispatcher_lines(*words: str) -> list[str]:
    """Lines of the dispatcher's log that contain every one of ``words``."""
    if not KAMAILIO_LOG.exists():
        return []
    lines = KAMAILIO_LOG.read_text(errors="replace").splitlines()
    return [line for line in lines if all(word in line for word in words)]


@pytest.fixture(scope="module")
def node_phones(
    nodes: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[labpeers.Softphone]]:
    """Call-takers 1001-1016, each registered with both nodes (two accounts, auto-answer).

    Sixteen, because each node's queue keeps a call-taker 5 s in wrap-up after each call and
    knows nothing of the other node's calls: a stream of one caller every 2 s on one node keeps
    about ten of them busy, and a caller must never wait longer than the time they stay on.
    Started once for the module: the phones stay registered with node 1 across its restart."""
    base = tmp_path_factory.mktemp("node-phones")
    servers = [(address, 5060) for address in NODES.values()]
    phones = [
        labpeers.Softphone(ext, base / f"phone-{ext}", servers=servers)
        for ext in (str(1001 + n) for n in range(16))
    ]
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
        yield phones
    finally:
        for phone in phones:
            phone.stop()


def _carrier(
    tmp_path: Path, name: str, count: int, rate: float, talk: float
) -> labpeers.CarrierCalls:
    calls = labpeers.CarrierCalls(
        callers=[f"0818{_RUN}{name}{n:02d}" for n in range(count)],
        talk_seconds=talk,
        rate_per_second=rate,
        scenario="carrier-112-routed.xml",
        target=DISPATCHER,
        workdir=tmp_path / f"sipp-{name}",
    )
    calls.start()
    return calls


def _finish(calls: labpeers.CarrierCalls, timeout: float) -> dict[str, int]:
    try:
        calls.wait(timeout)
    finally:
        calls.stop()
    stats = calls.stats()
    return {"successful": stats.get("successful", 0), "failed": stats.get("failed", 0)}


def test_calls_through_the_dispatcher_reach_call_takers_on_both_nodes(
    node_phones: list[labpeers.Softphone], tmp_path: Path
) -> None:
    start = time.time()
    calls = _carrier(tmp_path, "1", count=6, rate=2, talk=3)
    result = _finish(calls, timeout=90)
    assert result == {"successful": 6, "failed": 0}, calls.errors()
    # Round robin: both nodes took calls, and a call-taker answered every one of them.
    wait_for(
        lambda: _count(1, "CONNECT", start) + _count(2, "CONNECT", start) >= 6,
        15,
        "a call-taker's CONNECT in queue_log for each of the 6 calls",
    )
    per_node = {n: _count(n, "CONNECT", start) for n in NODES}
    print(f"calls answered by a call-taker per node: {per_node}")
    assert per_node[1] >= 1, per_node
    assert per_node[2] >= 1, per_node
    assert sum(per_node.values()) == 6, per_node


def test_a_node_lost_mid_stream_every_new_call_is_answered_through_the_other(
    node_phones: list[labpeers.Softphone], tmp_path: Path
) -> None:
    start = time.time()
    # A steady stream of callers, one every 2 s, each staying 5 s.
    stream = _carrier(tmp_path, "2", count=8, rate=0.5, talk=5)
    wait_for(
        lambda: _count(1, "CONNECT", start) >= 1 and _count(2, "CONNECT", start) >= 1,
        30,
        "calls of the stream talking on both nodes",
    )
    # Node 1's Asterisk dies (SIGKILL by its recorded PID: a crash, not a clean stop).
    pid = int((NODES_RUN / "asterisk1.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    killed_wall = time.time()
    # The stream's calls the dispatcher had sent to node 1 so far: the only ones that may be lost.
    on_node1 = len(_dispatcher_lines(f"0818{_RUN}2", "-> sip:127.0.0.11:5060"))
    # Callers who arrive after the failure: the dispatcher sends them all to node 2, first by
    # failover (no answer from node 1 within fr_timer), then because probing marked node 1 down.
    after = _carrier(tmp_path, "3", count=6, rate=0.5, talk=5)
    wait_for(
        lambda: bool(_dispatcher_lines("127.0.0.11:5060", "DOWN: no new calls")),
        20,
        "the dispatcher's log line: node1 DOWN",
    )
    detected = time.monotonic() - killed
    new_calls = _finish(after, timeout=120)
    old_calls = _finish(stream, timeout=120)
    lost = old_calls["failed"]
    print(
        f"node1 killed with {on_node1} stream call(s) sent to it; the dispatcher marked it down "
        f"{detected:.1f} s later; stream of 8: {old_calls}; 6 callers after the kill: {new_calls}"
    )
    assert new_calls == {"successful": 6, "failed": 0}, after.errors()
    assert old_calls["successful"] + lost == 8
    # Only calls node 1 held when it died may end; every other caller was answered.
    assert lost <= on_node1, (lost, on_node1)
    # Every caller who was not lost talked to a call-taker (CONNECT on one node or the other).
    served = 8 - lost + 6
    wait_for(
        lambda: _count(1, "CONNECT", start) + _count(2, "CONNECT", start) >= served,
        15,
        f"a call-taker's CONNECT for each of the {served} callers served",
    )
    # The callers after the kill talked to call-takers on node 2.
    assert _count(2, "CONNECT", killed_wall) >= 6
    assert detected < 10

    # Node 1 comes back: the probes see it and new calls go to it again.
    _lab_nodes("start", "1", timeout=120)
    wait_for(
        lambda: bool(_dispatcher_lines("127.0.0.11:5060", "UP: new calls")),
        20,
        "the dispatcher's log line: node1 UP",
    )
    again = time.time()
    result = _finish(_carrier(tmp_path, "4", count=4, rate=2, talk=2), timeout=60)
    assert result == {"successful": 4, "failed": 0}
    wait_for(lambda: _count(1, "CONNECT", again) >= 1, 15, "a call answered on node 1 again")


def test_a_stuck_node_the_call_it_does_not_answer_moves_to_the_other(
    node_phones: list[labpeers.Softphone], tmp_path: Path
) -> None:
    """A node that neither answers nor refuses (SIGSTOP: a hung host sends no ICMP either): the
    call sent to it moves to the other node after the dispatcher's FR_TIMER (2 s)."""
    wait_for(
        lambda: _endpoint_state(1, "1001") == "online", 30, "node 1 up after the previous test"
    )
    pid = int((NODES_RUN / "asterisk1.pid").read_text())
    ups = len(_dispatcher_lines("127.0.0.11:5060", "UP: new calls"))
    os.kill(pid, signal.SIGSTOP)
    try:
        start = time.time()
        # Two callers at once: round robin sends one of them to the stuck node.
        calls = _carrier(tmp_path, "5", count=2, rate=10, talk=4)
        result = _finish(calls, timeout=60)
        moved = _dispatcher_lines(f"0818{_RUN}5", "127.0.0.11:5060", "failed the call")
        print(f"stuck node1: {result}; failed over: {moved}")
        assert result == {"successful": 2, "failed": 0}, calls.errors()
        assert len(moved) == 1, moved
        wait_for(
            lambda: _count(2, "CONNECT", start) >= 2,
            15,
            "both callers answered by call-takers on node 2",
        )
    finally:
        os.kill(pid, signal.SIGCONT)
    # Resumed, node 1 answers the probes again and is back in the set.
    wait_for(
        lambda: len(_dispatcher_lines("127.0.0.11:5060", "UP: new calls")) > ups,
        20,
        "the dispatcher's log line: node1 UP again",
    )
