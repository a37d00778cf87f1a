"""sd_notify against a real AF_UNIX datagram socket, as systemd's would be."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing

import pytest

from callgate.daemon.systemd import Notifier


class NotifySocket:
    """systemd's side: a bound datagram socket recording each message and when it came."""

    def __init__(self, address: str | bytes) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.05)
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        # A thread, so arrival times are recorded even while the tested event loop is blocked.
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.received.append((time.monotonic(), data.decode()))

    def messages(self) -> list[str]:
        return [m for _, m in self.received]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def path_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifySocket]:
    # A short directory: AF_UNIX paths are limited to 108 bytes, pytest's tmp_path can be longer.
    folder = tempfile.mkdtemp(prefix="cg-notify-")
    address = os.path.join(folder, "notify")
    server = NotifySocket(address)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield server
    server.close()
    shutil.rmtree(folder)


def _wait_for(server: NotifySocket, count: int) -> list[str]:
    deadline = time.monotonic() + 2
    while len(server.received) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return server.messages()


def test_ready_status_and_stopping_reach_the_notify_socket(path_socket: NotifySocket) -> None:
    with closing(Notifier()) as notifier:
        assert notifier.enabled
        notifier.ready("taking calls; 4 call-takers")
        notifier.status("AMI down: reconnecting")
        notifier.stopping()
    assert _wait_for(path_socket, 3) == [
        "READY=1\nSTATUS=taking calls; 4 call-takers",
        "STATUS=AMI down: reconnecting",
        "STOPPING=1\nSTATUS=stopping: new calls go to the fallback queue",
    ]


def test_an_abstract_socket_name_starting_with_at_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = f"callgate-test-{uuid.uuid4().hex}"
    server = NotifySocket(b"\0" + name.encode())
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", f"@{name}")
        with closing(Notifier()) as notifier:
            notifier.ready()
        assert _wait_for(server, 1) == ["READY=1\nSTATUS=taking calls"]
    finally:
        server.close()


async def test_without_systemd_every_call_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    notifier = Notifier()  # no socket to close
    assert not notifier.enabled
    notifier.ready()
    notifier.status("x")
    await asyncio.wait_for(notifier.watchdog(), 1)  # returns at once: nobody to ping


async def test_watchdog_pings_at_half_the_interval_from_the_event_loop(
    path_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    notifier = Notifier()
    assert notifier.watchdog_interval == 0.1
    task = asyncio.create_task(notifier.watchdog())
    await asyncio.sleep(0.45)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    notifier.close()
    pings = [m for m in path_socket.messages() if m == "WATCHDOG=1"]
    assert 4 <= len(pings) <= 6


async def test_a_blocked_event_loop_stops_the_watchdog_pings(
    path_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    notifier = Notifier()
    task = asyncio.create_task(notifier.watchdog())
    await asyncio.sleep(0.35)
    blocked_from = time.monotonic()
    time.sleep(0.8)  # noqa: ASYNC251 - the point: a hung handler blocks the whole loop
    blocked_until = time.monotonic()
    await asyncio.sleep(0.35)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    notifier.close()
    times = [at for at, m in path_socket.received if m == "WATCHDOG=1"]
    during = [at for at in times if blocked_from + 0.05 < at < blocked_until]
    assert during == [], "pings went on while the loop was blocked"
    assert any(at < blocked_from for at in times)
    assert sum(1 for at in times if at >= blocked_until) >= 2  # and resume once it unblocks
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert max(gaps) >= 0.75  # systemd (WatchdogSec=0.2 here) would have killed us


def test_watchdog_usec_meant_for_another_process_is_ignored(
    path_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    with closing(Notifier()) as notifier:
        assert notifier.watchdog_interval is None


@pytest.mark.parametrize("value", ["0", "soon", ""])
def test_watchdog_usec_zero_or_garbage_means_no_pings(
    path_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", value)
    with closing(Notifier()) as notifier:
        assert notifier.watchdog_interval is None
