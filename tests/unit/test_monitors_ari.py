"""A supervisor on a conversation (#24): the core's ``MonitorCall`` carried out on ARI: their
phone rung into our app, then a snoop on the call-taker's leg in a bridge of their own
(listen, whisper) or the call's own bridge (barge); their leg ended when they hang up or the
conversation ends. The real adapter, engine and core; Asterisk's REST side recorded."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from callgate.asterisk.ari.adapter import AriAdapter
from callgate.asterisk.ari.monitors import SNOOP, SUPERVISOR
from callgate.config import Settings
from callgate.core.agents import AgentState
from callgate.core.config import AcdConfig
from callgate.core.events import MonitorRequested
from callgate.core.supervision import SupervisorAnswered
from callgate.daemon.supervisor_tools import SupervisorTools
from callgate.ports import SupervisorMonitoring
from tests.unit.asterisk.recorded_ari import RecordedAri
from tests.unit.phone_system import Daemon


def _made(daemon: Daemon, method: str, path_start: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (r[1], r[2]) for r in daemon.asterisk.log if r[0] == method and r[1].startswith(path_start)
    ]


async def _connected(daemon: Daemon) -> str:
    """c1 connected to 1001; the call-taker's leg."""
    await daemon.login("1001")
    await daemon.caller("c1", "+6281100000001")
    await daemon.answer("c1", "1001")
    return daemon.adapter.book.calls["c1"].agent_legs["1001"]


async def _ring_supervisor(daemon: Daemon, mode: str) -> str:
    await daemon.engine.feed(MonitorRequested("1001", mode, "PJSIP/1009", by="sari"))
    await daemon.settle()
    [answer] = daemon.notes(SupervisorAnswered)[-1:]
    assert answer.answer == "ok"
    [(_, dial)] = [
        (p, b)
        for p, b in _made(daemon, "POST", "/channels")
        if b.get("appArgs", "").startswith(SUPERVISOR)
    ][-1:]
    assert (dial["endpoint"], dial["appArgs"]) == ("PJSIP/1009", f"{SUPERVISOR},c1")
    return str(dial["channelId"])


async def _start(daemon: Daemon, channel_id: str, role: str) -> None:
    await daemon.event(
        daemon.asterisk.frame("StasisStart", args=[role, "c1"], channel={"id": channel_id})
    )


async def _end(daemon: Daemon, channel_id: str) -> None:
    await daemon.event(daemon.asterisk.frame("StasisEnd", channel={"id": channel_id}))


@pytest.mark.parametrize(("mode", "whisper"), [("listen", "none"), ("whisper", "out")])
async def test_listening_snoops_the_call_takers_leg_into_a_bridge_with_the_supervisor(
    mode: str, whisper: str
) -> None:
    daemon = Daemon(AcdConfig())
    calltaker = await _connected(daemon)
    leg = await _ring_supervisor(daemon, mode)
    await _start(daemon, leg, SUPERVISOR)  # the supervisor answers
    [(_, snoop)] = _made(daemon, "POST", f"/channels/{calltaker}/snoop")
    assert (snoop["spy"], snoop["whisper"], snoop["appArgs"]) == ("both", whisper, f"{SNOOP},c1")
    [bridge] = [p for p, _ in _made(daemon, "POST", "/bridges/monitor-") if "addChannel" not in p]
    bridge_id = bridge.removeprefix("/bridges/")
    await _start(daemon, str(snoop["snoopId"]), SNOOP)
    added = [b["channel"] for _, b in _made(daemon, "POST", f"/bridges/{bridge_id}/addChannel")]
    assert added == [leg, snoop["snoopId"]]
    assert not _made(daemon, "POST", "/bridges/call-c1/addChannel")[1:]  # the call's own: as was
    # The supervisor hangs up: the snoop and the bridge go; nobody else is hung up.
    await _end(daemon, leg)
    hung = [p for p, _ in _made(daemon, "DELETE", "/channels/")]
    assert hung == [f"/channels/{leg}", f"/channels/{snoop['snoopId']}"]
    assert _made(daemon, "DELETE", f"/bridges/{bridge_id}")
    assert not daemon.adapter.monitors.channels_of
    assert not daemon.asterisk.unexpected  # every request had a recorded (or derived) answer
    daemon.close()


