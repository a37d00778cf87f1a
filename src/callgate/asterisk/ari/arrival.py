"""A new caller's set-up: their history and the dialplan's variables read, queued in arrival
order; the core screens them.

Each caller is set up in its own task (a burst of callers must not queue behind each other's
round trips to Asterisk and the journal), yet reaches the core in the order they arrived. A
caller whose set-up fails is handed back to the dialplan, never left alone in Stasis.

The caller's screening history comes from an injected loader (the daemon's, over the journal;
it never delays a call beyond its own short timeout); the core screens with it. Its
``CallScreened`` carries the call's start to the observers, with the caller's facts read here
and put on ``CallArrived``; its ``KeepClass`` goes to :mod:`.waiting`. A caller found waiting
after a restart was screened then: it is queued again in the class its channel keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

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
from callgate.asterisk.ari.translate import caller_arrived
from callgate.asterisk.ari.waiting import Waiting
from callgate.asterisk.timestamps import ari_timestamp
from callgate.core.events import CallArrived, Priority
from callgate.core.screening import CallerHistory, imei_identity, is_anonymous
from callgate.ports import CallEndedOutsideCore, CallStarted, HistorySource

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
        waiting: Waiting,
        history: HistorySource | None,
    ) -> None:
        self.shared = shared
        self.book = shared.book
        self.channels = channels
        self.endings = endings
        self.waiting = waiting
        #: Loads a caller's screening history; None: screening is off.
        self.history = history
        self._arrivals: asyncio.Future[None] | None = None  # the last caller being set up
        self._taking: set[asyncio.Future[None]] = set()  # callers' set-ups (held: not collected)

    async def new_call(self, channel: JsonObject, *, reconnected: bool = False) -> None:
        """Take a new (or, after a restart, a re-found) caller and queue them."""
        arrived = caller_arrived(channel)
        channel_id = arrived.call_id
        layout = CallLayout(call_id=channel_id, caller=arrived.caller, phase=Phase.SETTING_UP)
        self.book.calls[channel_id] = layout
        # Callers are set up concurrently but reach the queue in the order they arrived.
        ahead, queued = self._arrivals, asyncio.get_running_loop().create_future()
        self._arrivals = queued
        # Shielded: the caller is in the book now, so a cancel of whoever awaits this (a
        # set-up after a reconnection, which skips callers already held) must not leave them
        # there half set up, never queued, for good. The set-up finishes on its own.
        work = asyncio.ensure_future(self._take(channel, layout, ahead, queued, reconnected))
        self._taking.add(work)
        work.add_done_callback(self._taking.discard)
        await asyncio.shield(work)

    async def _take(
        self,
        channel: JsonObject,
        layout: CallLayout,
        ahead: asyncio.Future[None] | None,
        queued: asyncio.Future[None],
        reconnected: bool,
    ) -> None:
        channel_id = layout.call_id
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
        channels = self.channels
        if channel.get("state") != "Up":
            await channels.quiet(self.shared.ari.answer(channel_id))  # a dialplan left it to us
        arrived = caller_arrived(channel)
        if reconnected:
            recording, priority = await asyncio.gather(
                channels.channel_var(channel, RECORDING_VAR),
                self.report_restored(channel, caller),
            )
            arrived = dataclasses.replace(arrived, priority=priority, resumed=True)
            await channels.stop_old_greeting(layout)
            await channels.start_moh(layout)
        else:
            identity = await self._identity(channel_id, caller)
            history, recording, caller_sent, dialed = await asyncio.gather(
                self._history(caller, identity),
                channels.channel_var(channel, RECORDING_VAR),
                channels.channel_var(channel, CALLER_SENT_VAR),
                channels.channel_var(channel, DIALED_VAR),
            )
            # The caller's facts travel with the call: the core's CallScreened carries them to
            # the journal and CAD.
            arrived = dataclasses.replace(
                arrived, history=history, caller_sent=caller_sent, dialed=dialed, identity=identity
            )
        layout.recording = recording or None
        if ahead is not None:
            # Bounded: one caller whose set-up hangs must not hold up the others.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(ahead), ARRIVAL_ORDER_WAIT)
        layout.move(Move.ARRIVE)
        if layout.ended or layout.handed_back:
            # The caller left (or was handed back on shutdown) while we set up: the core never
            # hears of them, but the journal keeps that they called (with the class they came
            # with: nobody screened them).
            await self._record_unqueued(layout, arrived)
        else:
            await self._arrive(layout, arrived)
        if layout.recording is None:
            # Every call is recorded, but a call without a recording is still answered. Said
            # once the call's start is on its way to the journal (the core screened it), or
            # the journal refuses the failure of a call it does not know yet.
            self.endings.recording_alarm(channel_id, "no MixMonitor on the call (see the dialplan)")

    async def _record_unqueued(self, layout: CallLayout, arrived: CallArrived) -> None:
        if not arrived.resumed:  # found again after a restart: its start was recorded then
            await self._record_start(arrived)
        if layout.ended:
            # Gone before the core ever heard of it: its row must not stay open for ever. A
            # caller handed back is journaled by the fallback queue's reader instead.
            await self.shared.feed(
                CallEndedOutsideCore(layout.call_id, "ABANDONED", self.shared.clock())
            )

    async def _record_start(self, arrived: CallArrived) -> None:
        start = CallStarted(
            arrived.call_id,
            arrived.caller,
            arrived.caller_sent,
            arrived.dialed,
            arrived.priority,
            self.shared.clock(),
            arrived.category,
            arrived.identity,
        )
        await self.shared.feed(start)

    async def _arrive(self, layout: CallLayout, arrived: CallArrived) -> None:
        if arrived.resumed:
            log.info(
                "112 call entered",
                extra={
                    "call_id": arrived.call_id,
                    "caller": arrived.caller,
                    "priority": arrived.priority,
                },
            )
        # The core screens it (a blocked caller's KeepClass moves the layout to BLOCKED)
        # and may ring a call-taker at once.
        await self.shared.feed(arrived)
        if not arrived.resumed:
            # After the core has the call: a free call-taker's phone rings while the caller
            # hears the greeting, not after it (on Asterisk 22 a playback holds the channel's
            # other requests until it ends, which put 1.6 s before every first ring).
            self.waiting.greet(layout)

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
        await self.shared.feed(
            CallStarted(
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

    async def _history(self, caller: str, identity: str | None) -> CallerHistory | None:
        if self.history is None:
            return None
        return await self.history(caller, self.shared.clock(), identity)

    async def _identity(self, channel_id: str, caller: str) -> str | None:
        """A SIM-less caller's IMEI-derived identity from the carrier's SIP headers, if any.

        Asked only for callers without a number, and only with screening on: everyone else is
        keyed by their number, and the two extra round trips would delay every call."""
        if self.history is None or not is_anonymous(caller):
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
