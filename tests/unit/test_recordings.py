"""Sealing call recordings on a real folder, with real owners and modes (the tests run as root:
"Asterisk's file" is one chowned to nobody, 65534)."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import wave
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from callgate.asterisk.ari.adapter import AriAdapter
from callgate.asterisk.ari.layout import CallLayout
from callgate.asterisk.recordings import (
    RecordingFailure,
    folder_problem,
    recording_in,
    seal,
    seal_when_stable,
)
from callgate.config import RecordingSettings, Settings
from callgate.daemon.health import Health
from callgate.daemon.journaling import CallJournal
from callgate.daemon.metrics import Metrics, RecordingCounts
from callgate.daemon.projection import Projection
from callgate.ports import Record, RecordingInfo
from callgate.storage.journal import Journal
from callgate.storage.records import RecordingStatus
from tests.unit.storage.scenarios import start

NOBODY = 65534
AUDIO = b"RIFF-not-really-audio" * 100

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")


def recording(folder: Path, mode: int, *, owner: int | None = None, name: str = "c1.ulaw") -> Path:
    path = folder / name
    path.write_bytes(AUDIO)
    if owner is not None:
        os.chown(path, owner, owner)
    os.chmod(path, mode)
    return path


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def running_as(uid: int) -> Iterator[None]:
    """The process's effective uid is ``uid`` meanwhile: file access is checked as for them."""
    os.seteuid(uid)
    try:
        yield
    finally:
        os.seteuid(0)


def test_given_our_own_file_when_sealed_then_it_becomes_read_only_and_is_hashed(
    tmp_path: Path,
) -> None:
    path = recording(tmp_path, 0o644)

    info = seal("c1", path)

    assert info == RecordingInfo(
        "c1", path, hashlib.sha256(AUDIO).hexdigest(), len(AUDIO), len(AUDIO) / 8000.0
    )
    assert mode_of(path) == 0o440


def test_given_asterisk_s_0640_file_when_sealed_then_it_is_hashed_and_left_untouched(
    tmp_path: Path,
) -> None:
    path = recording(tmp_path, 0o640, owner=NOBODY)

    info = seal("c1", path)

    assert isinstance(info, RecordingInfo)
    assert (info.sha256, info.unsealed) == (hashlib.sha256(AUDIO).hexdigest(), None)
    assert (mode_of(path), path.stat().st_uid) == (0o640, NOBODY)


@pytest.mark.parametrize(
    ("mode", "writable"),
    [
        (0o660, "group-writable (mode 0660)"),
        (0o646, "world-writable (mode 0646)"),
        (0o666, "group- and world-writable (mode 0666)"),
    ],
)
def test_given_a_foreign_file_others_can_write_when_sealed_then_hashed_but_not_sealed(
    tmp_path: Path, mode: int, writable: str
) -> None:
    path = recording(tmp_path, mode, owner=NOBODY)

    info = seal("c1", path)

    assert isinstance(info, RecordingInfo)
    assert info.sha256 == hashlib.sha256(AUDIO).hexdigest()
    assert info.unsealed is not None
    assert writable in info.unsealed
    assert f"owned by uid {NOBODY}" in info.unsealed
    assert "run Asterisk with UMask=0027" in info.unsealed
    assert mode_of(path) == mode  # no chmod tried on a file callgate does not own


def test_given_a_wav_when_sealed_then_its_duration_comes_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "c1.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * 12000)

    info = seal("c1", path)

    assert isinstance(info, RecordingInfo)
    assert info.duration_s == 1.5
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_given_no_file_when_sealed_then_it_is_reported_missing(tmp_path: Path) -> None:
    assert seal_when_stable("c1", tmp_path / "c1.wav", settle=0.01, limit=0.05) == (
        RecordingFailure("c1", f"file {tmp_path / 'c1.wav'} missing after the call")
    )


