"""Queue announcements: who hears their position and expected wait, when, and never in the way
of a ring; driven through the facade with an explicit clock."""

from __future__ import annotations

import pytest
from conftest import Harness, of

from callgate.core import (
    AcdConfig,
    AcdConfigError,
    AgentPaused,
    AgentUnpaused,
    AnnouncementPolicy,
    AnnounceQueue,
    BlockingPolicy,
    CallArrived,
    CallerHistory,
    CallerHungUp,
    CallerSpoke,
    Command,
    DeviceState,
    DeviceStateChanged,
    Disposition,
    DispositionRecord,
    PlayAnnouncement,
    RingAgent,
    ScreeningPolicy,
    SilencePolicy,
    StopQueueAnnouncement,
)

POLICY = AnnouncementPolicy(first_after=20.0, period=30.0, handling_time=120.0)


def harness(policy: AnnouncementPolicy | None = POLICY, **config: object) -> Harness:
    """A centre with one call-taker, logged in but whose phone is not registered yet: callers
    wait for as long as the test likes (no overflow)."""
    h = Harness(AcdConfig(max_wait=None, announcements=policy, **config))  # type: ignore[arg-type]
    h.login("a1")
    h.send(DeviceStateChanged("a1", DeviceState.UNAVAILABLE))
    return h


def said(commands: list[Command]) -> list[tuple[str, int | None, float | None, float]]:
    return [(c.call_id, c.position, c.expected_wait, c.at) for c in of(AnnounceQueue, commands)]


def arrive(h: Harness, call_id: str, after: float, **kwargs: object) -> list[Command]:
    return h.send(CallArrived(call_id, caller=f"08{call_id}", **kwargs), after)  # type: ignore[arg-type]


def free(h: Harness) -> list[Command]:
    return h.send(DeviceStateChanged("a1", DeviceState.NOT_INUSE))


def test_given_a_waiting_caller_then_announced_first_after_then_every_period() -> None:
    h = harness()
    t0 = h.now
    h.arrive("c1")
    assert h.acd.next_deadline() == t0 + 20
    assert said(h.advance(19.9)) == []
    out = h.advance(70.1)
    # Position 1; one call-taker on duty, 120 s per call assumed: 2 minutes.
    assert said(out) == [
        ("c1", 1, 120.0, t0 + 20),
        ("c1", 1, 120.0, t0 + 50),
        ("c1", 1, 120.0, t0 + 80),
    ]
    assert h.acd.next_deadline() == t0 + 110


def test_given_callers_ahead_leave_then_the_position_moves_up() -> None:
    h = harness()
    t0 = h.now
    h.arrive("c1")
    arrive(h, "c2", after=1)
    arrive(h, "c3", after=1)
    out = h.advance(20)
    assert [(c, p) for c, p, *_ in said(out)] == [("c1", 1), ("c2", 2), ("c3", 3)]
    assert said(out)[2][2] == 360.0  # third in line: three calls of 120 s before theirs ends
    h.send(CallerHungUp("c1"), after=5)
    h.send(CallerHungUp("c2"), after=1)
    out = h.advance(30)
    assert said(out) == [("c3", 1, 120.0, t0 + 52)]


def test_given_callers_who_arrived_together_then_each_hears_their_own_position() -> None:
    h = harness()
    h.arrive("c1")
    h.arrive("c2")
    assert [(c, p) for c, p, *_ in said(h.advance(20))] == [("c1", 1), ("c2", 2)]


def test_given_a_raised_call_then_it_goes_ahead_of_earlier_callers() -> None:
    h = harness()
    h.arrive("c1")
    arrive(h, "c2", after=1, priority=0)  # a higher class (a key pressed, a supervisor's raise)
    out = h.advance(20)
    assert {c: p for c, p, *_ in said(out)} == {"c1": 2, "c2": 1}


def test_given_an_offer_then_the_ring_goes_out_first_and_the_announcement_is_stopped() -> None:
    h = harness()
    h.arrive("c1")
    h.advance(25)  # heard one at 20 s
    out = free(h)
    ring, stop = of(RingAgent, out), of(StopQueueAnnouncement, out)
    assert ring
    assert stop == [StopQueueAnnouncement("c1")]
    assert out.index(ring[0]) < out.index(stop[0])


def test_given_a_call_offered_then_no_announcement_while_it_rings() -> None:
    h = Harness(AcdConfig(max_wait=None, ring_timeout=60.0, announcements=POLICY))
    h.login("a1")
    out = h.arrive("c1")  # rings a1 at once, who never answers within 60 s
    assert of(RingAgent, out)
    assert of(StopQueueAnnouncement, out) == []  # nothing was said: nothing to stop
    assert said(h.advance(59)) == []


