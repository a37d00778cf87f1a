"""Callbacks in the lab: abandoned calls make one task, which a call-taker calls back (or which
disappears when the number gets through by itself). Call-takers 1005 and 1006 only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import labpeers
import pytest

from callgate.core.callbacks import AttemptOutcome, CallbackTask, TaskState
from callgate.storage.callbacks import callback_tasks_between

from .conftest import Daemon, wait_for

#: A number of these tests' own: tasks are keyed by number.
RINGS_AGAIN = "081177000005"
CALLED_BACK = "081177000006"


def _tasks(daemon: Daemon) -> list[CallbackTask]:
    async def read() -> list[CallbackTask]:
        async with daemon.journal() as journal:
            now = datetime.now(UTC)
            return await callback_tasks_between(
                journal, now - timedelta(hours=1), now + timedelta(hours=1)
            )

    return asyncio.run(read())


def _states(daemon: Daemon) -> list[TaskState]:
    return [t.state for t in _tasks(daemon)]


@pytest.mark.daemon_env(
    CALLGATE_CALLTAKERS__ENDPOINTS='["PJSIP/1005"]',
    CALLGATE_CALLTAKERS__WRAP_UP_TIME="1",
    CALLGATE_CALLBACKS__FIRST_DELAY="3600",
)
def test_given_two_abandoned_calls_then_one_task_cancelled_when_the_number_gets_through(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    # 1005 is logged in but its phone is not registered: the callers wait, then give up.
    for n in (1, 2):
        calls = carrier([RINGS_AGAIN], talk_seconds=3)
        assert calls.wait(timeout=40) == 0, calls.errors()
        wait_for(
            lambda n=n: len(daemon.records("callback task for an abandoned call")) == n,  # type: ignore[misc]
            10,
            f"abandoned call {n} to reach the worklist",
        )
        # One task, holding every abandoned call so far: the log line comes before the
        # journal's write, so wait for the stored task itself.
        wait_for(
            lambda n=n: [len(t.call_ids) for t in _tasks(daemon)] == [n],  # type: ignore[misc]
            10,
            f"the task to be stored with call {n}",
        )
    [task] = _tasks(daemon)
    assert task.state is TaskState.OPEN
    assert task.number == RINGS_AGAIN
    assert len(task.call_ids) == 2

    # The number calls again and 1005 answers: nobody needs to ring them back.
    takers = phones("1005")
    with labpeers.CallTakersHangUp(2.0, takers):
        calls = carrier([RINGS_AGAIN], talk_seconds=30)
        wait_for(
            lambda: bool(daemon.records("callback task cancelled: the number got through")),
            30,
            "the task to be cancelled",
        )
        assert calls.wait(timeout=60) == 0, calls.errors()
    wait_for(lambda: _states(daemon) == [TaskState.CANCELLED], 10, "the cancellation stored")
    assert not daemon.records("callback offered")


@pytest.mark.daemon_env(
    CALLGATE_CALLTAKERS__ENDPOINTS='["PJSIP/1006"]',
    CALLGATE_CALLTAKERS__WRAP_UP_TIME="1",
    CALLGATE_CALLBACKS__FIRST_DELAY="1",
)
def test_given_a_task_then_a_call_taker_calls_the_number_back_through_the_trunk_recorded(
    daemon: Daemon,
    tmp_path: Path,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    far_end = labpeers.CarrierAnswers(workdir=tmp_path / "far-end")
    far_end.start()
    try:
        calls = carrier([CALLED_BACK], talk_seconds=3)
        assert calls.wait(timeout=40) == 0, calls.errors()
        wait_for(lambda: len(_tasks(daemon)) == 1, 15, "the task to be stored")

        # 1006 comes online: offered the callback ("CALLBACK 0811..."), answers, hears ringing
        # while the trunk dials; the far end answers and is bridged; 1006 hangs up after 6 s.
        takers = phones("1006")
        with labpeers.CallTakersHangUp(6.0, takers):
            wait_for(lambda: bool(daemon.records("callback connected")), 40, "the callback")
            wait_for(
                lambda: bool(daemon.records("callback attempt ended")), 30, "the attempt to end"
            )
    finally:
        far_end.stop()
    wait_for(lambda: _states(daemon) == [TaskState.REACHED], 10, "the outcome stored")
    [task] = _tasks(daemon)
    [attempt] = task.attempts
    assert (attempt.outcome, attempt.agent_id) == (AttemptOutcome.REACHED, "1006")
    assert attempt.ended_at - attempt.started_at >= 5
    [connected] = daemon.records("callback connected")
    assert connected["call_id"] == attempt.call_id
    assert "/" not in attempt.call_id

    # Recorded like every call: one file per attempt, sealed and journaled.
    wait_for(
        lambda: any(r["call_id"] == attempt.call_id for r in daemon.records("recording ready")),
        20,
        "the callback's recording",
    )
    path = labpeers.RECORDINGS / "callgate" / f"{attempt.call_id}.wav"
    assert path.is_file()
    assert path.stat().st_size > 44