def test_given_a_link_in_place_of_the_file_when_sealed_then_a_failure_names_the_error(
    tmp_path: Path,
) -> None:
    target = recording(tmp_path, 0o644, name="elsewhere.ulaw")
    link = tmp_path / "c1.ulaw"
    link.symlink_to(target)

    failure = seal_when_stable("c1", link, settle=0.01, limit=0.05)

    assert isinstance(failure, RecordingFailure)
    assert failure.reason == f"cannot read {link}: Too many levels of symbolic links"
    assert mode_of(target) == 0o644  # never follows a link to chmod what it points to


def test_given_a_pipe_in_place_of_the_file_when_sealed_then_it_is_not_a_recording(
    tmp_path: Path,
) -> None:
    os.mkfifo(tmp_path / "c1.wav")

    failure = seal("c1", tmp_path / "c1.wav")  # and does not hang waiting for a writer

    assert failure == RecordingFailure("c1", f"{tmp_path / 'c1.wav'} is not a regular file")


def test_given_a_folder_in_place_of_the_file_when_sealed_then_it_fails_and_leaks_nothing(
    tmp_path: Path,
) -> None:
    (tmp_path / "c1.wav").mkdir()
    open_files = len(os.listdir("/proc/self/fd"))

    failures = {seal("c1", tmp_path / "c1.wav") for _ in range(20)}

    reason = f"cannot read {tmp_path / 'c1.wav'}: Is a directory"
    assert failures == {RecordingFailure("c1", reason)}
    assert len(os.listdir("/proc/self/fd")) == open_files


def test_given_callgate_outside_asterisk_s_group_when_sealing_then_the_fix_is_named(
    tmp_path: Path,
) -> None:
    path = recording(tmp_path, 0o600)  # root's, unreadable to nobody

    with running_as(NOBODY):
        failure = seal_when_stable("c1", path, settle=0.01, limit=0.05)

    assert isinstance(failure, RecordingFailure)
    assert "Permission denied" in failure.reason
    assert "add callgate to Asterisk's group" in failure.reason


def test_given_a_recordings_folder_callgate_cannot_use_then_the_problem_names_the_fix(
    tmp_path: Path,
) -> None:
    problem = folder_problem(tmp_path)  # no callgate/ below it yet
    assert problem is not None
    assert str(tmp_path / "callgate") in problem
    assert "asterisk:asterisk mode 2770" in problem
    (tmp_path / "callgate").mkdir()
    assert folder_problem(tmp_path) is None


# -- through the ARI adapter: the ALARM line, the metric and the journal row --------------------


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    yield opened
    await opened.close()


class Rig:
    def __init__(self, journal: Journal, folder: Path) -> None:
        self.writer = CallJournal(journal)
        self.metrics = Metrics(Projection(), Health())
        settings = Settings(recording=RecordingSettings(asterisk_dir=str(folder)))
        failures = RecordingCounts(self.metrics)

        async def feed(*records: Record) -> None:
            # The engine's feed as the observers see it: records go to each, in order.
            for record in records:
                await self.writer.notification(record)
                await failures.notification(record)

        self.calls = AriAdapter(None, settings, clock=lambda: 1.8e9, feed=feed)  # type: ignore[arg-type]

    async def call_ends(self, call_id: str, recording: str) -> None:
        self.writer.start()
        await self.calls.endings.seal_when_closed(
            CallLayout(call_id, "+62812", recording=recording)
        )
        await self.calls.drain()
        await self.writer.close()

    def counted(self, name: str) -> float | None:
        return self.metrics.registry.get_sample_value(name)


async def test_given_a_group_writable_recording_when_the_call_ends_then_alarm_metric_and_row(
    journal: Journal, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "callgate").mkdir()
    recording(tmp_path / "callgate", 0o660, owner=NOBODY, name="c1.wav")
    await start(journal, "c1")
    rig = Rig(journal, tmp_path)

    with caplog.at_level(logging.ERROR, logger="callgate.asterisk.ari.ending"):
        await rig.call_ends("c1", "callgate/c1.wav")

    [alarm] = [r for r in caplog.records if r.getMessage() == "ALARM: call recording not sealed"]
    assert alarm.__dict__["call_id"] == "c1"
    assert "run Asterisk with UMask=0027" in alarm.__dict__["reason"]
    assert rig.counted("callgate_recordings_unsealed_total") == 1
    assert rig.counted("callgate_recording_failures_total") == 0
    call = await journal.get_call("c1")
    assert call is not None
    assert call.recording is not None
    assert call.recording.status is RecordingStatus.READY  # retention will delete it
    assert call.recording.sha256 == hashlib.sha256(AUDIO).hexdigest()
    assert call.recording.reason is not None
    assert "group-writable (mode 0660)" in call.recording.reason


