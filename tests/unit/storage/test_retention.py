"""Recording retention on a real folder: old files go, young ones and foreign paths stay."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from callgate.storage.journal import Journal
from callgate.storage.records import RecordingStatus
from callgate.storage.retention import delete_expired_recordings
from tests.unit.storage.scenarios import SHA, at, start

DAY = timedelta(days=1)
NOBODY = 65534


async def finished_recording(journal: Journal, call_id: str, path: str, days_ago: int) -> None:
    await start(journal, call_id)
    await journal.recording_ready(
        call_id,
        path=path,
        sha256=SHA,
        size_bytes=4,
        duration_s=1.0,
        at=at(0) - days_ago * DAY,
    )


async def status_of(journal: Journal, call_id: str) -> RecordingStatus:
    call = await journal.get_call(call_id)
    assert call is not None
    assert call.recording is not None
    return call.recording.status


async def test_given_old_and_young_recordings_when_retention_runs_then_only_old_files_go(
    journal: Journal, tmp_path: Path
) -> None:
    folder = tmp_path / "recordings"
    (folder / "2026").mkdir(parents=True)
    for name in ("old.wav", "2026/young.wav"):
        (folder / name).write_bytes(b"RIFF")
    await finished_recording(journal, "old", "old.wav", days_ago=91)
    await finished_recording(journal, "young", str(folder / "2026/young.wav"), days_ago=89)

    deleted = await delete_expired_recordings(journal, folder, retention_days=90, now=at(0))

    assert deleted == [(folder / "old.wav").resolve()]
    assert not (folder / "old.wav").exists()
    assert (folder / "2026/young.wav").exists()
    assert await status_of(journal, "old") is RecordingStatus.DELETED
    assert await status_of(journal, "young") is RecordingStatus.READY
    call = await journal.get_call("old")
    assert call is not None
    assert call.recording is not None
    # The evidence that a file existed, and what it was, outlives the file.
    assert (call.recording.sha256, call.recording.deleted_at) == (SHA, at(0))
    assert await delete_expired_recordings(journal, folder, retention_days=90, now=at(0)) == []


async def test_given_a_recording_path_outside_the_folder_when_expired_then_it_is_not_deleted(
    journal: Journal, tmp_path: Path
) -> None:
    folder = tmp_path / "recordings"
    folder.mkdir()
    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    await finished_recording(journal, "escape", "../precious.txt", days_ago=200)

    assert await delete_expired_recordings(journal, folder, retention_days=90, now=at(0)) == []
    assert outside.read_text() == "keep"
    assert await status_of(journal, "escape") is RecordingStatus.READY


async def test_given_an_expired_file_already_gone_when_retention_runs_then_it_is_marked_deleted(
    journal: Journal, tmp_path: Path
) -> None:
    await finished_recording(journal, "gone", "gone.wav", days_ago=100)
    deleted = await delete_expired_recordings(journal, tmp_path, retention_days=90, now=at(0))
    assert deleted == [(tmp_path / "gone.wav").resolve()]
    assert await status_of(journal, "gone") is RecordingStatus.DELETED


async def test_given_an_expired_file_that_cannot_be_deleted_then_it_stays_ready_for_a_retry(
    journal: Journal, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A directory in the file's place makes unlink fail even for root.
    (tmp_path / "stuck.wav").mkdir()
    await finished_recording(journal, "stuck", "stuck.wav", days_ago=100)
    assert await delete_expired_recordings(journal, tmp_path, retention_days=90, now=at(0)) == []
    assert await status_of(journal, "stuck") is RecordingStatus.READY
    [failure] = [r for r in caplog.records if r.getMessage().startswith("cannot delete")]
    assert "Is a directory" in failure.__dict__["error"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
async def test_given_asterisk_s_expired_file_in_the_shared_folder_then_retention_deletes_it(
    journal: Journal, tmp_path: Path
) -> None:
    # Production: the file is Asterisk's, read-only, in an asterisk:asterisk 2770 folder.
    folder = tmp_path / "callgate"
    folder.mkdir()
    os.chown(folder, NOBODY, NOBODY)
    os.chmod(folder, 0o2770)
    (folder / "c1.wav").write_bytes(b"RIFF")
    os.chown(folder / "c1.wav", NOBODY, NOBODY)
    os.chmod(folder / "c1.wav", 0o440)
    await finished_recording(journal, "c1", "callgate/c1.wav", days_ago=91)

    deleted = await delete_expired_recordings(journal, tmp_path, retention_days=90, now=at(0))

    assert deleted == [(folder / "c1.wav").resolve()]
    assert not (folder / "c1.wav").exists()
    assert await status_of(journal, "c1") is RecordingStatus.DELETED


async def test_given_expired_recordings_when_purged_then_paths_returned_and_marked_deleted(
    journal: Journal,
) -> None:
    await finished_recording(journal, "a", "a.wav", days_ago=40)
    await finished_recording(journal, "b", "b.wav", days_ago=10)
    assert await journal.purge_recordings_older_than(at(0) - 31 * DAY, at=at(0)) == ["a.wav"]
    assert await status_of(journal, "a") is RecordingStatus.DELETED
    assert await journal.purge_recordings_older_than(at(0) - 31 * DAY, at=at(0)) == []


async def test_given_a_deleted_recording_when_ready_is_replayed_then_it_stays_deleted(
    journal: Journal,
) -> None:
    await finished_recording(journal, "a", "a.wav", days_ago=40)
    await journal.purge_recordings_older_than(at(0), at=at(0))
    assert (
        await journal.recording_ready(
            "a", path="a.wav", sha256=SHA, size_bytes=4, duration_s=1.0, at=at(0)
        )
        is False
    )
    assert await status_of(journal, "a") is RecordingStatus.DELETED
