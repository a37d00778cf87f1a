"""Three etcd members on loopback ports for the lab's cluster tests and the failover benchmark
(#21): client ports 23791-23793, peer ports 23801-23803, data in a folder of the caller's,
each member started and stopped by its PID. Never the etcd-server package's own service."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
NAMES = ("e1", "e2", "e3")
CLIENT_PORTS = (23791, 23792, 23793)
PEER_PORTS = (23801, 23802, 23803)


def client_url(index: int) -> str:
    return f"http://{HOST}:{CLIENT_PORTS[index]}"


@dataclass
class EtcdMembers:
    """``start()`` the three, ``stop_member(i)`` one, ``stop()`` all (by PID)."""

    folder: Path
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def urls(self) -> list[str]:
        return [client_url(i) for i in range(len(NAMES))]

    def _argv(self, index: int) -> list[str]:
        cluster = ",".join(
            f"{name}=http://{HOST}:{port}" for name, port in zip(NAMES, PEER_PORTS, strict=True)
        )
        return [
            shutil.which("etcd") or "/usr/bin/etcd",
            "--name", NAMES[index],
            "--data-dir", str(self.folder / NAMES[index]),
            "--listen-client-urls", client_url(index),
            "--advertise-client-urls", client_url(index),
            "--listen-peer-urls", f"http://{HOST}:{PEER_PORTS[index]}",
            "--initial-advertise-peer-urls", f"http://{HOST}:{PEER_PORTS[index]}",
            "--initial-cluster", cluster,
            "--initial-cluster-token", "callgate-lab",
            "--initial-cluster-state", "new",
            # A loopback cluster: a short heartbeat, so losing a member's leadership costs
            # about a second, not the default's more.
            "--heartbeat-interval", "100",
            "--election-timeout", "1000",
        ]  # fmt: skip

    def start(self, timeout: float = 30.0) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for index in range(len(NAMES)):
            self.start_member(index)
        self.wait_healthy(timeout)

    def start_member(self, index: int) -> None:
        log = (self.folder / f"{NAMES[index]}.log").open("ab")
        self.processes[index] = subprocess.Popen(  # noqa: S603 - fixed arguments
            self._argv(index), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        log.close()

    def healthy(self, index: int) -> bool:
        try:
            with urllib.request.urlopen(f"{client_url(index)}/health", timeout=1) as resp:  # noqa: S310
                return bool(json.loads(resp.read()).get("health") == "true")
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(self.healthy(i) for i in self.processes):
                return
            time.sleep(0.2)
        logs = {
            NAMES[i]: (self.folder / f"{NAMES[i]}.log").read_text()[-1500:] for i in self.processes
        }
        raise RuntimeError(f"etcd did not become healthy: {logs}")

    def leader_index(self) -> int | None:
        """Which member leads etcd's own Raft, by asking each its status."""
        for index in self.processes:
            try:
                request = urllib.request.Request(  # noqa: S310 - loopback, fixed URL
                    f"{client_url(index)}/v3/maintenance/status", data=b"{}", method="POST"
                )
                with urllib.request.urlopen(request, timeout=1) as resp:  # noqa: S310
                    status = json.loads(resp.read())
            except (urllib.error.URLError, OSError, ValueError):
                continue
            if status.get("leader") == status.get("header", {}).get("member_id"):
                return index
        return None

    def stop_member(self, index: int, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(index, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def stop(self) -> None:
        for index in list(self.processes):
            self.stop_member(index)
