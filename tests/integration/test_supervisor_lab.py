"""A supervisor's tools in the lab (#24 item 4): listen to, whisper to and barge into a live
call on the supervisor's own phone (extension 1009), give a waiting caller to a chosen
call-taker, log a call-taker out and in; the audit trail names the supervisor."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import labpeers
import pytest

from callgate.storage.agent_events import AgentEvent, agent_events_between

from .conftest import Daemon, wait_for

_RUN = f"{int(time.time()) % 10**7:07d}"
SUPERVISOR = labpeers.LAB_SUPERVISOR[0]
#: The wait budgets of the listen/whisper/barge test added up (connect 20; listen and whisper
#: 20 + 10 + 10 + 20 + 10 each; barge 20 + 20; ten requests of up to 10 s): the caller talks
#: longer, so a slow but passing run is never cut short by the carrier's own hang-up. The
#: call-taker's hang-up ends the call (and the test) long before.
TALK_SECONDS = 20 + 2 * 70 + 40 + 10 * 10 + 30


def _api(daemon: Daemon, path: str, body: dict[str, str]) -> tuple[int, dict[str, object]]:
    """POST as the lab's supervisor (their password, HTTP Basic)."""
    secret = base64.b64encode(":".join(labpeers.LAB_SUPERVISOR).encode()).decode()
    request = urllib.request.Request(
        daemon.admin_url() + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Basic {secret}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _channels(prefix: str) -> list[str]:
    listed = labpeers.ari_get("/channels")
    assert isinstance(listed, list)
    return [str(c["id"]) for c in listed if str(c["id"]).startswith(prefix)]


def _bridge(bridge_id: str) -> list[str]:
    try:
        bridge = labpeers.ari_get(f"/bridges/{bridge_id}")
    except urllib.error.HTTPError:
        return []
    assert isinstance(bridge, dict)
    return [str(c) for c in bridge["channels"]]


def _sent_to(channel_id: str) -> int:
    """RTP packets Asterisk has sent on ``channel_id`` (its live channel statistics)."""
    try:
        stats = labpeers.ari_get(f"/channels/{channel_id}/rtp_statistics")
    except urllib.error.HTTPError:
        return 0
    assert isinstance(stats, dict)
    return int(stats.get("txcount", 0))


def _monitor_bridges() -> list[str]:
    listed = labpeers.ari_get("/bridges")
    assert isinstance(listed, list)
    return [str(b["id"]) for b in listed if str(b["id"]).startswith("monitor-")]


def _joined(daemon: Daemon, mode: str) -> int:
    return sum(1 for r in daemon.records("supervisor joined the call") if r.get("mode") == mode)


@pytest.mark.daemon_env(CALLGATE_CALLTAKERS__WRAP_UP_TIME="1")
def test_a_supervisor_listens_whispers_and_barges_on_their_own_phone(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    calltaker, own_phone = phones("1001", labpeers.LAB_SUPERVISOR_PHONE)
    calls = carrier([f"0815{_RUN}1"], talk_seconds=TALK_SECONDS)
    wait_for(lambda: bool(daemon.records("call connected")), 20, "the call to connect")
    (connected,) = daemon.records("call connected")
    call_id, agent_id = str(connected["call_id"]), str(connected["agent_id"])
    assert agent_id == "1001"

    # A call-taker on no call cannot be listened to (1002 is not even registered).
    status, answer = _api(daemon, "/api/monitor/1002", {"mode": "listen"})
    assert (status, answer["result"]) == (409, "not-connected")

    for mode in ("listen", "whisper"):
        status, answer = _api(daemon, f"/api/monitor/{agent_id}", {"mode": mode})
        assert (status, answer["result"], answer["call_id"]) == (200, "ok", call_id)
        wait_for(lambda m=mode: _joined(daemon, m) == 1, 20, f"the supervisor to {mode}")  # type: ignore[misc]
        (leg,) = _channels("supervisor-")
        # The snoop on the call-taker's leg and the supervisor's phone share their own bridge;
        # the conversation's bridge is left as it was (caller and call-taker).
        wait_for(lambda: len(_monitor_bridges()) == 1, 10, "the monitor's bridge")
        (bridge,) = _monitor_bridges()
        wait_for(lambda b=bridge: len(_bridge(b)) == 2, 10, "snoop and phone in it")  # type: ignore[misc]
        assert any(c.startswith("snoop-") for c in _bridge(bridge))
        assert call_id in _bridge(f"call-{call_id}")
        assert len(_bridge(f"call-{call_id}")) == 2
        # The supervisor's phone is sent the conversation's audio (Asterisk's own counters).
        wait_for(lambda c=leg: _sent_to(c) > 100, 20, "audio to the supervisor's phone")  # type: ignore[misc]
        # They hang up: the snoop and its bridge go; the conversation goes on.
        own_phone.command("hangup")
        wait_for(lambda: not _channels("snoop-") and not _monitor_bridges(), 10, "snoop gone")
        assert len(_bridge(f"call-{call_id}")) == 2

    status, answer = _api(daemon, f"/api/monitor/{agent_id}", {"mode": "barge"})
    assert (status, answer["result"]) == (200, "ok")
    wait_for(lambda: _joined(daemon, "barge") == 1, 20, "the supervisor to barge in")
    (leg,) = _channels("supervisor-")
    assert leg in _bridge(f"call-{call_id}")
    assert len(_bridge(f"call-{call_id}")) == 3
    wait_for(lambda: _sent_to(leg) > 100, 20, "audio to the supervisor's phone")
    # The conversation ends (the call-taker hangs up): the supervisor's leg is hung up too.
    calltaker.command("hangup")
    wait_for(lambda: not _channels("supervisor-"), 20, "the supervisor's leg to end")
    assert calls.wait(timeout=30) == 0, calls.errors()

    log = daemon.records("admin command")
    assert [(r["action"], r["by"]) for r in log][-3:] == [
        ("listen", SUPERVISOR),
        ("whisper", SUPERVISOR),
        ("barge", SUPERVISOR),
    ]
    assert {r["by"] for r in daemon.records("supervisor joined the call")} == {SUPERVISOR}

    # The call's journal names the supervisor: each request, each joining and leaving.
    def steps() -> set[str]:
        async def read() -> set[str]:
            async with daemon.journal() as journal:
                record = await journal.get_call(call_id)
            agents = () if record is None else record.agents
            return {a.role for a in agents if a.agent_id == SUPERVISOR}

        return asyncio.run(read())

    modes = ("listen", "whisper", "barge")
    wanted = {f"supervisor:{m}{step}" for m in modes for step in ("", ":joined", ":left")}
    wait_for(lambda: steps() >= wanted, 15, "the supervisor's steps in the journal")


@pytest.mark.daemon_env(
    CALLGATE_CALLTAKERS__WRAP_UP_TIME="1", CALLGATE_CALLTAKERS__RING_TIMEOUT="60"
)
def test_a_supervisor_logs_a_call_taker_out_and_in_and_gives_them_a_waiting_caller(
    daemon: Daemon,
    tmp_path: Path,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=5)
    # 1002 rings but never answers; 1001 answers at once.
    slow = labpeers.Softphone("1002", tmp_path / "slow", answer=False)
    slow.start()
    try:
        slow.wait_registered()
        phones("1001")
        status, _ = _api(daemon, "/api/agents/1001/logout", {})
        assert status == 200
        calls = carrier([f"0815{_RUN}2"], talk_seconds=20)
        # Nobody else free: the caller rings 1002, who lets it ring.
        wait_for(
            lambda: any(r.get("agent_id") == "1002" for r in daemon.records("ringing call-taker")),
            20,
            "the caller to ring 1002",
        )
        call_id = str(daemon.records("ringing call-taker")[0]["call_id"])
        status, _ = _api(daemon, "/api/agents/1001/login", {})
        assert status == 200
        # 1001 is free but the caller is 1002's offer: the supervisor gives it to 1001.
        status, answer = _api(daemon, f"/api/calls/{call_id}/assign", {"agent_id": "1001"})
        assert (status, answer["result"]) == (200, "ok")
        wait_for(lambda: bool(daemon.records("call connected")), 20, "the call to connect")
        (connected,) = daemon.records("call connected")
        assert (connected["call_id"], connected["agent_id"]) == (call_id, "1001")
        # A connected caller is no longer waiting.
        status, answer = _api(daemon, f"/api/calls/{call_id}/assign", {"agent_id": "1002"})
        assert (status, answer["result"]) == (409, "not-waiting")
        assert calls.wait(timeout=60) == 0, calls.errors()
    finally:
        slow.stop()
    (assigned,) = daemon.records("caller assigned by a supervisor")
    assert (assigned["call_id"], assigned["agent_id"], assigned["by"]) == (
        call_id,
        "1001",
        SUPERVISOR,
    )

    def assigned_in_journal() -> bool:
        async def read() -> bool:
            async with daemon.journal() as journal:
                record = await journal.get_call(call_id)
            agents = () if record is None else record.agents
            return any(
                (a.agent_id, a.role) == (SUPERVISOR, "supervisor:assign:1001") for a in agents
            )

        return asyncio.run(read())

    wait_for(assigned_in_journal, 15, "the supervisor's assignment in the journal")

    def changes() -> list[AgentEvent]:
        async def read() -> list[AgentEvent]:
            async with daemon.journal() as journal:
                end = datetime.now(UTC) + timedelta(seconds=5)
                return (await agent_events_between(journal, start, end)).events

        return [e for e in asyncio.run(read()) if e.agent_id == "1001" and e.by]

    wait_for(lambda: len(changes()) >= 2, 10, "the call-taker's record")
    assert [(e.event, e.by) for e in changes()][:2] == [
        ("logout", SUPERVISOR),
        ("login", SUPERVISOR),
    ]
