"""Recorded lab ARI traffic replayed through the ARI adapter and a real core, no mocks.

Each scenario of tests/fixtures/ari/ (see its README) was recorded from the lab Asterisk 22 while
one lab integration test ran, with the adapter as it was before it was split (main b56ee6b;
``fallback`` later, with the split adapter).
Replayed here (see ``ari_replay``): the frames reach the daemon's pump at their stamps, on a
virtual clock, and the adapter must ask Asterisk exactly what the old one asked, in the same
order; :func:`~callgate.asterisk.ari.translate.translate` must make of each frame the events
the core then hears; and the core must end where the lab test saw it end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from callgate.asterisk.ari.client import JsonObject
from callgate.asterisk.timestamps import ari_timestamp
from callgate.config import Settings, acd_config
from callgate.core import (
    AgencyJoined,
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    AgentNoAnswer,
    CallArrived,
    CallBridged,
    CallerHungUp,
    Event,
)
from callgate.core.agents import AgentState, DeviceState
from callgate.core.commands import CallBlocked, CallReclassified
from callgate.core.events import (
    AnnouncementFinished,
    CallbackFailed,
    CallerPressedKey,
    CallerSpoke,
    Priority,
)
from callgate.core.screening import BlockRecord, CallerHistory, history_key
from tests.unit.asterisk.ari_replay import (
    Asterisk,
    Daemon,
    Key,
    load_events,
    load_requests,
    run_virtual,
    split,
    stamp,
)

# ---------------------------------------------------------------- the scenarios


class History:
    """What the journal held for screening in the lab (the daemon's ``HistoryLoader``): blocks
    placed before the test, and each blocked caller's earlier calls (the safety valve counts
    them). The core screens with it."""

    def __init__(self, blocks: dict[str, tuple[BlockRecord, ...]]) -> None:
        self.blocks = blocks
        self.calls: dict[str, list[float]] = {}

    async def __call__(self, caller: str, now: float, identity: str | None = None) -> CallerHistory:
        key = history_key(caller, identity)
        if key is None:
            return CallerHistory("")
        blocks = self.blocks.get(key, ())
        earlier = tuple(self.calls.setdefault(key, []))
        self.calls[key].append(now)
        return CallerHistory(key, blocks=blocks, calls=earlier if blocks else ())


CALLBACK = "cb-tp5i9x-1.1"
BLOCKED = "081199200001"


@dataclass(frozen=True)
class Scenario:
    """How the lab test ran the daemon (its ``daemon_env``) and what it did beside ARI."""

    settings: dict[str, Any] = field(default_factory=dict)
    #: ARI stamps at which the daemon stopped and a fresh one started (a new test, a restart).
    restarts: tuple[str, ...] = ()
    killed: bool = False  # SIGKILL rather than a clean stop
    blocked: str = ""  # a number blocked before the test (CLI ``block``)
    #: This run's callback task ids begin with it (the daemon makes it from its start time).
    callback_prefix: str = "cb-"
    #: Known differences from the recording, each reviewed (see SCENARIOS): a ring that shows
    #: another caller-ID name (recorded, now), and two requests made in the other order.
    renamed: tuple[tuple[str, str], ...] = ()
    swapped: tuple[tuple[str, str], ...] = ()


ONE_CALLTAKER = {"endpoints": ["PJSIP/1001"], "wrap_up_time": 1}
SCENARIOS = {
    "answer": Scenario(),
    "abandon": Scenario({"calltakers": {"wrap_up_time": 1}}),
    "noanswer": Scenario(
        {"calltakers": {"ring_timeout": 5, "max_missed_in_a_row": 2, "wrap_up_time": 1}}
    ),
    # Recorded when the adapter ran the silence watch. The core runs it now, and hears the key
    # at once: the key-presser's first ring already shows the KEY tag (the adapter reclassed
    # only after its CALLGATE_PRIORITY request, which Asterisk held behind the prompt until the
    # ring), and the silent caller's talk detection is removed before its music on hold starts.
    "silence": Scenario(
        {"calltakers": ONE_CALLTAKER, "screening": {"silence_seconds": 3, "key_seconds": 6}},
        renamed=(
            ('"112 +6281199100002" <+6281199100002>', '"KEY 112 +6281199100002" <+6281199100002>'),
        ),
        swapped=(
            (
                "POST /ari/channels/1795766376.11/moh",
                "POST /ari/channels/1795766376.11/variable TALK_DETECT(remove)",
            ),
        ),
    ),
    # Two lab tests, one daemon each: three-way, then hand-off.
    "handoff": Scenario(
        {"agencies": {"damkar": {"dial": "PJSIP/1006", "digit": "1"}}},
        restarts=("2026-11-27T08:00:09.000+0000",),
    ),
    # Killed once the third caller was set up; restarted before anyone hung up.
    "reconcile": Scenario(
        {"calltakers": {"wrap_up_time": 1}},
        restarts=("2026-12-07T13:14:22.000+0000",),
        killed=True,
    ),
    "blocked": Scenario(
        {
            "calltakers": {"endpoints": ["PJSIP/1001"]},
            "screening": {"blocking": {"enabled": True, "valve_calls": 3}},
        },
        blocked=BLOCKED,
    ),
    # The core offers the attempt itself once the number is due and 1006 is free.
    "callback": Scenario(
        {
            "calltakers": {"endpoints": ["PJSIP/1006"], "wrap_up_time": 1},
            "callbacks": {"first_delay": 1},
        },
        callback_prefix="cb-tp5i9x-",
    ),
    # Nobody registered: after [acd] max_wait the caller goes back to the dialplan's fallback
    # queue (ARI's continue).
    "fallback": Scenario({"acd": {"max_wait": 5}}),
}


@dataclass
class Replay:
    asterisk: Asterisk
    daemons: list[Daemon]
    frames: list[JsonObject]

    @property
    def daemon(self) -> Daemon:
        [only] = self.daemons
        return only


def replay(name: str, tmp_path: Path) -> Replay:
    scenario = SCENARIOS[name]
    # Not a folder: sealing fails at once, in no time (test_recordings.py covers sealing).
    not_a_folder = tmp_path / "recordings"
    not_a_folder.write_text("")
    settings = Settings(**scenario.settings, recording={"asterisk_dir": str(not_a_folder)})
    frames = load_events(name)
    first = stamp(frames[0])
    blocks = {}
    if scenario.blocked:
        key = history_key(scenario.blocked, None)
        assert key is not None
        blocks[key] = (BlockRecord(first - 60, first + 3600, "lab", "prank x5"),)
    history = History(blocks)
    asterisk = Asterisk(load_requests(name))
    config = acd_config(settings, callback_prefix=scenario.callback_prefix)

    async def run() -> list[Daemon]:
        daemons = []
        parts = split(frames, *scenario.restarts)
        for number, part in enumerate(parts):
            daemon = Daemon(asterisk, settings, config, history=history)
            daemons.append(daemon)
            await daemon.run(part)
            if number < len(parts) - 1:
                moment = ari_timestamp(scenario.restarts[number])
                assert moment is not None
                await daemon.until(moment)
                await (daemon.kill() if scenario.killed else daemon.stop())
        last = daemons[-1]
        await last.until(last.clock() + 30)  # every grace, wrap-up and timer runs out
        await last.stop()
        return daemons

    return Replay(asterisk, run_virtual(first - 1, run), frames)


def calls_only(events: list[Event]) -> list[Event]:
    """The events about calls (not the phones' states)."""
    return [e for e in events if hasattr(e, "call_id")]


def at(frames: list[JsonObject], kind: str, channel: str) -> float:
    """When a channel left, by the stamp of its frame (the end of that millisecond)."""
    frame = next(f for f in frames if f["type"] == kind and f["channel"]["id"] == channel)
    return stamp(frame) + 0.001


# ---------------------------------------------------------------- every scenario


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_given_a_recorded_lab_call_when_replayed_then_asterisk_is_asked_the_same_in_order(
    name: str, tmp_path: Path
) -> None:
    scenario = SCENARIOS[name]
    asterisk = replay(name, tmp_path).asterisk
    assert asterisk.unexpected == []
    assert asterisk.not_made == []
    assert asterisk.renamed == list(scenario.renamed)
    recorded = [described(key) for key in asterisk.recorded_made]
    for first, second in scenario.swapped:
        i = recorded.index(first)
        assert recorded[i + 1] == second
        recorded[i], recorded[i + 1] = second, first
    assert [described(r.key()) for r in asterisk.made] == recorded


def described(key: Key) -> str:
    """A request as the tests name it: method and path, the variable set or the endpoint rung
    (not the caller-ID name: :attr:`Asterisk.renamed` checks those)."""
    method, path, params = key
    detail = {k: v for k, v in params if k in ("variable", "endpoint", "appArgs", "channel")}
    return " ".join([method, path, *detail.values()])


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_given_a_recorded_lab_call_when_replayed_then_the_core_hears_what_translate_says(
    name: str, tmp_path: Path
) -> None:
    for daemon in replay(name, tmp_path).daemons:
        # The adapter's own events: call-takers logged in on connecting, and callers with the
        # history the core screens them with.
        own = (AgentLoggedIn, CallArrived)
        from_frames = [e for e in daemon.fed if not isinstance(e, own)]
        assert from_frames == [e for e in daemon.translated if not isinstance(e, CallArrived)]
        # A caller is queued as translate says, with their history (callers found after a
        # restart do not arrive by a frame).
        arrived = {e.call_id: e for e in daemon.translated if isinstance(e, CallArrived)}
        for queued in (e for e in daemon.fed if isinstance(e, CallArrived)):
            if queued.call_id in arrived:
                assert queued.caller == arrived[queued.call_id].caller
        if daemon.client.alive:  # stopped, not killed: nothing is left held for ended calls
            assert daemon.adapter.book.calls == {}
            assert daemon.adapter.book.legs == {}
            assert daemon.engine.acd.calls == {}


# ---------------------------------------------------------------- one scenario each


def ringing(run: Replay) -> list[str]:
    """The caller-ID name of every call-taker's ring, in order."""
    return [
        str(r.param("callerId"))
        for r in run.asterisk.made
        if r.path == "/ari/channels" and str(r.param("appArgs")).startswith("calltaker,")
    ]


def test_answer_a_caller_rings_the_free_call_taker_is_bridged_then_hangs_up(
    tmp_path: Path,
) -> None:
    run = replay("answer", tmp_path)
    call = "1795766329.0"
    assert calls_only(run.daemon.translated) == [
        CallArrived(
            call, caller="+6281234567890", priority=1, category="", caller_name="112 +6281234567890"
        ),
        AgentAnswered(call, "1001"),
        CallerSpoke(call),  # in conversation: the core has no silence to judge any more
        CallerHungUp(call, at=at(run.frames, "StasisEnd", call)),
    ]
    assert run.daemon.ended == {call: "COMPLETED"}
    assert run.daemon.observer.of("agent_connected") == [(call, "1001")]


def test_abandon_a_caller_who_hangs_up_while_waiting_is_abandoned(tmp_path: Path) -> None:
    run = replay("abandon", tmp_path)
    talking, impatient = "1795766343.2", "1795766343.4"
    hangups = [e for e in run.daemon.fed if isinstance(e, CallerHungUp)]
    assert hangups == [
        CallerHungUp(impatient, at=at(run.frames, "StasisEnd", impatient)),
        CallerHungUp(talking, at=at(run.frames, "StasisEnd", talking)),
    ]
    assert run.daemon.ended == {impatient: "ABANDONED", talking: "COMPLETED"}


def test_noanswer_a_ring_that_times_out_goes_to_the_next_call_taker_and_pauses_the_first(
    tmp_path: Path,
) -> None:
    run = replay("noanswer", tmp_path)
    first, second = "1795766357.5", "1795766365.8"
    # The core times the ring out and cancels it: the leg's end is no news to it.
    assert not [e for e in run.daemon.fed if isinstance(e, AgentNoAnswer)]
    answered = [e for e in run.daemon.fed if isinstance(e, AgentAnswered)]
    assert answered == [AgentAnswered(first, "1004"), AgentAnswered(second, "1004")]
    assert run.daemon.ended == {first: "COMPLETED", second: "COMPLETED"}
    missed = run.daemon.engine.acd.agents["1003"]
    assert (missed.state, missed.misses) == (AgentState.PAUSED, 2)


def test_silence_a_key_lifts_a_silent_caller_and_silence_lowers_one_behind_the_others(
    tmp_path: Path,
) -> None:
    run = replay("silence", tmp_path)
    silent, key, speaks, anonymous = (
        "1795766376.11",
        "1795766377.12",
        "1795766378.13",
        "1795766378.14",
    )
    signs = [e for e in run.daemon.fed if isinstance(e, CallerSpoke | CallerPressedKey)]
    assert signs == [CallerSpoke(speaks), CallerSpoke(anonymous), CallerPressedKey(key, "5")]
    reclassed = {
        n.call_id: (n.priority, n.category, n.caller_name)
        for n in run.daemon.notified
        if isinstance(n, CallReclassified)
    }
    assert reclassed == {
        silent: (Priority.NUISANCE, "ghost", "SILENT 112 +6281199100001"),
        key: (Priority.CALLBACK, "silent-key-pressed", "KEY 112 +6281199100002"),
    }
    # The key press outranks everyone; the speakers keep arrival order; silence comes last.
    assert ringing(run) == [
        '"KEY 112 +6281199100002" <+6281199100002>',
        '"112 +6281199100003" <+6281199100003>',
        '"ANON anonymous" <anonymous>',
        '"SILENT 112 +6281199100001" <+6281199100001>',
    ]
    answered = [e.call_id for e in run.daemon.fed if isinstance(e, AgentAnswered)]
    assert answered == [key, speaks, anonymous, silent]
    assert set(run.daemon.ended.values()) == {"COMPLETED"}


def test_handoff_an_agency_joins_and_the_caller_stays_three_way_then_hand_off(
    tmp_path: Path,
) -> None:
    run = replay("handoff", tmp_path)
    runs = [
        ("1795766404.19", "calltaker-4acf61f5-2921-4cde-8863-3fcfff1c14da", False),
        ("1795766410.22", "calltaker-b92582c9-c9f6-4907-b923-da8fc7eeb600", True),
    ]
    for daemon, (call, leg, hand_off) in zip(run.daemons, runs, strict=True):
        # The call-taker is free from their channel's destruction (not its StasisEnd).
        kinds = AgentAnswered | AgencyJoined | AgentHungUp
        assert [e for e in daemon.fed if isinstance(e, kinds)] == [
            AgentAnswered(call, "1001"),
            AgencyJoined(call, "damkar"),
            AgentHungUp(call, "1001", at=at(run.frames, "ChannelDestroyed", leg)),
        ]
        assert daemon.observer.of("agency_joined") == [(call, f"damkar hand-off={hand_off}")]
        assert daemon.ended == {call: "COMPLETED"}
    # Hand-off: callgate hangs up the call-taker once the agency answered; three-way: the
    # call-taker leaves by themself, and the caller is hung up when the agency leaves.
    hangups = [r.path for r in run.asterisk.made if r.method == "DELETE" and "/channels/" in r.path]
    assert hangups == [
        "/ari/channels/1795766404.19",
        f"/ari/channels/{run.asterisk.ids[runs[1][1]]}",
        "/ari/channels/1795766410.22",
    ]


def test_reconcile_after_a_kill_the_conversation_goes_on_and_the_waiting_are_requeued_in_order(
    tmp_path: Path,
) -> None:
    run = replay("reconcile", tmp_path)
    killed, restarted = run.daemons
    talking, second, third = "1796649260.0", "1796649260.2", "1796649261.3"
    assert killed.ended == {}  # killed before anything ended
    logged_in = [e for e in restarted.fed if isinstance(e, AgentLoggedIn)]
    assert logged_in[0].device is DeviceState.IN_USE  # 1001 still talks with the first caller
    requeued = [e.call_id for e in restarted.fed if isinstance(e, CallArrived)]
    assert requeued == [second, third]
    # The first call, adopted, never reaches the core; it is journaled when it ends.
    assert talking not in restarted.ended
    assert restarted.observer.of("call_ended_outside_core") == [(talking, "COMPLETED")]
    # Its end names who answered and when, as Asterisk 22 has it: 1001's leg in the caller's
    # bridge, made when 1001 answered (the bridge's creation, 40 ms after their leg's).
    [adopted] = restarted.observer.ended_outside
    answered = ari_timestamp("2026-12-07T13:14:20.738+0000")
    assert (adopted.answered_by, adopted.answered_at) == ("1001", answered)
    answered = [e.call_id for e in restarted.fed if isinstance(e, AgentAnswered)]
    assert answered == [second, third]
    assert restarted.ended == {second: "COMPLETED", third: "COMPLETED"}
    # The greetings the killed process started still played (Asterisk answered 204): stopped
    # before the music, or each bridge request waits behind one (the call-taker hears nothing).
    stopped = [
        r.path for r in run.asterisk.made if r.method == "DELETE" and "/playbacks/" in r.path
    ]
    assert stopped[-2:] == [f"/ari/playbacks/greeting-{second}", f"/ari/playbacks/greeting-{third}"]


def test_blocked_a_blocked_number_is_rejected_twice_then_put_through_by_the_valve(
    tmp_path: Path,
) -> None:
    run = replay("blocked", tmp_path)
    first, second, third = "1795766451.31", "1795766457.32", "1795766462.33"
    # The core screens each call with its history: blocked twice, then the valve opens.
    assert run.daemon.observer.of("call_started") == [
        (first, "blocked"),
        (second, "blocked"),
        (third, "blocked-valve"),
    ]
    finished = [e for e in run.daemon.fed if isinstance(e, AnnouncementFinished)]
    assert finished == [AnnouncementFinished(first), AnnouncementFinished(second)]
    blocked = [n.call_id for n in run.daemon.notified if isinstance(n, CallBlocked)]
    assert blocked == [first, second]
    assert ringing(run) == ['"VALVE +6281199200001" <+6281199200001>']
    assert run.daemon.ended == {third: "COMPLETED"}


def test_callback_the_core_calls_the_abandoned_number_back_and_it_is_bridged(
    tmp_path: Path,
) -> None:
    run = replay("callback", tmp_path)
    abandoned = "1795766469.35"
    # Nobody offered the attempt but the core: once the number was due and 1006 free.
    assert run.daemon.observer.of("call_started")[1] == (CALLBACK, "callback")
    assert CallBridged(CALLBACK) in run.daemon.translated
    assert run.daemon.observer.of("agent_connected") == [(CALLBACK, "1006")]
    assert run.daemon.ended == {abandoned: "ABANDONED", CALLBACK: "COMPLETED"}
    assert not [e for e in run.daemon.fed if isinstance(e, CallbackFailed)]


def test_fallback_a_caller_nobody_can_answer_goes_to_the_fallback_queue_after_max_wait(
    tmp_path: Path,
) -> None:
    run = replay("fallback", tmp_path)
    call = "1796638148.0"
    assert run.daemon.ended == {call: "FALLBACK"}
    [handed] = [r for r in run.asterisk.made if r.path.endswith("/continue")]
    assert handed.path == f"/ari/channels/{call}/continue"
    assert run.daemon.observer.of("call_started") == [(call, "")]  # journaled all the same
