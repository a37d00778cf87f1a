"""The roster on duty: holidays and changed lists, out-of-hours destinations, call-takers
logged out after their shift, logins at start, and short-handed shifts."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from conftest import Harness, actions, of

from callgate.core import (
    AcdConfig,
    AcdConfigError,
    AgentHungUp,
    AgentLoggedIn,
    AgentPaused,
    CallEnded,
    DestinationAnswered,
    DestinationFailed,
    DeviceState,
    DeviceStateChanged,
    Roster,
    RosterChanged,
    Shift,
    ShiftStaffing,
)
from callgate.core.roster import OnShift
from callgate.core.staffing import StaffingWatch

WITA = ZoneInfo("Asia/Makassar")


def at(text: str) -> float:
    """Epoch of a WITA wall-clock time; 2025-06-02 is a Monday."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=WITA).timestamp()


DAY = Shift(dt.time(8), dt.time(16), agents=frozenset({"a1", "a2"}), name="siang")


def roster(*shifts: Shift, logout: bool = True, grace: float = 60.0) -> Roster:
    return Roster("WITA", shifts or (DAY,), logout_off_roster=logout, alarm_grace=grace)


def staffing(commands: list[object]) -> list[tuple[str, int, int, bool, bool]]:
    return [
        (n.shift, n.rostered, n.logged_in, n.short, n.on)
        for n in commands
        if isinstance(n, ShiftStaffing)
    ]


# -- holidays and exceptions -----------------------------------------------------------------


def test_a_shift_does_not_run_on_its_off_dates_and_runs_with_another_list_on_a_changed_date() -> (
    None
):
    shift = Shift(
        dt.time(23),
        dt.time(7),
        agents=frozenset({"n1"}),
        name="malam",
        off_dates=frozenset({dt.date(2025, 8, 17)}),
        agents_by_date=((dt.date(2025, 8, 18), frozenset({"n2", "n3"})),),
    )
    r = Roster("WITA", (shift,))
    # The occurrence that starts on the evening of the 17th does not run ...
    assert not r.state_at(at("2025-08-18 01:00")).staffed
    # ... the one before it (starting on the 16th) did, with its usual list.
    assert r.state_at(at("2025-08-17 01:00")).rostered == {"n1"}
    # ... and the one starting on the 18th runs with that date's list and needs two.
    state = r.state_at(at("2025-08-19 02:00"))
    assert state.rostered == {"n2", "n3"}
    assert [(s.name, s.target) for s in state.shifts] == [("malam", 2)]


def test_head_count_sets_the_number_needed_and_a_shift_without_a_name_is_called_by_its_times() -> (
    None
):
    r = Roster("WITA", (Shift(dt.time(8), dt.time(16), head_count=3),))
    (on,) = r.state_at(at("2025-06-02 09:00")).shifts
    assert (on.name, on.target, on.agents) == ("08:00-16:00", 3, frozenset())
    assert on.counts("anyone")


def test_head_count_below_one_is_a_config_error() -> None:
    with pytest.raises(AcdConfigError, match="head_count"):
        Shift(dt.time(8), dt.time(16), head_count=0)


def test_roster_state_allows_the_rostered_only_while_staffed() -> None:
    r = roster()
    on, off = r.state_at(at("2025-06-02 09:00")), r.state_at(at("2025-06-02 17:00"))
    assert on.allows("a1")
    assert not on.allows("b1")
    assert not off.allows("a1")


# -- out-of-hours routing ---------------------------------------------------------------------


def test_out_of_hours_caller_goes_to_the_out_of_hours_destinations_in_order_then_the_fallback() -> (
    None
):
    config = AcdConfig(
        roster=roster(),
        overflow_destinations=("supervisor", "fallback-queue"),
        out_of_hours_destinations=("PJSIP/neighbour", "PJSIP/bpbd", "fallback-queue"),
    )
    h = Harness(config, start=at("2025-06-02 06:00"))
    assert actions(h.arrive("c1")) == [
        ("SendToDestination", "c1", "out-of-hours", "PJSIP/neighbour")
    ]
    assert actions(h.send(DestinationFailed("c1"))) == [
        ("SendToDestination", "c1", "destination-failed", "PJSIP/bpbd")
    ]
    assert actions(h.send(DestinationFailed("c1"))) == [
        ("SendToDestination", "c1", "destination-failed", "fallback-queue")
    ]
    assert [e.destination for e in of(CallEnded, h.log)] == ["fallback-queue"]
    h.arrive("c2")
    h.send(DestinationAnswered("c2"))
    assert [(e.call_id, e.destination) for e in of(CallEnded, h.log)][-1] == (
        "c2",
        "PJSIP/neighbour",
    )


