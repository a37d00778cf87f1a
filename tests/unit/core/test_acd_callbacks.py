"""The callback worklist inside the core: tasks from abandoned calls, attempts offered behind
``next_deadline()`` when a call-taker is free, outcomes from the driver's reports."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import Harness, actions, of

from callgate.core import (
    AcdConfig,
    AcdConfigError,
    AcdUsageError,
    AgentAnswered,
    AgentHungUp,
    AgentNoAnswer,
    AttemptOutcome,
    CallArrived,
    CallbackFailed,
    CallbackPolicy,
    CallbackReason,
    CallbackRequested,
    CallbacksRestored,
    CallbackTaskChanged,
    CallBridged,
    CallEnded,
    CallerHungUp,
    CallStateChanged,
    Command,
    DialCallback,
    PrepareCallback,
    Priority,
    ReadinessChanged,
    RingAgent,
    Roster,
    Shift,
    TaskState,
)
from callgate.core.callbacks import CallbackTask

NUMBER = "+6281234567"


def config(**policy: object) -> AcdConfig:
    return AcdConfig(
        max_wait=None,
        wrap_up_time=5.0,
        callbacks=CallbackPolicy(id_prefix="cb-t-", **policy),  # type: ignore[arg-type]
    )


def changes(out: list[Command]) -> list[tuple[str, str, TaskState]]:
    return [(c.change, c.call_id, c.task.state) for c in of(CallbackTaskChanged, out)]


def busy_then_abandoned(h: Harness, *callers: str) -> None:
    """a1 is on a call while each caller waits and hangs up."""
    h.login("a1")
    h.send(CallArrived("busy", caller="+6289999"))
    h.connect("busy", "a1")
    for n, caller in enumerate(callers or (NUMBER,)):
        h.send(CallArrived(f"a{n + 1}", caller=caller))
        h.send(CallerHungUp(f"a{n + 1}"), after=5.0)


def free_a1(h: Harness) -> list[Command]:
    out = h.send(AgentHungUp("busy", "a1"))
    return out + h.advance(5.0)  # wrap-up over


def test_an_abandoned_call_makes_a_task_offered_once_a_call_taker_is_free() -> None:
    h = Harness(config())
    busy_then_abandoned(h)
    assert changes(h.log) == [("abandoned", "a1", TaskState.OPEN)]
    out = free_a1(h)
    # Laid out first, then queued like a call, at callback priority, and rung at once.
    assert actions(out)[-2:] == [
        ("PrepareCallback", "cb-t-1.1"),
        ("RingAgent", "cb-t-1.1", "a1"),
    ]
    (prepare,) = of(PrepareCallback, out)
    assert (prepare.number, prepare.priority) == ("081234567", Priority.CALLBACK)
    (ring,) = of(RingAgent, out)
    assert ring.caller_id_name == "CALLBACK 081234567"
    assert changes(out) == [("offered", "cb-t-1.1", TaskState.DIALLING)]
    call = h.acd.calls["cb-t-1.1"]
    assert (call.category, call.state.name) == ("callback", "OFFERED")
    first = next(c for c in of(CallStateChanged, out) if c.call_id == "cb-t-1.1")
    assert (first.cause, first.category, first.caller) == ("CallArrived", "callback", "081234567")


def test_an_attempt_the_number_answers_is_dialled_bridged_and_ends_reached() -> None:
    h = Harness(config())
    busy_then_abandoned(h)
    free_a1(h)
    out = h.send(AgentAnswered("cb-t-1.1", "a1"))
    assert actions(out) == [("DialCallback", "cb-t-1.1", "a1")]
    assert of(DialCallback, out)[0].number == "081234567"
    out = h.send(CallBridged("cb-t-1.1"), after=12.0)  # the number answered
    assert changes(out) == []  # its own answer cancels nothing
    out = h.send(AgentHungUp("cb-t-1.1", "a1"), after=40.0)
    (task,) = [c.task for c in of(CallbackTaskChanged, out)]
    assert (task.state, [a.outcome for a in task.attempts]) == (
        TaskState.REACHED,
        [AttemptOutcome.REACHED],
    )
    assert task.attempts[0].agent_id == "a1"
    assert changes(out)[0][:2] == ("attempt-ended", "cb-t-1.1")
    assert of(CallbackTaskChanged, out)[0].outcome == "reached"
    assert h.acd.next_deadline() is not None  # the wrap-up; no task left
    assert not [c for c in h.advance(600.0) if isinstance(c, PrepareCallback)]


def test_a_busy_number_counts_an_attempt_and_is_retried_after_the_delay() -> None:
    h = Harness(config(retry_delay=120.0, max_attempts=2))
    busy_then_abandoned(h)
    free_a1(h)
    h.send(AgentAnswered("cb-t-1.1", "a1"))
    out = h.send(CallbackFailed("cb-t-1.1", AttemptOutcome.BUSY, "User busy"), after=8.0)
    assert ("HangUpAgent", "cb-t-1.1", "a1") in actions(out)
    assert of(CallEnded, out)[0].outcome.name == "ABANDONED"
    (note,) = of(CallbackTaskChanged, out)
    assert (note.change, note.outcome, note.task.state) == ("attempt-ended", "busy", TaskState.OPEN)
    [attempt] = note.task.attempts
    assert (attempt.outcome, attempt.agent_id, attempt.note) == (
        AttemptOutcome.BUSY,
        "a1",
        "User busy",
    )
    assert note.task.next_attempt_at == h.now + 120.0
    # The retry is a deadline of its own: the driver's timer wakes the core for it.
    h.advance(5.0)  # wrap-up
    assert h.acd.next_deadline() == note.task.next_attempt_at
    out = h.advance(115.0)
    assert ("PrepareCallback", "cb-t-1.2") in actions(out)
    # The second failure is the last allowed: given up.
    h.send(AgentAnswered("cb-t-1.2", "a1"))
    out = h.send(CallbackFailed("cb-t-1.2", AttemptOutcome.NO_ANSWER, "No answer"))
    assert changes(out) == [("attempt-ended", "cb-t-1.2", TaskState.GAVE_UP)]


def test_an_attempt_nobody_takes_is_withdrawn_uncounted_not_left_ahead_of_112_callers() -> None:
    h = Harness(config(retry_delay=60.0))
    busy_then_abandoned(h)
    free_a1(h)
    out = h.send(AgentNoAnswer("cb-t-1.1", "a1"), after=3.0)
    assert actions(out) == [
        ("CancelRing", "cb-t-1.1", "a1", "no-answer"),
        ("CancelCallback", "cb-t-1.1"),
    ]
    assert "cb-t-1.1" not in h.acd.calls
    assert not h.acd.queued_calls()
    (note,) = of(CallbackTaskChanged, out)
    assert (note.change, note.outcome, note.task.state, note.task.attempts) == (
        "not-taken",
        "abandoned",
        TaskState.OPEN,
        (),
    )
    transitions = [str(c) for c in of(CallStateChanged, out)]
    assert transitions == [
        "call cb-t-1.1: OFFERED -[AgentNoAnswer]-> QUEUED",
        "call cb-t-1.1: QUEUED -[CallbackWithdrawn]-> ABANDONED",
    ]
    assert h.acd.next_deadline() == h.now + 60.0


def test_a_call_taker_who_leaves_before_anything_was_dialled_withdraws_the_attempt() -> None:
    h = Harness(config())
    busy_then_abandoned(h)
    free_a1(h)
    h.send(AgentAnswered("cb-t-1.1", "a1"))
    out = h.send(AgentHungUp("cb-t-1.1", "a1"))
    assert ("CancelCallback", "cb-t-1.1") in actions(out)
    assert changes(out) == [("not-taken", "cb-t-1.1", TaskState.OPEN)]


def test_an_answered_112_call_from_the_number_cancels_its_task_and_the_ringing_attempt() -> None:
    h = Harness(config())
    busy_then_abandoned(h)
    h.login("a2")  # free: the attempt rings a2 at once
    assert "cb-t-1.1" in h.acd.calls
    h.send(AgentHungUp("busy", "a1"))
    h.advance(5.0)
    h.send(CallArrived("a9", caller="081234567"))
    out = h.send(AgentAnswered("a9", "a1"))
    out = h.send(CallBridged("a9"))
    assert actions(out) == [
        ("CancelRing", "cb-t-1.1", "a2", "caller-hung-up"),
        ("CancelCallback", "cb-t-1.1"),
    ]
    assert changes(out)[0] == ("cancelled", "a9", TaskState.CANCELLED)
    assert "cb-t-1.1" not in h.acd.calls
    assert h.agent("a2") == "AVAILABLE"


def test_an_attempt_already_talking_to_the_number_goes_on_when_the_task_is_cancelled() -> None:
    h = Harness(config())
    busy_then_abandoned(h)
    free_a1(h)
    h.login("a2")
    h.connect("cb-t-1.1", "a1")  # the number answered the callback
    h.send(CallArrived("a9", caller=NUMBER))  # and also dials 112 from another phone line
    out = h.connect("a9", "a2")
    assert changes(out) == [("cancelled", "a9", TaskState.CANCELLED)]
    assert actions(out) == [("Bridge", "a9", "a2")]
    assert h.state("cb-t-1.1") == "CONNECTED"
    out = h.send(CallerHungUp("cb-t-1.1"))
    assert changes(out) == []  # the task is closed already


def test_attempts_wait_for_a_free_call_taker_and_stay_under_max_concurrent() -> None:
    h = Harness(config(max_concurrent=1))
    busy_then_abandoned(h, NUMBER, "+6281111111")
    h.login("a2")
    assert [c.call_id for c in of(PrepareCallback, h.log)] == ["cb-t-1.1"]
    free_a1(h)
    assert [c.call_id for c in of(PrepareCallback, h.log)] == ["cb-t-1.1"]  # one at a time
    h.connect("cb-t-1.1", "a2")
    h.send(AgentHungUp("cb-t-1.1", "a2"))
    assert [c.call_id for c in of(PrepareCallback, h.log)] == ["cb-t-1.1", "cb-t-2.1"]


def test_a_due_task_with_nobody_free_sets_no_deadline_in_the_past() -> None:
    h = Harness(config())
    busy_then_abandoned(h)
    assert h.acd.next_deadline() is None  # the task is due; only a free call-taker helps
    h.send(AgentHungUp("busy", "a1"))
    assert h.acd.next_deadline() == h.now + 5.0  # the wrap-up


def test_a_first_delay_is_a_deadline_and_a_112_call_waiting_goes_first() -> None:
    h = Harness(config(first_delay=60.0))
    busy_then_abandoned(h)
    assert h.acd.next_deadline() == h.now + 60.0
    free_a1(h)
    assert not of(PrepareCallback, h.log)
    h.send(CallArrived("w1", caller="0822"))  # rings a1 at once
    h.connect("w1", "a1")
    out = h.advance(60.0)
    assert not of(PrepareCallback, out)  # due, but a1 is talking to w1
    h.send(AgentHungUp("w1", "a1"))
    out = h.advance(5.0)
    assert ("PrepareCallback", "cb-t-1.1") in actions(out)


def test_no_attempts_while_the_driver_is_not_ready_or_out_of_hours() -> None:
    h = Harness(config())
    h.send(ReadinessChanged(False))
    busy_then_abandoned(h)
    free_a1(h)
    assert not of(PrepareCallback, h.log)
    out = h.send(ReadinessChanged(True))
    assert ("PrepareCallback", "cb-t-1.1") in actions(out)

    night = Roster("WITA", (Shift(dt.time(0), dt.time(1), agents=frozenset({"a1"})),))
    start = dt.datetime(2025, 6, 2, 0, 59, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
    h = Harness(AcdConfig(max_wait=None, roster=night, callbacks=CallbackPolicy()), start=start)
    busy_then_abandoned(h)
    out = h.send(AgentHungUp("busy", "a1"), after=60.0)  # 01:00: out of hours
    out += h.advance(600.0)
    assert not of(PrepareCallback, out)


def test_only_a_rostered_free_call_taker_takes_an_attempt() -> None:
    shift = Roster("WITA", (Shift(dt.time(0), dt.time(23, 59), agents=frozenset({"a1"})),))
    start = dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()
    h = Harness(
        AcdConfig(max_wait=None, wrap_up_time=5.0, roster=shift, callbacks=CallbackPolicy()),
        start=start,
    )
    busy_then_abandoned(h)
    assert not of(PrepareCallback, h.login("a2"))  # free, but not on the shift
    out = free_a1(h)
    assert ("PrepareCallback", "cb-1.1") in actions(out)


def test_a_repeat_nuisance_caller_s_task_is_offered_in_the_normal_class() -> None:
    h = Harness(config())
    h.login("a1")
    h.send(CallArrived("busy", caller="+6289999"))
    h.connect("busy", "a1")
    h.send(CallArrived("a1c", caller=NUMBER, category="repeat-nuisance"))
    h.send(CallerHungUp("a1c"))
    (note,) = of(CallbackTaskChanged, h.log)
    assert note.task.nuisance
    out = free_a1(h)
    assert of(PrepareCallback, out)[0].priority == Priority.NORMAL


def test_cad_asks_to_call_back_a_live_call_an_ended_one_or_an_unknown_one() -> None:
    h = Harness(config(first_delay=3600.0))
    h.login("a1")
    h.send(CallArrived("d1", caller=NUMBER))
    h.connect("d1", "a1")
    out = h.send(CallbackRequested("d1", caller="ignored"))  # live: the core's own caller
    assert changes(out) == [("requested", "d1", TaskState.OPEN)]
    assert of(CallbackTaskChanged, out)[0].task.number == "081234567"
    out = h.send(CallerHungUp("d1"))  # its own end does not cancel the task about it
    assert changes(out) == []
    out = h.send(CallbackRequested("old", caller="+6287777777", category="repeat-nuisance"))
    (note,) = of(CallbackTaskChanged, out)
    assert (note.task.number, note.task.reason.value, note.task.nuisance) == (
        "087777777",
        "dropped",
        True,
    )
    assert h.send(CallbackRequested("unknown")) == []


def test_restored_tasks_keep_their_ids_and_are_offered_when_due() -> None:
    task = CallbackTask("cb-old-3", "081234567", CallbackReason.ABANDONED, ("x1",), 500.0)
    h = Harness(config())
    out = h.send(CallbacksRestored((task,)))
    assert changes(out) == [("restored", "", TaskState.OPEN)]
    out = h.login("a1")
    assert ("PrepareCallback", "cb-old-3.1") in actions(out)
    with pytest.raises(AcdUsageError):
        h.send(CallbacksRestored((task,)))


def test_without_a_callback_policy_callback_events_change_nothing() -> None:
    h = Harness(AcdConfig(max_wait=None))
    busy_then_abandoned(h)
    task = CallbackTask("cb-old-3", "081234567", CallbackReason.ABANDONED, ("x1",), 500.0)
    assert actions(h.send(CallbacksRestored((task,)))) == []
    assert h.send(CallbackRequested("a1", caller=NUMBER)) == []
    assert h.send(CallbackFailed("a1", AttemptOutcome.BUSY)) == []
    assert not of(CallbackTaskChanged, h.log)


def test_a_call_sent_to_the_fallback_queue_makes_no_task() -> None:
    h = Harness(config())
    out = h.send(CallArrived("f1", caller=NUMBER))  # nobody logged in: the fallback queue
    assert of(CallEnded, out)[0].outcome.name == "FALLBACK"
    assert changes(out) == []


def test_a_callback_policy_needs_room_for_one_attempt() -> None:
    with pytest.raises(AcdConfigError):
        CallbackPolicy(max_concurrent=0)
    with pytest.raises(AcdConfigError):
        CallbackPolicy(id_prefix="cb/")
