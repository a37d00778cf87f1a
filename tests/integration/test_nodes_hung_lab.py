"""A node that hangs rather than dies (review of #21, finding 3): node1's Asterisk is stopped
(SIGSTOP: its sockets stay open, nothing answers, as with a powered-off or cut-off host), and
callgate notices it by its event socket's heartbeat, ends its calls as lost within seconds, and
serves every caller who arrives afterwards through node2.

The same lab and fixtures as test_nodes_callgate_lab.py; every wait is bounded polling.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from callgate.core.screening import normalise_number

from .conftest import Daemon, wait_for
from .test_nodes_callgate_lab import _LOST, _connected, _entered, _talking
from .test_nodes_callgate_lab import callgate as callgate
from .test_nodes_callgate_lab import takers as takers
from .test_nodes_lab import _RUN, NODES_RUN, _carrier, _count, _dispatcher_lines
from .test_nodes_lab import nodes as nodes

pytestmark = pytest.mark.timeout(280)


def test_given_node1_hung_then_callgate_loses_it_in_seconds_and_serves_later_callers_on_node2(
    callgate: Daemon, tmp_path: Path
) -> None:
    stream = _carrier(tmp_path, "8", count=6, rate=0.5, talk=8)
    wait_for(lambda: bool(_talking(callgate, "node1-")), 40, "a caller talking on node1")
    pid = int((NODES_RUN / "asterisk1.pid").read_text())
    os.kill(pid, signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        stopped_wall = time.time()
        # The heartbeat (2 s) closes the socket nobody answers, then the grace (3 s): well
        # under the ~36 s of the 20 s heartbeat; 20 s leaves room for a loaded machine.
        wait_for(lambda: bool(callgate.records(_LOST)), 20, "callgate's line: node1 lost")
        lost_after = time.monotonic() - stopped
        wait_for(
            lambda: bool(_dispatcher_lines("127.0.0.11:5060", "DOWN: no new calls")),
            30,
            "the dispatcher's log line: node1 DOWN",
        )
        down_wall = time.time()
        after = _carrier(tmp_path, "9", count=4, rate=0.5, talk=4)
        assert after.wait(timeout=120) == 0, after.errors()
        late = {normalise_number(f"0818{_RUN}9{n:02d}") for n in range(4)}
        wait_for(lambda: late <= set(_entered(callgate)), 15, "callgate took every later caller")
        late_ids = {_entered(callgate)[number] for number in late}
        wait_for(lambda: late_ids <= _connected(callgate), 15, "each later caller connected")
    finally:
        os.kill(pid, signal.SIGCONT)
    stream.wait(timeout=150)
    [lost] = callgate.records(_LOST)
    print(
        f"\nnode1 hung (SIGSTOP); callgate lost it {lost_after:.1f} s later"
        f" ({lost.get('channels_ended')} channels ended); 4 callers after: {after.stats()}"
    )
    assert lost.get("node") == "node1"
    assert lost_after < 20
    assert all(call_id.startswith("node2-") for call_id in late_ids), late_ids
    assert after.stats() == {"successful": 4, "failed": 0}
    assert _count(2, "CONNECT", stopped_wall) == 0  # none through node2's fallback queue
    assert down_wall >= stopped_wall
