"""What every part of the ARI adapter shares: the client, the settings, the book, the feed.

One :class:`Shared` is made by the facade (:mod:`.adapter`) and handed to each part, so that the
parts hold no reference to each other's state and the facade stays the only place that wires
them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from callgate.asterisk.ari.client import AriClient
from callgate.asterisk.ari.layout import Book
from callgate.core.events import Event
from callgate.ports import OpenCalls

if TYPE_CHECKING:  # config imports the event stream, which imports the observer types
    from callgate.config import Settings

log = logging.getLogger(__name__)

#: Where translated events, and the records of what the core does not decide on (a connection,
#: a recording, a call it never had), go: the engine's ``feed``, the one way in.
Feed = Callable[..., Awaitable[None]]


async def _nowhere(*_events: Event) -> None:
    raise RuntimeError("the ARI adapter's feed was not wired to an engine")


class Background:
    """Work that must not hold up the event pump (set-ups, announcements, sealing)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[None]] = set()

    def spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background work failed", exc_info=task.exception())

    async def drain(self, seconds: float) -> None:
        """Let the work in flight finish, bounded."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=seconds)


@dataclass
class Shared:
    """The adapter's shared dependencies and state."""

    ari: AriClient
    settings: Settings
    clock: Callable[[], float]
    book: Book = field(default_factory=Book)
    tasks: Background = field(default_factory=Background)
    #: Set by the composition root once the engine exists (it needs the adapter first).
    feed: Feed = _nowhere
    #: The journal's open calls, which each (re)connection ends if Asterisk no longer has them;
    #: None: not looked for (no journal).
    open_calls: OpenCalls | None = None
