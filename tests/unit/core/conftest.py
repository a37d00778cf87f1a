"""A driver for the core with an explicit clock: no sleeps, no mocks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import pytest
from hypothesis import settings

from callgate.core import (
    Acd,
    AcdConfig,
    AgentAnswered,
    AgentLoggedIn,
    CallArrived,
    CallBridged,
    Event,
    ForgetCall,
    KeepClass,
    Notification,
    Output,
)

settings.register_profile("core", deadline=None, max_examples=300, derandomize=False)
settings.load_profile("core")

C = TypeVar("C", bound=Output)


class Harness:
    """Drives an :class:`Acd`, firing its timers at their own deadlines as time advances."""

    def __init__(self, config: AcdConfig | None = None, start: float = 1_000.0) -> None:
        self.acd = Acd(config)
        self.now = start
        self.log: list[Output] = []

    def send(self, event: Event, after: float = 0.0) -> list[Output]:
        """Advance ``after`` seconds (firing timers), then deliver ``event``."""
        out = self.advance(after)
        out += self._record(self.acd.handle(event, self.now))
        return out

    def advance(self, seconds: float) -> list[Output]:
        target = self.now + seconds
        out: list[Output] = []
        while (deadline := self.acd.next_deadline()) is not None and deadline <= target:
            self.now = max(self.now, deadline)
            out += self._record(self.acd.handle_timer(self.now))
        self.now = target
        return out

    def _record(self, commands: list[Output]) -> list[Output]:
        self.log += commands
        return commands

    def login(self, *agent_ids: str, skills: dict[str, int] | None = None) -> list[Output]:
        out: list[Output] = []
        for agent_id in agent_ids:
            out += self.send(AgentLoggedIn(agent_id, f"PJSIP/{agent_id}", skills or {}))
        return out

    def arrive(self, call_id: str, **kwargs: Any) -> list[Output]:
        return self.send(CallArrived(call_id, caller=f"08{call_id}", **kwargs))

    def connect(self, call_id: str, agent_id: str) -> list[Output]:
        out = self.send(AgentAnswered(call_id, agent_id))
        out += self.send(CallBridged(call_id))
        return out

    def state(self, call_id: str) -> str:
        call = self.acd.calls.get(call_id)
        if call is not None:
            return call.state.name
        return next(
            c.outcome.name
            for c in self.log
            if getattr(c, "call_id", None) == call_id and type(c).__name__ == "CallEnded"
        )

    def agent(self, agent_id: str) -> str:
        return self.acd.agents[agent_id].state.name


def of(kind: type[C], commands: Iterable[Output]) -> list[C]:
    """The commands of one type, in order."""
    return [c for c in commands if isinstance(c, kind)]


#: Commands that only follow a notification for the driver (a class to keep with the call, an
#: ended call to forget): each comes right after its notification, which the property tests
#: check for every sequence of events (``test_acd_properties``), so tables leave them out.
PAIRED = (KeepClass, ForgetCall)


def actions(commands: Iterable[Output]) -> list[tuple[str, ...]]:
    """Commands without notifications, as compact tuples for table-driven assertions."""
    result: list[tuple[str, ...]] = []
    for c in commands:
        name = type(c).__name__
        if isinstance(c, (Notification, *PAIRED)):
            continue
        fields = [
            str(getattr(c, f))
            for f in ("call_id", "agent_id", "reason", "destination")
            if hasattr(c, f)
        ]
        result.append((name, *fields))
    return result


@pytest.fixture
def harness() -> Harness:
    return Harness()