async def test_given_an_unreadable_recording_when_the_call_ends_then_failure_is_journaled(
    journal: Journal, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "callgate").mkdir()
    (tmp_path / "callgate" / "c1.wav").mkdir()  # opens, but cannot be read as a file
    await start(journal, "c1")
    rig = Rig(journal, tmp_path)

    with caplog.at_level(logging.ERROR, logger="callgate.asterisk.ari.ending"):
        await rig.call_ends("c1", "callgate/c1.wav")

    assert "ALARM: call recording failed" in caplog.messages
    assert "background work failed" not in caplog.messages
    assert rig.counted("callgate_recording_failures_total") == 1
    call = await journal.get_call("c1")
    assert call is not None
    assert call.recording is not None
    assert (call.recording.status, call.recording.reason) == (
        RecordingStatus.FAILED,
        f"cannot read {tmp_path / 'callgate' / 'c1.wav'}: Is a directory",
    )


@pytest.mark.parametrize(
    "name",
    ["../x.wav", "callgate/../../x.wav", "/etc/passwd", "", ".", "callgate/\x00.wav", "loop/x.wav"],
)
def test_given_a_recording_name_out_of_the_folder_then_refused_naming_it(
    tmp_path: Path, name: str
) -> None:
    folder = tmp_path / "monitor"
    (folder / "callgate").mkdir(parents=True)
    (folder / "loop").symlink_to(folder / "loop")
    refused = recording_in("7.1", folder, name)
    assert isinstance(refused, RecordingFailure)
    assert repr(name) in refused.reason
    assert "outside the recordings folder" in refused.reason


def test_given_a_recording_name_inside_the_folder_then_its_path_as_given(tmp_path: Path) -> None:
    real = tmp_path / "spool"
    (real / "callgate").mkdir(parents=True)
    folder = tmp_path / "monitor"
    folder.symlink_to(real)  # the folder itself reached through a link (the lab's "current")
    (real / "callgate" / "7.1.wav").write_bytes(b"RIFF")
    assert recording_in("7.1", folder, "callgate/7.1.wav") == folder / "callgate" / "7.1.wav"
    # Not there yet (MixMonitor still writing): its name is checked all the same.
    assert recording_in("7.2", folder, "callgate/7.2.wav") == folder / "callgate" / "7.2.wav"
    assert (
        recording_in("7.3", folder, "callgate/./x/../7.3.wav") == folder / "callgate/x/../7.3.wav"
    )


@pytest.mark.parametrize("name", ["../outside/c1.wav", "/etc/hostname", "callgate/link.wav"])
async def test_given_a_recording_variable_leading_out_of_the_folder_then_alarm_nothing_hashed(
    journal: Journal, tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    folder = tmp_path / "monitor"
    (folder / "callgate").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    target = recording(tmp_path / "outside", 0o640, name="c1.wav")
    (folder / "callgate" / "link.wav").symlink_to(target)
    await start(journal, "c1")
    rig = Rig(journal, folder)

    with caplog.at_level(logging.ERROR, logger="callgate.asterisk.ari.ending"):
        await rig.call_ends("c1", name)

    [alarm] = [r for r in caplog.records if r.getMessage() == "ALARM: call recording failed"]
    assert (alarm.__dict__["call_id"], alarm.__dict__["path"]) == ("c1", name)
    assert target.stat().st_mode & 0o777 == 0o640  # ours, but not chmod-ed: nothing done there
    assert rig.counted("callgate_recording_failures_total") == 1
    call = await journal.get_call("c1")
    assert call is not None
    assert call.recording is not None
    assert (call.recording.status, call.recording.sha256) == (RecordingStatus.FAILED, None)
    assert "outside the recordings folder" in (call.recording.reason or "")
