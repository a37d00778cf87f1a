"""The ARI event pump: set up after each (re)connection until it completes, then hand events on.

Asterisk forgets a disconnected application, so after every
:class:`~callgate.asterisk.ari.client.Connected` the daemon must subscribe again, read the phones
and reconcile its calls before it is ready. That set-up makes REST requests, and one of them may
be slow or fail: it is retried with capped exponential backoff until an attempt completes, while
the stream keeps being read so that a :class:`~callgate.asterisk.ari.client.Disconnected` can
abandon it (the set-up of a connection that is gone can never complete: Asterisk refuses a
subscription for an application with no event socket). Events that arrive during the set-up are
held and handed on, in order, once it completed, as they were before this pump existed (the
set-up used to be awaited inline).

The pump ends only when the stream does; :func:`run` returns the reason so the daemon can exit
non-zero, for systemd's ``Restart=on-failure`` to restart it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

from callgate.asterisk.ari.client import (
    AriError,
    AriUnavailable,
    Connected,
    Disconnected,
    JsonObject,
)
from callgate.logs import LogThrottle

log = logging.getLogger(__name__)

#: First pause after a failed set-up attempt, doubled after each failure up to the maximum.
BACKOFF_INITIAL: Final = 0.5
BACKOFF_MAX: Final = 30.0
#: At most one log line per this many seconds about failed set-up attempts (each line counts
#: the attempts not logged), so a long outage is seen without flooding the log.
LOG_INTERVAL: Final = 30.0

Stream = AsyncIterator[JsonObject | Connected | Disconnected]


def carrying_on(
    handle: Callable[[JsonObject], Awaitable[None]],
) -> Callable[[JsonObject], Awaitable[None]]:
    """``handle``, logging its failure rather than raising it: one event handled wrongly must
    not end the pump (the other calls go on, and on shutdown the waiting callers are still
    handed back)."""

    async def handled(event: JsonObject) -> None:
        try:
            await handle(event)
        except (AriError, AriUnavailable) as exc:
            log.warning("ARI request failed while handling an event", extra={"error": str(exc)})
        except Exception:
            log.exception("handling an ARI event failed; carrying on")

    return handled


class AriLink:
    """Reads the ARI event stream, runs the set-up after each connection, reports readiness."""

    def __init__(
        self,
        stream: Stream,
        *,
        set_up: Callable[[], Awaitable[None]],
        handle: Callable[[JsonObject], Awaitable[None]],
        on_state: Callable[[bool, str | None], None],
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
        log_interval: float = LOG_INTERVAL,
    ) -> None:
        """``set_up`` is one attempt (it raises when it could not finish; bound its time);
        ``handle`` takes one event and must not raise for a bad event; ``on_state(up, detail)``
        hears ARI become ready (set up) or not."""
        self._stream = stream
        self._set_up = set_up
        self._handle = handle
        self._on_state = on_state
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._throttle = LogThrottle(log_interval)

    async def run(self) -> str:
        """Pump until the stream ends (it should not) and return why it ended; raises what the
        stream raised. Cancel to stop."""
        setup: asyncio.Task[None] | None = None
        again = False  # a connection came while the set-up ran: run it once more after
        held: list[JsonObject] = []
        following = asyncio.ensure_future(anext(self._stream))
        try:
            while True:
                waiting: set[asyncio.Future[Any]] = {following}
                if setup is not None:
                    waiting.add(setup)
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if setup is not None and setup in done:
                    setup = None
                    if not again:
                        self._on_state(True, None)
                    for event in held:
                        await self._handle(event)
                    held.clear()
                    if again:
                        again = False
                        setup = asyncio.create_task(self._until_set_up(), name="ari-setup")
                if following not in done:
                    continue
                try:
                    item = following.result()
                except StopAsyncIteration:
                    return "the ARI event stream ended"
                following = asyncio.ensure_future(anext(self._stream))
                if isinstance(item, Connected) and setup is not None:
                    # Another node (several Asterisk nodes) connected while the set-up ran:
                    # cancelling it halfway could strand a caller it was taking, and a node
                    # that flaps would restart it for ever while every node's events stay
                    # held. It finishes, then runs again for the new connection. (One
                    # Asterisk: a Disconnected always came first, which dropped the set-up.)
                    again = True
                elif isinstance(item, Connected):
                    self._on_state(False, "connected; setting up")
                    setup = asyncio.create_task(self._until_set_up(), name="ari-setup")
                elif isinstance(item, Disconnected):
                    await _cancel(setup)
                    setup = None
                    again = False
                    # Held events of the lost connection are still handed on (hang-ups matter);
                    # the next set-up reconciles whatever they missed.
                    for event in held:
                        await self._handle(event)
                    held.clear()
                    self._on_state(False, item.reason)
                elif setup is not None:
                    held.append(item)
                else:
                    await self._handle(item)
        finally:
            await _cancel(setup)
            await _cancel(following)
            aclose = getattr(self._stream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    async def _until_set_up(self) -> None:
        attempt = 0
        delay = self._backoff_initial
        while True:
            attempt += 1
            try:
                await self._set_up()
            except Exception as exc:  # any failure is retried: a bug here must not end the pump
                why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                self._on_state(False, f"set-up attempt {attempt} failed: {why}"[:300])
                held_back = self._throttle.admit("setup")
                if held_back is not None:
                    log.warning(
                        "ARI set-up after connecting failed; retrying",
                        extra={
                            "attempt": attempt,
                            "error": why[:300],
                            "retry_in_s": round(delay, 2),
                            "not_logged": held_back,
                        },
                    )
            else:
                if attempt > 1:
                    log.info("ARI set-up completed after retrying", extra={"attempts": attempt})
                return
            # Jitter, as for the reconnection itself: several daemons must not retry in step.
            await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311 - not crypto
            delay = min(delay * 2, self._backoff_max)


async def _cancel(task: asyncio.Future[Any] | None) -> None:
    if task is None or task.done():
        if task is not None and not task.cancelled():
            task.exception()  # retrieved: a finished task's error is not "never retrieved"
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
