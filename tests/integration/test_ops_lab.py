"""Operations against the daemon in the lab: readiness, metrics vs the journal, the admin CLI."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable

import labpeers
import pytest

from .conftest import Daemon, run_cli, wait_for

ADMIN = "http://127.0.0.1:8089"


def _get(path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(ADMIN + path, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.daemon_env(CALLGATE_CALLTAKERS__WRAP_UP_TIME="1")
def test_given_calls_flow_then_readyz_metrics_and_journal_agree(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    assert _get("/healthz")[0] == 200
    wait_for(lambda: _get("/readyz")[0] == 200, 20, "/readyz to turn 200 (ARI, AMI, database)")
    takers = phones("1001", "1002")
    with labpeers.CallTakersHangUp(2.0, takers):
        calls = carrier(["081800000001", "081800000002", "081800000003"], talk_seconds=30)
        assert calls.wait(timeout=90) == 0, calls.errors()
    wait_for(lambda: daemon.log_text().count('"call ended"') == 3, 10, "three calls to end")

    status, text = _get("/metrics")
    assert status == 200
    assert _metric(text, 'callgate_calls_ended_total{outcome="COMPLETED"') == 3
    assert _metric(text, "callgate_answer_time_seconds_count") == 3

    async def journal_answer_times() -> list[float]:
        await asyncio.sleep(1)  # the writer works off the call path
        async with daemon.journal() as journal:
            records = await journal.recent_calls(limit=10)
        return [(r.answered_at - r.started_at).total_seconds() for r in records if r.answered_at]

    answers = asyncio.run(journal_answer_times())
    assert len(answers) == 3
    assert abs(_metric(text, "callgate_answer_time_seconds_sum") - sum(answers)) < 0.5 * 3


@pytest.mark.daemon_env(CALLGATE_CALLTAKERS__WRAP_UP_TIME="1")
def test_given_a_calltaker_paused_from_the_cli_then_calls_go_to_the_next_one(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    wait_for(lambda: _get("/readyz")[0] == 200, 20, "the daemon to be ready")
    phones("1001", "1002")
    refused = run_cli("agents", "pause", "1001", "--reason", "briefing", token=None)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "authentication required" in refused.stderr
    forged = run_cli("agents", "pause", "1001", token="lab-admin.not-the-token")
    assert forged.returncode == 2, forged.stdout + forged.stderr
    paused = run_cli("agents", "pause", "1001", "--reason", "briefing")
    assert paused.returncode == 0, paused.stdout + paused.stderr
    listing = run_cli("agents", "--json")
    assert listing.returncode == 0
    agents = {a["agent_id"]: a for a in json.loads(listing.stdout)["agents"]}
    assert agents["1001"]["state"] == "PAUSED"

    calls = carrier(["081800000009"], talk_seconds=4)
    assert calls.wait(timeout=60) == 0, calls.errors()
    connected = [
        json.loads(line) for line in daemon.log_text().splitlines() if '"call connected"' in line
    ]
    assert [c["agent_id"] for c in connected] == ["1002"]

    status = run_cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert run_cli("agents", "unpause", "1001").returncode == 0
    assert run_cli("agents", "pause", "9999").returncode != 0  # not a call-taker
