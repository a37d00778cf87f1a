"""A new caller's set-up: screened, read, queued in arrival order, then greeted.

Each caller is set up in its own task (a burst of callers must not queue behind each other's
round trips to Asterisk and the journal), yet reaches the core in the order they arrived. A
caller whose set-up fails is handed back to the dialplan, never left alone in Stasis.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import TYPE_CHECKING

from callgate.asterisk.ari.blocking import Blocking
from callgate.asterisk.ari.channels import Channels
from callgate.asterisk.ari.client import JsonObject
from callgate.asterisk.ari.context import Shared
from callgate.asterisk.ari.ending import Endings
from callgate.asterisk.ari.layout import (
    CALLER_SENT_VAR,
    DIALED_VAR,
    PRIORITY_VAR,
    RECORDING_VAR,
    CallLayout,
    Move,
    Phase,
)
from callgate.asterisk.ari.silence import Silence
from callgate.asterisk.ari.translate import caller_arrived
from callgate.asterisk.timestamps import ari_timestamp
from callgate.core.events import Priority
from callgate.core.screening import imei_identity, is_anonymous
from callgate.ports import CallStart

if TYPE_CHECKING:
    from callgate.core.screening import ScreeningDecision
    from callgate.screening import Screener

log = logging.getLogger(__name__)

#: Longest a caller's set-up waits for the one who arrived before (arrival order in the queue).
ARRIVAL_ORDER_WAIT = 2.0


class Arrivals:
    """Sets up new callers (and, after a restart, callers found waiting) and queues them."""

    def __init__(
        self,
        shared: Shared,
        channels: Channels,
        endings: Endings,
        silence: Silence,
        blocking: Blocking,
        screener: Screener | None,
    ) -> None:
        self.shared = shared
        self.book = shared.book
        self.channels = channels
        self.endings = endings
        self.silence = silence
        self.blocking = blocking
        self.screener = screener
        self._arrivals: asyncio.Future[None] | None = None  # the last caller being set up

    async def new_call(self, channel: JsonObject, *, reconnected: bool = False) -> None:
        """Take a new (or, after a restart, a re-found) caller and queue them."""
        arrived = caller_arrived(channel)
        channel_id = arrived.call_id
        layout = CallLayout(call_id=channel_id, caller=arrived.caller, phase=Phase.SETTING_UP)
        self.book.calls[channel_id] = layout
        # Callers are set up concurrently but reach the queue in the order they arrived.
        ahead, queued = self._arrivals, asyncio.get_running_loop().create_future()
        self._arrivals = queued
        try:
            await self._set_up(channel, layout, ahead, reconnected=reconnected)
        except Exception:
            # Never leave a caller alone in Stasis: hand them to the fallback queue. If even
            # that fails (ARI away), the reconciliation after reconnecting finds them.
            log.exception(
                "setting up a call failed; handing it back", extra={"call_id": channel_id}
            )
            self.book.calls.pop(channel_id, None)
            layout.move(Move.HAND_BACK)
            await self.channels.quiet(self.shared.ari.continue_in_dialplan(channel_id))
        finally:
            if not queued.done():
                queued.set_result(None)

    async def _set_up(
        self,
        channel: JsonObject,
        layout: CallLayout,
        ahead: asyncio.Future[None] | None,
        *,
        reconnected: bool,
    ) -> None:
        channel_id, caller = layout.call_id, layout.caller
        channels, settings = self.channels, self.shared.settings
        if channel.get("state") != "Up":
            await channels.quiet(self.shared.ari.answer(channel_id))  # a dialplan left it to us
        priority, category, shown, warning = int(Priority.NORMAL), "", f"112 {caller}", ""
        if reconnected:
            recording, priority = await asyncio.gather(
                channels.channel_var(channel, RECORDING_VAR),
                self.report_restored(channel, caller),
            )
            await channels.start_moh(layout)
        else:
            identity = await self._identity(channel_id, caller)
            decision, recording, caller_sent, dialed = await asyncio.gather(
                self._screen(caller, identity),
                channels.channel_var(channel, RECORDING_VAR),
                channels.channel_var(channel, CALLER_SENT_VAR),
                channels.channel_var(channel, DIALED_VAR),
            )
            if decision is not None:
                priority, category = int(decision.priority), decision.category
                if decision.tag:
                    shown = f"{decision.tag} {caller}"
                if decision.warn:
                    warning = settings.screening.warning
            start = CallStart(
                channel_id,
                caller,
                caller_sent,
                dialed,
                priority,
                self.shared.clock(),
                category,
                identity,
            )
            await self.shared.observer.call_started(start)
            if decision is not None and decision.blocked:
                layout.recording = recording or None
                layout.move(Move.BLOCK)
                # In the background: the announcement must not hold up the callers behind.
                self.shared.tasks.spawn(self.blocking.reject(layout))
                return
        layout.shown = shown
        layout.recording = recording or None
        if layout.recording is None:
            # Every call is recorded, but a call without a recording is still answered.
            self.endings.recording_alarm(channel_id, "no MixMonitor on the call (see the dialplan)")
        if ahead is not None:
            # Bounded: one caller whose set-up hangs must not hold up the others.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(ahead), ARRIVAL_ORDER_WAIT)
        layout.move(Move.ARRIVE)
        if layout.ended or layout.handed_back:
            return  # the caller left (or was handed back on shutdown) while we set up
        log.info(
            "112 call entered",
            extra={"call_id": channel_id, "caller": caller, "priority": priority},
        )
        await self.shared.feed(
            dataclasses.replace(
                caller_arrived(channel), priority=priority, category=category, caller_name=shown
            )
        )
        if not reconnected:
            # After the core has the call: a free call-taker's phone rings while the caller
            # hears the greeting, not after it (on Asterisk 22 a playback holds the channel's
            # other requests until it ends, which put 1.6 s before every first ring).
            self.shared.tasks.spawn(self._while_waiting(layout, priority, warning))

    async def report_restored(self, channel: JsonObject, caller: str) -> int:
        """Report a caller found in Stasis after a restart as started (``restored``); returns
        the priority class its channel carries.

        The process before may have been killed before its journal had the call: the journal
        records it now (a no-op if it is there), or every later record of the call is refused.
        """
        stored, caller_sent, dialed = await asyncio.gather(
            self.channels.channel_var(channel, PRIORITY_VAR),
            self.channels.channel_var(channel, CALLER_SENT_VAR),
            self.channels.channel_var(channel, DIALED_VAR),
        )
        priority = int(stored) if stored.isdigit() else int(Priority.NORMAL)
        created = ari_timestamp(channel.get("creationtime"))
        await self.shared.observer.call_started(
            CallStart(
                str(channel["id"]),
                caller,
                caller_sent,
                dialed,
                priority,
                created if created is not None else self.shared.clock(),
                restored=True,
            )
        )
        return priority

    async def _while_waiting(self, layout: CallLayout, priority: int, warning: str) -> None:
        """What a new caller hears and how they are watched while the ACD finds a call-taker."""
        # Before the greeting, in this order: Asterisk runs a channel's requests one by one, and
        # these two would otherwise wait for the whole greeting.
        await self.channels.set_var(layout.call_id, PRIORITY_VAR, str(priority))
        await self.silence.listen_for_speech(layout)
        if not self.book.still_waiting(layout):
            return  # answered (or gone) already: no greeting into a conversation
        await self.channels.play_greeting(layout, warning)
        if self.silence.detecting:
            await self.silence.watch(layout)

    async def _screen(self, caller: str, identity: str | None) -> ScreeningDecision | None:
        if self.screener is None:
            return None
        return await self.screener.decide(caller, self.shared.clock(), identity=identity)

    async def _identity(self, channel_id: str, caller: str) -> str | None:
        """A SIM-less caller's IMEI-derived identity from the carrier's SIP headers, if any.

        Asked only for callers without a number: everyone else is keyed by their number, and
        the two extra round trips would delay every call."""
        if self.screener is None or not is_anonymous(caller):
            return None
        headers = await asyncio.gather(
            self.channels.get_var(channel_id, "PJSIP_HEADER(read,Contact)"),
            self.channels.get_var(channel_id, "PJSIP_HEADER(read,P-Asserted-Identity)"),
        )
        identity = imei_identity(*headers)
        if identity is not None:
            log.info(
                "SIM-less caller identified by the carrier",
                extra={"call_id": channel_id, "identity": f"imei:{identity}"},
            )
        return identity
