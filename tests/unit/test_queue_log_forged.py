"""Forged and damaged queue_log lines, and recording names that lead out of the folder, through
the fallback reconciler on a real SQLite journal and real files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from callgate.daemon.fallback import QueueLogFile
from callgate.storage.journal import Journal
from callgate.storage.records import RecordingStatus
from tests.unit import test_fallback_records as records
from tests.unit.test_queue_log import fixture_lines

# The reconciler tests' fixtures: a SQLite journal, the fixture's queue_log, its recordings.
journal = records.journal
queue_log = records.queue_log
recordings = records.recordings
reconciler = records.reconciler


async def test_given_lines_that_do_not_parse_then_one_warning_each_naming_its_line_number(
    journal: Journal, queue_log: Path, recordings: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await reconciler(journal, queue_log, recordings).scan()

    warned = [r for r in caplog.records if r.getMessage().startswith("queue_log line refused")]
    lines = fixture_lines()
    # The fixture's garbage, a bad timestamp, and its last line cut short.
    expected = [n for n, line in enumerate(lines, 1) if line.count("|") < 5 or "notanumber" in line]
    assert len(expected) == 3
    assert [r.line for r in warned] == expected  # type: ignore[attr-defined]
    assert all(r.levelno == logging.WARNING for r in warned)
    assert [r.reason for r in warned] == [  # type: ignore[attr-defined]
        "fewer than 5 fields",
        "bad timestamp",
        "fewer than 5 fields",
    ]


async def test_given_line_breaks_other_than_newline_in_a_field_then_no_line_is_forged(
    journal: Journal, tmp_path: Path, recordings: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A caller ID that brought a vertical tab, NEL, U+2028, a C0 separator or a CR, then a forged
    # CONNECT: str.splitlines() made that a line of its own ("answered by 1001").
    forged = "1732262462|1732262458.11|fallback-112|Operator 1001|CONNECT|4|1732262458.12|3"
    path = tmp_path / "queue_log"
    with path.open("w", encoding="utf-8", newline="") as file:
        for separator in ("\v", "\x85", "\u2028", "\x1c", "\r"):
            file.write(f"1732262458|1732262458.11|fallback-112|NONE|CALLGATEINFO|0811{separator}")
            file.write(f"{forged}|112|callgate-not-connected\n")
        file.write("1732262458|1732262458.11|fallback-112|NONE|ENTERQUEUE||+62811|1\n")
        file.write("1732262470|1732262458.11|fallback-112|NONE|ABANDON|1|1|12\n")

    summary = await reconciler(journal, path, recordings).scan()

    assert (summary.inserted, summary.malformed) == (1, 5)
    call = await journal.get_call("1732262458.11")
    assert call is not None
    assert (call.answered_by, call.answered_at, call.agents) == (None, None, ())
    assert call.caller_sent == ""  # its line was refused
    warned = [r for r in caplog.records if r.getMessage().startswith("queue_log line refused")]
    assert [r.line for r in warned] == [1, 2, 3, 4, 5]  # type: ignore[attr-defined]


async def test_given_many_refused_lines_in_a_pass_then_the_warnings_are_capped(
    journal: Journal, tmp_path: Path, recordings: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "queue_log"
    path.write_text("forged\n" * 100)
    summary = await reconciler(journal, path, recordings).scan()
    assert summary.malformed == 100
    warned = [r for r in caplog.records if r.getMessage().startswith("queue_log line")]
    assert len(warned) == 21
    assert (warned[-1].not_logged, warned[-1].last_line) == (80, 100)  # type: ignore[attr-defined]


def test_given_a_huge_file_then_refused_lines_are_named_by_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text(
        "".join(f"{n}|7.{n}|fallback-112|NONE|ENTERQUEUE||+62811|1\n" for n in range(99))
    )
    file = QueueLogFile(path, first_read_bytes=200)
    lines = file.read_new()
    assert lines
    assert all(line.number is None for line in lines)
    data = path.read_bytes()
    assert all(data[line.offset :].startswith(line.text.encode()) for line in lines)
    with path.open("a") as more:
        more.write("x\n")
    assert [(line.number, line.offset, line.text) for line in file.read_new()] == [
        (None, len(data), "x")
    ]


def test_given_the_file_read_from_its_start_and_rotated_then_line_numbers_follow(
    tmp_path: Path,
) -> None:
    path = tmp_path / "queue_log"
    path.write_text("a\nb\n")
    file = QueueLogFile(path)
    assert [(x.number, x.offset) for x in file.read_new()] == [(1, 0), (2, 2)]
    with path.open("a") as more:
        more.write("c\n")
    path.rename(tmp_path / "queue_log.1")
    path.write_text("d\n")
    assert [(x.number, x.text) for x in file.read_new()] == [(3, "c"), (1, "d")]


@pytest.mark.parametrize("how", ["file", "folder", "dotdot"])
async def test_given_a_recording_path_leading_out_of_the_folder_then_refused_with_an_alarm(
    journal: Journal, tmp_path: Path, recordings: Path, caplog: pytest.LogCaptureFixture, how: str
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    secret = outside / "9.1.wav"
    secret.write_bytes(b"not a recording")
    secret.chmod(0o640)
    folder = recordings / "callgate"
    if how == "file":
        (folder / "9.1.wav").symlink_to(secret)
    elif how == "folder":
        for wav in folder.iterdir():
            wav.unlink()
        folder.rmdir()
        folder.symlink_to(outside)
    else:  # a relative link with ".." that climbs out
        (folder / "9.1.wav").symlink_to(Path("..") / ".." / "elsewhere" / "9.1.wav")
    path = tmp_path / "queue_log"
    path.write_text(
        "1732262590|9.1|fallback-112|NONE|ENTERQUEUE||+62899|1\n"
        "1732262595|9.1|fallback-112|NONE|ABANDON|1|1|5\n"
    )

    await reconciler(journal, path, recordings).scan()

    call = await journal.get_call("9.1")
    assert call is not None
    assert call.recording is not None
    assert call.recording.status is RecordingStatus.FAILED
    assert call.recording.sha256 is None
    assert "outside the recordings folder" in (call.recording.reason or "")
    assert secret.stat().st_mode & 0o777 == 0o640  # not chmod-ed: nothing done outside
    (alarm,) = [r for r in caplog.records if r.getMessage() == "ALARM: call recording failed"]
    assert (alarm.call_id, alarm.path) == ("9.1", "callgate/9.1.wav")  # type: ignore[attr-defined]
