"""A configuration reloaded while calls are in progress (``ConfigChanged``): the next decisions
follow it, the calls in progress keep what they had, removed call-takers leave after their
call, and a new roster is followed at once."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from conftest import Harness, actions, of

from callgate.core import (
    AcdConfig,
    AcdUsageError,
    AgentHungUp,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNoAnswer,
    AgentPaused,
    AgentStateChanged,
    AgentUnpaused,
    AnnounceQueue,
    CallArrived,
    CallbackPolicy,
    CallerHistory,
    CallerHungUp,
    CallScreened,
    ConfigChanged,
    PlayPrompt,
    RingAgent,
    Roster,
    RosterChanged,
    ScreeningPolicy,
    SendToDestination,
    Shift,
    ShiftStaffing,
    StartWrapUp,
)
from callgate.core.announcements import AnnouncementPolicy
from callgate.core.screening import Disposition, DispositionRecord, SilencePolicy

WITA = ZoneInfo("Asia/Makassar")


def at(text: str) -> float:
    """Epoch of a WITA wall-clock time; 2025-06-02 is a Monday."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=WITA).timestamp()


BASE = AcdConfig(ring_timeout=15.0, wrap_up_time=10.0, max_wait=None)


def changed(h: Harness, removed: frozenset[str] = frozenset(), **fields: object) -> list[object]:
    """Reload ``h``'s configuration with ``fields`` changed."""
    config = dataclasses.replace(h.acd.config, **fields)  # type: ignore[arg-type]
    return list(h.send(ConfigChanged(config, removed)))


def logouts(commands: list[object]) -> list[str]:
    return [
        c.agent_id
        for c in commands
        if isinstance(c, AgentStateChanged) and c.new.name == "LOGGED_OUT"
    ]


# -- call-takers and their calls -------------------------------------------------------------


def test_a_ring_in_progress_keeps_its_timeout_and_the_next_offer_rings_for_the_new_one() -> None:
    h = Harness(BASE)
    h.login("a1", "a2")
    h.arrive("c1")  # rings a1 (longest idle)
    changed(h, ring_timeout=30.0)
    out = h.advance(15.0)  # the old 15 s: the ring moves on to a2
    assert [(r.call_id, r.agent_id) for r in of(RingAgent, out)] == [("c1", "a2")]
    assert not of(RingAgent, h.advance(29.0))  # the new 30 s
    assert [(r.call_id, r.agent_id) for r in of(RingAgent, h.advance(1.0))] == [("c1", "a1")]


def test_a_conversation_keeps_its_wrap_up_and_the_next_one_wraps_up_for_the_new_time() -> None:
    h = Harness(BASE)
    h.login("a1")
    h.arrive("c1")
    h.connect("c1", "a1")
    changed(h, wrap_up_time=60.0)
    [wrap] = of(StartWrapUp, h.send(AgentHungUp("c1", "a1")))
    assert wrap.until == h.now + 60.0  # decided at the end of the call, by the new time


def test_removed_call_takers_leave_at_once_when_free_and_after_their_call_when_busy() -> None:
    h = Harness(BASE)
    h.login("a1", "a2", "a3", "a4", "a5")
    h.send(AgentPaused("a3", "prayer"))
    h.send(AgentLoggedOut("a4"))
    h.arrive("c1")  # longest idle first, ties by id: a1
    h.connect("c1", "a1")
    h.arrive("c2")  # then a2
    assert h.acd.calls["c2"].ringing == ["a2"]
    out = changed(h, frozenset({"a1", "a2", "a3", "a4", "unknown"}))
    # Paused: at once; talking or ringing: after their call; logged out or unknown: nothing.
    assert logouts(out) == ["a3"]
    assert h.acd.agents["a1"].pending_logout
    assert h.acd.agents["a2"].pending_logout
    assert h.state("c1") == "CONNECTED"
    # Their calls go on: the ring ends, the caller is offered to someone still configured.
    out = h.send(AgentNoAnswer("c2", "a2"))
    assert logouts(out) == ["a2"]
    assert [r.agent_id for r in of(RingAgent, out)] == ["a5"]
    out = h.send(AgentHungUp("c1", "a1"))
    assert logouts(out) == []  # the wrap-up first
    assert logouts(h.advance(10.0)) == ["a1"]


def test_a_call_taker_whose_logout_is_pending_is_not_asked_again() -> None:
    h = Harness(BASE)
    h.login("a1")
    h.arrive("c1")
    h.connect("c1", "a1")
    changed(h, frozenset({"a1"}))
    assert logouts(changed(h, frozenset({"a1"}))) == []
    assert h.acd.agents["a1"].pending_logout


