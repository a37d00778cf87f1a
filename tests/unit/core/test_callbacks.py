"""The abandoned-call callback worklist, driven with an explicit clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callgate.core import (
    AcdConfigError,
    AcdUsageError,
    AttemptOutcome,
    CallbackReason,
    CallbackWorklist,
    Priority,
    TaskState,
)
from callgate.core.callbacks import attempt_call_id, task_id_of

T0 = 1_000.0


def test_an_abandoned_call_creates_one_open_task_offerable_at_once() -> None:
    worklist = CallbackWorklist()
    task = worklist.abandoned("c1", "+6281234567", T0)
    assert task is not None
    assert (task.task_id, task.number, task.reason, task.call_ids, task.state) == (
        "cb-1",
        "081234567",
        CallbackReason.ABANDONED,
        ("c1",),
        TaskState.OPEN,
    )
    assert worklist.open_tasks() == [task]
    assert worklist.offerable(T0) == [task]
    assert worklist.next_deadline() == T0


def test_duplicate_abandons_from_one_number_make_one_task_with_every_call() -> None:
    worklist = CallbackWorklist()
    worklist.abandoned("c1", "081234567", T0)
    worklist.dropped("c2", "+62 81234567", T0 + 5)
    again = worklist.abandoned("c2", "081234567", T0 + 6)  # the same call reported twice
    assert again is not None
    assert again.call_ids == ("c1", "c2")
    assert again.reason is CallbackReason.ABANDONED
    assert len(worklist.open_tasks()) == 1


@pytest.mark.parametrize("caller", ["", "anonymous", "Restricted"])
def test_anonymous_callers_get_no_task_because_there_is_nobody_to_call(caller: str) -> None:
    worklist = CallbackWorklist()
    assert worklist.abandoned("c1", caller, T0) is None
    assert worklist.dropped("c2", caller, T0) is None
    assert worklist.open_tasks() == []
    assert worklist.next_deadline() is None


def test_an_answered_call_from_the_same_number_cancels_its_task() -> None:
    worklist = CallbackWorklist()
    worklist.abandoned("c1", "081234567", T0)
    worklist.abandoned("c2", "081999", T0 + 1)
    cancelled = worklist.answered("+6281234567", T0 + 30)
    assert cancelled is not None
    assert (cancelled.state, cancelled.closed_at, cancelled.attempt_call_id) == (
        TaskState.CANCELLED,
        T0 + 30,
        None,
    )
    assert [t.number for t in worklist.open_tasks()] == ["081999"]
    assert worklist.task_for("081234567") is None
    assert worklist.drain_closed() == [cancelled]
    assert worklist.drain_closed() == []
    assert worklist.answered("081234567", T0 + 40) is None


def test_offer_queues_the_task_for_call_takers_at_callback_priority() -> None:
    worklist = CallbackWorklist()
    task = worklist.dropped("c1", "081234567", T0)
    assert task is not None
    event = worklist.offer(task.task_id, T0 + 1)
    assert (event.call_id, event.caller, event.priority, event.category, event.caller_name) == (
        "cb-1.1",
        "081234567",
        Priority.CALLBACK,
        "callback",
        "CALLBACK 081234567",
    )
    dialling = worklist.task_for("081234567")
    assert dialling is not None
    assert dialling.state is TaskState.DIALLING
    assert worklist.offerable(T0 + 1) == []
    assert worklist.next_deadline() is None
    with pytest.raises(AcdUsageError, match="cb-1"):
        worklist.offer(task.task_id, T0 + 2)
    with pytest.raises(AcdUsageError, match="cb-9"):
        worklist.offer("cb-9", T0 + 2)


def test_a_reached_callback_closes_the_task_with_its_outcome_recorded() -> None:
    worklist = CallbackWorklist()
    worklist.abandoned("c1", "081234567", T0)
    worklist.offer("cb-1", T0 + 1)
    done = worklist.attempt_ended(
        "cb-1", AttemptOutcome.REACHED, T0 + 60, agent_id="op-2", note="house fire, sent Damkar"
    )
    assert done is not None
    assert done.state is TaskState.REACHED
    (attempt,) = done.attempts
    assert (attempt.call_id, attempt.started_at, attempt.ended_at, attempt.agent_id) == (
        "cb-1.1",
        T0 + 1,
        T0 + 60,
        "op-2",
    )
    assert worklist.drain_closed() == [done]
    assert worklist.open_tasks() == []


def test_failed_attempts_retry_after_the_delay_then_give_up() -> None:
    worklist = CallbackWorklist(max_attempts=2, retry_delay=120.0)
    worklist.abandoned("c1", "081234567", T0)
    worklist.offer("cb-1", T0)
    retry = worklist.attempt_ended("cb-1", AttemptOutcome.NO_ANSWER, T0 + 30)
    assert retry is not None
    assert (retry.state, retry.next_attempt_at) == (TaskState.OPEN, T0 + 150)
    assert worklist.offerable(T0 + 149) == []
    assert worklist.next_deadline() == T0 + 150
    assert worklist.offer("cb-1", T0 + 150).call_id == "cb-1.2"
    gave_up = worklist.attempt_ended("cb-1", AttemptOutcome.BUSY, T0 + 160)
    assert gave_up is not None
    assert gave_up.state is TaskState.GAVE_UP
    assert [a.outcome for a in gave_up.attempts] == [AttemptOutcome.NO_ANSWER, AttemptOutcome.BUSY]


def test_a_call_answered_while_a_callback_is_dialling_cancels_it_and_names_the_attempt() -> None:
    worklist = CallbackWorklist()
    worklist.abandoned("c1", "081234567", T0)
    worklist.offer("cb-1", T0 + 1)
    cancelled = worklist.answered("081234567", T0 + 2)
    assert cancelled is not None
    assert (cancelled.state, cancelled.attempt_call_id) == (TaskState.CANCELLED, "cb-1.1")
    # The withdrawn attempt's outcome arrives late: it is ignored.
    assert worklist.attempt_ended("cb-1", AttemptOutcome.FAILED, T0 + 3) is None


def test_an_outcome_for_a_task_that_is_not_dialling_is_ignored() -> None:
    worklist = CallbackWorklist()
    worklist.abandoned("c1", "081234567", T0)
    assert worklist.attempt_ended("cb-1", AttemptOutcome.REACHED, T0) is None
    assert worklist.open_tasks()[0].state is TaskState.OPEN


def test_a_new_abandon_after_a_closed_task_opens_a_new_task() -> None:
    worklist = CallbackWorklist()
    worklist.abandoned("c1", "081234567", T0)
    worklist.answered("081234567", T0 + 1)
    task = worklist.abandoned("c2", "081234567", T0 + 2)
    assert task is not None
    assert (task.task_id, task.call_ids) == ("cb-2", ("c2",))


def test_open_tasks_are_listed_oldest_first() -> None:
    worklist = CallbackWorklist()
    for n in range(12):
        worklist.abandoned(f"c{n}", f"0812{n:02d}", T0 + n)
    assert [t.task_id for t in worklist.open_tasks()] == [f"cb-{n + 1}" for n in range(12)]


def test_a_repeat_nuisance_caller_gets_a_task_offered_last_and_in_the_normal_class() -> None:
    worklist = CallbackWorklist()
    worklist.abandoned("c1", "085700000001", T0, nuisance=True)
    worklist.abandoned("c2", "081100000002", T0 + 5)
    assert [t.task_id for t in worklist.offerable(T0 + 5)] == ["cb-2", "cb-1"]
    assert worklist.offer("cb-1", T0 + 6).priority == Priority.NORMAL
    # A later call from that number, no longer screened as nuisance, clears the flag.
    task = worklist.dropped("c3", "085700000001", T0 + 7)
    assert task is not None
    assert not task.nuisance


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"retry_delay": -1}, "retry_delay"),
        ({"first_delay": -1}, "first_delay"),
        ({"id_prefix": ""}, "id_prefix"),
        ({"id_prefix": "cb/"}, "id_prefix"),
        ({"id_prefix": "cb.1-"}, "id_prefix"),
    ],
)
def test_impossible_callback_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(AcdConfigError, match=message):
        CallbackWorklist(**kwargs)  # type: ignore[arg-type]


def test_ids_carry_the_run_prefix_and_attempt_ids_are_channel_and_topic_safe() -> None:
    worklist = CallbackWorklist(id_prefix="cb-k3x9a-")
    task = worklist.abandoned("c1", "081234567", T0)
    assert task is not None
    assert task.task_id == "cb-k3x9a-1"
    call_id = worklist.offer(task.task_id, T0).call_id
    assert call_id == attempt_call_id("cb-k3x9a-1", 1) == "cb-k3x9a-1.1"
    assert "/" not in call_id
    assert task_id_of(call_id) == "cb-k3x9a-1"


def test_the_first_attempt_waits_first_delay_because_callers_often_ring_back() -> None:
    worklist = CallbackWorklist(first_delay=60.0)
    task = worklist.abandoned("c1", "081234567", T0)
    assert task is not None
    assert worklist.offerable(T0 + 59) == []
    assert worklist.next_deadline() == T0 + 60
    assert worklist.offerable(T0 + 60) == [task]


def test_a_withdrawn_offer_reopens_the_task_later_without_counting_an_attempt() -> None:
    worklist = CallbackWorklist(max_attempts=1, retry_delay=30.0)
    worklist.abandoned("c1", "081234567", T0)
    worklist.offer("cb-1", T0)
    task = worklist.withdrawn("cb-1", T0 + 5)
    assert task is not None
    assert (task.state, task.attempts, task.attempt_call_id) == (TaskState.OPEN, (), None)
    assert worklist.offerable(T0 + 34) == []
    assert worklist.offerable(T0 + 35) == [task]
    assert worklist.withdrawn("cb-1", T0 + 36) is None  # not dialling
    assert worklist.withdrawn("cb-9", T0 + 36) is None


def test_restore_reloads_open_tasks_of_an_earlier_run_and_keeps_their_ids() -> None:
    earlier = CallbackWorklist(id_prefix="cb-a-")
    earlier.abandoned("c1", "081234567", T0)
    earlier.abandoned("c2", "081200002", T0 + 1)
    earlier.offer("cb-a-2", T0 + 2)
    stored = earlier.open_tasks()

    worklist = CallbackWorklist(id_prefix="cb-b-")
    restored = worklist.restore(stored)
    assert [(t.task_id, t.state, t.attempt_call_id) for t in restored] == [
        ("cb-a-1", TaskState.OPEN, None),
        ("cb-a-2", TaskState.OPEN, None),  # its attempt died with the old process
    ]
    assert worklist.task_for("+6281234567") == restored[0]
    again = worklist.abandoned("c3", "081234567", T0 + 3)
    assert again is not None
    assert again.call_ids == ("c1", "c3")
    fresh = worklist.abandoned("c4", "081200004", T0 + 4)
    assert fresh is not None
    assert fresh.task_id == "cb-b-1"
    assert [t.task_id for t in worklist.open_tasks()] == ["cb-a-1", "cb-a-2", "cb-b-1"]
    with pytest.raises(AcdUsageError, match="already open"):
        worklist.restore(stored[:1])
    closed = worklist.answered("081200004", T0 + 5)
    assert closed is not None
    with pytest.raises(AcdUsageError, match="closed"):
        CallbackWorklist().restore([closed])


# -- properties ------------------------------------------------------------------------------

NUMBERS = ("081201001", "+6281201001", "081202002", "081203003", "", "anonymous")
OPS = st.lists(
    st.tuples(
        st.sampled_from(["abandon", "drop", "answer", "offer", "outcome"]),
        st.sampled_from(NUMBERS),
        st.sampled_from(list(AttemptOutcome)),
    ),
    max_size=60,
)


@given(OPS)
def test_one_open_task_per_number_and_none_survives_an_answered_call(
    ops: list[tuple[str, str, AttemptOutcome]],
) -> None:
    worklist = CallbackWorklist(max_attempts=2, retry_delay=0.0)
    now = T0
    for n, (op, caller, outcome) in enumerate(ops):
        now += 1.0
        if op == "abandon":
            worklist.abandoned(f"c{n}", caller, now)
        elif op == "drop":
            worklist.dropped(f"c{n}", caller, now)
        elif op == "answer":
            worklist.answered(caller, now)
            assert worklist.task_for(caller) is None
        elif op == "offer":
            for task in worklist.offerable(now)[:1]:
                worklist.offer(task.task_id, now)
        else:
            task = worklist.task_for(caller)
            if task is not None:
                worklist.attempt_ended(task.task_id, outcome, now)
        numbers = [t.number for t in worklist.open_tasks()]
        assert len(numbers) == len(set(numbers))
        assert "" not in numbers