async def test_barging_joins_the_calls_bridge_and_ends_with_the_conversation() -> None:
    daemon = Daemon(AcdConfig())
    calltaker = await _connected(daemon)
    leg = await _ring_supervisor(daemon, "barge")
    await _start(daemon, leg, SUPERVISOR)
    added = [b["channel"] for _, b in _made(daemon, "POST", "/bridges/call-c1/addChannel")]
    assert added[-1] == leg
    assert not _made(daemon, "POST", f"/channels/{calltaker}/snoop")
    # The caller hangs up: the supervisor's leg is hung up too.
    await _end(daemon, "c1")
    assert ("DELETE", f"/channels/{leg}") in [(r[0], r[1]) for r in daemon.asterisk.log]
    assert not daemon.adapter.monitors.channels_of
    daemon.close()


async def test_a_supervisor_who_answers_after_the_conversation_is_hung_up() -> None:
    daemon = Daemon(AcdConfig())
    calltaker = await _connected(daemon)
    leg = await _ring_supervisor(daemon, "listen")
    await _end(daemon, calltaker)  # the call-taker hangs up while the supervisor's phone rings
    assert ("DELETE", f"/channels/{leg}") in [(r[0], r[1]) for r in daemon.asterisk.log]
    # A monitor's leg nobody expects (after a restart, or ended meanwhile) is hung up.
    await _start(daemon, "supervisor-old", SUPERVISOR)
    assert ("DELETE", "/channels/supervisor-old") in [(r[0], r[1]) for r in daemon.asterisk.log]
    daemon.close()


async def test_a_phone_asterisk_cannot_ring_leaves_nothing_behind() -> None:
    daemon = Daemon(AcdConfig())
    await _connected(daemon)
    daemon.asterisk.fail("POST", "/channels")
    await daemon.engine.feed(MonitorRequested("1001", "listen", "PJSIP/1009", by="sari"))
    await daemon.settle()
    assert not daemon.adapter.monitors.channels_of
    daemon.close()


async def test_after_a_restart_a_supervisors_legs_are_hung_up_never_taken_for_callers() -> None:
    """Found in review: a barged supervisor's leg in the call's bridge would have been adopted
    as a side of the conversation, and their hang-up would then have ended the caller's call."""
    ari = RecordedAri()
    caller = RecordedAri.channel(
        id="1795766404.19",
        state="Up",
        caller={"number": "+6281500000001", "name": ""},
        dialplan={"app_name": "Stasis", "app_data": "callgate"},
    )
    stasis = {"app_name": "Stasis", "app_data": "callgate"}
    barged = RecordedAri.channel(id="supervisor-1", state="Up", dialplan=stasis)
    snoop = RecordedAri.channel(id="snoop-2", state="Up", dialplan=stasis)
    ari.channels = [caller, barged, snoop]
    ari.bridges = [
        RecordedAri.bridge(
            id="call-1795766404.19", channels=["1795766404.19", "calltaker-x-1001", "supervisor-1"]
        )
    ]
    seen: list[object] = []

    async def feed(*events: object) -> None:
        seen.extend(events)

    adapter = AriAdapter(ari, Settings(), clock=lambda: 2_000_000_000.0, feed=feed)
    await adapter.reconciler._reconcile()
    hung = [r[1] for r in ari.log if r[0] == "DELETE" and r[1].startswith("/channels/")]
    assert "/channels/supervisor-1" in hung
    assert "/channels/snoop-2" in hung
    assert set(adapter.book.calls) == {"1795766404.19"}  # the one caller, adopted
    assert adapter.book.legs.keys() == {"calltaker-x-1001"}  # its call-taker, not the supervisor
    # The supervisor's leg leaving is no end of the conversation.
    await adapter.on_event(RecordedAri.frame("StasisEnd", channel={"id": "supervisor-1"}))
    assert "/channels/1795766404.19" not in [r[1] for r in ari.log if r[0] == "DELETE"]


