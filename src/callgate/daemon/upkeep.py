"""The daemon's background upkeep beside the call path: expired recordings deleted, the
fallback queue watched for callers callgate is not serving, and the admin HTTP and FastAGI ports
bound (and retried while another process holds them). The composition root
(:mod:`callgate.daemon.app`) starts them as one :class:`Background` (:func:`upkeep_tasks`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from callgate.asterisk.ami.client import AmiClient, AmiError, AmiUnavailable
from callgate.asterisk.ami.nodes import AmiNodes
from callgate.config import Settings
from callgate.daemon.fallback import FallbackRecords
from callgate.daemon.parts import Background
from callgate.daemon.systemd import Notifier
from callgate.logs import LogThrottle
from callgate.ports import JournalError
from callgate.storage.fallback_calls import FallbackCallFacts
from callgate.storage.journal import Journal
from callgate.storage.retention import delete_expired_recordings

log = logging.getLogger(__name__)

#: How often expired recordings are looked for.
RETENTION_INTERVAL = 3600.0
#: How often the dialplan's fallback queue is checked for callers callgate is not serving.
FALLBACK_WATCH_INTERVAL = 15.0
#: At most one ALARM line per port per this many seconds while it cannot be bound.
BIND_ALARM_INTERVAL = 60.0


async def retention(journal: Journal, settings: Settings) -> None:
    folder = Path(settings.recording.asterisk_dir)
    while True:
        try:
            deleted = await delete_expired_recordings(
                journal, folder, settings.recording.retention_days, datetime.now(UTC)
            )
            if deleted:
                log.info("expired recordings deleted", extra={"count": len(deleted)})
        except (JournalError, OSError) as exc:
            log.error("recording retention failed", extra={"error": str(exc)})
        await asyncio.sleep(RETENTION_INTERVAL)


async def watch_fallback(
    ami: AmiClient | AmiNodes,
    queue: str,
    on_count: Callable[[int, float | None], None] = lambda callers, longest: None,
) -> None:
    """Warn while callers sit in the fallback queue: they bypass callgate (it was away, or no
    call-taker could be reached), so the on-call admin should know. ``on_count`` hears each
    reading (callers, longest wait in seconds): the wallboard's alarm."""
    while True:
        await asyncio.sleep(FALLBACK_WATCH_INTERVAL)
        if not ami.connected:
            continue
        try:
            summary = await ami.queue_summary(queue)
        except (AmiError, AmiUnavailable) as exc:
            log.warning("fallback queue unreadable", extra={"queue": queue, "error": str(exc)})
            continue
        on_count(summary.callers, summary.longest_hold_time)
        if summary.callers:
            log.warning(
                "callers waiting in the fallback queue",
                extra={
                    "queue": queue,
                    "callers": summary.callers,
                    "longest_wait_s": summary.longest_hold_time,
                    "members_available": summary.available,
                },
            )


async def keep_binding(
    listener: str,
    port: int,
    start: Callable[[], Awaitable[None]],
    *,
    retry_every: float,
    on_state: Callable[[bool, str | None], None] = lambda up, detail: None,
) -> None:
    """Bind with ``start()``, retrying every ``retry_every`` seconds while the port is taken.

    Neither the admin HTTP port nor the FastAGI port is needed to answer 112 calls (ARI is), so
    a port another process holds is an ALARM to fix, not a reason to exit: exiting would only
    restart the daemon into the same wall, for ever, and leave every caller to the fallback.
    """
    alarms = LogThrottle(BIND_ALARM_INTERVAL)
    failures = 0
    while True:
        try:
            await start()
        except OSError as exc:
            failures += 1
            cause = exc.strerror or str(exc) or type(exc).__name__
            on_state(False, f"port {port} not bound: {cause}")
            held_back = alarms.admit(listener)
            if held_back is not None:
                log.error(
                    "ALARM: cannot bind a port; calls are still served, retrying",
                    extra={
                        "listener": listener,
                        "port": port,
                        "error": cause,
                        "retry_every_s": retry_every,
                        "failures": failures,
                    },
                )
            await asyncio.sleep(retry_every)
            continue
        on_state(True, None)
        if failures:
            log.warning(
                "port bound after retrying",
                extra={"listener": listener, "port": port, "failures": failures},
            )
        return


def upkeep_tasks(
    settings: Settings,
    journal: Journal,
    *,
    ari_events: Callable[[], Coroutine[Any, Any, object]],
    ami: AmiClient | AmiNodes,
    on_fallback: Callable[[int, float | None], None],
    notifier: Notifier,
    on_fallback_call: Callable[[FallbackCallFacts], None] = lambda _facts: None,
    more: Mapping[str, Callable[[], Coroutine[Any, Any, object]]] | None = None,
) -> Background:
    """What runs beside the call path (and ``more`` tasks the caller names); the ARI event
    pump is the one whose end stops the daemon."""
    tasks: dict[str, Callable[[], Coroutine[Any, Any, object]]] = {
        "ari-events": ari_events,
        "retention": lambda: retention(journal, settings),
        "ami": ami.run,
        "fallback-watch": lambda: watch_fallback(ami, settings.call.fallback_queue, on_fallback),
    }
    if settings.fallback.queue_log:
        # Calls the dialplan's fallback queue took (callgate away, or handed back at the last
        # stop) are journaled from queue_log: a first read now, then every scan_seconds.
        fallback = FallbackRecords(
            journal,
            queue_log=Path(settings.fallback.queue_log),
            queue=settings.call.fallback_queue,
            endpoints=settings.calltakers.endpoints,
            recordings_dir=Path(settings.recording.asterisk_dir),
            scan_seconds=settings.fallback.scan_seconds,
            on_journaled=on_fallback_call,
        )
        tasks["fallback-records"] = fallback.run
    tasks.update(more or {})
    if settings.ops.watchdog:
        # Returns at once when not under systemd: a background task, not a reason to stop.
        tasks["watchdog"] = notifier.watchdog
    return Background("background", tasks, keep="ari-events")
