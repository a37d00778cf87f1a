"""A supervisor on a call-taker's conversation: listen, whisper, barge (the core's
``MonitorCall``, :mod:`callgate.core.supervision`).

The supervisor's own phone is originated into our app (``supervisor,<call id>``); once they
answer:

- ``listen``: a snoop channel on the call-taker's leg hears both directions (``spy=both``)
  and joins a bridge ``monitor-<id>`` with the supervisor: they hear the caller and the
  call-taker, and nobody hears them;
- ``whisper``: the same snoop also speaks into the call-taker's leg (``whisper=out``): the
  call-taker hears the supervisor, the caller does not;
- ``barge``: the supervisor joins the call's own bridge: everybody hears everybody.

Their leg ends when they hang up (the snoop and the bridge go with it) or when the
conversation ends (the caller or the call-taker gone): :meth:`Monitors.conversation_ended`.
A snoop whose call-taker's leg is gone ends by itself, and the supervisor's leg with it.
Nothing here touches the caller's or the call-taker's channels.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass

from callgate.asterisk.ari.channels import Channels
from callgate.asterisk.ari.client import AriError, AriUnavailable, JsonObject
from callgate.asterisk.ari.context import Shared
from callgate.asterisk.ari.translate import quote
from callgate.core.supervision import MonitorCall
from callgate.ports import SupervisorMonitoring

log = logging.getLogger(__name__)

#: Stasis roles (first argument) of the supervisor's leg and of a snoop channel.
SUPERVISOR = "supervisor"
SNOOP = "snoop"
MONITOR_ROLES = (SUPERVISOR, SNOOP)
#: The ids callgate gives those channels begin so (a reconnection tells them from callers).
MONITOR_PREFIXES = tuple(f"{role}-" for role in MONITOR_ROLES)
#: How long the supervisor's phone rings before the request lapses.
RING_SECONDS = 30


@dataclass
class Monitor:
    """One supervisor on one conversation."""

    call_id: str
    agent_id: str
    mode: str
    by: str
    leg: str  # the supervisor's channel
    snoop: str | None = None
    bridge: str | None = None
    joined: bool = False  # in the conversation (journaled), not only rung


class Monitors:
    """The supervisors' legs, their snoops and bridges."""

    def __init__(self, shared: Shared, channels: Channels) -> None:
        self.shared = shared
        self.book = shared.book
        self.channels = channels
        #: Every channel of a monitor (the supervisor's leg, the snoop) -> its monitor.
        self.channels_of: dict[str, Monitor] = {}

    def owns(self, channel_id: str) -> bool:
        return channel_id in self.channels_of

    async def start(self, command: MonitorCall) -> None:
        """Ring the supervisor's phone for ``command`` (the core allowed it)."""
        layout = self.book.calls.get(command.call_id)
        if layout is None or self._calltaker_leg(command.call_id, command.agent_id) is None:
            # The core allowed it a moment ago; the conversation ended meanwhile. The tools
            # answer the supervisor so (a follow-up), rather than ok for a phone never rung.
            log.warning("no conversation for the supervisor to join", extra=_extra(command))
            await self._failed(command, "not-connected")
            return
        leg = f"{SUPERVISOR}-{uuid.uuid4()}"
        monitor = Monitor(command.call_id, command.agent_id, command.mode, command.by, leg)
        self.channels_of[leg] = monitor
        label = {"listen": "DENGAR", "whisper": "BISIK", "barge": "GABUNG"}.get(command.mode, "")
        try:
            await self.shared.ari.originate(
                command.phone,
                app_args=f"{SUPERVISOR},{command.call_id}",
                caller_id=f'"{quote(f"{label} {command.agent_id}")}" <{command.agent_id}>',
                ring_timeout=RING_SECONDS,
                channel_id=leg,
                near=command.call_id,  # the conversation's node, where the snoop is made
            )
        except (AriError, AriUnavailable) as exc:  # refused, or Asterisk unreachable
            self.channels_of.pop(leg, None)
            log.warning(
                "supervisor's phone could not be rung", extra={**_extra(command), "error": str(exc)}
            )
            await self._failed(command, "phone-failed")
            return
        log.info("ringing the supervisor's phone", extra=_extra(command))

    async def _failed(self, command: MonitorCall, reason: str) -> None:
        await self.shared.feed(
            SupervisorMonitoring(
                command.call_id, command.agent_id, command.by, command.mode, "failed",
                self.shared.clock(), reason,
            )
        )  # fmt: skip

    async def _step(self, monitor: Monitor, step: str) -> None:
        """Tell the journal the supervisor ``joined`` or ``left`` (the call's timeline)."""
        await self.shared.feed(
            SupervisorMonitoring(
                monitor.call_id, monitor.agent_id, monitor.by, monitor.mode, step,
                self.shared.clock(),
            )
        )  # fmt: skip

    async def started(self, channel_id: str, args: list[str]) -> None:
        """A monitor's channel entered our app: the supervisor answered, or a snoop began."""
        monitor = self.channels_of.get(channel_id)
        if monitor is None:
            # A leg from before a restart, or one whose conversation ended while it rang.
            log.info("unexpected monitor leg; hanging it up", extra={"channel": channel_id})
            await self.channels.hang_up(channel_id)
            return
        try:
            if channel_id == monitor.snoop and monitor.bridge is not None:
                await self.shared.ari.add_to_bridge(monitor.bridge, channel_id)
            elif channel_id == monitor.leg:
                await self._answered(monitor)
        except (AriError, AriUnavailable) as exc:
            log.warning(
                "supervisor could not join the call",
                extra={"call_id": monitor.call_id, "by": monitor.by, "error": str(exc)},
            )
            await self._end(monitor)

    async def _answered(self, monitor: Monitor) -> None:
        layout = self.book.calls.get(monitor.call_id)
        target = self._calltaker_leg(monitor.call_id, monitor.agent_id)
        if layout is None or layout.ended or target is None or layout.bridge_id is None:
            log.info("the conversation ended before the supervisor answered",
                     extra={"call_id": monitor.call_id, "by": monitor.by})  # fmt: skip
            await self._end(monitor)
            return
        if monitor.mode == "barge":
            await self.shared.ari.add_to_bridge(layout.bridge_id, monitor.leg)
        else:
            monitor.bridge = f"monitor-{uuid.uuid4()}"
            await self.shared.ari.create_bridge(monitor.bridge, near=monitor.leg)
            await self.shared.ari.add_to_bridge(monitor.bridge, monitor.leg)
            monitor.snoop = f"{SNOOP}-{uuid.uuid4()}"
            self.channels_of[monitor.snoop] = monitor
            whisper = "out" if monitor.mode == "whisper" else "none"
            await self.shared.ari.snoop(
                target, spy="both", whisper=whisper,
                app_args=f"{SNOOP},{monitor.call_id}", snoop_id=monitor.snoop,
            )  # fmt: skip
        monitor.joined = True
        await self._step(monitor, "joined")
        log.info(
            "supervisor joined the call",
            extra={"call_id": monitor.call_id, "agent_id": monitor.agent_id,
                   "mode": monitor.mode, "by": monitor.by},
        )  # fmt: skip

    async def gone(self, event: JsonObject) -> None:
        """A monitor's channel left or is gone: the supervisor hung up, or the snoop ended
        with the call-taker's leg; either way the monitor is over."""
        monitor = self.channels_of.get(event["channel"]["id"])
        if monitor is not None:
            await self._end(monitor)

    async def conversation_ended(self, call_id: str) -> None:
        """The caller or the call-taker left ``call_id``: the supervisors on it leave too.

        Never raises: the adapter runs it in the background once the core has been told."""
        for monitor in {id(m): m for m in self.channels_of.values()}.values():
            if monitor.call_id == call_id:
                await self._end(monitor)

    async def _end(self, monitor: Monitor) -> None:
        """Hang up the supervisor's leg and the snoop, destroy the bridge. Never raises: a
        failed clean-up (Asterisk unreachable, a timeout) is logged, never passed on."""
        if self.channels_of.get(monitor.leg) is not monitor:
            return  # ended already
        channels = [c for c in (monitor.leg, monitor.snoop) if c is not None]
        for channel_id in channels:  # forgotten first: a second end meanwhile is a no-op
            self.channels_of.pop(channel_id, None)
        if monitor.joined:
            await self._quietly(self._step(monitor, "left"), monitor, "journal")
        for channel_id in channels:
            await self._quietly(self.channels.hang_up(channel_id), monitor, "hangup")
        if monitor.bridge is not None:
            await self._quietly(
                self.shared.ari.destroy_bridge(monitor.bridge), monitor, "destroy bridge"
            )
        log.info(
            "supervisor left the call",
            extra={"call_id": monitor.call_id, "mode": monitor.mode, "by": monitor.by},
        )

    @staticmethod
    async def _quietly(request: Awaitable[object], monitor: Monitor, what: str) -> None:
        try:
            await request
        except AriError as exc:
            if exc.status != 404:  # 404: gone by itself already
                _failed(monitor, what, exc)
        except Exception as exc:  # clean-up must never stop the adapter nor go unlogged
            _failed(monitor, what, exc)

    def _calltaker_leg(self, call_id: str, agent_id: str) -> str | None:
        layout = self.book.calls.get(call_id)
        leg = None if layout is None else layout.agent_legs.get(agent_id)
        return leg if leg is not None and leg in self.book.answered else None


def _failed(monitor: Monitor, what: str, exc: BaseException) -> None:
    log.warning(
        "supervisor's leg could not be cleaned up",
        extra={"call_id": monitor.call_id, "by": monitor.by, "request": what,
               "error": str(exc) or type(exc).__name__},
    )  # fmt: skip


def _extra(command: MonitorCall) -> dict[str, str]:
    return {"call_id": command.call_id, "agent_id": command.agent_id, "mode": command.mode,
            "by": command.by}  # fmt: skip