async def test_asterisk_unreachable_while_a_monitored_call_taker_hangs_up_still_tells_the_core(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found in review: the supervisors' clean-up ran before the core heard of the hang-up,
    and an unreachable Asterisk (AriUnavailable) skipped telling the core at all: the caller
    stranded in a bridge, the call-taker stuck on the call."""
    daemon = Daemon(AcdConfig())
    calltaker = await _connected(daemon)
    leg = await _ring_supervisor(daemon, "listen")
    await _start(daemon, leg, SUPERVISOR)
    [(_, snoop)] = _made(daemon, "POST", f"/channels/{calltaker}/snoop")
    await _start(daemon, str(snoop["snoopId"]), SNOOP)
    [bridge] = [p for p, _ in _made(daemon, "POST", "/bridges/monitor-") if "addChannel" not in p]
    for path in (f"/channels/{leg}", f"/channels/{snoop['snoopId']}", bridge):
        daemon.asterisk.unreachable.add(("DELETE", path))
    with caplog.at_level(logging.WARNING, logger="callgate.asterisk.ari.monitors"):
        await _end(daemon, calltaker)  # the call-taker hangs up
    assert daemon.engine.acd.agents["1001"].state is not AgentState.ON_CALL
    assert daemon.engine.acd.calls.get("c1") is None  # the call is over for the core
    assert not daemon.adapter.monitors.channels_of  # nothing left behind
    assert ("DELETE", f"/channels/{leg}") in [(r[0], r[1]) for r in daemon.asterisk.log]
    failed = [r for r in caplog.records if "could not be cleaned up" in r.getMessage()]
    assert len(failed) == 3
    assert {r.__dict__["by"] for r in failed} == {"sari"}
    daemon.close()


async def test_a_phone_ringing_while_asterisk_is_unreachable_leaves_nothing_behind() -> None:
    daemon = Daemon(AcdConfig())
    await _connected(daemon)
    daemon.asterisk.unreachable.add(("POST", "/channels"))
    await daemon.engine.feed(MonitorRequested("1001", "listen", "PJSIP/1009", by="sari"))
    await daemon.settle()
    assert not daemon.adapter.monitors.channels_of
    daemon.close()


async def test_a_supervisor_answering_while_asterisk_is_unreachable_is_hung_up() -> None:
    daemon = Daemon(AcdConfig())
    calltaker = await _connected(daemon)
    leg = await _ring_supervisor(daemon, "listen")
    daemon.asterisk.unreachable.add(("POST", f"/channels/{calltaker}/snoop"))
    await _start(daemon, leg, SUPERVISOR)
    assert not daemon.adapter.monitors.channels_of
    assert ("DELETE", f"/channels/{leg}") in [(r[0], r[1]) for r in daemon.asterisk.log]
    daemon.close()


@pytest.mark.parametrize("why", ["phone-failed", "not-connected"])
async def test_a_monitor_the_adapter_cannot_carry_out_is_answered_so_not_ok(
    why: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Found in review: the core answers ok, then the adapter finds no conversation (it ended
    meanwhile) or cannot ring the phone, and only logged it: the supervisor was told ok."""
    daemon = Daemon(AcdConfig())
    calltaker = await _connected(daemon)
    tools = SupervisorTools(daemon.engine.feed)
    daemon.engine.observers.append(tools.notification)
    if why == "phone-failed":
        daemon.asterisk.fail("POST", "/channels")
    else:
        daemon.adapter.book.answered.discard(calltaker)  # the leg gone, the core not told yet
    with caplog.at_level(logging.WARNING):
        answer = await tools.monitor("1001", "listen", "PJSIP/1009", "sari")
    assert answer["result"] == why
    warned = [r for r in caplog.records if r.name.endswith("monitors")]
    assert [r.__dict__["by"] for r in warned] == ["sari"]
    assert not daemon.adapter.monitors.channels_of
    # The next request that works is ok again: no failure is left over for it.
    daemon.asterisk.failing.clear()
    daemon.adapter.book.answered.add(calltaker)
    assert (await tools.monitor("1001", "listen", "PJSIP/1009", "sari"))["result"] == "ok"
    daemon.close()


async def test_the_supervisor_joining_and_leaving_is_reported_for_the_journal() -> None:
    daemon = Daemon(AcdConfig())
    await _connected(daemon)
    seen: list[SupervisorMonitoring] = []

    async def observe(note: object) -> None:
        if isinstance(note, SupervisorMonitoring):
            seen.append(note)

    daemon.engine.observers.append(observe)
    leg = await _ring_supervisor(daemon, "barge")
    assert not seen  # rung, not joined
    await _start(daemon, leg, SUPERVISOR)
    await _end(daemon, leg)
    await _end(daemon, leg)  # its ChannelDestroyed after the StasisEnd: no second "left"
    assert [(s.call_id, s.agent_id, s.by, s.mode, s.step) for s in seen] == [
        ("c1", "1001", "sari", "barge", "joined"),
        ("c1", "1001", "sari", "barge", "left"),
    ]
    daemon.close()