# -- distribution ----------------------------------------------------------------------------


def test_a_new_strategy_chooses_the_next_call_taker() -> None:
    h = Harness(BASE)
    h.login("a1", "a2")
    changed(h, strategy="ring-all")
    rung = {r.agent_id for r in of(RingAgent, h.arrive("c1"))}
    assert rung == {"a1", "a2"}
    changed(h)  # the same strategy: nothing changes
    assert h.acd.config.strategy == "ring-all"


def test_new_aging_ranks_the_waiting_callers_again() -> None:
    h = Harness(BASE)
    h.login("a1")
    h.send(AgentPaused("a1", "briefing"))  # logged in, so callers wait
    h.arrive("low", priority=2)
    h.advance(100.0)
    h.arrive("high", priority=1)
    assert [c.call_id for c in h.acd.queued_calls()] == ["high", "low"]  # strict classes
    changed(h, aging_interval=30.0)  # a class is worth 30 s: "low" has waited 100 s longer
    assert [c.call_id for c in h.acd.queued_calls()] == ["low", "high"]
    assert [r.call_id for r in of(RingAgent, h.send(AgentUnpaused("a1")))] == ["low"]


def test_a_waiting_caller_keeps_the_max_wait_they_arrived_with() -> None:
    h = Harness(dataclasses.replace(BASE, max_wait=60.0))
    h.login("a1")
    h.send(AgentPaused("a1", "briefing"))
    h.arrive("c1")
    changed(h, max_wait=300.0)
    h.arrive("c2")
    sent = of(SendToDestination, h.advance(60.0))
    assert [s.call_id for s in sent] == ["c1"]
    assert [s.call_id for s in of(SendToDestination, h.advance(240.0))] == ["c2"]


# -- screening and silent callers ------------------------------------------------------------


def _pranks(n: int, now: float) -> CallerHistory:
    return CallerHistory(
        "0812",
        dispositions=tuple(
            DispositionRecord(now - 60.0 * (i + 1), Disposition.PRANK, f"p{i}") for i in range(n)
        ),
    )


def test_new_screening_thresholds_apply_to_the_next_caller() -> None:
    h = Harness(dataclasses.replace(BASE, screening=ScreeningPolicy()))
    [before] = of(CallScreened, h.send(_arrival("c1", h.now)))
    strict = ScreeningPolicy(tag_threshold=5.0, warn_threshold=6.0, deprioritise_threshold=7.0)
    changed(h, screening=strict)
    [after] = of(CallScreened, h.send(_arrival("c2", h.now)))
    assert before.tag
    assert before.warn
    assert (after.tag, after.warn) == ("", False)
    assert after.priority < before.priority


def _arrival(call_id: str, now: float) -> CallArrived:
    return CallArrived(call_id, caller="0812", history=_pranks(3, now))


def test_a_silent_caller_watched_before_the_reload_is_watched_to_the_end_by_its_policy() -> None:
    silence = SilencePolicy(silence_seconds=5.0, key_seconds=5.0, prompt="sound:old")
    h = Harness(dataclasses.replace(BASE, silence=silence))
    h.login("a1")
    h.send(AgentPaused("a1", "briefing"))
    h.arrive("c1")
    changed(h, silence=None)  # turned off: the next callers are not watched
    h.arrive("c2")
    prompts = of(PlayPrompt, h.advance(5.0))
    assert [(p.call_id, p.media) for p in prompts] == [("c1", "sound:old")]


# -- callbacks and announcements -------------------------------------------------------------


@pytest.mark.parametrize(("before", "after"), [(None, CallbackPolicy()), (CallbackPolicy(), None)])
def test_callbacks_cannot_be_turned_on_or_off_while_running(
    before: CallbackPolicy | None, after: CallbackPolicy | None
) -> None:
    h = Harness(dataclasses.replace(BASE, callbacks=before))
    with pytest.raises(AcdUsageError, match="callbacks"):
        changed(h, callbacks=after)


def test_callback_timing_follows_the_reload_and_task_ids_keep_the_runs_prefix() -> None:
    h = Harness(dataclasses.replace(BASE, callbacks=CallbackPolicy(id_prefix="cb-run1-")))
    policy = CallbackPolicy(max_attempts=7, retry_delay=5.0, first_delay=9.0, id_prefix="cb-x-")
    changed(h, callbacks=policy)
    worklist = h.acd._callbacks.worklist
    assert worklist is not None
    assert (worklist.max_attempts, worklist.retry_delay, worklist.first_delay) == (7, 5.0, 9.0)
    assert worklist.id_prefix == "cb-run1-"


