"""A PostgreSQL 15 pair under Patroni on one etcd member, all on loopback ports, for the journal
failover lab test (#21): a throwaway etcd (its own ports, not the leader election's), two
Patroni members each running a PostgreSQL in a tmp folder, ``synchronous_mode`` on so a commit
the primary confirmed is on the standby too. Run as root, Patroni and PostgreSQL run as the
``postgres`` user (PostgreSQL refuses root). Every process started here is stopped by its PID.

Needs Debian's ``patroni`` (3.0.x), ``etcd-server`` and ``postgresql-15``; without them the test
fails, it never skips.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PATRONI = Path("/usr/bin/patroni")
ETCD = Path("/usr/bin/etcd")
#: Ports of their own (the leader election's etcd uses others), all on 127.0.0.1.
ETCD_CLIENT, ETCD_PEER, ETCD_METRICS = 23891, 23892, 23893
PG_PORTS = (25432, 25433)
REST_PORTS = (28008, 28009)
SUPERUSER_PASSWORD = "pg-Super-Pa55"
REPLICATION_PASSWORD = "pg-Repl-Pa55"
PASSWORD = "pg-Failover-Pa55"
#: Patroni's timing: the leader key lives TTL s unless renewed every LOOP_WAIT s, so a dead
#: leader's standby is promoted within about TTL + LOOP_WAIT s. Shorter than Patroni's defaults
#: (30/10) so the test stays short; still several loops per TTL on a busy 2-core machine.
TTL, LOOP_WAIT, RETRY_TIMEOUT = 10, 1, 4


def _config(name: str, index: int, base: Path) -> str:
    pg_port, rest_port = PG_PORTS[index], REST_PORTS[index]
    config = {
        "scope": "callgate-journal",
        "namespace": "/callgate-failover-test/",
        "name": name,
        "restapi": {
            "listen": f"127.0.0.1:{rest_port}",
            "connect_address": f"127.0.0.1:{rest_port}",
        },
        "etcd3": {"hosts": [f"127.0.0.1:{ETCD_CLIENT}"]},
        "bootstrap": {
            "dcs": {
                "ttl": TTL,
                "loop_wait": LOOP_WAIT,
                "retry_timeout": RETRY_TIMEOUT,
                "maximum_lag_on_failover": 1048576,
                # A commit returns only once the synchronous standby has it: the standby
                # Patroni promotes holds every commit callgate was told succeeded.
                "synchronous_mode": True,
                "postgresql": {
                    "use_pg_rewind": False,
                    "parameters": {
                        "wal_level": "replica",
                        "hot_standby": "on",
                        "max_wal_senders": 5,
                        "max_replication_slots": 5,
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C"}],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{pg_port}",
            "connect_address": f"127.0.0.1:{pg_port}",
            "data_dir": str(base / name),
            "bin_dir": str(PG_BIN),
            "pgpass": str(base / f"pgpass-{name}"),
            "authentication": {
                "superuser": {"username": "postgres", "password": SUPERUSER_PASSWORD},
                "replication": {"username": "replicator", "password": REPLICATION_PASSWORD},
            },
            "parameters": {"unix_socket_directories": str(base), "fsync": "off"},
            "pg_hba": [
                "local all all trust",
                "host replication replicator 127.0.0.1/32 scram-sha-256",
                "host all all 127.0.0.1/32 scram-sha-256",
            ],
        },
    }
    return json.dumps(config)  # YAML is a superset of JSON


@dataclass
class PatroniPair:
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="callgate-patroni-")))
    etcd: subprocess.Popen[bytes] | None = None
    members: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for tool in (PG_BIN / "initdb", PATRONI, ETCD):
            if not tool.is_file():
                pytest.fail(f"{tool} not found: apt-get install postgresql-15 patroni etcd-server")
        owner = pwd.getpwnam("postgres")
        os.chown(self.base, owner.pw_uid, owner.pw_gid)

    # ------------------------------------------------------------------ processes

    def _log(self, name: str) -> Path:
        return self.base / f"{name}.log"

    def start(self) -> None:
        """etcd, then both members; returns once a primary takes writes and the synchronous
        standby streams from it, with the ``callgate`` role and database made."""
        with self._log("etcd").open("ab") as log:
            self.etcd = subprocess.Popen(
                [ETCD, "--name", "failover-test", "--data-dir", str(self.base / "etcd"),
                 "--listen-client-urls", f"http://127.0.0.1:{ETCD_CLIENT}",
                 "--advertise-client-urls", f"http://127.0.0.1:{ETCD_CLIENT}",
                 "--listen-peer-urls", f"http://127.0.0.1:{ETCD_PEER}",
                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{ETCD_PEER}",
                 "--initial-cluster", f"failover-test=http://127.0.0.1:{ETCD_PEER}",
                 "--listen-metrics-urls", f"http://127.0.0.1:{ETCD_METRICS}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        self._wait(lambda: self._get(f"http://127.0.0.1:{ETCD_CLIENT}/health") is not None, 20,
                   "etcd")  # fmt: skip
        for index, name in enumerate(("pg0", "pg1")):
            self.start_member(name, index)
            if index == 0:
                # The first bootstraps the cluster; the second then clones it.
                self._wait(lambda: self.primary() is not None, 60, "the first primary")
        self._wait(lambda: self.sync_standby() is not None, 60, "a synchronous standby")
        primary = self.primary()
        assert primary is not None
        self.psql(primary, f"CREATE ROLE callgate LOGIN PASSWORD '{PASSWORD}'")
        self.psql(primary, "CREATE DATABASE callgate OWNER callgate")

    def start_member(self, name: str, index: int) -> None:
        config = self.base / f"{name}.yml"
        config.write_text(_config(name, index, self.base))
        with self._log(name).open("ab") as log:
            self.members[name] = subprocess.Popen(
                [PATRONI, str(config)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                user="postgres", cwd=self.base, start_new_session=True,
            )  # fmt: skip

    def postmaster_pid(self, name: str) -> int:
        """The PID of the member's PostgreSQL (its data folder's ``postmaster.pid``)."""
        return int((self.base / name / "postmaster.pid").read_text().split()[0])

    def kill_host(self, name: str) -> None:
        """The member's host dies: its Patroni and its PostgreSQL SIGKILLed, by PID (Patroni
        first, so it cannot restart the server)."""
        postmaster = self.postmaster_pid(name)
        process = self.members[name]
        process.kill()
        process.wait(timeout=10)
        os.kill(postmaster, signal.SIGKILL)
        # The postmaster's children (backends, walsender) exit when it is gone; wait for the
        # port to be free so nothing answers there any more.
        self._wait(lambda: not Path(f"/proc/{postmaster}").exists(), 10, "the postmaster to go")

    def stop(self) -> None:
        """Stop every process started here, by PID: Patroni stops its PostgreSQL."""
        for name, process in self.members.items():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
            # A PostgreSQL left behind (its Patroni SIGKILLed): stop it too, by its own PID.
            try:
                pid = self.postmaster_pid(name)
            except (OSError, ValueError, IndexError):
                continue
            if (
                Path(f"/proc/{pid}").exists()
                and "postgres" in Path(f"/proc/{pid}/comm").read_text()
            ):
                os.kill(pid, signal.SIGQUIT)
                self._wait(lambda p=pid: not Path(f"/proc/{p}").exists(), 15, "PostgreSQL to stop")
        if self.etcd is not None and self.etcd.poll() is None:
            self.etcd.terminate()
            try:
                self.etcd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.etcd.kill()
                self.etcd.wait(timeout=5)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    # ------------------------------------------------------------------ state

    def _get(self, url: str) -> dict[str, object] | None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body = json.loads(response.read())
        except (OSError, ValueError, urllib.error.URLError):
            return None
        return body if isinstance(body, dict) else None

    def _cluster(self) -> list[dict[str, object]]:
        """The members as a live Patroni's REST API reports them."""
        for name, process in self.members.items():
            if process.poll() is not None:
                continue
            port = REST_PORTS[int(name[-1])]
            body = self._get(f"http://127.0.0.1:{port}/cluster")
            if body is not None and isinstance(body.get("members"), list):
                return [m for m in body["members"] if isinstance(m, dict)]
        return []

    def _role(self, role: str) -> str | None:
        for member in self._cluster():
            if member.get("role") == role and member.get("state") in ("running", "streaming"):
                return str(member["name"])
        return None

    def primary(self) -> str | None:
        """The member that is the running primary, if any."""
        return self._role("leader")

    def sync_standby(self) -> str | None:
        return self._role("sync_standby")

    def port(self, name: str) -> int:
        return PG_PORTS[int(name[-1])]

    def psql(self, name: str, sql: str) -> str:
        return subprocess.run(
            [PG_BIN / "psql", "-h", "127.0.0.1", "-p", str(self.port(name)), "-U", "postgres",
             "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
            check=True, capture_output=True, text=True, timeout=20,
            env={**os.environ, "PGPASSWORD": SUPERUSER_PASSWORD},
        ).stdout.strip()  # fmt: skip

    def url(self) -> str:
        """callgate's ``[storage] url``: both members, the read-write one chosen at connect."""
        hosts = "&".join(f"host=127.0.0.1:{port}" for port in PG_PORTS)
        return (
            f"postgresql+asyncpg://callgate:{PASSWORD}@/callgate?{hosts}"
            "&target_session_attrs=read-write"
        )

    def primary_url(self, name: str) -> str:
        return f"postgresql+asyncpg://callgate:{PASSWORD}@127.0.0.1:{self.port(name)}/callgate"

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
            for log in sorted(self.base.glob("*.log"))
        )

    def _wait(self, predicate: object, timeout: float, what: str) -> None:
        assert callable(predicate)
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n"
                                     + self.logs())  # fmt: skip
            time.sleep(0.2)
