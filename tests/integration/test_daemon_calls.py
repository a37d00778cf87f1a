"""The daemon on the real lab: queue order, abandoned calls, missed rings, recordings, restart."""

from __future__ import annotations

import array
import asyncio
import json
import pwd
import signal
import time
import wave
from collections.abc import Callable
from pathlib import Path

import labpeers
import pytest

from callgate.storage.journal import Journal
from callgate.storage.records import CallRecord

from .conftest import Daemon, wait_for

#: Runs on Asterisk 16 too, in the smaller second pass of scripts/test.
pytestmark = pytest.mark.smoke


def _connected_callers(daemon: Daemon) -> list[str]:
    """Callers in the order callgate connected them to a call-taker."""
    callers = {
        r["call_id"]: r.get("caller") for r in daemon.records() if r["event"] == "112 call entered"
    }
    return [str(callers[r["call_id"]]) for r in daemon.records() if r["event"] == "call connected"]


def _ended(daemon: Daemon) -> dict[str, str]:
    return {
        str(r["call_id"]): str(r["outcome"]) for r in daemon.records() if r["event"] == "call ended"
    }


def _recordings(daemon: Daemon) -> dict[str, Path]:
    return {
        str(r["call_id"]): Path(str(r["path"]))
        for r in daemon.records()
        if r["event"] == "recording ready"
    }


def calltakers_end_calls_after(
    seconds: float, phones: list[labpeers.Softphone]
) -> labpeers.CallTakersHangUp:
    """Each call-taker hangs up (on their own softphone) ``seconds`` after answering."""
    return labpeers.CallTakersHangUp(seconds, phones)


def _rms(path: Path) -> tuple[float, float]:
    """(seconds, RMS level) of a 16-bit mono WAV."""
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2
        frames = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / wav.getframerate()
    samples = array.array("h", frames)
    if not samples:
        return seconds, 0.0
    return seconds, (sum(s * s for s in samples) / len(samples)) ** 0.5