def test_announcements_turned_on_off_and_retimed() -> None:
    policy = AnnouncementPolicy(first_after=20.0, period=30.0)
    h = Harness(BASE)
    h.login("a1")
    h.send(AgentPaused("a1", "briefing"))
    h.arrive("before")
    changed(h, announcements=policy)  # on: for callers arriving from now
    h.arrive("after")
    assert [a.call_id for a in of(AnnounceQueue, h.advance(20.0))] == ["after"]
    changed(h, announcements=AnnouncementPolicy(first_after=20.0, period=5.0, recent=5))
    assert h.acd._floor.announcements is not None
    assert h.acd._floor.announcements._handled.maxlen == 5
    # The turn armed before keeps its time (30 s), the next ones come every 5 s.
    assert not of(AnnounceQueue, h.advance(29.0))
    assert len(of(AnnounceQueue, h.advance(1.0))) == 1
    assert len(of(AnnounceQueue, h.advance(5.0))) == 1
    changed(h, announcements=dataclasses.replace(h.acd.config.announcements, recent=5))
    changed(h, announcements=None)
    assert not of(AnnounceQueue, h.advance(60.0))


# -- the roster ------------------------------------------------------------------------------

DAY = Shift(dt.time(8), dt.time(16), agents=frozenset({"a1"}), name="siang")


def test_a_roster_given_by_a_reload_is_followed_at_once() -> None:
    h = Harness(BASE, start=at("2025-06-02 10:00"))
    h.login("a1", "a2")
    out = changed(h, roster=Roster("WITA", (DAY,), logout_off_roster=True, alarm_grace=60.0))
    assert [(r.staffed, r.shifts) for r in of(RosterChanged, out)] == [(True, ("siang",))]
    assert logouts(out) == ["a2"]  # not on the roster: logged out, as at a change of shift
    assert [(s.shift, s.logged_in) for s in of(ShiftStaffing, out)] == [("siang", 1)]


def test_a_reload_without_roster_ends_the_shifts_and_the_centre_is_always_on() -> None:
    roster = Roster("WITA", (DAY,), alarm_grace=60.0)
    h = Harness(dataclasses.replace(BASE, roster=roster), start=at("2025-06-02 20:00"))
    h.login("a1")
    h.advance(3600.0 * 14)  # 10:00 the next day: the shift is on
    assert h.acd.shift_staffing
    out = changed(h, roster=None)
    assert [(r.staffed, r.shifts) for r in of(RosterChanged, out)] == [(True, ())]
    assert [(s.shift, s.on) for s in of(ShiftStaffing, out)] == [("siang", False)]
    assert h.acd.staffed
    assert not h.acd.shift_staffing
    h.advance(3600.0 * 8)  # 18:00: no longer out of hours
    assert h.acd.staffed


def test_a_changed_roster_with_the_same_shift_names_is_looked_at_again_now() -> None:
    roster = Roster("WITA", (DAY,), logout_off_roster=True, alarm_grace=60.0)
    h = Harness(dataclasses.replace(BASE, roster=roster), start=at("2025-06-02 10:00"))
    h.login("a1")
    h.send(AgentLoggedIn("a2", "PJSIP/a2", rostered_only=True))  # not rostered: stays out
    assert h.acd.agents["a2"].state.name == "LOGGED_OUT"
    moved = Shift(dt.time(8), dt.time(16), agents=frozenset({"a2"}), name="siang")
    out = changed(h, roster=dataclasses.replace(roster, shifts=(moved,), alarm_grace=5.0))
    assert not of(RosterChanged, out)  # the same shift is on
    assert logouts(out) == ["a1"]
    assert h.acd._staffing.watch is not None
    assert h.acd._staffing.watch.grace == 5.0
    out = changed(h)  # the same roster again: nothing to do
    assert not of(RosterChanged, out)
    assert logouts(out) == []


def test_hang_ups_during_a_reload_are_ordinary() -> None:
    h = Harness(BASE)
    h.login("a1")
    h.send(AgentPaused("a1", "briefing"))
    h.arrive("c1")
    changed(h)
    h.send(CallerHungUp("c1"))
    assert h.state("c1") == "ABANDONED"
    assert not [a for a in actions(h.log) if a[0] == "SendToDestination"]
