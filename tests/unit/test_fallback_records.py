"""The fallback reconciler on a real SQLite journal and real files: queue_log in, journal rows,
sealed recordings and report figures out."""

from __future__ import annotations

import hashlib
import logging
import os
import time
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from callgate.asterisk.recordings import RecordingFailure, seal
from callgate.daemon.fallback import FallbackRecords, QueueLogFile, seal_finished
from callgate.ports import RecordingInfo
from callgate.storage.fallback_calls import FallbackCallFacts
from callgate.storage.journal import Journal
from callgate.storage.records import RecordingStatus
from callgate.tools.report import build_report, day_period, load, render_text
from tests.unit.test_queue_log import ENDPOINTS, fixture_lines

NOW = 1732262600.0  # after every call of the fixture but the one still waiting
FINISHED = ["1732262458.11", "1732262461.13", "1732262480.17", "1732262520.21"]


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    yield opened
    await opened.close()


def write(path: Path, text: str) -> None:
    path.write_text(text)


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    folder = tmp_path / "monitor"
    (folder / "callgate").mkdir(parents=True)
    for call_id in FINISHED:
        with wave.open(str(folder / "callgate" / f"{call_id}.wav"), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(8000)
            wav.writeframes(call_id.encode() * 800)
    return folder


@pytest.fixture
def queue_log(tmp_path: Path) -> Path:
    path = tmp_path / "queue_log"
    path.write_text("".join(f"{line}\n" for line in fixture_lines()))
    return path


def reconciler(journal: Journal, queue_log: Path, recordings: Path) -> FallbackRecords:
    # The real sealing, without seal_when_stable's wait for MixMonitor to finish the file.
    return FallbackRecords(
        journal,
        queue_log=queue_log,
        queue="fallback-112",
        endpoints=ENDPOINTS,
        recordings_dir=recordings,
        clock=lambda: NOW,
        seal=seal,
    )


async def test_given_calls_callgate_never_saw_when_scanned_then_each_is_journaled_and_sealed(
    journal: Journal, queue_log: Path, recordings: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    summary = await reconciler(journal, queue_log, recordings).scan()

    assert (summary.inserted, summary.completed, summary.unchanged) == (4, 0, 0)
    assert (summary.malformed, summary.waiting) == (3, 1)
    call = await journal.get_call("1732262458.11")
    assert call is not None
    assert (call.outcome, call.state, call.answered_by) == ("FALLBACK", "FALLBACK", "1001")
    assert (call.caller, call.caller_sent, call.dialed) == ("+6281234567890", "081234567890", "112")
    assert (call.started_at, call.answered_at, call.ended_at) == (
        at(1732262458),
        at(1732262462),
        at(1732262500),
    )
    assert call.destination == "fallback-queue"
    assert [(a.agent_id, a.role) for a in call.agents] == [("1001", "call-taker")]
    assert [t.trigger for t in call.transitions] == [
        "fallback queue: entered (callgate-not-connected)",
        "fallback queue: answered by 1001",
        "fallback queue: COMPLETECALLER",
    ]
    wav = recordings / "callgate" / "1732262458.11.wav"
    assert call.recording is not None
    assert call.recording.status is RecordingStatus.READY
    assert call.recording.sha256 == hashlib.sha256(wav.read_bytes()).hexdigest()
    assert call.recording.path == str(wav)
    assert os.stat(wav).st_mode & 0o777 == 0o440  # ours: sealed read-only

    abandoned = await journal.get_call("1732262480.17")
    assert abandoned is not None
    assert (abandoned.outcome, abandoned.answered_by, abandoned.answered_at) == (
        "FALLBACK",
        None,
        None,
    )
    assert abandoned.caller == "anonymous"
    assert await journal.get_call("1732262570.23") is None  # still in the queue: next pass

    journaled = [r for r in caplog.records if r.getMessage() == "fallback call journaled"]
    assert sorted(r.call_id for r in journaled) == sorted(FINISHED)  # type: ignore[attr-defined]
    assert [r.getMessage() for r in caplog.records].count("fallback queue_log read") == 1


async def test_given_two_passes_and_a_restart_then_each_call_is_written_once(
    journal: Journal, queue_log: Path, recordings: Path
) -> None:
    first = reconciler(journal, queue_log, recordings)
    await first.scan()
    before = {c.call_id: c for c in await journal.recent_calls()}

    again = await first.scan()  # nothing new in the file
    restarted = await reconciler(journal, queue_log, recordings).scan()  # reads it all again

    assert (again.inserted, again.completed, again.unchanged) == (0, 0, 0)
    assert (restarted.inserted, restarted.completed, restarted.unchanged) == (0, 0, 4)
    after = {c.call_id: c for c in await journal.recent_calls()}
    assert after == before
    assert len(after) == 4


async def test_given_a_call_callgate_handed_back_at_stop_then_its_fallback_end_is_filled_in(
    journal: Journal, queue_log: Path, recordings: Path
) -> None:
    # What a stop leaves: started and queued by callgate, handed back, never ended.
    call_id = "1732262520.21"
    await journal.call_started(
        call_id,
        caller="+6282100000001",
        caller_sent="082100000001",
        dialed="112",
        priority=1,
        category="",
        at=at(1732262505),
    )
    await journal.call_state(
        call_id, at=at(1732262505), from_state="ARRIVED", to_state="QUEUED", trigger="QUEUE"
    )

    summary = await reconciler(journal, queue_log, recordings).scan()

    assert (summary.inserted, summary.completed) == (3, 1)
    call = await journal.get_call(call_id)
    assert call is not None
    assert call.started_at == at(1732262505)  # callgate's own start is kept
    assert (call.outcome, call.answered_by) == ("FALLBACK", "1001")
    assert (call.answered_at, call.ended_at) == (at(1732262523), at(1732262560))
    assert [(t.from_state, t.to_state) for t in call.transitions] == [
        ("ARRIVED", "QUEUED"),
        ("QUEUED", "FALLBACK"),
        ("FALLBACK", "FALLBACK"),
        ("FALLBACK", "FALLBACK"),
    ]
    assert call.recording is not None
    assert call.recording.status is RecordingStatus.READY


async def test_given_a_call_the_core_ended_as_fallback_then_only_the_answer_is_added(
    journal: Journal, queue_log: Path, recordings: Path
) -> None:
    call_id = "1732262520.21"
    await journal.call_started(
        call_id, caller="+62821", caller_sent="0821", dialed="112", priority=1, category="",
        at=at(1732262505),
    )  # fmt: skip
    await journal.call_ended(
        call_id, at=at(1732262519), outcome="FALLBACK", destination="fallback-queue"
    )

    await reconciler(journal, queue_log, recordings).scan()

    call = await journal.get_call(call_id)
    assert call is not None
    assert call.ended_at == at(1732262519)  # what callgate recorded is never overwritten
    assert (call.outcome, call.caller) == ("FALLBACK", "+62821")
    assert (call.answered_at, call.answered_by) == (at(1732262523), "1001")


async def test_given_a_recording_sealed_already_then_it_is_not_sealed_again(
    journal: Journal, queue_log: Path, recordings: Path
) -> None:
    await reconciler(journal, queue_log, recordings).scan()
    wav = recordings / "callgate" / "1732262458.11.wav"
    wav.write_bytes(b"changed after sealing")

    await reconciler(journal, queue_log, recordings).scan()

    call = await journal.get_call("1732262458.11")
    assert call is not None
    assert call.recording is not None
    assert call.recording.sha256 != hashlib.sha256(b"changed after sealing").hexdigest()


async def test_given_a_missing_recording_then_it_is_journaled_as_failed_with_an_alarm(
    journal: Journal, queue_log: Path, recordings: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (recordings / "callgate" / "1732262480.17.wav").unlink()
    await reconciler(journal, queue_log, recordings).scan()

    call = await journal.get_call("1732262480.17")
    assert call is not None
    assert call.recording is not None
    assert call.recording.status is RecordingStatus.FAILED
    assert "ALARM: call recording failed" in caplog.text


async def test_given_the_file_is_rotated_then_the_rest_of_the_old_and_all_of_the_new_are_read(
    journal: Journal, tmp_path: Path, recordings: Path
) -> None:
    lines = fixture_lines()
    path = tmp_path / "queue_log"
    cut = next(i for i, line in enumerate(lines) if "COMPLETECALLER" in line)
    path.write_text("".join(f"{line}\n" for line in lines[:cut]))
    service = reconciler(journal, path, recordings)
    assert (await service.scan()).inserted == 1  # the abandoned call only

    # logrotate renames the file; Asterisk writes two more lines to it before reopening.
    rotated = tmp_path / "queue_log.1"
    path.rename(rotated)
    with rotated.open("a") as old:
        old.write("".join(f"{line}\n" for line in lines[cut : cut + 2]))
    path.write_text("".join(f"{line}\n" for line in lines[cut + 2 :]))

    summary = await service.scan()

    assert summary.inserted == 3
    assert len(await journal.recent_calls()) == 4


async def test_given_the_file_is_truncated_then_it_is_read_again_from_the_start(
    journal: Journal, queue_log: Path, recordings: Path
) -> None:
    service = reconciler(journal, queue_log, recordings)
    await service.scan()
    write(
        queue_log,
        "1732262590|9.1|fallback-112|NONE|ENTERQUEUE||+62899|1\n"
        "1732262595|9.1|fallback-112|NONE|ABANDON|1|1|5\n",
    )  # copytruncate, then Asterisk wrote on: smaller than what was read

    assert (await service.scan()).inserted == 1
    assert await journal.get_call("9.1") is not None


async def test_given_a_line_being_written_then_it_waits_for_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text("1|7.1|fallback-112|NONE|ENTERQUEUE||+62811|1\n2|7.1|fallback-1")
    file = QueueLogFile(path)
    assert file.read_new_lines() == ["1|7.1|fallback-112|NONE|ENTERQUEUE||+62811|1"]
    with path.open("a") as growing:
        growing.write("12|NONE|ABANDON|1|1|1\n")
    assert file.read_new_lines() == ["2|7.1|fallback-112|NONE|ABANDON|1|1|1"]
    assert file.read_new_lines() == []


async def test_given_a_huge_file_at_start_then_only_its_end_is_read(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text(
        "".join(f"{n}|7.{n}|fallback-112|NONE|ENTERQUEUE||+62811|1\n" for n in range(1000))
    )
    lines = QueueLogFile(path, first_read_bytes=500).read_new_lines()
    assert 0 < len(lines) < 20
    assert lines[-1].startswith("999|")
    assert all(line.count("|") == 7 for line in lines)  # no half line at the cut


async def test_given_an_unreadable_queue_log_then_one_alarm_and_retried_until_readable(
    journal: Journal, tmp_path: Path, queue_log: Path, recordings: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.INFO)
    path = tmp_path / "not-yet"
    path.mkdir()  # a folder where the file should be: reading it fails (as root, too)
    service = reconciler(journal, path, recordings)

    assert (await service.scan()).inserted == 0
    assert (await service.scan()).inserted == 0
    alarms = [r for r in caplog.records if r.getMessage().startswith("ALARM: fallback queue_log")]
    assert len(alarms) == 1
    assert alarms[0].file == str(path)  # type: ignore[attr-defined]
    assert "SupplementaryGroups=asterisk" in alarms[0].fix  # type: ignore[attr-defined]

    os.rmdir(path)
    os.rename(queue_log, path)
    assert (await service.scan()).inserted == 4
    assert "fallback queue_log readable again" in caplog.text


async def test_given_a_missing_queue_log_then_an_alarm_not_a_crash(
    journal: Journal, tmp_path: Path, recordings: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = reconciler(journal, tmp_path / "absent", recordings)
    summary = await service.scan()
    assert summary.inserted == 0
    assert "ALARM: fallback queue_log unreadable" in caplog.text


async def test_given_fallback_calls_journaled_then_the_report_counts_them_in_the_fallback_line(
    journal: Journal, queue_log: Path, recordings: Path
) -> None:
    await reconciler(journal, queue_log, recordings).scan()
    period = day_period(
        at(NOW).astimezone(ZoneInfo("Asia/Jakarta")).date(), ZoneInfo("Asia/Jakarta")
    )

    report = build_report(period, *(await load(journal, period)))

    assert report.outcomes["FALLBACK"] == 4
    assert report.answered == 3  # the abandoned one was answered by nobody
    (line,) = [x for x in render_text(report).splitlines() if "fallback queue" in x]
    assert line.split()[:3] == ["fallback", "queue", "4"]


async def test_given_calls_journaled_then_the_wall_is_told_each_once_journaled(
    journal: Journal, queue_log: Path, recordings: Path
) -> None:
    told: list[str] = []
    service = reconciler(journal, queue_log, recordings)

    def journaled(facts: FallbackCallFacts) -> None:
        told.append(facts.call_id)

    service.on_journaled = journaled
    async with journal.transaction() as session:  # the journal is away for this pass
        await session.execute(text("ALTER TABLE calls RENAME TO calls_away"))
    await service.scan()
    assert told == []  # not journaled: not counted on the wall either
    async with journal.transaction() as session:
        await session.execute(text("ALTER TABLE calls_away RENAME TO calls"))
    await service.scan()
    assert sorted(told) == sorted(FINISHED)


async def test_given_the_wall_s_hook_fails_then_the_calls_are_still_journaled_and_sealed(
    journal: Journal, queue_log: Path, recordings: Path
) -> None:
    service = reconciler(journal, queue_log, recordings)

    def broken(_facts: FallbackCallFacts) -> None:
        raise RuntimeError("a bug in the wall's hook")

    service.on_journaled = broken
    assert (await service.scan()).inserted == 4
    call = await journal.get_call("1732262458.11")
    assert call is not None
    assert call.recording is not None
    assert call.recording.status is RecordingStatus.READY


async def test_given_the_journal_write_fails_then_the_calls_are_retried_next_pass(
    journal: Journal, queue_log: Path, recordings: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = reconciler(journal, queue_log, recordings)
    async with journal.transaction() as session:  # the table is gone for this pass
        await session.execute(text("ALTER TABLE calls RENAME TO calls_away"))

    failed = await service.scan()

    assert failed.inserted == 0
    assert "fallback call not journaled; retried next pass" in caplog.text
    async with journal.transaction() as session:
        await session.execute(text("ALTER TABLE calls_away RENAME TO calls"))
    assert (await service.scan()).inserted == 4  # not in the file's new lines: kept over


def test_given_a_missing_or_finished_recording_then_sealing_does_not_wait(tmp_path: Path) -> None:
    # After an outage one pass may journal hundreds of calls: none may wait for a file that is
    # missing or was closed long ago (seal_when_stable would poll each one for up to 15 s).
    finished = tmp_path / "old.wav"
    finished.write_bytes(b"RIFF")
    old = time.time() - 60
    os.utime(finished, (old, old))
    started = time.monotonic()
    assert isinstance(seal_finished("1.1", tmp_path / "missing.wav"), RecordingFailure)
    assert isinstance(seal_finished("1.2", finished), RecordingInfo)
    # Not a speed figure: seal_when_stable gives up on a missing file only after 15 s.
    assert time.monotonic() - started < 10.0