def test_callers_waiting_at_closing_go_out_of_hours_and_max_wait_still_uses_the_overflow() -> None:
    config = AcdConfig(
        roster=roster(logout=False),
        max_wait=300.0,
        overflow_destinations=("supervisor", "fallback-queue"),
        out_of_hours_destinations=("PJSIP/neighbour", "fallback-queue"),
    )
    h = Harness(config, start=at("2025-06-02 15:50"))
    h.login("a1")
    h.arrive("c1")
    h.connect("c1", "a1")
    h.arrive("c2")
    assert actions(h.advance(300.0)) == [("SendToDestination", "c2", "max-wait", "supervisor")]
    h.arrive("c3")
    assert actions(h.advance(at("2025-06-02 16:00") - h.now)) == [
        ("SendToDestination", "c3", "out-of-hours", "PJSIP/neighbour")
    ]


# -- logged out after the shift ---------------------------------------------------------------


def test_at_the_end_of_a_shift_idle_and_paused_calltakers_are_logged_out_at_once() -> None:
    h = Harness(AcdConfig(roster=roster()), start=at("2025-06-02 15:00"))
    h.login("a1", "a2")
    h.send(AgentPaused("a2", "prayer"))
    h.advance(at("2025-06-02 16:00") - h.now)
    assert (h.agent("a1"), h.agent("a2")) == ("LOGGED_OUT", "LOGGED_OUT")


def test_a_calltaker_on_a_call_at_the_end_of_the_shift_is_logged_out_after_call_and_wrap_up() -> (
    None
):
    config = AcdConfig(roster=roster(), wrap_up_time=10.0, max_wait=None)
    h = Harness(config, start=at("2025-06-02 15:59"))
    h.login("a1")
    h.arrive("c1")
    h.connect("c1", "a1")
    h.advance(120.0)
    assert h.agent("a1") == "ON_CALL"
    assert h.state("c1") == "CONNECTED"
    h.send(AgentHungUp("c1", "a1"))
    assert h.agent("a1") == "WRAP_UP"
    h.advance(10.0)
    assert h.agent("a1") == "LOGGED_OUT"
    assert h.state("c1") == "COMPLETED"


def test_a_calltaker_ringing_at_the_end_of_the_shift_is_logged_out_once_the_ring_ends() -> None:
    config = AcdConfig(roster=roster(), ring_timeout=120.0, max_consecutive_no_answers=1)
    h = Harness(config, start=at("2025-06-02 15:59"))
    h.login("a1")
    h.arrive("c1")
    h.advance(60.0)
    assert h.agent("a1") == "RINGING"
    h.advance(60.0)  # rang out: logged out, not paused for the miss
    assert h.agent("a1") == "LOGGED_OUT"


def test_without_logout_off_roster_calltakers_stay_logged_in_but_get_no_calls() -> None:
    shifts = (DAY, Shift(dt.time(16), dt.time(8), agents=frozenset({"n1"}), name="malam"))
    config = AcdConfig(roster=roster(*shifts, logout=False), max_wait=None)
    h = Harness(config, start=at("2025-06-02 15:00"))
    h.login("a1", "n1")
    h.advance(at("2025-06-02 17:00") - h.now)
    assert h.agent("a1") == "AVAILABLE"
    assert actions(h.arrive("c1")) == [("RingAgent", "c1", "n1")]


def test_a_calltaker_next_on_the_roster_stays_and_one_already_leaving_is_left_alone() -> None:
    shifts = (DAY, Shift(dt.time(16), dt.time(8), agents=frozenset({"a2"}), name="malam"))
    config = AcdConfig(roster=roster(*shifts), max_wait=None, wrap_up_time=600.0)
    h = Harness(config, start=at("2025-06-02 15:55"))
    h.login("a1", "a2")
    h.arrive("c1")
    h.connect("c1", "a1")
    h.send(AgentHungUp("c1", "a1"))
    h.acd.agents["a1"].pending_logout = True  # as *12 during the call leaves it
    h.advance(at("2025-06-02 16:00") - h.now)
    assert (h.agent("a1"), h.agent("a2")) == ("WRAP_UP", "AVAILABLE")
    h.advance(600.0)
    assert h.agent("a1") == "LOGGED_OUT"


