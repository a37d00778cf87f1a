"""The callback worklist in the daemon: the real ACD core and engine, a fake of ARI's part."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callgate.callbacks import Callbacks, run_prefix
from callgate.config import CallbackSettings
from callgate.core.acd import Acd
from callgate.core.callbacks import AttemptOutcome, TaskState
from callgate.core.calls import CallState
from callgate.core.commands import CallEnded, Command, RingAgent
from callgate.core.config import AcdConfig
from callgate.core.events import (
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    AgentNoAnswer,
    CallArrived,
    CallBridged,
    CallerHungUp,
    Event,
    Priority,
)
from callgate.engine import Engine
from callgate.storage.callbacks import callback_tasks_between, open_callback_tasks
from callgate.storage.journal import Journal

T0 = 1_800_000_000.0
NUMBER = "+6281234567"


async def settle(until: Callable[[], bool] = lambda: False, turns: int = 200) -> None:
    """Let background work (the offering loop, withdrawals) run: until ``until()`` holds, or
    for ``turns`` event-loop turns (a bound, not a timing)."""
    for _ in range(turns):
        if until():
            return
        await asyncio.sleep(0)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Executor:
    """Carries out nothing; remembers the commands (the ARI adapter's place)."""

    def __init__(self) -> None:
        self.commands: list[Command] = []

    async def execute(self, command: Command) -> Sequence[Event]:
        self.commands.append(command)
        return ()


class Dialer:
    """The ARI adapter's callback part, as the driver sees it."""

    def __init__(self) -> None:
        self.expected: list[tuple[str, str, int]] = []
        self.cancelled: list[str] = []
        self.results: dict[str, tuple[AttemptOutcome, str]] = {}

    async def expect_callback(self, call_id: str, number: str, priority: int) -> None:
        self.expected.append((call_id, number, priority))

    def callback_result(self, call_id: str) -> tuple[AttemptOutcome, str] | None:
        return self.results.pop(call_id, None)

    async def cancel_callback(self, call_id: str) -> None:
        self.cancelled.append(call_id)


class Rig:
    def __init__(self, journal: Journal, **settings: float) -> None:
        self.clock = Clock()
        self.executor = Executor()
        self.dialer = Dialer()
        self.journal = journal
        self.engine = Engine(
            Acd(AcdConfig(ring_timeout=30.0, wrap_up_time=0.0)), self.executor, clock=self.clock
        )
        self.callbacks = Callbacks(
            CallbackSettings(**settings),  # type: ignore[arg-type]
            self.dialer,
            journal,
            clock=self.clock,
            id_prefix="cb-t-",
        )
        self.callbacks.engine = self.engine
        self.engine.observers.append(self.callbacks.notification)

    async def abandon(self, call_id: str, caller: str = NUMBER, category: str = "") -> None:
        await self.engine.feed(CallArrived(call_id, caller=caller, category=category))
        self.clock.now += 5
        await self.engine.feed(CallerHungUp(call_id))

    async def answered_call(self, call_id: str, agent: str, caller: str = NUMBER) -> None:
        await self.engine.feed(CallArrived(call_id, caller=caller))
        await self.engine.feed(AgentAnswered(call_id, agent), CallBridged(call_id))

    async def abandoned_while_busy(self, agent: str) -> None:
        """Start; ``agent`` logs in and is busy on another call while ``a1`` is abandoned."""
        await self.callbacks.start(offering=False)
        await self.engine.feed(AgentLoggedIn(agent, f"PJSIP/{agent}"))
        await self.answered_call("busy", agent, caller="+6289999")
        await self.abandon("a1")

    async def stored(self) -> list[TaskState]:
        await self.callbacks.close()  # writes what is queued
        start, end = datetime.fromtimestamp(T0 - 1, UTC), datetime.fromtimestamp(T0 + 9e5, UTC)
        return [t.state for t in await callback_tasks_between(self.journal, start, end)]


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    yield opened
    await opened.close()


async def test_duplicate_abandons_make_one_task_cancelled_when_the_number_gets_through(
    journal: Journal,
) -> None:
    rig = Rig(journal, first_delay=3600)
    await rig.callbacks.start(offering=False)
    await rig.engine.feed(AgentLoggedIn("1005", "PJSIP/1005"))
    # The call-taker is busy elsewhere: both calls wait, and their callers hang up.
    await rig.answered_call("busy", "1005", caller="+6289999")
    await rig.abandon("a1")
    await rig.abandon("a2", caller="081234567")  # another shape of the same number
    [task] = rig.callbacks.worklist.open_tasks()
    assert task.call_ids == ("a1", "a2")
    assert task.number == "081234567"
    assert task.next_attempt_at == T0 + 5 + 3600
    assert await rig.callbacks.offer_due() == 0  # not due yet

    # The call-taker is free again and the number calls again: answered, task cancelled.
    await rig.engine.feed(AgentHungUp("busy", "1005"))
    rig.clock.now += 60
    await rig.engine.tick()  # wrap-up over
    await rig.answered_call("a3", "1005")
    assert rig.callbacks.worklist.open_tasks() == []
    assert await rig.stored() == [TaskState.CANCELLED]


async def test_callbacks_are_offered_to_a_free_call_taker_at_callback_priority(
    journal: Journal,
) -> None:
    rig = Rig(journal, first_delay=0, max_concurrent=1)
    await rig.abandoned_while_busy("1006")
    await rig.abandon("b1", caller="+6281111111")
    assert await rig.callbacks.offer_due() == 0  # nobody free
    await rig.engine.feed(AgentHungUp("busy", "1006"))
    rig.clock.now += 60  # wrap-up over
    await rig.engine.tick()

    assert await rig.callbacks.offer_due() == 1  # one at a time: max_concurrent
    call_id = "cb-t-1.1"
    assert rig.dialer.expected == [(call_id, "081234567", int(Priority.CALLBACK))]
    ring = [c for c in rig.executor.commands if isinstance(c, RingAgent)][-1]
    assert (ring.call_id, ring.caller_id_name) == (call_id, "CALLBACK 081234567")
    assert await rig.callbacks.offer_due() == 0  # max_concurrent

    await rig.engine.feed(AgentAnswered(call_id, "1006"))
    rig.clock.now += 10
    await rig.engine.feed(CallBridged(call_id))  # the number answered
    assert rig.callbacks.worklist.task_for(NUMBER) is not None  # its own answer cancels nothing
    rig.clock.now += 30
    await rig.engine.feed(AgentHungUp(call_id, "1006"))
    assert await rig.stored() == [TaskState.REACHED, TaskState.OPEN]
    [reached] = [
        t
        for t in await callback_tasks_between(
            journal, datetime.fromtimestamp(T0, UTC), datetime.fromtimestamp(T0 + 999, UTC)
        )
        if t.state is TaskState.REACHED
    ]
    [attempt] = reached.attempts
    assert (attempt.call_id, attempt.outcome, attempt.agent_id) == (
        call_id,
        AttemptOutcome.REACHED,
        "1006",
    )


async def test_a_busy_number_is_retried_later_and_a_call_not_taken_counts_no_attempt(
    journal: Journal,
) -> None:
    rig = Rig(journal, first_delay=0, retry_delay=120, max_attempts=2)
    await rig.abandoned_while_busy("1006")
    await rig.engine.feed(AgentHungUp("busy", "1006"))
    rig.clock.now += 60
    await rig.engine.tick()
    assert await rig.callbacks.offer_due() == 1
    await rig.engine.feed(AgentAnswered("cb-t-1.1", "1006"))
    rig.dialer.results["cb-t-1.1"] = (AttemptOutcome.BUSY, "User busy")
    await rig.engine.feed(CallerHungUp("cb-t-1.1"))
    task = rig.callbacks.worklist.task_for(NUMBER)
    assert task is not None
    [attempt] = task.attempts
    assert (attempt.outcome, attempt.agent_id, attempt.note) == (
        AttemptOutcome.BUSY,
        "1006",
        "User busy",
    )
    assert task.next_attempt_at == rig.clock.now + 120

    # The second offer is withdrawn before anyone dialled: no attempt counted.
    rig.clock.now += 200
    await rig.engine.tick()
    assert await rig.callbacks.offer_due() == 1
    assert [e[0] for e in rig.dialer.expected] == ["cb-t-1.1", "cb-t-1.2"]
    await rig.engine.feed(CallerHungUp("cb-t-1.2"))
    task = rig.callbacks.worklist.task_for(NUMBER)
    assert task is not None
    assert (task.state, len(task.attempts)) == (TaskState.OPEN, 1)


async def test_an_answered_call_withdraws_the_attempt_in_progress(journal: Journal) -> None:
    rig = Rig(journal, first_delay=0)
    await rig.abandoned_while_busy("1005")
    await rig.engine.feed(AgentLoggedIn("1006", "PJSIP/1006"))
    assert await rig.callbacks.offer_due() == 1  # 1006 rings for it
    await rig.engine.feed(AgentHungUp("busy", "1005"))
    await rig.answered_call("a2", "1005")  # the number got through by itself
    await settle(lambda: bool(rig.dialer.cancelled))  # the withdrawal runs in the background
    assert rig.dialer.cancelled == ["cb-t-1.1"]
    assert await rig.stored() == [TaskState.CANCELLED]
    assert await open_callback_tasks(journal) == []


async def test_open_tasks_outlive_a_restart_and_new_ids_do_not_collide(journal: Journal) -> None:
    rig = Rig(journal, first_delay=3600)
    await rig.abandoned_while_busy("1005")
    await rig.callbacks.close()

    again = Rig(journal, first_delay=3600)
    again.callbacks.worklist.id_prefix = run_prefix(T0 + 1)
    await again.callbacks.start(offering=False)
    [restored] = again.callbacks.worklist.open_tasks()
    assert restored.task_id == "cb-t-1"
    task = again.callbacks.worklist.abandoned("a9", "+6281000000", T0)
    assert task is not None
    assert task.task_id.startswith(run_prefix(T0 + 1))
    await again.callbacks.close()


async def test_cad_request_callback_makes_a_dropped_task_for_the_call_s_caller(
    journal: Journal,
) -> None:
    rig = Rig(journal, first_delay=3600)
    await rig.callbacks.start(offering=False)
    at = datetime.fromtimestamp(T0, UTC)
    await journal.call_started(
        "d1", caller=NUMBER, caller_sent=NUMBER, dialed="112", priority=1, category="", at=at
    )
    assert await rig.callbacks.requested("d1")
    assert not await rig.callbacks.requested("unknown")
    [task] = rig.callbacks.worklist.open_tasks()
    assert task.reason.value == "dropped"
    assert await rig.stored() == [TaskState.OPEN]


def test_run_prefixes_are_safe_ids() -> None:
    assert run_prefix(0) == "cb-0-"
    assert run_prefix(36 * 36 + 35) == "cb-10z-"
    assert int(run_prefix(T0)[3:-1], 36) == int(T0)
    assert "/" not in run_prefix(T0)
    assert "." not in run_prefix(T0)


async def test_the_offering_loop_offers_a_due_task_when_woken(journal: Journal) -> None:
    rig = Rig(journal, first_delay=0)
    await rig.engine.feed(AgentLoggedIn("1006", "PJSIP/1006"))
    await rig.answered_call("busy", "1006", caller="+6289999")
    await rig.abandon("a1")
    await rig.callbacks.start()
    await rig.engine.feed(AgentHungUp("busy", "1006"))
    rig.clock.now += 60
    await rig.engine.tick()  # wrap-up over: the notification wakes the loop
    for _ in range(50):
        if rig.dialer.expected:
            break
        await asyncio.sleep(0.01)
    assert [e[0] for e in rig.dialer.expected] == ["cb-t-1.1"]
    await rig.callbacks.close()


async def test_an_answered_call_s_end_cancels_the_task_if_its_connection_was_missed(
    journal: Journal,
) -> None:
    # The engine carries notifications out after the core moved on: by the time CONNECTED is
    # told, a short call may be gone from the ACD. Its CallEnded carries the caller.
    rig = Rig(journal, first_delay=3600)
    await rig.abandoned_while_busy("1005")
    assert len(rig.callbacks.worklist.open_tasks()) == 1
    await rig.callbacks.notification(
        CallEnded(
            call_id="a9",
            outcome=CallState.COMPLETED,
            caller=NUMBER,
            category="",
            priority=Priority.NORMAL,
            arrived_at=T0,
            answered_at=T0 + 3,
            ended_at=T0 + 30,
            agent_id="1005",
            destination=None,
        )
    )
    assert rig.callbacks.worklist.open_tasks() == []
    assert await rig.stored() == [TaskState.CANCELLED]


async def test_a_callback_nobody_took_is_withdrawn_not_left_ahead_of_112_callers(
    journal: Journal,
) -> None:
    rig = Rig(journal, first_delay=0)
    await rig.abandoned_while_busy("1006")
    await rig.engine.feed(AgentHungUp("busy", "1006"))
    rig.clock.now += 60
    await rig.engine.tick()
    assert await rig.callbacks.offer_due() == 1
    await rig.engine.feed(AgentNoAnswer("cb-t-1.1", "1006"))  # rang out: back in the queue
    await settle(lambda: bool(rig.dialer.cancelled))
    assert rig.dialer.cancelled == ["cb-t-1.1"]


async def test_cad_s_callback_for_a_dropped_call_survives_that_call_s_own_end(
    journal: Journal,
) -> None:
    rig = Rig(journal, first_delay=3600)
    await rig.callbacks.start(offering=False)
    await rig.engine.feed(AgentLoggedIn("1005", "PJSIP/1005"))
    await rig.answered_call("d1", "1005")
    assert await rig.callbacks.requested("d1")  # CAD: the line dropped, call them back
    rig.clock.now += 5
    await rig.engine.feed(CallerHungUp("d1"))  # the answered call's CallEnded comes after
    assert [t.call_ids for t in rig.callbacks.worklist.open_tasks()] == [("d1",)]
