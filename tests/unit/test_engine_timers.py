"""The engine acts on a due deadline at once, not after other calls' round trips to Asterisk."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import pytest

from callgate.core import (
    Acd,
    AcdConfig,
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    Bridge,
    CallArrived,
    CallBridged,
    CallerHungUp,
    Command,
    Event,
    HangUpAgent,
    RingAgent,
)
from callgate.daemon.engine import Engine

WRAP = 0.1
SLOW = 0.5  # a Bridge's ARI round trips on a loaded machine, exaggerated


class SlowBridges:
    """Carries out commands at once, except bridging ``slow_call``, which takes ``SLOW`` s."""

    def __init__(self, slow_call: str) -> None:
        self.slow_call = slow_call
        self.done: list[tuple[float, float, Command]] = []  # (started, finished, command)

    async def execute(self, command: Command) -> Sequence[Event]:
        started = time.time()
        if isinstance(command, Bridge) and command.call_id == self.slow_call:
            await asyncio.sleep(SLOW)
        self.done.append((started, time.time(), command))
        if isinstance(command, Bridge):
            return (CallBridged(command.call_id),)
        return ()

    def first(self, kind: type[Command], call_id: str) -> tuple[float, float, Command]:
        return next(d for d in self.done if isinstance(d[2], kind) and d[2].call_id == call_id)


class Clock:
    """The wall clock, which a test can move forward."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


async def _two_calls_up(executor: SlowBridges, clock: Clock | None = None) -> Engine:
    """a1 talking on c1, a2 ringing for c2, c3 waiting."""
    engine = Engine(
        Acd(AcdConfig(wrap_up_time=WRAP, max_wait=None)), executor, clock=clock or Clock()
    )
    await engine.feed(AgentLoggedIn("a1", "PJSIP/a1"))
    await engine.feed(CallArrived("c1", caller="0811"))
    await engine.feed(AgentAnswered("c1", "a1"))
    await engine.feed(AgentLoggedIn("a2", "PJSIP/a2"))
    await engine.feed(CallArrived("c2", caller="0812"), CallArrived("c3", caller="0813"))
    assert executor.first(RingAgent, "c2")[2].agent_id == "a2"  # type: ignore[attr-defined]
    return engine


async def test_a_wrap_up_ends_on_time_while_another_call_is_being_bridged() -> None:
    executor = SlowBridges("c2")
    engine = await _two_calls_up(executor)
    try:
        hung_up = time.time()
        await engine.feed(AgentHungUp("c1", "a1", at=hung_up))
        bridging = asyncio.create_task(engine.feed(AgentAnswered("c2", "a2")))
        await asyncio.sleep(WRAP + 0.15)
        assert not bridging.done()  # still in its round trips ...
        rung, _, ring = executor.first(RingAgent, "c3")
        assert ring.agent_id == "a1"  # type: ignore[attr-defined]
        # ... and a1's wrap-up ended on time all the same (measured: ~1 ms late on a laptop).
        assert rung - (hung_up + WRAP) < 0.1
        await bridging
        assert engine.acd.calls["c2"].state.name == "CONNECTED"  # the follow-up was applied
    finally:
        engine.close()


async def test_commands_for_one_call_stay_in_the_core_s_order() -> None:
    executor = SlowBridges("c2")
    engine = await _two_calls_up(executor)
    try:
        bridging = asyncio.create_task(engine.feed(AgentAnswered("c2", "a2")))
        await asyncio.sleep(0.05)
        # The caller hangs up while the bridge is being made: the core hangs up the call-taker,
        # but only after the bridge request is done, never before it.
        await engine.feed(CallerHungUp("c2"))
        await bridging
        _, bridged, _ = executor.first(Bridge, "c2")
        started, _, _ = executor.first(HangUpAgent, "c2")
        assert started >= bridged
    finally:
        engine.close()


async def test_a_wrap_up_already_over_when_heard_ends_at_once_without_a_late_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    executor = SlowBridges("")
    clock = Clock()
    engine = await _two_calls_up(executor, clock)
    try:
        clock.ahead = 60.0  # a minute's conversation
        with caplog.at_level(logging.WARNING, logger="callgate.daemon.engine"):
            heard = time.time()
            await engine.feed(AgentHungUp("c1", "a1", at=clock() - 10.0))
            await asyncio.sleep(0.05)
        rung, _, _ = executor.first(RingAgent, "c3")
        assert rung - heard < 0.05
        assert "ACD timer late" not in caplog.text
    finally:
        engine.close()


async def test_a_timer_held_up_by_a_blocked_event_loop_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    executor = SlowBridges("")
    engine = await _two_calls_up(executor)
    try:
        with caplog.at_level(logging.WARNING, logger="callgate.daemon.engine"):
            await engine.feed(AgentHungUp("c1", "a1", at=time.time()))
            time.sleep(WRAP + 0.15)  # noqa: ASYNC251 - blocks the loop on purpose: no timer fires
            await asyncio.sleep(0.05)
        assert "ACD timer late" in caplog.text
        assert executor.first(RingAgent, "c3")
        # Asleep in a system call: the loop's thread used (next to) no CPU while late.
        late = next(r for r in caplog.records if r.getMessage() == "ACD timer late")
        assert late.late_ms >= 100  # type: ignore[attr-defined]
        assert late.loop_cpu_ms < late.armed_ms / 2  # type: ignore[attr-defined]
    finally:
        engine.close()


async def test_a_timer_held_up_by_a_busy_event_loop_says_the_loop_was_busy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    executor = SlowBridges("")
    engine = await _two_calls_up(executor)
    try:
        with caplog.at_level(logging.WARNING, logger="callgate.daemon.engine"):
            await engine.feed(AgentHungUp("c1", "a1", at=time.time()))
            # A slow callback: the loop runs our code for 0.25 s of CPU (counted in CPU, not
            # wall time, so a loaded machine cannot make this test fail).
            spun = time.thread_time()
            while time.thread_time() - spun < WRAP + 0.15:
                pass
            await asyncio.sleep(0.05)
        late = next(r for r in caplog.records if r.getMessage() == "ACD timer late")
        assert late.loop_cpu_ms >= (WRAP + 0.15) * 1e3  # type: ignore[attr-defined]
    finally:
        engine.close()
