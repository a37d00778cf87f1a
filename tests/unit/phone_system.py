"""A daemon's call path without the lab: the real ARI adapter, engine and core, and Asterisk
played by :class:`~tests.unit.asterisk.recorded_ari.RecordedAri` (the lab's recorded answers and
frames; it keeps every request, and fails the ones a test names).

Time is the test's: the engine reads :class:`Clock`, and :meth:`Daemon.advance` fires the core's
deadlines at once (no sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from callgate.asterisk.ari.adapter import AriAdapter
from callgate.asterisk.ari.client import AriClient, JsonObject
from callgate.config import Settings
from callgate.core.acd import Acd
from callgate.core.commands import CallScreened
from callgate.core.config import AcdConfig
from callgate.core.events import AgentLoggedIn, Event
from callgate.core.screening import CallerHistory
from callgate.daemon.engine import Engine
from callgate.ports import (
    CallEndedOutsideCore,
    CallStarted,
    HistorySource,
    Notification,
    Observed,
    Observer,
    Record,
    start_of,
)
from tests.unit.asterisk.recorded_ari import RecordedAri

T0 = 1_800_000_000.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Histories:
    """A history source: what the daemon's loader would have read from the journal."""

    def __init__(self, **by_caller: CallerHistory) -> None:
        self.by_caller = by_caller
        self.asked: list[tuple[str, str | None]] = []

    async def __call__(self, caller: str, now: float, identity: str | None = None) -> CallerHistory:
        self.asked.append((caller, identity))
        return self.by_caller.get(caller, CallerHistory(""))


class Recorder:
    """Observes what the engine tells the journal and CAD (notifications and records)."""

    def __init__(self) -> None:
        self.started: list[Any] = []
        self.notes: list[Notification] = []
        self.outside: list[tuple[str, str]] = []

    async def notification(self, note: Observed) -> None:
        if isinstance(note, CallStarted):
            self.started.append(note)
        elif isinstance(note, CallScreened):
            # A screened call's start, as the journal and CAD record it.
            self.started.append(start_of(note))
            self.notes.append(note)
        elif isinstance(note, CallEndedOutsideCore):
            self.outside.append((note.call_id, note.outcome))
        elif isinstance(note, Notification):
            self.notes.append(note)


class Daemon:
    """The adapter, the engine and the core, wired as the daemon wires them."""

    def __init__(
        self,
        config: AcdConfig,
        *,
        settings: Settings | None = None,
        history: HistorySource | None = None,
        observers: Sequence[Observer] = (),
        now: float = T0,
        asterisk: RecordedAri | None = None,
        client: AriClient | None = None,
    ) -> None:
        """``client``: what the adapter talks to, if not ``asterisk`` itself (several nodes)."""
        self.clock = Clock(now)
        self.asterisk = asterisk or RecordedAri()
        self.recorder = Recorder()
        engine: Engine

        async def feed(*events: Event | Record) -> None:
            await engine.feed(*events)

        self.adapter = AriAdapter(
            client or self.asterisk,
            settings or Settings(),
            clock=self.clock,
            history=history,
            feed=feed,
        )
        self.engine = engine = Engine(
            Acd(config),
            self.adapter,
            clock=self.clock,
            observers=[self.recorder.notification, *observers],
        )

    async def login(self, *agents: str) -> None:
        await self.engine.feed(*(AgentLoggedIn(a, f"PJSIP/{a}") for a in agents))

    async def caller(self, call_id: str, number: str, **channelvars: str) -> None:
        """A caller enters Stasis (as the dialplan hands them over, answered)."""
        variables = {"CALLGATE_RECORDING": f"callgate/{call_id}.wav", **channelvars}
        await self.event(
            self.asterisk.frame(
                "StasisStart",
                args=[],
                channel={
                    "id": call_id,
                    "state": "Up",
                    "caller": {"number": number},
                    "channelvars": variables,
                },
            )
        )
        await self.settle()

    async def answer(self, call_id: str, agent: str) -> None:
        """``agent`` picks up the ring for ``call_id`` (their leg enters Stasis)."""
        [leg] = [
            r[2]["channelId"]
            for r in self.asterisk.log
            if r[:2] == ("POST", "/channels")
            and r[2].get("appArgs") == f"calltaker,{call_id},{agent}"
        ][-1:]
        await self.event(
            self.asterisk.frame(
                "StasisStart", args=["calltaker", call_id, agent], channel={"id": leg}
            )
        )

    async def event(self, event: JsonObject) -> None:
        await self.adapter.on_event(event)
        await self.settle()

    async def settle(self) -> None:
        """Let the adapter's background work (set-ups, a caller's channel requests) finish."""
        for _ in range(5):
            await self.adapter.drain(5.0)
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: the core's deadlines in that time fire, in order."""
        target = self.clock.now + seconds
        while (deadline := self.engine.acd.next_deadline()) is not None and deadline <= target:
            self.clock.now = max(self.clock.now, deadline)
            await self.engine.tick()
            await self.settle()
        self.clock.now = target

    def notes(self, kind: type[Notification]) -> Sequence[Any]:
        return [n for n in self.recorder.notes if isinstance(n, kind)]

    def close(self) -> None:
        self.engine.close()