# -- logged in at start -----------------------------------------------------------------------


def test_a_login_at_start_applies_only_to_calltakers_on_the_roster_now() -> None:
    h = Harness(AcdConfig(roster=roster()), start=at("2025-06-02 09:00"))
    h.send(AgentLoggedIn("a1", "PJSIP/a1", rostered_only=True))
    h.send(AgentLoggedIn("b1", "PJSIP/b1", rostered_only=True, device=DeviceState.UNAVAILABLE))
    assert h.agent("a1") == "AVAILABLE"
    assert h.agent("b1") == "LOGGED_OUT"
    assert h.acd.agents["b1"].device is DeviceState.UNAVAILABLE
    # They log in themselves (*11) when they come on.
    h.send(AgentLoggedIn("b1", "PJSIP/b1"))
    assert h.agent("b1") == "AVAILABLE"


def test_without_a_roster_a_login_at_start_logs_everyone_in() -> None:
    h = Harness(AcdConfig())
    h.send(AgentLoggedIn("b1", "PJSIP/b1", rostered_only=True))
    assert h.agent("b1") == "AVAILABLE"
    assert h.acd.shift_staffing == ()


# -- short-handed shifts ----------------------------------------------------------------------


def test_a_shift_short_of_calltakers_after_its_grace_period_is_reported_short_handed() -> None:
    h = Harness(AcdConfig(roster=roster(grace=60.0)), start=at("2025-06-02 07:59"))
    out = h.login("a1")  # before the shift: not counted, nothing to report
    assert staffing(out) == []
    out = h.advance(60.0)
    assert staffing(out) == [("siang", 2, 1, False, True)]
    assert [(n.staffed, n.shifts) for n in of(RosterChanged, h.log)] == [
        (False, ()),
        (True, ("siang",)),
    ]
    out = h.advance(60.0)  # the grace period ends with one of two logged in
    assert staffing(out) == [("siang", 2, 1, True, True)]
    assert h.acd.next_deadline() == at("2025-06-02 16:00")
    out = h.login("a2")
    assert staffing(out) == [("siang", 2, 2, False, True)]
    # A phone that drops its registration no longer counts.
    out = h.send(DeviceStateChanged("a2", DeviceState.UNAVAILABLE))
    assert staffing(out) == [("siang", 2, 1, True, True)]
    assert [(s.logged_in, s.short) for s in h.acd.shift_staffing] == [(1, True)]
    out = h.advance(at("2025-06-02 16:00") - h.now)
    assert staffing(out) == [("siang", 2, 1, False, False)]
    assert h.acd.shift_staffing == ()


def test_a_shift_that_names_nobody_and_has_no_head_count_is_never_short_handed() -> None:
    anyone = Shift(dt.time(8), dt.time(16), name="office")
    h = Harness(AcdConfig(roster=roster(anyone)), start=at("2025-06-02 09:00"))
    assert staffing(h.login("a1")) == []
    assert h.acd.next_deadline() == at("2025-06-02 16:00")


def test_staffing_watch_counts_only_those_who_count_for_each_shift() -> None:
    watch = StaffingWatch(grace=0.0)
    shifts = [
        OnShift("pagi", 0.0, 100.0, frozenset({"a1", "a2"}), 2),
        OnShift("bantuan", 0.0, 100.0, frozenset(), 1),
    ]
    notes = watch.update(shifts, ["a1", "x9"], 10.0)
    assert [(n.shift, n.logged_in, n.short) for n in notes] == [
        ("pagi", 1, True),
        ("bantuan", 2, False),
    ]
    assert watch.update(shifts, ["a1", "x9"], 11.0) == []
    assert watch.deadline() is None


def test_a_shift_handing_over_to_one_of_the_same_name_is_no_roster_change() -> None:
    shifts = (
        Shift(dt.time(8), dt.time(16), head_count=1, name="jaga"),
        Shift(dt.time(16), dt.time(8), head_count=1, name="jaga"),
    )
    h = Harness(AcdConfig(roster=roster(*shifts)), start=at("2025-06-02 15:00"))
    h.login("a1")
    out = h.advance(at("2025-06-02 16:00") - h.now)
    assert of(RosterChanged, out) == []
    # The day's occurrence ended and the evening's began, each with its own figures.
    assert staffing(out) == [("jaga", 1, 1, False, True), ("jaga", 1, 1, False, False)]
    assert h.agent("a1") == "AVAILABLE"
