"""Shifts in the centre's time zone, out-of-hours routing and shift changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from conftest import Harness, actions

from callgate.core import AcdConfig, AcdConfigError, AgentHungUp, CallerHungUp, Roster, Shift
from callgate.core.roster import parse_time

WITA = ZoneInfo("Asia/Makassar")


def at(text: str, tz: ZoneInfo = WITA) -> float:
    """Epoch of a local wall-clock time; 2025-06-02 is a Monday."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


OFFICE_HOURS = Roster("WITA", (Shift(dt.time(8), dt.time(16), name="day"),))


@pytest.mark.parametrize(
    ("roster", "local", "staffed", "next_change"),
    [
        (OFFICE_HOURS, "2025-06-02 07:59", False, "2025-06-02 08:00"),
        (OFFICE_HOURS, "2025-06-02 08:00", True, "2025-06-02 16:00"),
        (OFFICE_HOURS, "2025-06-02 16:00", False, "2025-06-03 08:00"),
        (
            Roster("WITA", (Shift(dt.time(22), dt.time(6)),)),
            "2025-06-03 02:00",
            True,
            "2025-06-03 06:00",
        ),
        (
            Roster("WITA", (Shift(dt.time(22), dt.time(6), weekdays=frozenset({4})),)),
            "2025-06-07 01:00",
            True,
            "2025-06-07 06:00",
        ),
        (
            Roster("WITA", (Shift(dt.time(22), dt.time(6), weekdays=frozenset({4})),)),
            "2025-06-08 01:00",
            False,
            "2025-06-13 22:00",
        ),
        (
            Roster("WITA", (Shift(dt.time(7), dt.time(7)),)),
            "2025-06-03 06:59",
            True,
            "2025-06-03 07:00",
        ),
        (Roster("WITA", ()), "2025-06-03 06:59", False, "2025-06-11 06:59"),
    ],
)
def test_roster_says_whether_the_centre_is_staffed_and_when_that_changes(
    roster: Roster, local: str, staffed: bool, next_change: str
) -> None:
    state = roster.state_at(at(local))
    assert state.staffed is staffed
    assert state.until == at(next_change)


def test_rostered_agents_are_the_union_of_the_shifts_on_and_empty_means_anyone() -> None:
    roster = Roster(
        "Asia/Makassar",
        (
            Shift(dt.time(0), dt.time(8), agents=frozenset({"n1"})),
            Shift(dt.time(7), dt.time(15), agents=frozenset({"d1"})),
            Shift(dt.time(14), dt.time(16)),
        ),
    )
    assert roster.state_at(at("2025-06-02 07:30")).rostered == {"n1", "d1"}
    assert roster.state_at(at("2025-06-02 14:30")).rostered is None
    assert roster.state_at(at("2025-06-02 20:00")).rostered is None


@pytest.mark.parametrize(
    ("name", "zone"), [("WIB", "Asia/Jakarta"), ("WITA", "Asia/Makassar"), ("WIT", "Asia/Jayapura")]
)
def test_indonesian_zone_names_map_to_iana_zones(name: str, zone: str) -> None:
    assert Roster(name).zone == ZoneInfo(zone)


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../etc"])
def test_unknown_time_zone_is_a_config_error(zone: str) -> None:
    with pytest.raises(AcdConfigError, match="time zone"):
        Roster(zone)


@pytest.mark.parametrize(
    ("text", "expected"), [("08:00", dt.time(8)), ("24:00", dt.time(0)), ("23:59", dt.time(23, 59))]
)
def test_parse_time_reads_hh_mm(text: str, expected: dt.time) -> None:
    assert parse_time(text) == expected


def test_parse_time_rejects_garbage() -> None:
    with pytest.raises(AcdConfigError, match="HH:MM"):
        parse_time("8h")


def test_out_of_hours_calls_overflow_at_once_and_waiting_calls_overflow_at_closing() -> None:
    config = AcdConfig(
        roster=OFFICE_HOURS, overflow_destinations=("neighbour", "fb"), max_wait=None
    )
    h = Harness(config, start=at("2025-06-02 07:00"))
    h.login("a1")
    assert not h.acd.staffed
    assert actions(h.arrive("early")) == [
        ("SendToDestination", "early", "out-of-hours", "neighbour")
    ]
    assert h.acd.next_deadline() == at("2025-06-02 08:00")
    h.advance(at("2025-06-02 15:00") - h.now)
    assert h.acd.staffed
    h.arrive("c1")
    h.connect("c1", "a1")
    h.arrive("c2")
    out = h.advance(at("2025-06-02 16:00") - h.now)
    assert actions(out) == [("SendToDestination", "c2", "out-of-hours", "neighbour")]
    # The call in progress survives closing time.
    assert h.state("c1") == "CONNECTED"
    h.send(AgentHungUp("c1", "a1"), after=60.0)
    assert h.state("c1") == "COMPLETED"


def test_shift_change_gives_new_calls_to_the_new_shift_and_lets_the_old_one_finish() -> None:
    roster = Roster(
        "WITA",
        (
            Shift(dt.time(0), dt.time(8), agents=frozenset({"night"})),
            Shift(dt.time(8), dt.time(0), agents=frozenset({"day"})),
        ),
    )
    h = Harness(AcdConfig(roster=roster, max_wait=None), start=at("2025-06-02 07:58"))
    h.login("night", "day")
    assert actions(h.arrive("c1")) == [("RingAgent", "c1", "night")]
    h.connect("c1", "night")
    h.arrive("c2")
    assert h.state("c2") == "QUEUED"
    out = h.advance(120.0)
    assert actions(out) == [("RingAgent", "c2", "day")]
    assert h.state("c1") == "CONNECTED"


def test_shift_whose_rostered_agents_are_not_logged_in_overflows_waiting_calls() -> None:
    roster = Roster(
        "WITA",
        (
            Shift(dt.time(0), dt.time(8), agents=frozenset({"night"})),
            Shift(dt.time(8), dt.time(0), agents=frozenset({"day"})),
        ),
    )
    config = AcdConfig(roster=roster, max_wait=None, ring_timeout=300.0)
    h = Harness(config, start=at("2025-06-02 07:58"))
    h.login("night")
    h.arrive("c0")
    h.arrive("c1")
    out = h.advance(120.0)
    assert actions(out) == [("SendToDestination", "c1", "nobody-logged-in", "fallback-queue")]
    h.send(CallerHungUp("c0"))
    assert actions(h.arrive("c2")) == [
        ("SendToDestination", "c2", "nobody-logged-in", "fallback-queue")
    ]
