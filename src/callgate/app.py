"""The composition root: builds the adapters, wires them to the call flow, owns the lifecycle.

Start: validate config (before anything connects) -> connect ARI -> serve events.
Stop (SIGTERM/SIGINT): stop taking events, hand waiting callers back to the dialplan's fallback
queue, close connections. Connected calls stay up in Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from callgate.asterisk.ari import AriClient
from callgate.callflow import DirectConnect
from callgate.config import ConfigError, Settings, load_settings
from callgate.logs import setup_logging

log = logging.getLogger(__name__)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    async with AriClient(
        settings.ari.url,
        settings.ari.username,
        settings.ari.password.get_secret_value(),
        settings.ari.app,
    ) as ari:
        flow = DirectConnect(ari, settings)

        async def pump() -> None:
            async for event in ari.events():
                await flow.handle(event)

        pump_task = asyncio.create_task(pump(), name="ari-events")
        stop_task = asyncio.create_task(stop.wait(), name="stop")
        await asyncio.wait({pump_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        log.info("stopping: handing waiting callers to the fallback queue")
        pump_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump_task
        await asyncio.wait_for(flow.shutdown(), timeout=10)
        stop_task.cancel()


def run_daemon(config_path: str | None) -> int:
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
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
