"""The journal, its writers and screening when the database really goes away: SQLite locked by
another connection, SQLite on a full file system (a tiny tmpfs, mounted for the test: the tests
run as root), PostgreSQL refusing connections (a loopback port nobody listens on).

Nothing is simulated: each fault is the one the driver meets in production, so these tests also
check that the journal recognises the driver's own errors.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from sqlalchemy.ext.asyncio import create_async_engine

from callgate.backlog import DatabaseStatus
from callgate.core.acd import Acd
from callgate.core.callbacks import CallbackPolicy
from callgate.core.calls import CallState as S
from callgate.core.commands import CallEnded, CallScreened, CallStateChanged, Notification
from callgate.core.config import AcdConfig
from callgate.core.events import AgentLoggedIn, CallArrived, CallerHungUp, Event, Priority
from callgate.core.screening import ScreeningPolicy
from callgate.daemon.callback_records import CallbackRecords
from callgate.daemon.caller_history import HistoryLoader
from callgate.daemon.health import Health
from callgate.daemon.journaling import CallJournal
from callgate.daemon.metrics import Metrics
from callgate.daemon.projection import Projection
from callgate.mqtt.publisher import EventPublisher
from callgate.mqtt.settings import MqttSettings
from callgate.ports import CallStarted, JournalError, JournalUnavailable
from callgate.storage.callbacks import callback_tasks_between
from callgate.storage.database import redact_url
from callgate.storage.journal import Journal
from callgate.storage.outbox import Outbox

T0 = 1_790_000_000.0
PASSWORD = "S3cret-pw"


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends: refused


class Disk:
    """A 4 MiB tmpfs that a filler file can make full, and free again."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.filler = folder / "filler"

    def fill(self) -> None:
        with self.filler.open("ab", buffering=0) as out:
            try:
                while True:
                    out.write(b"\0" * 4096)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise

    def free(self) -> None:
        self.filler.unlink()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    folder = tmp_path / "tmpfs"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", folder], check=True)
    try:
        yield Disk(folder)
    finally:
        subprocess.run(["umount", folder], check=True)


@pytest.fixture
async def small_journal(disk: Disk) -> AsyncIterator[Journal]:
    path = disk.folder / "journal.db"
    journal = await Journal.open(f"sqlite+aiosqlite:///{path}")
    # The migrations left a WAL file with room in it; empty it so the next write must grow it.
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    yield journal
    await journal.close()


def refused_journal() -> Journal:
    # Journal.open would fail (it migrates first): this is the journal of a daemon that started
    # while PostgreSQL was up, and PostgreSQL has gone since.
    url = f"postgresql+asyncpg://callgate:{PASSWORD}@127.0.0.1:{closed_port()}/callgate"
    return Journal(create_async_engine(url), redact_url(url), [PASSWORD])


async def start(journal: Journal, call_id: str, t: float = T0) -> bool:
    return await journal.call_started(
        call_id,
        caller="+62811",
        caller_sent="0811",
        dialed="112",
        priority=2,
        category="",
        at=at(t),
    )


