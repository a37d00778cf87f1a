"""The callback worklist in the daemon: the core runs it behind the engine's one timer; the
daemon stores every change, restores open tasks at start and passes CAD's requests on. The real
ACD core, engine and journal (SQLite); the phone system is a recorder of commands."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callgate.core.acd import Acd
from callgate.core.callbacks import AttemptOutcome, CallbackPolicy, TaskState
from callgate.core.commands import CancelCallback, Command, DialCallback, PrepareCallback, RingAgent
from callgate.core.config import AcdConfig
from callgate.core.events import (
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    AgentNoAnswer,
    CallArrived,
    CallbackFailed,
    CallBridged,
    CallerHungUp,
    Event,
    Priority,
)
from callgate.daemon.callback_records import CallbackRecords, run_prefix
from callgate.daemon.engine import Engine
from callgate.storage.callbacks import callback_tasks_between, open_callback_tasks
from callgate.storage.journal import Journal

T0 = 1_800_000_000.0
NUMBER = "+6281234567"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Phones:
    """Carries out nothing; remembers the commands (the ARI adapter's place)."""

    def __init__(self) -> None:
        self.commands: list[Command] = []

    async def execute(self, command: Command) -> Sequence[Event]:
        self.commands.append(command)
        return ()

    def of(self, kind: type[Command]) -> list[Command]:
        return [c for c in self.commands if isinstance(c, kind)]


class Rig:
    def __init__(self, journal: Journal, prefix: str = "cb-t-", **policy: float) -> None:
        self.clock = Clock()
        self.phones = Phones()
        self.journal = journal
        config = AcdConfig(
            ring_timeout=30.0,
            wrap_up_time=0.0,
            callbacks=CallbackPolicy(id_prefix=prefix, **policy),  # type: ignore[arg-type]
        )
        self.engine = Engine(Acd(config), self.phones, clock=self.clock)
        self.records = CallbackRecords(journal, self.engine.feed)
        self.engine.observers.append(self.records.notification)

    async def abandon(self, call_id: str, caller: str = NUMBER, category: str = "") -> None:
        await self.engine.feed(CallArrived(call_id, caller=caller, category=category))
        self.clock.now += 5
        await self.engine.feed(CallerHungUp(call_id))

    async def answered_call(self, call_id: str, agent: str, caller: str = NUMBER) -> None:
        await self.engine.feed(CallArrived(call_id, caller=caller))
        await self.engine.feed(AgentAnswered(call_id, agent), CallBridged(call_id))

    async def abandoned_while_busy(self, agent: str) -> None:
        """Start; ``agent`` logs in and is busy on another call while ``a1`` is abandoned."""
        await self.records.start()
        await self.engine.feed(AgentLoggedIn(agent, f"PJSIP/{agent}"))
        await self.answered_call("busy", agent, caller="+6289999")
        await self.abandon("a1")

    async def free(self, agent: str) -> None:
        await self.engine.feed(AgentHungUp("busy", agent))
        await self.engine.tick()  # the wrap-up (none here) ends on the engine's timer

    async def stored(self) -> list[TaskState]:
        await self.records.close()  # writes what is queued
        self.engine.close()
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
    await rig.abandoned_while_busy("1005")
    await rig.abandon("a2", caller="081234567")  # another shape of the same number
    await rig.free("1005")
    assert not rig.phones.of(PrepareCallback)  # not due for an hour
    await rig.answered_call("a3", "1005")  # the number calls again and is answered
    assert await rig.stored() == [TaskState.CANCELLED]
    [stored] = await callback_tasks_between(
        journal, datetime.fromtimestamp(T0 - 1, UTC), datetime.fromtimestamp(T0 + 999, UTC)
    )
    assert stored.call_ids == ("a1", "a2")
    assert stored.number == "081234567"


async def test_a_due_task_is_offered_to_a_free_call_taker_at_callback_priority_and_reached(
    journal: Journal,
) -> None:
    rig = Rig(journal, max_concurrent=1)
    await rig.abandoned_while_busy("1006")
    await rig.abandon("b1", caller="+6281111111")
    assert not rig.phones.of(PrepareCallback)  # nobody free
    await rig.free("1006")  # no wrap-up: free at once, and both tasks are due

    call_id = "cb-t-1.1"
    [prepare] = rig.phones.of(PrepareCallback)  # one at a time: max_concurrent
    assert (prepare.call_id, prepare.number, prepare.priority) == (  # type: ignore[attr-defined]
        call_id,
        "081234567",
        int(Priority.CALLBACK),
    )
    ring = rig.phones.of(RingAgent)[-1]
    assert (ring.call_id, ring.caller_id_name) == (call_id, "CALLBACK 081234567")  # type: ignore[attr-defined]

    await rig.engine.feed(AgentAnswered(call_id, "1006"))
    [dial] = rig.phones.of(DialCallback)
    assert dial.number == "081234567"  # type: ignore[attr-defined]
    rig.clock.now += 10
    await rig.engine.feed(CallBridged(call_id))  # the number answered
    rig.clock.now += 30
    await rig.engine.feed(AgentHungUp(call_id, "1006"))
    await rig.engine.tick()  # wrap-up over
    # The second task is offered as soon as the call-taker is free again.
    assert [p.call_id for p in rig.phones.of(PrepareCallback)] == [call_id, "cb-t-2.1"]  # type: ignore[attr-defined]
    assert await rig.stored() == [TaskState.REACHED, TaskState.DIALLING]
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


async def test_a_busy_number_is_retried_on_the_engine_s_timer_and_an_untaken_offer_is_free(
    journal: Journal,
) -> None:
    rig = Rig(journal, retry_delay=120, max_attempts=2)
    await rig.abandoned_while_busy("1006")
    await rig.free("1006")
    await rig.engine.feed(AgentAnswered("cb-t-1.1", "1006"))
    await rig.engine.feed(CallbackFailed("cb-t-1.1", AttemptOutcome.BUSY, "User busy"))
    assert rig.engine.acd.next_deadline() == rig.clock.now + 120

    # The engine's timer (not a polling loop) offers the retry when it is due.
    rig.clock.now += 120
    await rig.engine.tick()
    assert [p.call_id for p in rig.phones.of(PrepareCallback)] == ["cb-t-1.1", "cb-t-1.2"]  # type: ignore[attr-defined]
    await rig.engine.feed(AgentNoAnswer("cb-t-1.2", "1006"))  # rang out: withdrawn, uncounted
    assert await rig.stored() == [TaskState.OPEN]
    [task] = await open_callback_tasks(journal)
    [attempt] = task.attempts
    assert (attempt.outcome, attempt.agent_id, attempt.note) == (
        AttemptOutcome.BUSY,
        "1006",
        "User busy",
    )


async def test_open_tasks_outlive_a_restart_and_new_ids_do_not_collide(journal: Journal) -> None:
    rig = Rig(journal, first_delay=3600)
    await rig.abandoned_while_busy("1005")
    assert await rig.stored() == [TaskState.OPEN]

    again = Rig(journal, prefix=run_prefix(T0 + 1), first_delay=3600)
    await again.records.start()
    assert [t.task_id for t in again.engine.acd._callbacks.worklist.open_tasks()] == ["cb-t-1"]  # type: ignore[union-attr]
    await again.engine.feed(AgentLoggedIn("1005", "PJSIP/1005"))
    await again.answered_call("busy2", "1005", caller="+6289999")
    await again.abandon("a9", caller="+6281000000")
    assert await again.stored() == [TaskState.OPEN, TaskState.OPEN]
    old, new = sorted(
        (t.task_id for t in await open_callback_tasks(journal)), key=lambda i: i != "cb-t-1"
    )
    assert old == "cb-t-1"
    assert new.startswith(run_prefix(T0 + 1))


async def test_cad_request_callback_makes_a_dropped_task_for_the_call_s_caller(
    journal: Journal,
) -> None:
    rig = Rig(journal, first_delay=3600)
    await rig.records.start()
    at = datetime.fromtimestamp(T0, UTC)
    await journal.call_started(
        "d1", caller=NUMBER, caller_sent=NUMBER, dialed="112", priority=1, category="", at=at
    )
    assert await rig.records.requested("d1")
    assert not await rig.records.requested("unknown")
    assert await rig.stored() == [TaskState.OPEN]
    [task] = await open_callback_tasks(journal)
    assert task.reason.value == "dropped"


async def test_cad_s_callback_for_a_live_call_survives_that_call_s_own_end(
    journal: Journal,
) -> None:
    rig = Rig(journal, first_delay=3600)
    await rig.records.start()
    await rig.engine.feed(AgentLoggedIn("1005", "PJSIP/1005"))
    await rig.answered_call("d1", "1005")  # not journaled here: the core knows its caller
    assert await rig.records.requested("d1")  # CAD: the line dropped, call them back
    rig.clock.now += 5
    await rig.engine.feed(CallerHungUp("d1"))
    assert await rig.stored() == [TaskState.OPEN]
    [task] = await open_callback_tasks(journal)
    assert task.call_ids == ("d1",)


def test_run_prefixes_are_safe_ids() -> None:
    assert run_prefix(0) == "cb-0-"
    assert run_prefix(36 * 36 + 35) == "cb-10z-"
    assert int(run_prefix(T0)[3:-1], 36) == int(T0)
    assert "/" not in run_prefix(T0)
    assert "." not in run_prefix(T0)


async def test_an_answered_call_withdraws_the_attempt_in_progress(journal: Journal) -> None:
    rig = Rig(journal)
    await rig.abandoned_while_busy("1005")
    await rig.engine.feed(AgentLoggedIn("1006", "PJSIP/1006"))  # free: the attempt rings 1006
    assert [p.call_id for p in rig.phones.of(PrepareCallback)] == ["cb-t-1.1"]  # type: ignore[attr-defined]
    await rig.free("1005")
    await rig.answered_call("a2", "1005")  # the number got through by itself
    [cancel] = rig.phones.of(CancelCallback)
    assert cancel.call_id == "cb-t-1.1"  # type: ignore[attr-defined]
    assert "cb-t-1.1" not in rig.engine.acd.calls
    assert await rig.stored() == [TaskState.CANCELLED]
    assert await open_callback_tasks(journal) == []
