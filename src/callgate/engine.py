"""The asyncio driver of the pure ACD core: one event at a time, one timer, commands in order.

The core never sees a clock or a socket; this is the only place where wall-clock time and the
event loop meet it. Every event (from ARI, AMI, AGI or the CLI) goes through :meth:`Engine.feed`,
which is serialised by a lock, so the core's view and Asterisk's never interleave half-applied
commands. Commands whose execution produces a follow-up event (``Bridge`` -> ``CallBridged``,
a failed ring -> ``AgentNoAnswer``) feed it back before the lock is released.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from callgate.core.acd import Acd
from callgate.core.commands import AgentStateChanged, CallEnded, CallStateChanged, Command
from callgate.core.events import Event

log = logging.getLogger(__name__)

Notification = CallStateChanged | AgentStateChanged | CallEnded


class CommandExecutor(Protocol):
    """Carries out the core's commands on the phone system (the ARI adapter)."""

    async def execute(self, command: Command) -> Sequence[Event]:
        """Do it; return the events it produced at once (may be empty)."""
        ...


class Engine:
    """Feeds events and timer ticks to the core and carries out what it answers."""

    def __init__(
        self,
        acd: Acd,
        executor: CommandExecutor,
        *,
        clock: Callable[[], float] = time.time,
        observers: Sequence[Callable[[Notification], Awaitable[None]]] = (),
    ) -> None:
        self.acd = acd
        self.executor = executor
        self.clock = clock
        self.observers = list(observers)
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_task: asyncio.Task[None] | None = None

    async def feed(self, *events: Event) -> None:
        """Apply events in order, carry out every resulting command, re-arm the timer."""
        async with self._lock:
            await self._apply(list(events))
            self._rearm()

    async def tick(self) -> None:
        """The timer fired: let the core act on every deadline that is due."""
        async with self._lock:
            await self._apply(await self._carry_out(self.acd.handle_timer(self.clock())))
            self._rearm()

    async def _apply(self, pending: list[Event]) -> None:
        """Hand events to the core in order, with the follow-ups their commands produce."""
        while pending:
            event = pending.pop(0)
            pending.extend(await self._carry_out(self.acd.handle(event, self.clock())))

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _carry_out(self, commands: Sequence[Command]) -> list[Event]:
        follow_ups: list[Event] = []
        for command in commands:
            if isinstance(command, CallStateChanged | AgentStateChanged | CallEnded):
                await self._notify(command)
                # Notifications also reach the executor: it cleans up after a call ends.
            try:
                follow_ups.extend(await self.executor.execute(command))
            except Exception:
                # One failed command must not stop the others or the daemon; the call is
                # still in Asterisk and the core's timers (ring timeout, max wait) move it on.
                log.exception(
                    "command failed", extra={"command": type(command).__name__, **_ids(command)}
                )
        return follow_ups

    async def _notify(self, notification: Notification) -> None:
        if isinstance(notification, CallStateChanged):
            log.info(str(notification), extra={"call_id": notification.call_id})
        elif isinstance(notification, AgentStateChanged):
            log.info(
                str(notification),
                extra={"agent_id": notification.agent_id, "reason": notification.reason},
            )
        for observer in self.observers:
            try:
                await observer(notification)
            except Exception:
                log.exception("observer failed", extra=_ids(notification))

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.acd.next_deadline()
        if deadline is None:
            return
        delay = max(0.0, deadline - self.clock())
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_task = asyncio.get_running_loop().create_task(self.tick(), name="acd-timer")


def _ids(obj: object) -> dict[str, str]:
    return {
        name: str(getattr(obj, name))
        for name in ("call_id", "agent_id")
        if getattr(obj, name, None) is not None
    }
