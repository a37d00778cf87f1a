"""Calls the fallback queue answers while callgate is stopped reach the journal and the report."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import labpeers
import pytest

from .conftest import Daemon, wait_for

#: Runs on Asterisk 16 too, in the smaller second pass of scripts/test.
pytestmark = pytest.mark.smoke

# Numbers of this run only: the lab's queue_log keeps earlier runs' fallback calls (the Asterisk
# roots are cached between runs), and callgate journals those too.
_RUN = f"{int(time.time()) % 10**7:07d}"
CALLERS = [f"0817{_RUN}{n}" for n in (1, 2, 3)]
E164 = {f"+62{number[1:]}" for number in CALLERS}


def _next_minute() -> datetime:
    """Wait for the next whole minute (UTC) and return it: the report's --from, so that the
    fallback calls of earlier tests (also in the lab's queue_log) fall outside its period."""
    now = datetime.now(UTC)
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    time.sleep((start - now).total_seconds() + 0.2)
    return start


def _report(daemon: Daemon, start: datetime, end: datetime) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "callgate",
            "report",
            "--tz",
            "UTC",
            "--from",
            start.strftime("%Y-%m-%d %H:%M"),
            "--to",
            end.strftime("%Y-%m-%d %H:%M"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "CALLGATE_STORAGE__URL": f"sqlite+aiosqlite:///{daemon.journal_path}"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.daemon_env(CALLGATE_FALLBACK__QUEUE_LOG=str(labpeers.QUEUE_LOG))
def test_given_callgate_stopped_when_the_fallback_queue_answers_3_calls_then_journaled_on_start(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    daemon.stop()
    (phone,) = phones("1001")
    start = _next_minute()
    # One at a time, each caller hanging up while connected (COMPLETECALLER): with the
    # call-taker hanging up instead, the dialplan would queue the caller again.
    for number in CALLERS:
        calls = carrier([number], talk_seconds=8)
        assert calls.wait(timeout=60) == 0, calls.errors()
        assert calls.stats() == {"successful": 1, "failed": 0}
        time.sleep(6)  # the fallback queue's wrapuptime (5 s) before the next call
    assert phone.rtp_received_packets() != []
    assert labpeers.QUEUE_LOG.is_file(), "Asterisk writes no queue_log (logger.conf)"

    daemon.start()

    def all_three_sealed() -> bool:
        ours = [c for c in daemon.calls() if c.caller in E164]
        return len(ours) == 3 and all(c.recording is not None and c.recording.sha256 for c in ours)

    wait_for(all_three_sealed, 40, "the three fallback calls journaled with their recordings")
    ours = [c for c in daemon.calls() if c.caller in E164]
    for call in ours:
        assert call.outcome == "FALLBACK", call
        assert call.answered_by == "1001", call
        assert call.answered_at is not None
        assert call.ended_at is not None
        assert call.caller_sent in CALLERS
        assert call.dialed == "112"
        assert [(a.agent_id, a.role) for a in call.agents] == [("1001", "call-taker")]
        assert "fallback queue: entered (callgate-not-connected)" in [
            t.trigger for t in call.transitions
        ]
        assert call.recording is not None
        assert len(call.recording.sha256 or "") == 64
    journaled = daemon.records("fallback call journaled")
    assert {str(r["call_id"]) for r in journaled} >= {c.call_id for c in ours}

    end = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    line = next(x for x in _report(daemon, start, end).splitlines() if "fallback queue" in x)
    assert line.split()[:3] == ["fallback", "queue", "3"], line
