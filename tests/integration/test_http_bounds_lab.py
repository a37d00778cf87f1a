"""Slow clients on the admin port, on the real lab: 1,000 connections that each sent half a
request's headers, all from 127.0.0.1, do not stop a 112 call from being answered and
journaled, and callgate closes every one of them within its header deadline (``[ops]
http_header_timeout``, 10 s by default; those past ``http_max_connections_per_peer`` at once).

The figures (how long the connections stayed open, when the call was answered) are printed and
written to ``http_bounds.json`` in the test's folder (run with ``-s`` to see them).
"""

from __future__ import annotations

import json
import resource
import select
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import labpeers

from .conftest import Daemon, wait_for

ADMIN = ("127.0.0.1", 8089)
CONNECTIONS = 1000
#: [ops] defaults: what the daemon runs with here.
HEADER_TIMEOUT = 10.0
PER_PEER = 256
HALF = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\nX-Never-Ends: "


def _raise_fd_limit(needed: int) -> None:
    """This process holds every one of the connections at once (and the lab's peers)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(needed, hard), hard))
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= needed


def _two_legs_up() -> bool:
    chans = labpeers.ari_get("/channels")
    assert isinstance(chans, list)
    return len(chans) == 2 and all(c["state"] == "Up" for c in chans)


def _held_by_callgate() -> int:
    """Connections on the admin port that callgate has accepted and holds. The kernel counts
    as established also those still waiting in the listening socket's accept queue (a flood
    opened faster than the daemon accepts: 594 of 1,000 in one run); those have no process
    yet, so only the sockets ``ss -p`` names an owner for are counted."""
    out = subprocess.run(
        ["ss", "-Htnp", "state", "established", "( sport = :8089 )"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    return sum(1 for line in out.splitlines() if "users:(" in line)


def _asterisk_version() -> str:
    info = labpeers.ari_get("/asterisk/info")
    assert isinstance(info, dict)
    return str(info["system"]["version"])


def _healthz_status() -> int:
    with urllib.request.urlopen("http://127.0.0.1:8089/healthz", timeout=5) as reply:
        return int(reply.status)


def test_a_thousand_half_sent_requests_are_closed_in_time_and_a_112_call_is_answered(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
    tmp_path: Path,
) -> None:
    _raise_fd_limit(CONNECTIONS + 1024)
    wait_for(lambda: "admin HTTP port listening" in daemon.log_text(), 20, "the admin port")
    phones("1001")
    sockets: dict[int, socket.socket] = {}
    sent_at: dict[int, float] = {}
    closed_after: dict[int, float] = {}
    poller = select.poll()

    def notice(wait_ms: int) -> None:
        """Record the connections callgate has closed since last looked."""
        for fd, _events in poller.poll(wait_ms):
            try:
                data = sockets[fd].recv(4096)
            except BlockingIOError:
                continue
            except ConnectionError:
                data = b""  # reset: callgate aborts what it closes
            assert data == b"", f"callgate answered a half-sent request: {data[:80]!r}"
            closed_after[fd] = time.monotonic() - sent_at[fd]
            poller.unregister(fd)

    try:
        started = time.monotonic()
        for _ in range(CONNECTIONS):
            sock = socket.create_connection(ADMIN, timeout=10)
            sock.sendall(HALF)
            sock.setblocking(False)
            sockets[sock.fileno()] = sock
            sent_at[sock.fileno()] = time.monotonic()
            poller.register(sock, select.POLLIN | select.POLLHUP | select.POLLERR)
            notice(0)
        opened_s = time.monotonic() - started
        held_at_peak = _held_by_callgate()
        closed_while_opening = len(closed_after)
        # The port still answers a client that sends its request at once.
        assert _healthz_status() == 200
        notice(0)

        calls = carrier(["081234567890"], talk_seconds=6)
        answered_after: float | None = None
        held_when_answered: int | None = None
        deadline = time.monotonic() + HEADER_TIMEOUT + 20
        next_look = 0.0
        while time.monotonic() < deadline and (
            len(closed_after) < CONNECTIONS or answered_after is None
        ):
            notice(100)
            if answered_after is None and time.monotonic() >= next_look:
                next_look = time.monotonic() + 0.5
                if _two_legs_up():
                    answered_after = time.monotonic() - started
                    held_when_answered = CONNECTIONS - len(closed_after)
    finally:
        for sock in sockets.values():
            sock.close()

    assert calls.wait(timeout=60) == 0, calls.errors()
    assert calls.stats() == {"successful": 1, "failed": 0}
    wait_for(lambda: any(c.outcome == "COMPLETED" for c in daemon.calls()), 15, "the call's record")
    [record] = daemon.calls()
    assert record.answered_by == "1001"
    assert record.caller == "+6281234567890"

    slowest = max(closed_after.values(), default=0.0)
    # Closed to make room as the flood went on (noticed here when this loop next looked, so
    # counted by "well before the deadline"), and the last per-address share at the deadline.
    early = sum(1 for s in closed_after.values() if s < HEADER_TIMEOUT / 2)
    within_1s = sum(1 for s in closed_after.values() if s < 1.0)
    figures = {
        "asterisk": _asterisk_version(),
        "connections": CONNECTIONS,
        "opened_in_s": round(opened_s, 2),
        "held_by_callgate_at_peak": held_at_peak,
        "closed_by_callgate": len(closed_after),
        "closed_while_opening": closed_while_opening,
        "closed_within_1s": within_1s,
        "closed_before_half_the_deadline": early,
        "slowest_closed_after_s": round(slowest, 2),
        "header_timeout_s": HEADER_TIMEOUT,
        "call_answered": answered_after is not None,
        "call_answered_after_s": None if answered_after is None else round(answered_after, 2),
        "half_open_when_answered": held_when_answered,
        "call_journaled": record.outcome,
    }
    print("\nhttp bounds figures:", json.dumps(figures))
    (tmp_path / "http_bounds.json").write_text(json.dumps(figures, indent=2) + "\n")

    assert answered_after is not None, "the 112 call was not answered"
    assert len(closed_after) == CONNECTIONS, f"{CONNECTIONS - len(closed_after)} left open"
    # Within the header deadline (plus the event loop's and this poll's slack), and the ones
    # past the per-address cap at once.
    assert slowest < HEADER_TIMEOUT + 2.0, figures
    assert early >= CONNECTIONS - PER_PEER, figures
    assert held_at_peak < CONNECTIONS // 2, figures  # the cap, and what waits in accept()
    assert "admin HTTP connection closed: request headers too slow" in daemon.log_text()
