"""The core's decisions about a new call: screening, blocking and the silent-caller watch,
driven through the facade with an explicit clock."""

from __future__ import annotations

import pytest
from conftest import Harness, actions, of

from callgate.core import (
    AcdConfig,
    AcdConfigError,
    AcdUsageError,
    AgentAnswered,
    AnnouncementFinished,
    BlockingPolicy,
    CallArrived,
    CallBlocked,
    CallBridged,
    CallEnded,
    CallerHistory,
    CallerHungUp,
    CallerPressedKey,
    CallerSpoke,
    CallReclassified,
    CallReprioritised,
    CallScreened,
    CallStateChanged,
    Disposition,
    DispositionRecord,
    HangUpFailed,
    ListeningFailed,
    PlayPrompt,
    Priority,
    ScreeningPolicy,
    SendToDestination,
    SilencePolicy,
)

DAY = 86_400.0
CALLER = "+6281100"


def pranks(now: float, n: int = 3, key: str = "081100") -> CallerHistory:
    """A history of ``n`` pranks within the last hour."""
    return CallerHistory(
        key,
        dispositions=tuple(
            DispositionRecord(now - 3600 + i, Disposition.PRANK, f"old{i}") for i in range(n)
        ),
    )


def blocked(now: float, calls: tuple[float, ...] = ()) -> CallerHistory:
    """A caller under a block placed an hour ago."""
    history = pranks(now).with_block(now - 3600, DAY, "auto", "score")
    return CallerHistory(
        history.key, dispositions=history.dispositions, blocks=history.blocks, calls=calls
    )


def screened(out: list[object]) -> CallScreened:
    (note,) = of(CallScreened, out)  # type: ignore[arg-type]
    return note


# -- screening ----------------------------------------------------------------------------


def test_given_three_pranks_when_screening_is_on_then_tagged_warned_and_deprioritised() -> None:
    h = Harness(AcdConfig(screening=ScreeningPolicy()))
    h.login("a1", "a2")
    h.send(CallArrived("busy1", caller="0899"))
    h.send(CallArrived("busy2", caller="0898"))
    out = h.send(
        CallArrived("c1", caller=CALLER, caller_name=f"112 {CALLER}", history=pranks(h.now))
    )
    note = screened(out)
    assert (note.priority, note.category, note.tag, note.warn, note.blocked) == (
        Priority.NUISANCE,
        "repeat-nuisance",
        "PRANK x3",
        True,
        False,
    )
    # The tag replaces the plain caller-ID name; the call waits in the nuisance class.
    assert note.caller_name == f"PRANK x3 {CALLER}"
    assert note.score > 2.5
    assert (h.acd.calls["c1"].priority, h.acd.calls["c1"].caller_name) == (
        Priority.NUISANCE,
        f"PRANK x3 {CALLER}",
    )
    # The notification comes before the call's first move, so its start is recorded first.
    first_move = next(i for i, c in enumerate(out) if isinstance(c, CallStateChanged))
    assert out.index(note) < first_move


def test_given_a_genuine_call_after_pranks_then_the_caller_is_not_penalised() -> None:
    h = Harness(AcdConfig(screening=ScreeningPolicy()))
    history = pranks(h.now).with_disposition(
        DispositionRecord(h.now - 60, Disposition.GENUINE, "g")
    )
    note = screened(h.send(CallArrived("c1", caller=CALLER, history=history)))
    assert (note.priority, note.tag, note.warn, note.caller_name) == (
        Priority.NORMAL,
        "",
        False,
        CALLER,
    )


@pytest.mark.parametrize(
    ("caller", "category", "tag", "shown"),
    [
        (CALLER, "", "", f"112 {CALLER}"),
        ("anonymous", "anonymous", "ANON", "ANON anonymous"),
    ],
)
def test_given_a_first_or_anonymous_caller_then_a_normal_call(
    caller: str, category: str, tag: str, shown: str
) -> None:
    h = Harness(AcdConfig(screening=ScreeningPolicy()))
    # An empty history (a first call, a caller without a key, a store that did not answer).
    arrived = CallArrived(
        "c1", caller=caller, caller_name=f"112 {caller}", history=CallerHistory("")
    )
    note = screened(h.send(arrived))
    assert (note.priority, note.category, note.tag, note.caller_name) == (
        Priority.NORMAL,
        category,
        tag,
        shown,
    )