@pytest.mark.daemon_env(CALLGATE_CALLTAKERS__WRAP_UP_TIME="1")
def test_given_more_callers_than_calltakers_then_every_call_is_answered_in_arrival_order(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    takers = phones("1001", "1002")
    numbers = [f"08120000000{i}" for i in range(6)]
    # Six callers at once; two call-takers who each end a call 1.5 s after answering.
    with calltakers_end_calls_after(1.5, takers):
        calls = carrier(numbers, talk_seconds=60)
        assert calls.wait(timeout=120) == 0, calls.errors()
    assert calls.stats() == {"successful": 6, "failed": 0}

    expected = [f"+628120000000{i}" for i in range(6)]
    wait_for(lambda: len(_ended(daemon)) == 6, 10, "six calls to end")
    assert _connected_callers(daemon) == expected
    assert set(_ended(daemon).values()) == {"COMPLETED"}


@pytest.mark.daemon_env(CALLGATE_CALLTAKERS__WRAP_UP_TIME="1")
def test_given_a_caller_who_hangs_up_while_waiting_then_abandoned_and_still_recorded(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    phones("1001")
    busy = carrier(["081100000001"], talk_seconds=8)
    wait_for(lambda: len(_connected_callers(daemon)) == 1, 15, "the first call to connect")
    impatient = carrier(["081100000002"], talk_seconds=3)
    assert impatient.wait(timeout=60) == 0, impatient.errors()
    assert busy.wait(timeout=60) == 0, busy.errors()

    wait_for(lambda: len(_ended(daemon)) == 2, 10, "both calls to end")
    outcomes = sorted(_ended(daemon).values())
    assert outcomes == ["ABANDONED", "COMPLETED"]
    wait_for(lambda: len(_recordings(daemon)) == 2, 10, "both recordings")
    for call_id, path in _recordings(daemon).items():
        seconds, level = _rms(path)
        # Recorded from answer to hang-up: the abandoned call's 3 s in the queue included.
        assert seconds >= 2.5, f"{call_id}: {seconds:.1f} s"
        assert level > 100, f"{call_id}: silent recording (RMS {level:.0f})"
        assert path.stat().st_mode & 0o077 == 0o040, "recordings must not be world-readable"
        # As in production: Asterisk's file (umask 0027), which callgate (another user, in
        # Asterisk's group) seals without owning it, so never a chmod that would fail (EPERM).
        assert pwd.getpwuid(path.stat().st_uid).pw_name == "asterisk"
        assert path.stat().st_mode & 0o777 == 0o640
    assert "recording not sealed" not in daemon.log_text()
    assert "recording failed" not in daemon.log_text()
    records = {r.call_id: r for r in daemon.calls()}
    for call_id in _recordings(daemon):
        recording = records[call_id].recording
        assert recording is not None
        assert recording.sha256
        assert recording.reason is None, recording.reason


@pytest.mark.daemon_env(
    CALLGATE_CALLTAKERS__RING_TIMEOUT="5",
    CALLGATE_CALLTAKERS__MAX_MISSED_IN_A_ROW="2",
    CALLGATE_CALLTAKERS__WRAP_UP_TIME="1",
)
def test_given_a_calltaker_who_does_not_answer_then_the_next_answers_and_the_first_is_paused(
    daemon: Daemon,
    tmp_path: Path,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    silent = labpeers.Softphone("1003", tmp_path / "silent", answer=False)
    silent.start()
    try:
        silent.wait_registered()
        takers = phones("1004")
        with calltakers_end_calls_after(1.0, takers):
            for n in range(2):
                calls = carrier([f"08130000000{n}"], talk_seconds=60)
                assert calls.wait(timeout=60) == 0, calls.errors()
                time.sleep(1.5)  # wrap-up of the call-taker who answered
        log = daemon.log_text()
        # Each call rang somebody who did not answer, then the next call-taker, and was taken.
        assert set(_ended(daemon).values()) == {"COMPLETED"}
        # Two missed offers in a row: paused, never logged out.
        assert "agent 1003: RINGING -[RingTimedOut]-> PAUSED" in log or (
            "agent 1003:" in log and "-> PAUSED" in log
        )
        assert "agent 1003: PAUSED -[" not in log or "LOGGED_OUT" not in log
    finally:
        silent.stop()


@pytest.mark.daemon_env(CALLGATE_CALLTAKERS__WRAP_UP_TIME="1")
def test_given_callgate_killed_while_callers_wait_then_after_restart_all_are_answered_in_order(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    takers = phones("1001")
    with calltakers_end_calls_after(8.0, takers):
        first = carrier(["081400000001"], talk_seconds=60)
        wait_for(lambda: len(_connected_callers(daemon)) == 1, 15, "the first call to connect")
        second = carrier(["081400000002"], talk_seconds=60)
        wait_for(lambda: daemon.log_text().count("112 call entered") == 2, 10, "a second caller")
        third = carrier(["081400000003"], talk_seconds=60)
        wait_for(lambda: daemon.log_text().count("112 call entered") == 3, 10, "a third caller")
        _kill_and_restart(daemon)

        # The connected call goes on and ends normally; the two waiting callers are answered
        # next, in their original order.
        for calls in (first, second, third):
            assert calls.wait(timeout=90) == 0, calls.errors()
            assert calls.stats() == {"successful": 1, "failed": 0}
    after_restart = daemon.log_text().split("re-queueing a caller found after restart", 1)[1]
    connected = [
        json.loads(line)["call_id"]
        for line in after_restart.splitlines()
        if '"call connected"' in line
    ]
    entered = [
        json.loads(line)["call_id"]
        for line in daemon.log_text().splitlines()
        if '"112 call entered"' in line
    ]
    assert connected == entered[1:3]
    outcomes = _ended(daemon)
    assert [outcomes[c] for c in connected] == ["COMPLETED", "COMPLETED"]

    # The journal is complete: all three calls, the one that outlived the restart included,
    # are recorded as ended, with their recordings.
    daemon.stop()
    records = asyncio.run(_journal_calls(daemon.journal_path))
    assert sorted(records) == sorted(set(entered))
    for call_id in set(entered):
        record = records[call_id]
        assert record.outcome == "COMPLETED", (call_id, record.outcome)
        assert [a.agent_id for a in record.agents] == ["1001"], (call_id, record.agents)
        assert record.recording is not None
        assert record.recording.sha256


async def _journal_calls(path: Path) -> dict[str, CallRecord]:
    journal = await Journal.open(f"sqlite+aiosqlite:///{path}")
    try:
        return {record.call_id: record for record in await journal.recent_calls(limit=100)}
    finally:
        await journal.close()


def _kill_and_restart(daemon: Daemon) -> None:
    assert daemon.process is not None
    daemon.process.send_signal(signal.SIGKILL)
    daemon.process.wait(timeout=10)
    time.sleep(1)
    daemon.start()  # a fresh process, same log file
