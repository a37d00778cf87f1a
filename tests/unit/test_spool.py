"""Records held at a stop during a database outage: spooled to disk, written at the next start.

The database is really away (PostgreSQL refusing connections: a loopback port nobody listens
on) while the writers queue and stop; the next writer meets a real SQLite journal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import create_async_engine

from callgate.backlog import DatabaseStatus
from callgate.core.acd import Acd
from callgate.core.callbacks import (
    AttemptOutcome,
    AttemptRecord,
    CallbackPolicy,
    CallbackReason,
    CallbackTask,
    TaskState,
)
from callgate.core.calls import CallState as S
from callgate.core.commands import CallEnded, CallStateChanged, Notification
from callgate.core.config import AcdConfig
from callgate.core.events import AgentLoggedIn, CallArrived, CallbacksRestored, CallerHungUp, Event
from callgate.daemon.callback_records import CallbackRecords, task_from_json, task_to_json
from callgate.daemon.journaling import OPS, CallJournal, JournalWrite
from callgate.mqtt.publisher import EventPublisher
from callgate.mqtt.settings import MqttSettings
from callgate.ports import (
    AgentConnected,
    CallEndedOutsideCore,
    CallRecorded,
    CallStarted,
    RecordingFailed,
    RecordingInfo,
)
from callgate.spool import Spool, prepare_folder
from callgate.storage.callbacks import callback_tasks_between
from callgate.storage.database import redact_url
from callgate.storage.journal import Journal
from callgate.storage.outbox import Outbox

T0 = 1_790_000_000.0


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def away() -> Journal:
    """The journal of a daemon whose PostgreSQL has gone since it started."""
    url = f"postgresql+asyncpg://callgate:pw@127.0.0.1:{closed_port()}/callgate"
    return Journal(create_async_engine(url), redact_url(url), ["pw"])


def status() -> DatabaseStatus:
    return DatabaseStatus(first_retry=0.01, max_retry=0.05)


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    yield journal
    await journal.close()


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    folder = tmp_path / "spool"
    assert prepare_folder(folder) is None
    return folder


async def until(condition: object, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def files(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern))


def logged(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


async def report_a_call(writer: CallJournal) -> None:
    await writer.notification(CallStarted("c1", "+62811", "0811", "112", 2, T0))
    await writer.notification(CallStateChanged("c1", S.ARRIVED, S.QUEUED, "CallArrived", T0))
    await writer.notification(AgentConnected("c1", "1001", T0 + 3))
    await writer.notification(
        CallEnded("c1", S.COMPLETED, "+62811", "", 2, T0, T0 + 3, T0 + 60, "1001", None)
    )
    await writer.notification(
        CallRecorded(RecordingInfo("c1", Path("/r/c1.wav"), "ab" * 32, 480, 57.0), T0 + 61)
    )


# -- the calls' journal ---------------------------------------------------------------------


async def test_given_the_database_away_at_stop_then_the_records_are_spooled_in_order(
    spool: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = status()
    writer = CallJournal(away(), db, spool=spool)
    writer.start()
    await report_a_call(writer)
    await until(lambda: not db.up)
    await writer.close(drain_seconds=0.1)

    path = spool / "journal.jsonl"
    ops = [line["op"] for line in lines(path)]
    assert ops == ["call_started", "call_state", "agent_assigned", "call_ended", "recording_ready"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert not files(spool, "*.tmp")
    spooled = logged(caplog, "spooled for the next start")
    assert spooled[0].records == 5  # type: ignore[attr-defined]
    assert not logged(caplog, "ALARM: records not written at stop")


async def test_given_a_spool_when_the_database_is_back_then_written_in_order_and_removed(
    spool: Path, journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="callgate.spool")
    first = CallJournal(away(), status(), spool=spool)
    first.start()
    await report_a_call(first)
    await first.close(drain_seconds=0.1)
    # The restored call's path got there first: replaying its start must not fail or duplicate.
    restored = CallJournal(journal)
    restored.start()
    await restored.notification(CallStarted("c1", "+62811", "0811", "112", 2, T0, restored=True))
    await restored.close()
    assert await journal.get_call("c1") is not None

    db = status()
    second = CallJournal(journal, db, spool=spool)
    second.start()
    await second.notification(
        CallEndedOutsideCore("c2", "BLOCKED", T0 + 99)
    )  # after the spooled ones
    await until(lambda: db.backlog() == 0)
    await second.close()

    call = await journal.get_call("c1")
    assert call is not None
    assert call.outcome == "COMPLETED"
    assert call.answered_by == "1001"
    assert [t.to_state for t in call.transitions] == ["QUEUED"]
    assert call.recording is not None
    assert call.recording.sha256 == "ab" * 32
    assert not (spool / "journal.jsonl").exists()
    assert db.dropped == 1  # c2 was never started: refused, as before the spool
    assert logged(caplog, "spool replayed: 5 records")


async def test_given_a_kill_before_the_replay_ends_then_the_spool_is_still_there(
    spool: Path,
) -> None:
    first = CallJournal(away(), status(), spool=spool)
    first.start()
    await report_a_call(first)
    await first.close(drain_seconds=0.1)
    spooled = (spool / "journal.jsonl").read_text()

    # Started with the database still away, then killed: nothing ran at the stop.
    db = status()
    killed = CallJournal(away(), db, spool=spool)
    killed.start()
    await until(lambda: not db.up)
    assert killed._task is not None
    killed._task.cancel()
    assert (spool / "journal.jsonl").read_text() == spooled

    # Started again and stopped cleanly, still away: the spool holds the old records, then new.
    again = CallJournal(away(), status(), spool=spool)
    again.start()
    await again.notification(RecordingFailed("c1", "late", T0 + 70))
    await again.close(drain_seconds=0.1)
    assert [line["op"] for line in lines(spool / "journal.jsonl")][-2:] == [
        "recording_ready",
        "recording_failed",
    ]
    assert len(lines(spool / "journal.jsonl")) == 6


async def test_given_a_spool_with_a_line_not_readable_then_kept_aside_with_an_alarm(
    spool: Path, journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    start = {"caller": "+62811", "caller_sent": "0811", "dialed": "112", "priority": 1}
    good = JournalWrite("c9", "call_started", {**start, "category": "", "at": T0})
    path = spool / "journal.jsonl"
    path.write_text(
        json.dumps(good.to_json()) + "\n{not json\n" + '{"call_id": "c9", "op": "drop_table"}\n'
    )
    db = status()
    writer = CallJournal(journal, db, spool=spool)
    writer.start()
    await until(lambda: db.backlog() == 0)
    await writer.close()

    aside = files(spool, "journal.jsonl.bad-*")
    assert len(aside) == 1
    assert "{not json" in aside[0].read_text()
    alarm = logged(caplog, "ALARM: spool file not readable")
    assert len(alarm) == 1
    assert alarm[0].file == str(aside[0])  # type: ignore[attr-defined]
    assert await journal.get_call("c9") is not None  # the readable record was written
    assert not path.exists()


@pytest.mark.parametrize("kind", ["a file", "not writable"])
async def test_given_a_spool_that_cannot_be_written_then_an_alarm_with_the_count_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    folder = tmp_path / "spool"
    if kind == "a file":
        folder.write_text("")
    else:
        folder.mkdir()
        # Root ignores modes: a folder made read-only by a read-only bind is what a full or
        # broken disk looks like here, so make the spool file's place a folder instead.
        (folder / "journal.jsonl.tmp").mkdir()
    writer = CallJournal(away(), status(), spool=folder)
    writer.start()
    await report_a_call(writer)
    await writer.close(drain_seconds=0.1)
    alarm = logged(caplog, "ALARM: records not written at stop")
    assert len(alarm) == 1
    assert alarm[0].records == 5  # type: ignore[attr-defined]
    assert alarm[0].writer == "journal"  # type: ignore[attr-defined]


def test_an_unusable_spool_folder_is_named_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert "spool_dir" in (prepare_folder(tmp_path / "file") or "")
    made = tmp_path / "var" / "spool"
    assert prepare_folder(made) is None
    assert stat.S_IMODE(made.stat().st_mode) & 0o007 == 0


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)


@given(
    st.lists(
        st.builds(
            JournalWrite,
            call_id=st.text(),
            op=st.sampled_from(OPS),
            fields=st.dictionaries(st.text(), _VALUES),
        ),
        max_size=20,
    )
)
def test_every_kind_of_journal_record_comes_back_from_the_spool_as_it_went(
    writes: list[JournalWrite],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        spool = Spool(Path(folder), "journal", JournalWrite.to_json, JournalWrite.from_json)
        assert spool.save(writes)
        again = Spool(Path(folder), "journal", JournalWrite.to_json, JournalWrite.from_json)
        assert again.load() == writes


# -- CAD's events ---------------------------------------------------------------------------


def mqtt() -> MqttSettings:
    # No broker on that port: the link retries in the background; the writer is tested.
    return MqttSettings(site="s1", host="127.0.0.1", port=closed_port())


async def test_given_events_spooled_then_replayed_with_seq_continuing_the_stream_once(
    spool: Path, journal: Journal
) -> None:
    outbox = Outbox(journal)
    before = EventPublisher(mqtt(), outbox)
    await before.start()
    await before.notification(CallStarted("c1", "+62811", "0811", "112", 2, T0))  # seq 1, 2
    await before.flush(10)
    await before.close(drain_seconds=0.1)

    db = status()
    stopped = EventPublisher(mqtt(), Outbox(away()), status=db, spool=spool)
    await stopped.start()
    await stopped.notification(CallStateChanged("c1", S.ARRIVED, S.QUEUED, "CallArrived", T0))
    await until(lambda: not db.up)
    await stopped.notification(CallStateChanged("c1", S.QUEUED, S.OFFERED, "Offer", T0 + 1))
    await stopped.close(drain_seconds=0.1)
    assert len(lines(spool / "outbox.jsonl")) == 2
    copy = spool.parent / "outbox.copy"
    shutil.copy(spool / "outbox.jsonl", copy)

    after = EventPublisher(mqtt(), outbox, spool=spool)
    await after.start()
    await after.notification(CallEndedOutsideCore("c1", "ABANDONED", T0 + 5))
    await after.flush(10)
    await after.close(drain_seconds=0.1)
    entries = await outbox.unsent(10)
    assert [(e.stream, e.seq) for e in entries] == [("c1", n) for n in range(1, 6)]
    types = [json.loads(e.payload)["type"] for e in entries]
    assert types == ["received", "screened", "queued", "offered", "ended"]
    assert not (spool / "outbox.jsonl").exists()

    # Killed after storing them, before removing the spool: the next start stores none twice.
    os.replace(copy, spool / "outbox.jsonl")
    again = EventPublisher(mqtt(), outbox, spool=spool)
    await again.start()
    await again.flush(10)
    await again.close(drain_seconds=0.1)
    assert len(await outbox.unsent(10)) == 5
    assert not (spool / "outbox.jsonl").exists()


# -- the callback worklist ------------------------------------------------------------------


async def test_given_callback_tasks_spooled_then_restored_and_stored_at_the_next_start(
    spool: Path, journal: Journal
) -> None:
    acd = Acd(AcdConfig(callbacks=CallbackPolicy(first_delay=3600)))

    async def nothing(*events: Event) -> None:
        pass

    db = status()
    stopped = CallbackRecords(away(), nothing, status=db, spool=spool)
    await stopped.start()  # the open tasks cannot be read: starts without them, as before
    acd.handle(AgentLoggedIn("1001", "PJSIP/1001"), T0)
    acd.handle(CallArrived("a1", caller="+628110000001"), T0)
    for note in acd.handle(CallerHungUp("a1"), T0 + 5):
        if isinstance(note, Notification):
            await stopped.notification(note)
    await until(lambda: not db.up)
    await stopped.close(drain_seconds=0.1)
    assert [line["call_ids"] for line in lines(spool / "callbacks.jsonl")] == [["a1"]]

    fed: list[Event] = []

    async def feed(*events: Event) -> None:
        fed.extend(events)

    db = status()
    after = CallbackRecords(journal, feed, status=db, spool=spool)
    await after.start()
    await until(lambda: db.backlog() == 0)
    await after.close()
    assert [[t.call_ids for t in e.tasks] for e in fed if isinstance(e, CallbacksRestored)] == [
        [("a1",)]
    ]
    stored = await callback_tasks_between(
        journal, datetime.fromtimestamp(T0 - 1, UTC), datetime.fromtimestamp(T0 + 9e5, UTC)
    )
    assert [t.call_ids for t in stored] == [("a1",)]
    assert not (spool / "callbacks.jsonl").exists()


def test_a_callback_task_comes_back_from_its_spool_line_as_it_went() -> None:
    task = CallbackTask(
        "cb-1",
        "+628110000001",
        CallbackReason.DROPPED,
        ("a1", "a2"),
        T0,
        TaskState.DIALLING,
        T0 + 120,
        "cb-1-try",
        T0 + 130,
        (AttemptRecord("cb-1-0", T0 + 1, T0 + 2, AttemptOutcome.BUSY, "1001", "busy"),),
        None,
        True,
    )
    assert task_from_json(json.loads(json.dumps(task_to_json(task)))) == task
    with pytest.raises(TypeError):
        task_from_json({**task_to_json(task), "call_ids": [1]})


async def test_given_a_fenced_leader_then_its_queued_records_are_spooled_before_it_exits(
    spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fenced leader ends with os._exit (no orderly stop, no close()): what its journal writer
    # still held, the record being written first, must be in the spool, not thrown away.
    from callgate.daemon import leadership

    exits: list[int] = []
    monkeypatch.setattr(leadership.os, "_exit", exits.append)
    db = status()
    writer = CallJournal(away(), db, spool=spool)
    writer.start()
    await report_a_call(writer)
    await until(lambda: not db.up)
    leadership.spool_at_fence(writer.spool_held)
    try:
        leadership.fenced("lease not renewed in time")
    finally:
        leadership.spool_at_fence(None)
    assert exits == [leadership.EXIT_FENCED]
    ops = [line["op"] for line in lines(spool / "journal.jsonl")]
    assert ops == ["call_started", "call_state", "agent_assigned", "call_ended", "recording_ready"]
    assert writer.spool_held()  # nothing held any more: the spool file is left as it is
    assert (spool / "journal.jsonl").exists()
    await writer.close(drain_seconds=0.1)  # the test's own clean-up (the process lives on)
