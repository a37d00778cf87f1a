"""The journal on a real PostgreSQL 15: a throwaway cluster on a loopback port, started for this
module and stopped by its PID. The same scenarios as the SQLite unit tests run against it.

Needs the PostgreSQL 15 server binaries (Debian package ``postgresql-15``); without them the
test fails, it never skips. Run as root, the server runs as the ``postgres`` user (PostgreSQL
refuses to run as root) in a private folder that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from callgate.storage import Journal, JournalError
from tests.unit.storage import scenarios

PG_BIN = Path("/usr/lib/postgresql/15/bin")
USER = "callgate"
PASSWORD = "pg-Test-Pa55word"


@pytest.fixture(scope="module", autouse=True)
def lab() -> None:
    """This module needs PostgreSQL, not the Asterisk lab: override the package's lab check."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    port: int
    as_user: str | None

    def url(self, database: str, password: str = PASSWORD) -> str:
        return f"postgresql+asyncpg://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def createdb(self, name: str) -> None:
        subprocess.run(
            [PG_BIN / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name],
            check=True,
            env={**os.environ, "PGPASSWORD": PASSWORD},
            capture_output=True,
            timeout=10,
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").is_file():
        pytest.fail(
            f"PostgreSQL 15 server binaries not found in {PG_BIN}: apt-get install postgresql-15",
            pytrace=False,
        )
    log_path = tmp_path_factory.mktemp("postgres") / "postgres.log"
    as_user: str | None = None
    if os.geteuid() == 0:
        # pytest's tmp folders are private to root, so the server gets its own folder.
        as_user = "postgres"
        owner = pwd.getpwnam(as_user)
        base = Path(tempfile.mkdtemp(prefix="callgate-pg-"))
        os.chown(base, owner.pw_uid, owner.pw_gid)
    else:
        base = tmp_path_factory.mktemp("pgdata")
    data = base / "data"
    pwfile = base / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    if as_user is not None:
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)

    process: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [
                PG_BIN / "initdb",
                "-D", str(data),
                "-U", USER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--no-sync",
                "--no-instructions",
                "--encoding=UTF8",
                "--locale=C",
            ],
            check=True,
            capture_output=True,
            timeout=60,
            user=as_user,
            cwd=base,
        )  # fmt: skip
        port = free_port()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    PG_BIN / "postgres",
                    "-D", str(data),
                    "-h", "127.0.0.1",
                    "-p", str(port),
                    "-k", str(base),
                    # A throwaway cluster: durability would only slow the test.
                    "-c", "fsync=off",
                    "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=as_user,
                cwd=base,
            )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            ready = subprocess.run(
                [PG_BIN / "pg_isready", "-h", "127.0.0.1", "-p", str(port), "-t", "1"],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"PostgreSQL did not start:\n{log_path.read_text()}", pytrace=False)
            time.sleep(0.1)
        yield Cluster(port=port, as_user=as_user)
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # "fast" shutdown: disconnect clients, stop
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def database(cluster: Cluster, request: pytest.FixtureRequest) -> str:
    name = "t_" + request.node.name.removeprefix("test_")[:50]
    cluster.createdb(name)
    return cluster.url(name)


async def test_given_postgres_when_an_answered_call_is_journaled_then_it_reads_back(
    database: str,
) -> None:
    await scenarios.answered_call_round_trip(database)


async def test_given_postgres_when_the_daemon_restarts_then_open_calls_survive_and_can_end(
    database: str,
) -> None:
    await scenarios.open_call_survives_restart(database)


async def test_given_postgres_then_the_migrated_schema_equals_the_orm_models(database: str) -> None:
    await scenarios.schema_matches_models(database)


async def test_given_postgres_and_a_wrong_password_then_journal_error_without_either_password(
    cluster: Cluster,
) -> None:
    wrong = "Wr0ng-pa55"
    with pytest.raises(JournalError, match="password authentication failed") as caught:
        await Journal.open(cluster.url("postgres", password=wrong))
    assert wrong not in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert f"{USER}:***@127.0.0.1:{cluster.port}/postgres" in str(caught.value)
