"""The journal on a real PostgreSQL 15: a throwaway cluster on a loopback port, started for this
module and stopped by its PID. The same scenarios as the SQLite unit tests run against it.

Needs the PostgreSQL 15 server binaries (Debian package ``postgresql-15``); without them the
test fails, it never skips. Run as root, the server runs as the ``postgres`` user (PostgreSQL
refuses to run as root) in a private folder that user owns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from callgate.backlog import DatabaseStatus
from callgate.core.calls import CallState as S
from callgate.core.commands import CallEnded, CallStateChanged
from callgate.daemon.health import Health
from callgate.daemon.journaling import CallJournal
from callgate.ports import CallStarted, JournalError
from callgate.storage.blocks import JournalBlocks
from callgate.storage.journal import Journal
from callgate.storage.migrations import alembic_config
from tests.unit.storage import scenarios
from tests.unit.storage import test_browser_sessions as browser_sessions
from tests.unit.storage.test_fence import older_epoch_refused

PG_BIN = Path("/usr/lib/postgresql/15/bin")
USER = "callgate"
PASSWORD = "pg-Test-Pa55word"
T0 = 1_790_000_000.0


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
    base: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

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

    def start(self) -> None:
        """Start the server and wait until it takes connections."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    PG_BIN / "postgres",
                    "-D", str(self.base / "data"),
                    "-h", "127.0.0.1",
                    "-p", str(self.port),
                    "-k", str(self.base),
                    # A throwaway cluster: durability would only slow the test.
                    "-c", "fsync=off",
                    "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                user=self.as_user,
                cwd=self.base,
            )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            ready = subprocess.run(
                [PG_BIN / "pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"PostgreSQL did not start:\n{self.log_path.read_text()}", pytrace=False
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server by its PID: SIGINT is PostgreSQL's "fast" shutdown (what
        ``pg_ctlcluster stop`` does), which ends client sessions; SIGTERM ("smart") would wait
        for the daemon's pooled connection to go away by itself."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


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

    cluster = Cluster(port=free_port(), as_user=as_user, base=base, log_path=log_path)
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
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
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


async def test_given_postgres_and_a_newer_leader_then_the_older_ones_writes_are_refused(
    database: str,
) -> None:
    await older_epoch_refused(database)


async def test_given_a_clustered_journal_then_a_paused_leaders_transaction_holds_no_write_up(
    database: str,
) -> None:
    # A clustered callgate opens its journal with lease_ttl + 2 s limits (1 s here): an old
    # leader paused mid-transaction (SIGSTOP) would otherwise hold its row locks for ever.
    journal = await Journal.open(database, session_limit=1.0)
    engine = journal._engine
    try:
        async with engine.connect() as connection:
            for setting in ("idle_in_transaction_session_timeout", "lock_timeout"):
                assert (await connection.execute(text(f"SHOW {setting}"))).scalar() == "1s"
        paused = await engine.connect()
        await paused.begin()
        await paused.execute(text("UPDATE fence SET epoch = epoch WHERE id = 1"))  # then idle
        started = time.monotonic()
        # The new leader's claim waits on the paused one's lock: the server ends that session
        # (or the claim's lock wait) after the limit, never for ever.
        for _ in range(5):
            try:
                await asyncio.wait_for(journal.claim_epoch(7), timeout=10)
                break
            except JournalError:
                await asyncio.sleep(0.2)  # the lock wait timed out first: the writer retries
        waited = time.monotonic() - started
        print(f"\nclaim through a paused transaction after {waited:.2f} s")
        assert waited < 5
        assert journal.epoch == 7
        with pytest.raises(Exception):  # noqa: B017,PT011 (the driver's own: session ended)
            await paused.execute(text("SELECT 1"))
        with contextlib.suppress(Exception):
            await paused.close()
    finally:
        await journal.close()
    # Unclustered: PostgreSQL's defaults (no limit), as before.
    plain = await Journal.open(database)
    try:
        async with plain._engine.connect() as connection:
            assert (await connection.execute(text("SHOW lock_timeout"))).scalar() == "0"
    finally:
        await plain.close()


async def test_given_postgres_then_the_migrated_schema_equals_the_orm_models(database: str) -> None:
    await scenarios.schema_matches_models(database)


async def test_given_postgres_then_an_inquirys_search_holds_and_trail_answer(database: str) -> None:
    await scenarios.inquiry_queries(database)


async def test_given_postgres_and_a_wrong_password_then_journal_error_without_either_password(
    cluster: Cluster,
) -> None:
    wrong = "Wr0ng-pa55"
    with pytest.raises(JournalError, match="password authentication failed") as caught:
        await Journal.open(cluster.url("postgres", password=wrong))
    assert wrong not in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert f"{USER}:***@127.0.0.1:{cluster.port}/postgres" in str(caught.value)


async def until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_given_postgres_stopped_while_calls_are_reported_then_all_written_after_restart(
    cluster: Cluster, database: str
) -> None:
    health = Health()
    for name in ("ari", "ami", "database"):
        health.set(name, True)
    journal = await Journal.open(database)
    status = DatabaseStatus(
        lambda up, why: health.set("database", up, why), first_retry=0.05, max_retry=0.5
    )
    writer = CallJournal(journal, status)
    writer.start()
    readiness: list[tuple[bool, list[str]]] = []
    try:
        await writer.notification(CallStarted("before", "+62811", "0811", "112", 2, T0))
        await until(lambda: status.backlog() == 0)

        await asyncio.to_thread(cluster.stop)
        calls = [f"during-{n}" for n in range(20)]
        for n, call_id in enumerate(calls):
            t = T0 + 10 * n
            await writer.notification(CallStarted(call_id, "+62811", "0811", "112", 2, t))
            await writer.notification(
                CallStateChanged(call_id, S.ARRIVED, S.QUEUED, "CallArrived", t)
            )
            await writer.notification(
                CallStateChanged(call_id, S.QUEUED, S.OFFERED, "Offer", t + 1)
            )
            await writer.notification(
                CallEnded(call_id, S.ABANDONED, "+62811", "", 2, t, None, t + 5, None, None)
            )
        await until(lambda: not status.up)
        readiness.append((health.ready, health.degraded()))
        down = health.to_json()["components"]["database"]  # type: ignore[index]
        assert down["since"] is not None
        assert "unavailable" in down["detail"]
        assert PASSWORD not in down["detail"]
        assert status.backlog() == 4 * len(calls)

        await asyncio.to_thread(cluster.start)
        await writer.close(drain_seconds=30)
        readiness.append((health.ready, health.degraded()))
        for call_id in ["before", *calls]:
            call = await journal.get_call(call_id)
            assert call is not None, call_id
            if call_id != "before":
                assert call.outcome == "ABANDONED"
                assert [t.to_state for t in call.transitions] == ["QUEUED", "OFFERED"]
    finally:
        if cluster.process is None or cluster.process.poll() is not None:
            await asyncio.to_thread(cluster.start)  # the module's other tests need it
        await journal.close()
    assert readiness == [(True, ["database"]), (True, [])]
    assert status.dropped == 0


async def test_given_postgres_when_the_carrier_sends_a_300_character_caller_id_then_the_call_is_journaled(  # noqa: E501
    database: str,
) -> None:
    raw = "sip:" + "0812" * 74  # 300 characters: the carrier's From, unparsed
    journal = await Journal.open(database)
    try:
        assert await journal.call_started(
            "long",
            caller="x" * 300,
            caller_sent=raw,
            dialed="1" * 300,
            priority=1,
            category="",
            at=scenarios.at(0),
            identity="i" * 300,
        )
        call = await journal.get_call("long")
    finally:
        await journal.close()
    assert call is not None
    assert (call.caller_sent, call.dialed) == (raw, "1" * 300)
    # Indexed columns stay bounded: clipped with a marker, the call kept.
    assert call.caller == "x" * 254 + "…"


def _to_0004_with_a_call(connection: Connection) -> None:
    command.upgrade(alembic_config(connection=connection), "0004")
    connection.execute(
        text(
            "INSERT INTO calls (call_id, caller, caller_sent, dialed, priority, category,"
            " started_at) VALUES ('old', '+62811', '0811', '112', 1, 'genuine', now())"
        )
    )
    connection.execute(
        text(
            "INSERT INTO caller_blocks (key, at, until, by, reason)"
            " VALUES ('0811', now(), now() + interval '1 hour', 'op', 'prank')"
        )
    )


async def test_given_postgres_at_0004_with_rows_when_opened_then_0005_widens_and_keeps_them(
    database: str,
) -> None:
    engine = create_async_engine(database)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_to_0004_with_a_call)
    finally:
        await engine.dispose()
    journal = await Journal.open(database)
    try:
        old = await journal.get_call("old")
        await journal.call_started(
            "new", caller="+62812", caller_sent="9" * 300, dialed="112", priority=1,
            category="", at=scenarios.at(0),
        )  # fmt: skip
        new = await journal.get_call("new")
        blocks = await JournalBlocks(journal).of("0811")
    finally:
        await journal.close()
    assert old is not None
    assert (old.caller, old.caller_sent) == ("+62811", "0811")
    assert new is not None
    assert new.caller_sent == "9" * 300
    assert [b.reason for b in blocks] == ["prank"]
    await scenarios.schema_matches_models(database)


async def _on_postgres(database: str, scenario: Callable[[Journal], Awaitable[None]]) -> None:
    journal = await Journal.open(database)
    try:
        await scenario(journal)
    finally:
        await journal.close()


async def test_given_postgres_then_sessions_by_digest(database: str) -> None:
    await _on_postgres(database, browser_sessions.sessions_by_digest)


async def test_given_postgres_then_last_sights_out_of_order(database: str) -> None:
    await _on_postgres(database, browser_sessions.last_sights_out_of_order)


async def test_given_postgres_then_displays_revoked(database: str) -> None:
    await _on_postgres(database, browser_sessions.displays_revoked_with_sessions)


async def test_given_postgres_then_old_sessions_pruned(database: str) -> None:
    await _on_postgres(database, browser_sessions.old_sessions_pruned)