@pytest.mark.parametrize(
    ("config", "history"),
    [
        (AcdConfig(), "pranks"),  # screening off: the history means nothing
        (AcdConfig(screening=ScreeningPolicy()), None),  # no history: not screened
    ],
)
def test_given_no_policy_or_no_history_then_the_call_keeps_the_class_it_came_with(
    config: AcdConfig, history: str | None
) -> None:
    h = Harness(config)
    loaded = pranks(h.now) if history else None
    arrived = CallArrived(
        "c1", caller=CALLER, priority=Priority.CALLBACK, category="given", history=loaded
    )
    note = screened(h.send(arrived))
    assert (note.priority, note.category, note.tag, note.score, note.caller_name) == (
        Priority.CALLBACK,
        "given",
        "",
        0.0,
        CALLER,
    )


def test_a_call_found_again_after_a_restart_is_neither_screened_nor_announced_again() -> None:
    h = Harness(AcdConfig(screening=ScreeningPolicy(), silence=SilencePolicy(prompt="p")))
    h.login("a1")
    out = h.send(
        CallArrived(
            "c1", caller=CALLER, priority=Priority.NUISANCE, history=pranks(h.now), resumed=True
        )
    )
    assert not of(CallScreened, out)
    assert actions(out) == [("RingAgent", "c1", "a1")]  # no StartListening either
    assert h.acd.calls["c1"].priority == Priority.NUISANCE


def test_a_call_id_arriving_twice_is_a_driver_bug_even_for_a_blocked_caller() -> None:
    policy = ScreeningPolicy(blocking=BlockingPolicy(announcement="sound:blocked"))
    h = Harness(AcdConfig(screening=policy))
    h.send(CallArrived("c1", caller=CALLER, history=blocked(h.now)))
    with pytest.raises(AcdUsageError):
        h.send(CallArrived("c1", caller=CALLER))


# -- blocking -----------------------------------------------------------------------------

BLOCKING = AcdConfig(
    screening=ScreeningPolicy(blocking=BlockingPolicy(announcement="sound:blocked")),
    overflow_destinations=("sup", "fallback-queue"),
)


def test_a_blocked_caller_hears_the_announcement_then_is_hung_up_and_recorded_blocked() -> None:
    h = Harness(BLOCKING)
    h.login("a1")
    out = h.send(CallArrived("c1", caller=CALLER, history=blocked(h.now)))
    note = screened(out)
    assert (note.blocked, note.category, note.tag) == (True, "blocked", "BLOCKED PRANK x3")
    # Never queued, never offered: the call-taker stays free.
    assert actions(out) == [("PlayAnnouncement", "c1")]
    assert not of(CallStateChanged, out)
    assert "c1" not in h.acd.calls
    assert h.agent("a1") == "AVAILABLE"
    out = h.send(AnnouncementFinished("c1"), after=6.0)
    assert actions(out) == [("HangUpCaller", "c1")]
    (record,) = of(CallBlocked, out)
    assert (record.call_id, record.caller, record.at, record.outcome) == (
        "c1",
        CALLER,
        h.now,
        "BLOCKED",
    )
    assert not of(CallEnded, h.log)  # in no KPI
    # The caller's channel goes; nothing is left behind.
    assert h.send(CallerHungUp("c1"), after=0.1) == []
    assert h.acd.next_deadline() is None


def test_an_announcement_that_never_ends_is_cut_after_its_limit() -> None:
    h = Harness(BLOCKING)
    h.send(CallArrived("c1", caller=CALLER, history=blocked(h.now)))
    assert h.advance(29.9) == []
    out = h.advance(0.1)
    assert actions(out) == [("HangUpCaller", "c1")]
    assert of(CallBlocked, out)
    assert h.send(AnnouncementFinished("c1")) == []  # late: nothing more


