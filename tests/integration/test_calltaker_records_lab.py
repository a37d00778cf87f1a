"""The call-takers' record on the real lab: a call-taker logs out and in, pauses with a reason
from the admin API, unpauses and takes two calls; the journal's agent_events, ``callgate report
--calltakers`` and the queue_log file callgate writes all say the same."""

from __future__ import annotations

import asyncio
import csv
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import labpeers
import pytest

from callgate.asterisk.queue_log import QueueLogLine, parse_line
from callgate.storage.agent_events import AgentEvent, agent_events_between
from callgate.storage.records import CallRecord

from .conftest import Daemon, run_cli, wait_for

ENDPOINT = "PJSIP/1001"
_RUN = f"{int(time.time()) % 10**7:07d}"
CALLERS = [f"0818{_RUN}{n}" for n in (1, 2)]
PAUSE_SECONDS = 3.0


def _events(daemon: Daemon, start: datetime, end: datetime) -> list[AgentEvent]:
    async def read() -> list[AgentEvent]:
        async with daemon.journal() as journal:
            return (await agent_events_between(journal, start, end)).events

    return asyncio.run(read())


def _answered(daemon: Daemon) -> list[CallRecord]:
    return [c for c in daemon.calls() if c.answered_by == "1001" and c.ended_at is not None]


def _queue_log(daemon: Daemon) -> list[QueueLogLine]:
    path = daemon.state_dir / "queue_log"
    lines = path.read_text().splitlines() if path.is_file() else []
    parsed = [parse_line(line) for line in lines]
    assert None not in parsed, lines
    return [p for p in parsed if p is not None]


@pytest.mark.daemon_env(
    CALLGATE_CALLTAKERS__ENDPOINTS=f'["{ENDPOINT}"]',
    CALLGATE_CALLTAKERS__WRAP_UP_TIME="1",
    # Relative to the daemon's working directory, its state folder: the only place it may write.
    CALLGATE_QUEUE_LOG__PATH="queue_log",
)
def test_given_a_call_taker_who_pauses_and_takes_two_calls_then_journal_report_and_queue_log_agree(
    daemon: Daemon,
    tmp_path: Path,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    wait_for(lambda: "ready: taking calls" in daemon.log_text(), 30, "the daemon to be ready")
    takers = phones("1001")

    for action in ("logout", "login"):
        done = run_cli("agents", action, "1001")
        assert done.returncode == 0, done.stdout + done.stderr
    paused = run_cli("agents", "pause", "1001", "--reason", "briefing")
    assert paused.returncode == 0, paused.stdout + paused.stderr
    time.sleep(PAUSE_SECONDS)
    unpaused = run_cli("agents", "unpause", "1001")
    assert unpaused.returncode == 0, unpaused.stdout + unpaused.stderr

    # Two calls one after the other; the call-taker ends each 2 s after answering.
    with labpeers.CallTakersHangUp(2.0, takers):
        for number in CALLERS:
            calls = carrier([number], talk_seconds=30)
            assert calls.wait(timeout=60) == 0, calls.errors()
            assert calls.stats() == {"successful": 1, "failed": 0}
            time.sleep(2)  # wrap-up (1 s) before the next call
    wait_for(lambda: len(_answered(daemon)) == 2, 15, "both calls journaled as answered")
    # A clean stop: every writer drains, the still logged-in call-taker is logged out.
    daemon.stop()
    end = datetime.now(UTC) + timedelta(minutes=5)

    # -- the journal's record ----------------------------------------------------------------
    calls = _answered(daemon)
    call_ids = {c.call_id for c in calls}
    events = _events(daemon, start, end)
    kinds = [(e.event, e.reason, e.call_id) for e in events if e.agent_id == "1001"]
    assert [k for k in kinds if k[0] in ("login", "logout", "pause", "unpause")] == [
        ("login", None, None),  # logged in at start
        ("logout", None, None),
        ("login", None, None),
        ("pause", "briefing", None),
        ("unpause", None, None),
        ("logout", None, None),  # the stop
    ]
    # Who: the CLI's user (the lab admin's token) for its commands, the daemon for the stop.
    assert [
        e.by
        for e in events
        if e.agent_id == "1001" and e.event in ("login", "logout", "pause", "unpause")
    ] == [None, "lab-admin", "lab-admin", "lab-admin", "lab-admin", "callgate"]
    assert {k[2] for k in kinds if k[0] == "call-answered"} == call_ids
    assert {k[2] for k in kinds if k[0] == "call-ended"} == call_ids
    assert events[-1].cause == "daemon-stopped"
    pause = next(e for e in events if e.event == "pause")
    unpause = next(e for e in events if e.event == "unpause")
    paused_s = (unpause.at - pause.at).total_seconds()
    assert PAUSE_SECONDS - 0.5 < paused_s < PAUSE_SECONDS + 5
    talk_s = sum((c.ended_at - c.answered_at).total_seconds() for c in calls)  # type: ignore[operator]

    # -- callgate report --calltakers --------------------------------------------------------
    config = tmp_path / "report.toml"
    config.write_text(f'[storage]\nurl = "sqlite+aiosqlite:///{daemon.journal_path}"\n')
    report = run_cli(
        "report",
        "--config",
        str(config),
        "--calltakers",
        "--tz",
        "UTC",
        "--from",
        start.strftime("%Y-%m-%d %H:%M"),
        "--to",
        end.strftime("%Y-%m-%d %H:%M"),
        "--csv",
        str(tmp_path / "csv"),
    )
    assert report.returncode == 0, report.stderr
    assert "Call-takers (1;" in report.stdout
    with (tmp_path / "csv" / "calltakers.csv").open() as stream:
        rows = {r["calltaker"]: r for r in csv.DictReader(stream)}
    mine = rows["1001"]
    assert int(mine["handled"]) == 2
    assert abs(int(mine["talk_s"]) - talk_s) <= 1
    assert abs(int(mine["paused_s"]) - paused_s) <= 1
    assert int(mine["logged_in_s"]) > int(mine["paused_s"])
    with (tmp_path / "csv" / "calltaker_pauses.csv").open() as stream:
        pauses = [(r["calltaker"], r["reason"], r["pauses"]) for r in csv.DictReader(stream)]
    assert ("1001", "briefing", "1") in pauses

    # -- the queue_log file callgate wrote ---------------------------------------------------
    lines = _queue_log(daemon)
    assert {line.queue for line in lines} == {"callgate"}
    by_event: dict[str, list[QueueLogLine]] = {}
    for line in lines:
        by_event.setdefault(line.event, []).append(line)
    assert {line.call_id for line in by_event["ENTERQUEUE"]} == call_ids
    connects = {line.call_id: line for line in by_event["CONNECT"]}
    assert set(connects) == call_ids
    assert {line.agent for line in connects.values()} == {ENDPOINT}
    for call in calls:
        hold = int(connects[call.call_id].data[0])
        assert call.answered_at is not None
        assert abs(hold - (call.answered_at - call.started_at).total_seconds()) <= 2
    # The call-taker ended both calls.
    assert {line.call_id for line in by_event["COMPLETEAGENT"]} == call_ids
    assert [line.data[0] for line in by_event["PAUSE"]] == ["briefing"]
    assert len(by_event["UNPAUSE"]) == 1
    assert [line.agent for line in by_event["ADDMEMBER"]] == [ENDPOINT, ENDPOINT]
    assert [line.agent for line in by_event["REMOVEMEMBER"]] == [ENDPOINT, ENDPOINT]
    # In time order, as app_queue writes them.
    assert [line.at for line in lines] == sorted(line.at for line in lines)
