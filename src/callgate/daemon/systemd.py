"""systemd notification (sd_notify): READY, RELOADING, STATUS, STOPPING and watchdog pings.

All of it is a no-op when systemd did not start the daemon (no ``NOTIFY_SOCKET``), so the same
binary runs by hand, in the lab and under ``Type=notify``.

The watchdog pings are sent by a task on the daemon's own event loop: if the loop hangs (a
blocking call, a busy loop), the pings stop and systemd restarts callgate after ``WatchdogSec=``;
while it restarts, the dialplan's fallback queue takes the 112 calls.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Talks to systemd's notify socket (``NOTIFY_SOCKET``; abstract names start with '@')."""

    def __init__(self) -> None:
        self.socket_name = os.environ.get("NOTIFY_SOCKET") or None
        self.watchdog_interval = _watchdog_interval(os.environ)
        self._address: str | bytes | None = None
        self._socket: socket.socket | None = None
        if self.socket_name is not None:
            # The protocol is one datagram per message; written here rather than with sdnotify
            # 0.3.2, which cannot be closed (a leaked socket per notifier) and is untyped.
            name = self.socket_name
            self._address = b"\0" + name[1:].encode() if name.startswith("@") else name
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def notify(self, message: str) -> None:
        if self._socket is None or self._address is None:
            return
        try:
            self._socket.sendto(message.encode(), self._address)
        except OSError as exc:
            # systemd going away must never stop a daemon that is carrying 112 calls.
            log.warning("systemd notification failed", extra={"error": str(exc)})

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def ready(self, status: str = "taking calls") -> None:
        """Start-up is done: AMI and ARI connected and the state reconciled."""
        self.notify(f"READY=1\nSTATUS={status}")

    def status(self, text: str) -> None:
        """One line shown by ``systemctl status callgate``."""
        self.notify(f"STATUS={text}")

    def reloading(self) -> None:
        """A reload of the configuration begins; :meth:`ready` says it is over
        (``systemctl reload`` waits for it)."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notify(f"RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=reloading the configuration")

    def stopping(self, status: str = "stopping: new calls go to the fallback queue") -> None:
        self.notify(f"STOPPING=1\nSTATUS={status}")

    async def watchdog(self) -> None:
        """Ping at half the watchdog interval, from this event loop, until cancelled."""
        interval = self.watchdog_interval
        if interval is None or not self.enabled:
            return
        log.info("systemd watchdog pings", extra={"every_s": interval})
        while True:
            self.notify("WATCHDOG=1")
            await asyncio.sleep(interval)


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Half of ``WATCHDOG_USEC`` in seconds, or None when systemd wants no pings from us."""
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None  # the variable was meant for a parent process, not for us
    try:
        value = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC is not a number; no watchdog pings", extra={"value": usec})
        return None
    return value / 2 / 1_000_000 if value > 0 else None