def test_without_an_announcement_a_blocked_caller_is_hung_up_at_once() -> None:
    h = Harness(AcdConfig(screening=ScreeningPolicy(blocking=BlockingPolicy())))
    out = h.send(CallArrived("c1", caller=CALLER, history=blocked(h.now)))
    assert actions(out) == [("HangUpCaller", "c1")]
    assert [type(c).__name__ for c in out] == [
        "CallScreened",
        "KeepClass",
        "CallBlocked",
        "HangUpCaller",
    ]


def test_when_the_hang_up_fails_the_blocked_caller_is_handed_to_the_fallback_queue() -> None:
    h = Harness(BLOCKING)
    h.send(CallArrived("c1", caller=CALLER, history=blocked(h.now)))
    h.send(AnnouncementFinished("c1"))
    out = h.send(HangUpFailed("c1", "500 Internal Server Error"))
    (send,) = of(SendToDestination, out)
    assert (send.destination, send.attempt, send.fallback, send.reason) == (
        "fallback-queue",
        1,
        True,
        "block-hang-up-failed",
    )
    assert len(of(CallBlocked, h.log)) == 1
    assert h.send(HangUpFailed("c1")) == []  # handed back once


def test_a_blocked_caller_who_hangs_up_during_the_announcement_is_recorded_blocked() -> None:
    h = Harness(BLOCKING)
    h.send(CallArrived("c1", caller=CALLER, history=blocked(h.now)))
    out = h.send(CallerHungUp("c1"), after=2.0)
    assert [type(c).__name__ for c in out] == ["CallBlocked"]
    assert h.send(AnnouncementFinished("c1")) == []
    assert h.advance(60.0) == []
    assert h.acd.next_deadline() is None


def test_hang_up_failures_and_announcements_of_other_calls_change_nothing() -> None:
    h = Harness(BLOCKING)
    h.login("a1")
    h.send(CallArrived("c1", caller=CALLER))
    h.connect("c1", "a1")
    assert actions(h.send(HangUpFailed("c1"))) == []
    assert actions(h.send(AnnouncementFinished("c1"))) == []
    assert h.state("c1") == "CONNECTED"


def test_the_safety_valve_puts_a_blocked_number_that_keeps_calling_through() -> None:
    h = Harness(BLOCKING)
    h.login("a1")
    history = blocked(h.now, calls=(h.now - 120, h.now - 60))
    out = h.send(CallArrived("c1", caller=CALLER, history=history))
    note = screened(out)
    assert (note.valve, note.blocked, note.category, note.priority) == (
        True,
        False,
        "blocked-valve",
        Priority.NORMAL,
    )
    assert note.tag.startswith("VALVE")
    assert actions(out) == [("RingAgent", "c1", "a1")]


def test_screening_never_rejects_a_call_without_blocking_configured() -> None:
    h = Harness(AcdConfig(screening=ScreeningPolicy()))
    h.login("a1")
    out = h.send(CallArrived("c1", caller=CALLER, history=blocked(h.now)))
    assert not screened(out).blocked
    assert actions(out) == [("RingAgent", "c1", "a1")]


def test_a_blocking_announcement_limit_must_be_positive() -> None:
    with pytest.raises(AcdConfigError):
        BlockingPolicy(announcement_limit=0)


# -- silent callers -----------------------------------------------------------------------

SILENCE = AcdConfig(
    max_wait=None,
    wrap_up_time=1.0,
    screening=ScreeningPolicy(),
    silence=SilencePolicy(silence_seconds=10.0, key_seconds=8.0, prompt="sound:press-a-key"),
)


def waiting(config: AcdConfig = SILENCE) -> Harness:
    """A silent caller waiting behind a busy call-taker, and another caller behind them."""
    h = Harness(config)
    h.login("a1")
    h.send(CallArrived("busy", caller="0899", resumed=True))  # not watched itself
    h.send(AgentAnswered("busy", "a1"))
    h.send(CallBridged("busy"))
    return h


