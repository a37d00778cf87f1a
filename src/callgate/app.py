"""The composition root: builds the adapters, wires them to the ACD core, owns the lifecycle.

Start: validate config (before anything connects) -> connect ARI -> log call-takers in and
reconcile with what Asterisk holds -> serve events.
Stop (SIGTERM/SIGINT): stop taking events, hand waiting callers back to the dialplan's fallback
queue, close connections. Conversations stay up in Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from callgate.asterisk.ari import AriClient, AriError, AriUnavailable, Connected
from callgate.asterisk.calls import AriCalls
from callgate.config import ConfigError, Settings, load_settings
from callgate.core.acd import Acd
from callgate.core.config import AcdConfig
from callgate.core.errors import AcdConfigError
from callgate.engine import Engine
from callgate.logs import setup_logging

log = logging.getLogger(__name__)

#: The dialplan's fallback queue: always the last overflow destination.
FALLBACK = "fallback-queue"


def acd_config(settings: Settings) -> AcdConfig:
    """The core's configuration from the config file's sections."""
    return AcdConfig(
        strategy=settings.acd.strategy,
        ring_timeout=float(settings.calltakers.ring_timeout),
        wrap_up_time=float(settings.calltakers.wrap_up_time),
        max_consecutive_no_answers=settings.calltakers.max_missed_in_a_row,
        max_wait=None if settings.acd.max_wait is None else float(settings.acd.max_wait),
        overflow_destinations=(*settings.acd.overflow, FALLBACK),
    )


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    async with AriClient(
        settings.ari.url,
        settings.ari.username,
        settings.ari.password.get_secret_value(),
        settings.ari.app,
    ) as ari:
        calls = AriCalls(ari, settings)
        engine = Engine(Acd(acd_config(settings)), calls)
        calls.feed = engine.feed

        async def pump() -> None:
            async for event in ari.events():
                try:
                    if isinstance(event, Connected):
                        await calls.on_connected()
                    else:
                        await calls.on_event(event)
                except (AriError, AriUnavailable) as exc:
                    log.warning(
                        "ARI request failed while handling an event", extra={"error": str(exc)}
                    )

        pump_task = asyncio.create_task(pump(), name="ari-events")
        stop_task = asyncio.create_task(stop.wait(), name="stop")
        await asyncio.wait({pump_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        log.info("stopping: handing waiting callers to the fallback queue")
        pump_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump_task
        engine.close()
        try:
            await asyncio.wait_for(calls.hand_back_waiting(), timeout=10)
        except (TimeoutError, AriError, AriUnavailable) as exc:
            log.error("could not hand every waiting caller back", extra={"error": str(exc)})
        stop_task.cancel()


def run_daemon(config_path: str | None) -> int:
    try:
        settings = load_settings(config_path)
        acd_config(settings)  # the core's own checks, before anything connects
    except (ConfigError, AcdConfigError) as exc:
        print(f"callgate: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log.level)
    log.info("callgate starting", extra={"ari_url": settings.ari.url, "app": settings.ari.app})

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    asyncio.run(main())
    log.info("callgate stopped")
    return 0
