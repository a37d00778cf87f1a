"""The daemon's parts and their lifecycle: each part starts and stops through :class:`Part`; the
composition root (:mod:`callgate.daemon.app`) lists them once, in start order, and
:class:`Lifecycle` starts them in that order and stops them in reverse.

A stop step that fails is logged and the others still run: a caller still waiting must be
handed back and the journal flushed whatever broke before. A start step that fails stops the
parts already started (in reverse), then the error goes on to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Part(Protocol):
    """One part of the running daemon, as its lifecycle sees it."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def _nothing() -> None:
    return None


@dataclass
class Step:
    """A part made of two callables: the part's own ``start``/``close`` (or what the composition
    root does at that point of the order), either one left out when the part has nothing to do
    then."""

    name: str
    on_start: Callable[[], Awaitable[object]] = _nothing
    on_stop: Callable[[], Awaitable[object]] = _nothing

    async def start(self) -> None:
        await self.on_start()

    async def stop(self) -> None:
        await self.on_stop()


def sync(call: Callable[[], object]) -> Callable[[], Awaitable[None]]:
    """A synchronous start or stop (``writer.start``, ``engine.close``) as a :class:`Step`'s."""

    async def run() -> None:
        call()

    return run


@dataclass
class Background:
    """Tasks that run beside the call path until the stop (the ARI event pump, AMI, the ports'
    binding, upkeep): started as tasks, each given its first run before the next part starts;
    cancelled and awaited at the stop. ``keep`` names a task
    whose end the composition root watches; its error was logged there, so it is gathered here,
    not raised."""

    name: str
    tasks: dict[str, Callable[[], Coroutine[Any, Any, object]]]
    keep: str | None = None
    running: dict[str, asyncio.Task[object]] = field(default_factory=dict)

    async def start(self) -> None:
        for name, run in self.tasks.items():
            self.running[name] = asyncio.create_task(run(), name=name)
        await asyncio.sleep(0)  # a port's first bind attempt now, before anything connects

    def task(self, name: str) -> asyncio.Task[object]:
        return self.running[name]

    async def stop(self) -> None:
        for task in self.running.values():
            task.cancel()
        for name, task in self.running.items():
            if name == self.keep:
                await asyncio.gather(task, return_exceptions=True)
                continue
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Lifecycle:
    """Starts ``parts`` in order and stops the started ones in reverse."""

    def __init__(self, parts: Sequence[Part]) -> None:
        self.parts = tuple(parts)
        self._started: list[Part] = []

    async def start(self) -> None:
        for part in self.parts:
            try:
                await part.start()
            except BaseException:
                await self.stop()
                raise
            self._started.append(part)

    async def stop(self) -> None:
        while self._started:
            part = self._started.pop()
            try:
                await part.stop()
            except Exception:
                log.exception(
                    "stopping a part failed; stopping the others", extra={"part": part.name}
                )