async def until(condition: object, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def alarms(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(1 for r in caplog.records if text in r.getMessage())


# -- the journal turns every driver fault into JournalUnavailable ----------------------------


async def test_given_postgres_refusing_connections_then_journal_unavailable_without_password() -> (
    None
):
    journal = refused_journal()
    try:
        with pytest.raises(JournalUnavailable, match="ConnectionRefusedError") as caught:
            await journal.get_call("c1")
        with pytest.raises(JournalUnavailable):
            await start(journal, "c1")
    finally:
        await journal.close()
    assert PASSWORD not in str(caught.value)
    assert "callgate:***@127.0.0.1" in str(caught.value)


async def test_given_sqlite_locked_by_another_connection_then_unavailable_until_released(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.db"
    # SQLite waits this long for a lock before giving up (sqlite3's own default is 5 s).
    journal = await Journal.open(f"sqlite+aiosqlite:///{path}?timeout=0.05")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(JournalUnavailable, match="database is locked"):
            await start(journal, "c1")
        other.execute("COMMIT")
        assert await start(journal, "c1")
    finally:
        other.close()
        await journal.close()


async def test_given_a_full_disk_then_unavailable_and_a_bad_record_is_not(
    small_journal: Journal, disk: Disk
) -> None:
    disk.fill()
    with pytest.raises(JournalUnavailable, match="database or disk is full"):
        await start(small_journal, "c1")
    disk.free()
    assert await start(small_journal, "c1")
    # A record the database refuses for what it is says so: retrying it would not help.
    with pytest.raises(JournalError) as refused:
        await small_journal.call_state(
            "unknown", at=at(T0), from_state=None, to_state="QUEUED", trigger="x"
        )
    assert not isinstance(refused.value, JournalUnavailable)


# -- the writers keep what the database cannot take, in order, and write it when it is back --


async def test_given_a_full_disk_when_a_call_is_reported_then_written_in_order_once_freed(
    small_journal: Journal, disk: Disk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="callgate.backlog")
    changes: list[tuple[bool, str | None]] = []
    status = DatabaseStatus(lambda up, why: changes.append((up, why)), first_retry=0.01)
    status.max_retry = 0.05
    writer = CallJournal(small_journal, status)
    writer.start()
    disk.fill()
    await writer.notification(CallStarted("c1", "+62811", "0811", "112", 2, T0))
    await writer.notification(CallStateChanged("c1", S.ARRIVED, S.QUEUED, "CallArrived", T0))
    await writer.notification(CallStateChanged("c1", S.QUEUED, S.OFFERED, "Offer", T0 + 1))
    await until(lambda: not status.up)
    await asyncio.sleep(0.2)  # several failed attempts: still one ALARM
    await writer.notification(
        CallEnded("c1", S.ABANDONED, "+62811", "", 2, T0, None, T0 + 9, None, None)
    )
    assert status.backlog() == 4
    disk.free()
    await writer.close()

    call = await small_journal.get_call("c1")
    assert call is not None
    assert call.outcome == "ABANDONED"
    assert [t.to_state for t in call.transitions] == ["QUEUED", "OFFERED"]
    assert [up for up, _ in changes] == [False, True]
    assert "database or disk is full" in (changes[0][1] or "")
    assert alarms(caplog, "ALARM: journal database unavailable") == 1
    assert alarms(caplog, "journal database is back") == 1
    assert status.dropped == 0
    assert status.backlog() == 0


async def test_given_a_full_disk_when_events_are_reported_then_the_outbox_gets_them_in_order(
    small_journal: Journal, disk: Disk
) -> None:
    status = DatabaseStatus(first_retry=0.01, max_retry=0.05)
    # No broker on that port: the link keeps retrying in the background, the writer is tested.
    settings = MqttSettings(site="s1", host="127.0.0.1", port=closed_port())
    publisher = EventPublisher(settings, Outbox(small_journal), status=status)
    await publisher.start()
    try:
        disk.fill()
        await publisher.notification(CallStarted("c1", "+62811", "0811", "112", 2, T0))
        await until(lambda: not status.up)
        await publisher.notification(CallStateChanged("c1", S.ARRIVED, S.QUEUED, "CallArrived", T0))
        disk.free()
        await publisher.flush(10)
    finally:
        await publisher.close(drain_seconds=0.1)
    assert status.up
    entries = await publisher.outbox.unsent(10)
    assert [(e.stream, e.seq) for e in entries] == [("c1", 1), ("c1", 2), ("c1", 3)]
    assert ['"received"' in e.payload for e in entries] == [True, False, False]


async def test_given_a_full_disk_when_a_callback_task_changes_then_it_is_stored_once_freed(
    small_journal: Journal, disk: Disk
) -> None:
    status = DatabaseStatus(first_retry=0.01, max_retry=0.05)
    acd = Acd(AcdConfig(callbacks=CallbackPolicy(first_delay=3600)))

    async def feed(*events: Event) -> None:
        raise AssertionError("nothing to restore, nobody asks in this test")

    callbacks = CallbackRecords(small_journal, feed, status=status)
    await callbacks.start()
    disk.fill()
    # The core makes a task of an abandoned call; the daemon must store it.
    acd.handle(AgentLoggedIn("1001", "PJSIP/1001"), T0)
    acd.handle(CallArrived("a1", caller="+628110000001"), T0)
    for note in acd.handle(CallerHungUp("a1"), T0 + 5):
        if isinstance(note, Notification):
            await callbacks.notification(note)
    await until(lambda: not status.up)
    disk.free()
    await callbacks.close()
    stored = await callback_tasks_between(small_journal, at(T0 - 1), at(T0 + 9e5))
    assert [t.call_ids for t in stored] == [("a1",)]
    assert status.up


async def test_when_a_writer_backlog_is_full_then_records_are_counted_and_one_alarm(
    small_journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    status = DatabaseStatus(max_backlog=2)
    writer = CallJournal(small_journal, status)  # not started: nothing drains the queue
    for n in range(5):
        await writer.notification(CallStarted(f"c{n}", "+62811", "0811", "112", 2, T0))
    assert status.dropped == 3
    assert status.backlog() == 2
    assert alarms(caplog, "ALARM: database backlog full") == 1


def test_given_a_database_outage_then_readiness_says_degraded_and_the_metrics_since_when() -> None:
    status = DatabaseStatus(max_backlog=10)
    health = Health(clock=lambda: T0)
    for name in ("ari", "ami", "database"):
        health.set(name, True)
    status.on_change = lambda up, why: health.set("database", up, why)
    status.register("journal", lambda: 7)
    status.failed(JournalUnavailable("journal sqlite:///j.db unavailable: database is locked"))
    metrics = Metrics(Projection(), health, database=status, clock=lambda: T0)
    text = generate_latest(metrics.registry).decode()
    assert health.ready
    assert health.to_json()["degraded"] == ["database"]
    assert 'callgate_connection_up{component="database"} 0.0' in text
    assert f'callgate_connection_since_timestamp_seconds{{component="database"}} {T0:.1f}' in (
        text.replace("1.79e+09", f"{T0:.1f}")
    )
    assert "callgate_degraded 1.0" in text
    assert "callgate_database_backlog 7.0" in text
    assert "callgate_database_records_dropped_total 0.0" in text


# -- screening without history ----------------------------------------------------------------


async def test_given_postgres_refusing_connections_then_screened_as_a_first_call_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal = refused_journal()
    loader = HistoryLoader(journal, ScreeningPolicy(), lookup_timeout=5.0)
    acd = Acd(AcdConfig(screening=ScreeningPolicy()))
    decisions = []
    try:
        with caplog.at_level(logging.WARNING, logger="callgate.daemon.caller_history"):
            for n in range(2):
                history = await loader("+6281100", T0 + n)
                arrived = CallArrived(f"c{n}", caller="+6281100", history=history)
                decisions += [c for c in acd.handle(arrived, T0 + n) if isinstance(c, CallScreened)]
    finally:
        await journal.close()
    first, second = decisions
    for decision in (first, second):
        assert not decision.blocked
        assert decision.tag == ""
        assert decision.priority == Priority.NORMAL
    assert alarms(caplog, "caller history unavailable") == 1


# -- finding of the lab fault suite: a full disk flapped the status ----------------------------


async def test_given_a_record_still_retried_when_another_write_succeeds_then_still_down_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # On a full disk, marking events sent (no new page) succeeds while inserts keep failing;
    # that used to count as "back": an ALARM and a "back" line at every retry, and `since` reset.
    from callgate.backlog import write_until_stored

    caplog.set_level(logging.INFO)
    status = DatabaseStatus(first_retry=0.01, max_retry=0.01)
    disk_full = True

    async def insert() -> None:
        if disk_full:
            raise JournalUnavailable("database or disk is full")

    async def mark_sent() -> None:
        return None

    stuck = asyncio.create_task(write_until_stored(status, insert))
    await until(lambda: not status.up)
    since = status.since
    for _ in range(5):
        assert await write_until_stored(status, mark_sent)
        await asyncio.sleep(0.02)
        status.succeeded()  # the publisher's drain reports its own successes this way
    assert not status.up
    assert status.since == since
    disk_full = False
    assert await stuck
    assert status.up
    assert status.stuck == 0
    assert alarms(caplog, "ALARM: journal database unavailable") == 1
    assert alarms(caplog, "journal database is back") == 1


async def test_given_a_write_cancelled_while_retried_then_it_no_longer_holds_the_status_down() -> (
    None
):
    from callgate.backlog import write_until_stored

    status = DatabaseStatus(first_retry=0.01, max_retry=0.01)

    async def insert() -> None:
        raise JournalUnavailable("refused")

    stuck = asyncio.create_task(write_until_stored(status, insert))
    await until(lambda: status.stuck == 1)
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck
    assert status.stuck == 0
    status.succeeded()
    assert status.up
