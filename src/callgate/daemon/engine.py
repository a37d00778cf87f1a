"""The asyncio driver of the pure ACD core: one event at a time, one timer, commands in order.

The core never sees a clock or a socket; this is the only place where wall-clock time and the
event loop meet it. Every event (from ARI, AMI, AGI or the CLI) goes through :meth:`Engine.feed`
and every timer through :meth:`Engine.tick`. The core decides under a lock that is held only for
that instant (the core is synchronous), never across a round trip to Asterisk: carrying out a
``Bridge`` takes several ARI requests (~0.2 s under load), and a call-taker's wrap-up timer
waiting behind it was most of the free -> next ring p99 in the lab burst (benchmarks/README.md).

Commands are carried out outside the lock, in the order the core gave them for each call and
each call-taker: a batch waits for every earlier batch that names one of its calls or
call-takers, and runs alongside the others. Commands whose execution produces a follow-up event
(``Bridge`` -> ``CallBridged``, a failed ring -> ``AgentNoAnswer``) feed it back before
``feed`` returns, so a caller of ``feed`` still finds everything the event caused done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from callgate.core.acd import Acd
from callgate.core.commands import (
    AgentStateChanged,
    CallBlocked,
    CallEnded,
    CallReclassified,
    CallScreened,
    CallStateChanged,
    Output,
    RosterChanged,
    ShiftStaffing,
)
from callgate.core.events import Event
from callgate.daemon.projection import Projection
from callgate.ports import RECORDS, CommandExecutor, Notification, Observed, Observer, Record

log = logging.getLogger(__name__)

#: A timer acted on this much after its deadline is logged (the event loop was blocked).
LATE_TIMER_WARNING = 0.1


class Engine:
    """Feeds events and timer ticks to the core and carries out what it answers.

    Its :meth:`feed` is the one way into the core (an :class:`~callgate.ports.EventSink`):
    the composition root hands it to every part that turns something from outside into events.
    """

    def __init__(
        self,
        acd: Acd,
        executor: CommandExecutor,
        *,
        clock: Callable[[], float] = time.time,
        observers: Sequence[Observer] = (),
        projection: Projection | None = None,
    ) -> None:
        self.acd = acd
        #: The calls, call-takers and shifts as the notifications and records tell them, told
        #: each before the observers: what every reader outside the engine reads, never ``acd``.
        self.projection = Projection() if projection is None else projection
        self.executor = executor
        self.clock = clock
        self.observers = list(observers)
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_task: asyncio.Task[None] | None = None
        #: When the armed timer is due: its deadline, or when it was armed if that was later.
        self._due: float | None = None
        #: When the timer was armed, and the CPU time of the loop's thread then: a late timer
        #: says whether the loop was busy (our code) or not running at all (see tick).
        self._armed = (0.0, 0.0)
        #: The last batch of commands submitted for each call / call-taker, until it is done.
        self._tails: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._batches: set[asyncio.Task[list[Event]]] = set()

    async def feed(self, *events: Event | Record) -> None:
        """Apply events in order; return once every resulting command has been carried out.

        A record (what the daemon learned beside the core) goes straight to the observers, in
        its place in the order: one stream out, whichever way a fact came in."""
        await self._apply(events)

    async def tick(self) -> None:
        """The timer fired: let the core act on every deadline that is due."""
        async with self._lock:
            now = self.clock()
            if self._due is not None and now - self._due > LATE_TIMER_WARNING:
                # loop_cpu_ms near armed_ms: the loop ran code of ours all along (a slow
                # callback); far below: the process was not running (CPU starved, or blocked
                # in a system call), which no change in callgate's code fixes.
                armed_at, armed_cpu = self._armed
                log.warning(
                    "ACD timer late",
                    extra={
                        "late_ms": round((now - self._due) * 1e3),
                        "armed_ms": round((now - armed_at) * 1e3),
                        "loop_cpu_ms": round((time.thread_time() - armed_cpu) * 1e3),
                    },
                )
            batch = self._submit(self.acd.handle_timer(now))
            self._rearm()
        await self._apply(await batch)

    async def _apply(self, given: Sequence[Event | Record]) -> None:
        """Hand events to the core in order, with the follow-ups their commands produce."""
        pending = list(given)
        while pending:
            event = pending.pop(0)
            if isinstance(event, RECORDS):
                await self._tell(event)
                continue
            async with self._lock:
                batch = self._submit(self.acd.handle(event, self.clock()))
                self._rearm()
            pending.extend(await batch)

    def _submit(self, commands: Sequence[Output]) -> Awaitable[list[Event]]:
        """Start carrying out ``commands`` after the earlier batches for the same calls and
        call-takers; called under the lock, so batches are ordered as the core decided them."""
        keys = {key for command in commands for key in _keys(command)}
        before = [self._tails[key] for key in keys if key in self._tails]
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for key in keys:
            self._tails[key] = done
        task = asyncio.get_running_loop().create_task(
            self._run_batch(commands, before, keys, done), name="acd-commands"
        )
        # Its own task: a feed() cancelled while it waits must not leave the core's decision
        # half carried out (a ring without its cancel), nor hold up the batches behind it.
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)
        return asyncio.shield(task)

    async def _run_batch(
        self,
        commands: Sequence[Output],
        before: list[asyncio.Future[None]],
        keys: set[tuple[str, str]],
        done: asyncio.Future[None],
    ) -> list[Event]:
        try:
            for earlier in before:
                await earlier
            return await self._carry_out(commands)
        finally:
            done.set_result(None)
            for key in keys:
                if self._tails.get(key) is done:
                    del self._tails[key]

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _carry_out(self, commands: Sequence[Output]) -> list[Event]:
        """The core's answer in its order: notifications to the observers, commands to the
        executor (no executor acts on a notification)."""
        follow_ups: list[Event] = []
        for command in commands:
            if isinstance(command, Notification):
                await self._notify(command)
                continue
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
        else:
            _log_decision(notification)
        await self._tell(notification)

    async def _tell(self, told: Observed) -> None:
        try:
            self.projection.apply(told)
        except Exception:
            log.exception("projection failed", extra=_ids(told))
        for observer in self.observers:
            try:
                await observer(told)
            except Exception:
                log.exception("observer failed", extra=_ids(told))

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.acd.next_deadline()
        self._due = None
        if deadline is None:
            return
        now = self.clock()
        # A deadline already past (a wrap-up counted from a hang-up heard late) is due now.
        self._due = max(deadline, now)
        self._armed = (now, time.thread_time())
        delay = self._due - now
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_task = asyncio.get_running_loop().create_task(self.tick(), name="acd-timer")


def _log_decision(note: Notification) -> None:
    """The core's screening, blocking and silence decisions, as the daemon used to log them."""
    if isinstance(note, CallScreened):
        extra = {"call_id": note.call_id, "caller": note.caller, "tag": note.tag}
        if note.blocked:
            log.warning("caller is blocked: announcement, then hang-up", extra=extra)
            log.warning("blocked caller rejected", extra=extra)
        elif note.valve:
            log.warning("blocked caller put through by the safety valve", extra=extra)
        elif note.tag:
            log.info(
                "caller screened",
                extra={
                    **extra,
                    "score": round(note.score, 2),
                    "priority": note.priority,
                    "warn": note.warn,
                },
            )
    elif isinstance(note, CallEnded):
        log.info(
            "call ended",
            extra={
                "call_id": note.call_id,
                "outcome": note.outcome.name,
                "calltaker": note.agent_id,
                "answer_time": note.answer_time,
            },
        )
    elif isinstance(note, CallBlocked):
        log.info("blocked call ended", extra={"call_id": note.call_id, "caller": note.caller})
    elif isinstance(note, RosterChanged):
        if note.staffed:
            log.info("roster: shifts on", extra={"shifts": list(note.shifts)})
        else:
            log.warning("roster: out of hours; callers go to the out-of-hours destinations")
    elif isinstance(note, ShiftStaffing):
        figures = {"shift": note.shift, "rostered": note.rostered, "logged_in": note.logged_in}
        if note.short:
            log.error(
                "ALARM: shift short-handed: fewer call-takers logged in than rostered",
                extra=figures,
            )
        else:
            log.info("shift staffing" if note.on else "shift ended", extra=figures)
    elif isinstance(note, CallReclassified) and note.cause != "CallReprioritised":
        log.info(
            "silent caller pressed a key; raised"
            if note.cause == "CallerPressedKey"
            else "silent caller: ghost",
            extra={"call_id": note.call_id, "category": note.category, "priority": note.priority},
        )


def _keys(command: Output) -> list[tuple[str, str]]:
    """What a command must stay in order with: its call and its call-taker."""
    keys = []
    for name in ("call_id", "agent_id"):
        value = getattr(command, name, None)
        if value is not None:
            keys.append((name, str(value)))
    return keys


def _ids(obj: object) -> dict[str, str]:
    return {
        name: str(getattr(obj, name))
        for name in ("call_id", "agent_id")
        if getattr(obj, name, None) is not None
    }
