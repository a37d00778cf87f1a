"""Core commands to ARI requests: ring, cancel, bridge, hang up, send on, and the rest.

Each command is carried out as the core gave it; what Asterisk answers at once (a ring that
could not start, a bridge made, a hang-up refused) comes back as the core's follow-up events.
The legs this module originates (call-takers', destinations') are followed here too: their
answer and their end. A waiting caller's media and talk detection go to :mod:`.waiting`, a
callback attempt's outbound call to :mod:`.callback_legs`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from callgate.asterisk.ari.callback_legs import CallbackLegs
from callgate.asterisk.ari.channels import Channels
from callgate.asterisk.ari.client import AriError
from callgate.asterisk.ari.context import Shared
from callgate.asterisk.ari.ending import Endings
from callgate.asterisk.ari.handoff import HandOff
from callgate.asterisk.ari.layout import CALLTAKER, DESTINATION, CallLayout, Leg, Move, Phase
from callgate.asterisk.ari.translate import Events, quote
from callgate.asterisk.ari.waiting import Waiting
from callgate.core.commands import (
    AnnounceQueue,
    Bridge,
    CallAgency,
    CancelCallback,
    CancelRing,
    Command,
    DialCallback,
    ForgetCall,
    HangUpAgent,
    HangUpCaller,
    KeepClass,
    PlayAnnouncement,
    PlayPrompt,
    PrepareCallback,
    RingAgent,
    SendToDestination,
    SetDispositionByKey,
    StartListening,
    StopListening,
    StopQueueAnnouncement,
)
from callgate.core.events import (
    AgentHungUp,
    AgentNoAnswer,
    CallBridged,
    DestinationFailed,
    Event,
    HangUpFailed,
)
from callgate.ports import AgentConnected

log = logging.getLogger(__name__)


class Executor:
    """Carries out the core's commands on Asterisk (the engine's ``CommandExecutor``)."""

    def __init__(
        self,
        shared: Shared,
        channels: Channels,
        endings: Endings,
        callbacks: CallbackLegs,
        waiting: Waiting,
        handoff: HandOff,
    ) -> None:
        self.shared = shared
        self.book = shared.book
        self.channels = channels
        self.endings = endings
        self.callbacks = callbacks
        self.waiting = waiting
        self.handoff = handoff

    async def execute(self, command: Command) -> Sequence[Event]:
        if isinstance(command, RingAgent):
            return await self._ring(command)
        if isinstance(command, Bridge):
            return await self._bridge(command)
        if isinstance(command, CancelRing | HangUpAgent):
            await self.endings.drop_agent_leg(command.call_id, command.agent_id)
        elif isinstance(command, HangUpCaller):
            return await self._hang_up_caller(command.call_id)
        elif isinstance(command, SendToDestination):
            return await self._send_to_destination(command)
        elif isinstance(command, KeepClass):
            self.waiting.keep_class(command)
        elif isinstance(command, StartListening):
            self.waiting.listen(command.call_id)
        elif isinstance(command, StopListening):
            self.waiting.stop_listening(command.call_id)
        elif isinstance(command, PlayPrompt):
            self.waiting.prompt(command.call_id, command.media)
        elif isinstance(command, PlayAnnouncement):
            self.waiting.announce(command.call_id, command.media)
        elif isinstance(command, AnnounceQueue):
            self.waiting.announce_queue(command)
        elif isinstance(command, StopQueueAnnouncement):
            await self.waiting.stop_queue_announcement(command.call_id)
        elif isinstance(command, PrepareCallback):
            await self.callbacks.expect(command.call_id, command.number, command.priority)
        elif isinstance(command, DialCallback):
            return await self._dial_callback(command)
        elif isinstance(command, CancelCallback):
            await self.callbacks.cancel(command.call_id)
        elif isinstance(command, CallAgency):
            await self.handoff.call_agency(command)
        elif isinstance(command, SetDispositionByKey):
            self.handoff.set_disposition(command)
        elif isinstance(command, ForgetCall):
            layout = self.book.calls.get(command.call_id)
            if layout is not None:
                layout.move(Move.END)
        return ()

    async def _ring(self, command: RingAgent) -> Sequence[Event]:
        layout = self.book.calls.get(command.call_id)
        if layout is None:
            return (AgentNoAnswer(command.call_id, command.agent_id, "call gone"),)
        leg_id = f"calltaker-{uuid.uuid4()}"
        self.book.legs[leg_id] = Leg(command.call_id, CALLTAKER, command.agent_id)
        layout.agent_legs[command.agent_id] = leg_id
        try:
            await self.shared.ari.originate(
                command.endpoint,
                app_args=f"{CALLTAKER},{command.call_id},{command.agent_id}",
                caller_id=f'"{quote(command.caller_id_name)}" <{layout.caller}>',
                # The core times the ring itself and cancels it; this is only a backstop.
                ring_timeout=int(self.shared.settings.calltakers.ring_timeout) + 30,
                channel_id=leg_id,
                near=command.call_id,  # the caller's node (a callback's: none yet, the first)
            )
        except AriError as exc:
            # Asterisk refused this ring (this phone). Not AriUnavailable (the caller's node
            # gone, Asterisk restarting): as a miss at once the caller would go through every
            # free call-taker in milliseconds and pause them all at the missed-ring limit; the
            # ring stays until the core's ring timeout instead, and a lost node's callers end.
            self.book.legs.pop(leg_id, None)
            layout.agent_legs.pop(command.agent_id, None)
            log.warning(
                "could not ring call-taker",
                extra={"call_id": command.call_id, "agent_id": command.agent_id, "error": str(exc)},
            )
            return (AgentNoAnswer(command.call_id, command.agent_id, str(exc)),)
        log.info(
            "ringing call-taker",
            extra={"call_id": command.call_id, "agent_id": command.agent_id},
        )
        return ()

    async def _hang_up_caller(self, call_id: str) -> Sequence[Event]:
        """The call-taker ended the conversation, or a blocked caller heard the announcement."""
        layout = self.book.calls.get(call_id)
        if layout is not None and layout.phase is not Phase.BLOCKED:
            # A blocked caller stays the core's until the channel is gone (or handed back).
            layout.move(Move.END)
        try:
            await self.shared.ari.hangup(call_id)
        except AriError as exc:
            if exc.status == 404:  # the caller hung up first
                return ()
            log.warning("hangup failed", extra={"channel": call_id, "error": str(exc)})
            return (HangUpFailed(call_id, str(exc)),)
        return ()

    async def _dial_callback(self, command: DialCallback) -> Sequence[Event]:
        layout = self.book.calls.get(command.call_id)
        leg_id = layout.agent_legs.get(command.agent_id) if layout else None
        if layout is None or leg_id is None or layout.callback is None:
            return (AgentHungUp(command.call_id, command.agent_id),)
        return await self.callbacks.dial(layout, command.agent_id, leg_id)

    async def _bridge(self, command: Bridge) -> Sequence[Event]:
        layout = self.book.calls.get(command.call_id)
        leg_id = layout.agent_legs.get(command.agent_id) if layout else None
        if layout is None or leg_id is None:
            return (AgentHungUp(command.call_id, command.agent_id),)
        # Somebody is being connected to the caller: from here no prompt may start on the
        # caller's channel (Asterisk would hold the bridge request behind it until it ended).
        layout.move(Move.CONNECT)
        await self.channels.stop_waiting_media(layout)
        try:
            await self.channels.join(layout, leg_id)
        except AriError as exc:
            layout.move(Move.BRIDGE_FAILED)
            log.warning(
                "call-taker left before the bridge",
                extra={"call_id": command.call_id, "agent_id": command.agent_id, "error": str(exc)},
            )
            return (AgentHungUp(command.call_id, command.agent_id),)
        log.info("call connected", extra={"call_id": command.call_id, "agent_id": command.agent_id})
        await self.shared.feed(
            AgentConnected(command.call_id, command.agent_id, self.shared.clock())
        )
        return (CallBridged(command.call_id),)

    async def _send_to_destination(self, command: SendToDestination) -> Sequence[Event]:
        layout = self.book.calls.get(command.call_id)
        if layout is None:
            return ()
        if command.fallback:
            await self.endings.hand_back(layout, command.reason)
            return ()
        leg_id = f"destination-{uuid.uuid4()}"
        self.book.legs[leg_id] = Leg(command.call_id, DESTINATION)
        layout.destination_leg = leg_id
        log.info(
            "overflowing to a destination",
            extra={
                "call_id": command.call_id,
                "destination": command.destination,
                "reason": command.reason,
            },
        )
        try:
            await self.shared.ari.originate(
                command.destination,
                app_args=f"{DESTINATION},{command.call_id}",
                caller_id=f'"{quote("112 " + layout.caller)}" <{layout.caller}>',
                ring_timeout=int(self.shared.settings.calltakers.ring_timeout) * 2,
                channel_id=leg_id,
                near=command.call_id,
            )
        except AriError as exc:
            self.book.legs.pop(leg_id, None)
            layout.destination_leg = None
            return (DestinationFailed(command.call_id, str(exc)),)
        return ()

    # ---------------------------------------------------------------- the legs made here

    async def destination_answered(self, leg: Leg, channel_id: str, answered: Events) -> None:
        """An overflow destination picked up: bridged with the caller, then the core hears."""
        layout = self.book.calls.get(leg.call_id)
        if layout is None:
            await self.channels.hang_up(channel_id)
            return
        layout.move(Move.CONNECT)
        await self.channels.stop_waiting_media(layout)
        await self.channels.join(layout, channel_id)
        await self.shared.feed(*answered)

    async def leg_gone(
        self, leg: Leg, layout: CallLayout | None, channel_id: str, gone: Events
    ) -> None:
        """A call-taker's or destination's leg ended; ``gone`` is what the core hears of it."""
        if leg.role == DESTINATION:
            if layout is not None:
                layout.destination_leg = None
            if gone:
                await self.shared.feed(*gone)
            return
        if layout is not None and layout.agent_legs.get(leg.agent_id) == channel_id:
            del layout.agent_legs[leg.agent_id]
        await self.shared.feed(*gone)