def test_a_caller_silent_through_the_prompt_is_classed_ghost_and_waits_lower() -> None:
    h = waiting()
    out = h.send(
        CallArrived("c1", caller=CALLER, caller_name=f"112 {CALLER}", history=CallerHistory(""))
    )
    assert actions(out) == [("StartListening", "c1")]
    h.send(CallArrived("c2", caller="0812", resumed=True), after=1.0)
    assert h.advance(8.9) == []
    out = h.advance(0.1)
    assert actions(out) == [("PlayPrompt", "c1")]
    assert out[0].media == "sound:press-a-key"  # type: ignore[attr-defined]
    out = h.advance(8.0)
    assert actions(out) == [("StopListening", "c1")]
    (note,) = of(CallReclassified, out)
    assert (note.priority, note.category, note.caller_name, note.cause) == (
        Priority.NUISANCE,
        "ghost",
        f"SILENT 112 {CALLER}",
        "KeyWindowEnded",
    )
    # The caller who came later is now ahead; the ghost call still waits to be answered.
    assert [c.call_id for c in h.acd.queued_calls()] == ["c2", "c1"]


def test_a_silent_caller_who_presses_a_key_after_the_prompt_is_raised() -> None:
    h = waiting()
    h.send(CallArrived("c2", caller="0812", resumed=True))
    h.send(CallArrived("c1", caller=CALLER, history=CallerHistory("")), after=1.0)
    h.advance(10.0)
    out = h.send(CallerPressedKey("c1", "5"), after=2.0)
    assert actions(out) == [("StopListening", "c1")]
    (note,) = of(CallReclassified, out)
    assert (note.priority, note.category, note.caller_name) == (
        Priority.CALLBACK,
        "silent-key-pressed",
        f"KEY {CALLER}",
    )
    assert h.acd.queued_calls()[0].call_id == "c1"
    assert actions(h.advance(60.0)) == []  # the watch is over: no more prompts or changes
    assert len(of(CallReclassified, h.log)) == 1


def test_a_caller_who_speaks_while_waiting_is_not_watched_any_more() -> None:
    h = waiting()
    h.send(CallArrived("c1", caller=CALLER, history=CallerHistory("")))
    out = h.send(CallerSpoke("c1"), after=3.0)
    assert actions(out) == [("StopListening", "c1")]
    assert actions(h.advance(30.0)) == []
    assert h.acd.calls["c1"].priority == Priority.NORMAL
    assert actions(h.send(CallerSpoke("c1"))) == []  # talk events after the watch: nothing


def test_a_caller_who_speaks_after_the_prompt_is_not_reclassed() -> None:
    h = waiting()
    h.send(CallArrived("c1", caller=CALLER, history=CallerHistory("")))
    h.advance(10.0)
    out = h.send(CallerSpoke("c1"), after=1.0)
    assert actions(out) == [("StopListening", "c1")]
    assert not of(CallReclassified, h.log)


def test_a_key_before_the_prompt_does_not_count_but_brings_the_prompt_forward() -> None:
    h = waiting()
    h.send(CallArrived("c1", caller=CALLER, history=CallerHistory("")))
    out = h.send(CallerPressedKey("c1", "1"), after=2.0)
    assert actions(out) == [("PlayPrompt", "c1")]
    assert not of(CallReclassified, out)
    # The old silence deadline is void; the key window runs from the prompt.
    assert actions(h.advance(7.9)) == []
    out = h.advance(0.1)
    assert of(CallReclassified, out)[0].category == "ghost"


def test_a_caller_connected_before_the_window_ends_is_not_prompted() -> None:
    h = Harness(SILENCE)
    h.login("a1")
    h.send(CallArrived("c1", caller=CALLER, history=CallerHistory("")))
    h.connect("c1", "a1")
    out = h.advance(10.0)
    assert actions(out) == [("StopListening", "c1")]
    assert not of(CallReclassified, out)


def test_a_caller_connected_during_the_key_window_is_not_reclassed() -> None:
    h = waiting()
    h.send(CallArrived("c1", caller=CALLER, history=CallerHistory("")))
    h.advance(10.0)
    # The call-taker becomes free and takes c1 while the prompt's window runs.
    h.send(CallerHungUp("busy"))
    h.advance(1.0)  # wrap-up over: c1 is offered
    out = h.send(AgentAnswered("c1", "a1"))
    out += h.send(CallerPressedKey("c1", "5"))
    assert ("StopListening", "c1") in actions(out)
    assert not of(CallReclassified, h.log)


