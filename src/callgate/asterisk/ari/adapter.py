"""The ARI adapter's facade: ARI events in, core events out; core commands in, ARI requests out.

It decides nothing about who gets which call (that is the core's job). It routes each ARI event
to the part that knows that kind of channel, and wires the parts together:

- :mod:`.translate`: what an ARI event means for the core (pure);
- :mod:`.layout`: what Asterisk holds for each call, and the call's phase table;
- :mod:`.arrival`: a new caller's set-up (with their screening history for the core);
- :mod:`.executor`: the core's commands; :mod:`.waiting`: what a waiting caller hears and how
  they are heard (greeting, prompts, talk detection, a blocked caller's announcement);
- :mod:`.handoff`: agencies and a call-taker's keys; :mod:`.callback_legs`: callback attempts;
- :mod:`.monitors`: a supervisor listening to, whispering to or barging into a conversation;
- :mod:`.reconcile`: each (re)connection; :mod:`.ending`: forgetting and handing back calls.

Screening, blocking, silent callers and callbacks are the core's decisions: this adapter only
carries them out and reports what Asterisk saw.

No path here hangs up a waiting caller: a caller callgate cannot serve is handed back to the
dialplan (``continue``), whose fallback queue reaches a human.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from callgate.asterisk.ari.arrival import Arrivals
from callgate.asterisk.ari.callback_legs import CallbackLegs
from callgate.asterisk.ari.channels import Channels
from callgate.asterisk.ari.client import AriClient, JsonObject
from callgate.asterisk.ari.context import Feed, Shared
from callgate.asterisk.ari.ending import Endings, adopted_end
from callgate.asterisk.ari.executor import Executor
from callgate.asterisk.ari.handoff import HandOff
from callgate.asterisk.ari.layout import (
    ADOPTED,
    AGENCY,
    CALLBACK,
    CALLTAKER,
    DESTINATION,
    SETTING_UP_PHASES,
    Book,
    Move,
)
from callgate.asterisk.ari.monitors import MONITOR_ROLES, Monitors
from callgate.asterisk.ari.reconcile import Reconciler
from callgate.asterisk.ari.translate import (
    answered_calltaker,
    callback_taker_left,
    channel_gone,
    translate,
)
from callgate.asterisk.ari.waiting import Waiting
from callgate.core.agents import DeviceState
from callgate.core.commands import Command
from callgate.core.events import Event
from callgate.core.supervision import MonitorCall
from callgate.ports import (
    DispositionSink,
    HistorySource,
    OpenCalls,
    agent_id_of,
)

if TYPE_CHECKING:  # config imports the event stream, which imports the observer types
    from callgate.config import Settings

log = logging.getLogger(__name__)

#: An answered call-taker's leg: after its StasisEnd, how long to wait for its ChannelDestroyed
#: before taking the StasisEnd as the hang-up (the wrap-up counts from its stamp either way).
DESTROYED_GRACE = 2.0


class AriAdapter:
    """Translates between ARI and the ACD core for every 112 call and call-taker."""

    def __init__(
        self,
        ari: AriClient,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        history: HistorySource | None = None,
        feed: Feed | None = None,
        dispositions: DispositionSink | None = None,
        open_calls: OpenCalls | None = None,
    ) -> None:
        """``history``: loads a new caller's screening history for the core (None: screening
        is off). ``open_calls``: the journal's calls started and not ended (see
        :meth:`Reconciler.end_unseen`)."""
        self.shared = shared = Shared(ari, settings, clock)
        shared.open_calls = open_calls
        if feed is not None:
            shared.feed = feed
        self.book: Book = shared.book
        self.book.endpoints.update({agent_id_of(e): e for e in settings.calltakers.endpoints})
        self.channels = channels = Channels(shared)
        self.endings = endings = Endings(shared, channels)
        self.waiting = waiting = Waiting(shared, channels)
        self.arrivals = arrivals = Arrivals(shared, channels, endings, waiting, history)
        self.callbacks = callbacks = CallbackLegs(shared, channels, endings)
        self.handoff = HandOff(shared, channels)
        self.executor = Executor(shared, channels, endings, callbacks, waiting, self.handoff)
        self.handoff.dispositions = dispositions
        self.monitors = Monitors(shared, channels)
        self.reconciler = Reconciler(shared, channels, endings, arrivals, self._channel_gone)

    @property
    def feed(self) -> Feed:
        """Where translated events go (the engine's ``feed``), set by the composition root."""
        return self.shared.feed

    @feed.setter
    def feed(self, feed: Feed) -> None:
        self.shared.feed = feed

    @property
    def dispositions(self) -> DispositionSink | None:
        """Where call-takers' dispositions go (``**<digit>`` during a call), if anywhere."""
        return self.handoff.dispositions

    @dispositions.setter
    def dispositions(self, sink: DispositionSink | None) -> None:
        self.handoff.dispositions = sink

    async def hand_off(self, call_id: str, agency: str, mode: str) -> str:
        """Call ``agency`` into ``call_id`` as its call-taker's keys would (``ports.HandOffs``)."""
        return await self.handoff.hand_off(call_id, agency, mode)

    def agencies(self) -> list[str]:
        return list(self.shared.settings.agencies)

    def reconfigure(self, settings: Settings) -> None:
        """A reloaded configuration: what is read per call (prompts, greeting, music on hold,
        ring timeout, agencies, the callback dial string) comes from ``settings`` from the next
        use on. The connection's own settings ([ari]) are the daemon's to keep."""
        self.shared.settings = settings

    async def follow_calltakers(self, endpoints: Mapping[str, str]) -> dict[str, DeviceState]:
        """See :meth:`Reconciler.follow`."""
        return await self.reconciler.follow(endpoints)

    # ---------------------------------------------------------------- ARI -> core

    async def on_connected(self) -> None:
        """(Re)connected to ARI: see :meth:`Reconciler.on_connected`."""
        await self.reconciler.on_connected()

    async def on_event(self, event: JsonObject) -> None:
        kind = event.get("type")
        try:
            if kind in ("StasisEnd", "ChannelDestroyed") and self.monitors.owns(
                event["channel"]["id"]
            ):
                await self.monitors.gone(event)  # a supervisor's leg, or its snoop
            elif kind == "StasisStart":
                await self._stasis_started(event)
            elif kind == "ChannelDestroyed" and self.endings.awaits_hangup(event["channel"]["id"]):
                self.endings.hung_up_after_hand_back(event["channel"]["id"])
            elif kind == "StasisEnd" and answered_calltaker(event["channel"]["id"], self.book):
                # A call-taker is free once their channel is gone (Asterisk's Hangup), a moment
                # after it leaves Stasis: a wrap-up counted from StasisEnd could end up to
                # ~20 ms early. Their leg was originated into our app, so ChannelDestroyed
                # follows; if it does not come, the StasisEnd counts after a grace.
                self.shared.tasks.spawn(self._gone_unless_destroyed(event))
            elif kind in ("StasisEnd", "ChannelDestroyed"):
                await self._channel_gone(event)
            elif kind == "PlaybackFinished":
                await self.channels.playback_finished(event["playback"])
                await self._feed(event)  # a blocked caller's announcement ended
            elif kind in ("DeviceStateChanged", "ChannelTalkingStarted", "ChannelDtmfReceived"):
                # A phone's state; a waiting caller's speech or key (the core's silence watch);
                # a connected call-taker's key (the core's key sequences).
                await self._feed(event)
        except (KeyError, TypeError, AttributeError) as exc:
            log.error(
                "ARI event without the expected fields; skipped",
                extra={"event_type": kind, "missing": str(exc)},
            )

    async def _stasis_started(self, event: JsonObject) -> None:
        meaning = translate(event, self.book)
        channel = event["channel"]
        channel_id = channel["id"]
        args = event.get("args") or []
        if args and args[0] in MONITOR_ROLES:
            await self.monitors.started(channel_id, args)
            return
        if args and args[0] == CALLBACK:
            await self.callbacks.answered(channel_id, meaning)
            return
        if args and args[0] in (CALLTAKER, DESTINATION, AGENCY):
            leg = self.book.legs.get(channel_id)
            if leg is None:
                # A leg from before a restart, or one already cancelled: nobody waits for it.
                log.info("unexpected leg answered; hanging it up", extra={"channel": channel_id})
                await self.channels.hang_up(channel_id)
                return
            self.book.answered.add(channel_id)
            if leg.role == CALLTAKER:
                await self.shared.feed(*meaning)
            elif leg.role == AGENCY:
                await self.handoff.agency_answered(leg, channel_id, meaning)
            else:
                await self.executor.destination_answered(leg, channel_id, meaning)
            return
        if channel_id in self.book.calls:
            return
        # Set up in its own task: a burst of callers must not queue behind each other's
        # round trips to Asterisk and the journal, nor delay other events (hang-ups).
        self.shared.tasks.spawn(self.arrivals.new_call(channel))

    async def _feed(self, event: JsonObject) -> None:
        """Tell the core what ``event`` means for it, if anything."""
        meaning = translate(event, self.book)
        if meaning:
            await self.shared.feed(*meaning)

    async def _gone_unless_destroyed(self, event: JsonObject) -> None:
        await asyncio.sleep(DESTROYED_GRACE)
        if event["channel"]["id"] in self.book.legs:  # no ChannelDestroyed meanwhile
            await self._channel_gone(event)

    async def _channel_gone(self, event: JsonObject) -> None:
        """A channel left (``StasisEnd``) or is gone (``ChannelDestroyed``): a caller, or a leg.

        Asterisk's own stamp counts: a call-taker's wrap-up counts from the real hang-up,
        however late the event reaches us under load."""
        gone = channel_gone(event, self.book)  # also a StasisEnd taken after the grace
        channel_id = event["channel"]["id"]
        book = self.book
        layout = book.calls.get(channel_id)
        if layout is not None and layout.callback is not None:
            self.callbacks.gone(gone)
        if layout is not None:
            if layout.handed_back or layout.ended:
                await self.endings.forget_call(layout)  # the core is done with it already
            elif layout.phase in SETTING_UP_PHASES:
                # Gone before the core ever heard of it: an abandoned call all the same.
                layout.move(Move.END)
                log.info("caller hung up during set-up", extra={"call_id": channel_id})
                await self.endings.forget_call(layout)
            else:
                layout.move(Move.END)
                log.info("caller hung up", extra={"call_id": channel_id})
                await self.shared.feed(*gone)
                await self.endings.forget_call(layout)
            # The supervisors on it leave too, in the background: their clean-up (requests
            # that may time out) never holds up, nor keeps from the core, anything else.
            self.shared.tasks.spawn(self.monitors.conversation_ended(channel_id))
            return
        leg = book.legs.pop(channel_id, None)
        if leg is None:
            return
        if leg.role == ADOPTED:
            # One side of a conversation from before a restart left: end the other side too.
            book.answered.discard(channel_id)
            ended = adopted_end(leg.call_id, book.calls.get(leg.call_id), self.shared.clock())
            await self.channels.hang_up(leg.call_id)
            log.info(
                "call ended",
                extra={"call_id": leg.call_id, "outcome": "COMPLETED", "adopted": True},
            )
            await self.shared.feed(ended)
            return
        answered = channel_id in book.answered
        book.answered.discard(channel_id)
        call = book.calls.get(leg.call_id)
        if leg.role == AGENCY:
            await self.handoff.agency_gone(leg, call, answered=answered)
        elif (
            leg.role == CALLTAKER
            and call is not None
            and callback_taker_left(call, answered=answered)
        ):
            # The call-taker hung up while the number they took still rang: the attempt ends.
            await self.callbacks.taker_gone(call, gone)
        else:
            await self.executor.leg_gone(leg, call, channel_id, gone)
        if answered and leg.role == CALLTAKER:
            # The core knows first; then the supervisors on it leave, in the background.
            self.shared.tasks.spawn(self.monitors.conversation_ended(leg.call_id))

    # ---------------------------------------------------------------- core -> ARI

    async def execute(self, command: Command) -> Sequence[Event]:
        """Carry out one of the core's commands (the engine's ``CommandExecutor``)."""
        if isinstance(command, MonitorCall):
            await self.monitors.start(command)  # a supervisor's phone rings
            return ()
        return await self.executor.execute(command)

    # ---------------------------------------------------------------- shutdown

    async def hand_back_waiting(self) -> None:
        """On shutdown: callers still waiting go to the fallback queue; conversations go on."""
        await self.endings.hand_back_waiting()

    async def drain(self, seconds: float = 10.0) -> None:
        """On shutdown: let recordings being sealed (and set-ups in flight) finish, bounded."""
        await self.shared.tasks.drain(seconds)