def test_given_a_ring_that_ends_unanswered_then_announcements_go_on_a_period_later() -> None:
    h = Harness(AcdConfig(max_wait=None, ring_timeout=60.0, announcements=POLICY))
    h.login("a1", "a2")
    h.send(DeviceStateChanged("a2", DeviceState.UNAVAILABLE))
    t0 = h.now
    h.send(DeviceStateChanged("a1", DeviceState.IN_USE))  # a1 busy elsewhere
    h.arrive("c1")
    assert said(h.advance(20)) == [("c1", 1, 60.0, t0 + 20)]  # two call-takers on duty
    out = h.send(DeviceStateChanged("a2", DeviceState.NOT_INUSE), after=5)
    assert of(StopQueueAnnouncement, out) == [StopQueueAnnouncement("c1")]
    # The turn at 50 s comes while a2's phone rings: skipped.
    assert said(h.advance(27)) == []
    h.send(DeviceStateChanged("a2", DeviceState.UNAVAILABLE))  # the ring ends at 52 s
    assert h.state("c1") == "QUEUED"
    assert said(h.advance(29)) == [("c1", 1, 60.0, t0 + 80)]
    # Offered again: stopped again (it heard one since).
    out = h.send(DeviceStateChanged("a1", DeviceState.NOT_INUSE))
    assert of(StopQueueAnnouncement, out) == [StopQueueAnnouncement("c1")]


def test_given_a_connected_call_then_its_turns_end() -> None:
    h = harness()
    h.arrive("c1")
    h.advance(21)
    free(h)
    h.connect("c1", "a1")
    assert said(h.advance(600)) == []
    assert h.acd.next_deadline() is None


def test_given_conversations_have_ended_then_the_estimate_is_their_mean_handling_time() -> None:
    h = Harness(AcdConfig(max_wait=None, wrap_up_time=10.0, announcements=POLICY))
    h.login("a1")
    for call_id, talk in (("old1", 50.0), ("old2", 70.0)):
        h.arrive(call_id)
        h.connect(call_id, "a1")
        h.send(CallerHungUp(call_id), after=talk)
        h.advance(10)  # wrap-up
    h.send(DeviceStateChanged("a1", DeviceState.UNAVAILABLE))
    h.arrive("c1")
    arrive(h, "c2", after=1)
    out = h.advance(20)
    # (50 + 10 + 70 + 10) / 2 = 70 s a call; c2 is second.
    assert [w for *_, w, _ in said(out)] == [70.0, 140.0]


def test_given_every_call_taker_paused_then_only_the_position_is_said() -> None:
    h = harness()
    h.send(AgentPaused("a1", "prayer"))
    h.arrive("c1")
    assert said(h.advance(20)) == [("c1", 1, None, h.now)]
    h.send(AgentUnpaused("a1"))
    assert said(h.advance(30))[0][2] == 120.0


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (AnnouncementPolicy(position=False), (None, 120.0)),
        (AnnouncementPolicy(wait=False), (1, None)),
    ],
)
def test_given_what_to_say_then_only_that_is_said(
    policy: AnnouncementPolicy, expected: tuple[int | None, float | None]
) -> None:
    h = harness(policy)
    h.arrive("c1")
    [(_, position, wait, _)] = said(h.advance(20))
    assert (position, wait) == expected


def test_given_a_silent_caller_under_watch_then_no_announcement_until_the_watch_ends() -> None:
    silence = SilencePolicy(silence_seconds=15.0, key_seconds=10.0)
    policy = AnnouncementPolicy(first_after=20.0, period=10.0)
    h = harness(policy, silence=silence)
    t0 = h.now
    h.arrive("c1")  # silent: prompted at 15 s, classed ghost at 25 s
    arrive(h, "c2", after=1)
    h.advance(19)
    h.send(CallerSpoke("c2"))  # c2 talks: its watch ends
    out = h.advance(0.5)
    assert said(out) == []  # c1 is watched, c2's first turn is at 21 s
    out = h.advance(10)
    # c2 at 21 s (position 2: c1 is ahead until the watch lowers it at 25 s); c1's turn at 20 s
    # was skipped (watched), its next at 30 s is after the watch (lowered: behind c2).
    assert said(out) == [("c2", 2, 240.0, t0 + 21), ("c1", 2, 240.0, t0 + 30)]


def test_given_announcements_off_then_none_and_no_deadline_for_them() -> None:
    h = harness(None)
    h.arrive("c1")
    assert h.acd.next_deadline() is None
    assert said(h.advance(600)) == []


def test_given_a_blocked_caller_then_no_queue_announcement() -> None:
    now = 1_000.0
    history = CallerHistory(
        "081100",
        dispositions=tuple(DispositionRecord(now - 60, Disposition.PRANK, "x") for _ in range(3)),
    ).with_block(now - 60, 86_400.0, "auto", "score")
    screening = ScreeningPolicy(blocking=BlockingPolicy(announcement="sound:diblokir"))
    h = harness(screening=screening)
    out = h.send(CallArrived("b1", caller="081100", history=history))
    assert of(PlayAnnouncement, out)
    assert said(h.advance(600)) == []


def test_given_a_resumed_call_then_it_is_announced_to_as_well() -> None:
    h = harness()
    h.send(CallArrived("c1", caller="0811", resumed=True))
    assert [c for c, *_ in said(h.advance(20))] == ["c1"]


@pytest.mark.parametrize(
    "bad",
    [
        {"first_after": 0},
        {"period": -1},
        {"handling_time": 0},
        {"position": False, "wait": False},
        {"recent": 0},
    ],
)
def test_a_bad_policy_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(AcdConfigError):
        AnnouncementPolicy(**bad)  # type: ignore[arg-type]