def test_without_talk_detection_a_caller_is_never_judged_silent() -> None:
    h = waiting()
    h.send(CallArrived("c1", caller=CALLER, history=CallerHistory("")))
    assert h.send(ListeningFailed("c1")) == []
    assert actions(h.advance(60.0)) == []
    assert h.send(CallerPressedKey("c1")) == []


def test_without_a_prompt_file_the_key_window_still_runs() -> None:
    h = waiting(
        AcdConfig(max_wait=None, silence=SilencePolicy(silence_seconds=5.0, key_seconds=5.0))
    )
    h.send(CallArrived("c1", caller=CALLER))
    (prompt,) = of(PlayPrompt, h.advance(5.0))
    assert prompt.media == ""  # nothing to play; the driver skips it
    out = h.send(CallerPressedKey("c1"), after=1.0)
    # No screening policy: the default classes apply.
    assert of(CallReclassified, out)[0].priority == ScreeningPolicy().key_press_priority


def test_a_caller_who_hangs_up_while_watched_leaves_no_watch_behind() -> None:
    h = waiting()
    h.send(CallArrived("c1", caller=CALLER, history=CallerHistory("")))
    out = h.send(CallerHungUp("c1"), after=3.0)
    assert actions(out) == []  # the channel is gone: nothing to stop
    assert h.acd.next_deadline() is None or h.acd.next_deadline() > h.now + 10


def test_silence_settings_must_be_positive() -> None:
    with pytest.raises(AcdConfigError):
        SilencePolicy(silence_seconds=0)
    with pytest.raises(AcdConfigError):
        SilencePolicy(key_seconds=-1)


def test_an_outside_reprioritisation_is_reported_so_the_driver_keeps_the_class() -> None:
    h = Harness()
    h.login("a1")
    h.send(CallArrived("c1", caller=CALLER, caller_name="shown"))
    (note,) = of(CallReclassified, h.send(CallReprioritised("c1", Priority.CALLBACK)))
    assert (note.priority, note.category, note.caller_name, note.cause) == (
        Priority.CALLBACK,
        "",
        "shown",
        "CallReprioritised",
    )


def test_deadlines_of_a_watch_or_an_announcement_that_ended_early_do_nothing() -> None:
    # The driver may fire a timer the core no longer needs (several fall due at once).
    h = waiting(BLOCKING_AND_SILENCE)
    h.send(CallArrived("b1", caller=CALLER, history=blocked(h.now)))
    h.send(CallArrived("c1", caller=CALLER, history=CallerHistory("")))
    h.send(CallerHungUp("b1"))
    h.send(CallerSpoke("c1"))  # both deadlines are void now, still in the timer heap
    assert h.acd.handle_timer(h.now + 60.0) == []


BLOCKING_AND_SILENCE = AcdConfig(
    max_wait=None,
    screening=ScreeningPolicy(blocking=BlockingPolicy(announcement="sound:blocked")),
    silence=SilencePolicy(),
)


@pytest.mark.parametrize("screening", [None, ScreeningPolicy()])
def test_a_new_call_s_screened_notification_carries_the_caller_s_facts_for_its_record(
    screening: ScreeningPolicy | None,
) -> None:
    """One way in: the facts the observers record (the journal's row, CAD's ``received``) come
    with ``CallArrived`` and leave with ``CallScreened``, screened or not, blocked or not."""
    h = Harness(AcdConfig(screening=screening))
    history = blocked(h.now) if screening is not None else None
    arrived = CallArrived(
        "c1", caller=CALLER, caller_sent="081100", dialed="0112", identity="35209900176148",
        history=history,
    )  # fmt: skip
    note = screened(h.send(arrived))
    assert (note.caller_sent, note.dialed, note.identity, note.at) == (
        "081100",
        "0112",
        "35209900176148",
        h.now,
    )
