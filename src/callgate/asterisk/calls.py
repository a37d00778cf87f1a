"""The ARI adapter for calls: ARI events in, core events out; core commands in, ARI requests out.

It decides nothing about who gets which call (that is the core's job); it only knows how a 112
call is laid out in Asterisk:

- the caller's channel id is the call id;
- the dialplan answers the call and starts MixMonitor on the caller's channel before Stasis, so
  one recording covers the whole call from answer to hang-up (queue time, abandoned calls, both
  parties, an agency that joins), at no extra channel's cost; callgate seals the file (see
  ``recordings``) when the caller is gone;
- a waiting caller is alone on their channel (greeting, then music on hold): no bridge, so a
  burst of callers costs Asterisk one channel each, as in app_queue;
- once someone answers, a mixing bridge ``call-<call id>`` joins the caller and the call-taker;
  an agency on a hand-off joins the same bridge;
- a call-taker's leg is originated into the Stasis app with ``calltaker,<call id>,<agent id>``
  and enters Stasis only when answered; an overflow leg uses ``destination,<call id>``.

No path here hangs up a waiting caller: a caller callgate cannot serve is handed back to the
dialplan (``continue``), whose fallback queue reaches a human.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callgate.asterisk.ari import AriClient, AriError, JsonObject
from callgate.asterisk.recordings import RecordingFailure, seal_when_stable
from callgate.asterisk.timestamps import ari_moment_passed
from callgate.core.agents import DeviceState
from callgate.core.callbacks import CALLBACK_CATEGORY, AttemptOutcome
from callgate.core.commands import (
    Bridge,
    CallEnded,
    CancelRing,
    Command,
    HangUpAgent,
    HangUpCaller,
    RingAgent,
    SendToDestination,
)
from callgate.core.events import (
    AgencyJoined,
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    AgentNoAnswer,
    CallArrived,
    CallBridged,
    CallerHungUp,
    CallReprioritised,
    DestinationAnswered,
    DestinationFailed,
    DeviceStateChanged,
    Event,
    Priority,
)
from callgate.core.screening import (
    ScreeningPolicy,
    after_silence,
    e164,
    imei_identity,
    is_anonymous,
)
from callgate.ports import (
    CallObserver,
    CallStart,
    DispositionSink,
    EventSink,
    NullObserver,
    agent_id_of,
)

if TYPE_CHECKING:  # config imports the event stream, which imports this module
    from callgate.config import Settings
    from callgate.core.screening import ScreeningDecision
    from callgate.screening import Screener

log = logging.getLogger(__name__)

CALLTAKER = "calltaker"
DESTINATION = "destination"
ADOPTED = "adopted"  # a leg of a conversation that outlived a restart of callgate
AGENCY = "agency"
CALLBACK = "callback"  # a callback attempt's outbound call, in Stasis once answered
#: The dialplan context a callback is originated into (records it, then Stasis).
CALLBACK_CONTEXT = "callgate-callback"
#: Seconds the number called back may ring before the attempt counts as no answer.
CALLBACK_RING_SECONDS = 45
#: Caller-ID shown to the person called back.
CALLBACK_CALLER_ID = '"112" <112>'
#: Longest a caller's set-up waits for the one who arrived before (arrival order in the queue).
ARRIVAL_ORDER_WAIT = 2.0
#: An answered call-taker's leg: after its StasisEnd, how long to wait for its ChannelDestroyed
#: before taking the StasisEnd as the hang-up (the wrap-up counts from its stamp either way).
DESTROYED_GRACE = 2.0
#: Seconds between * or # and the agency digit a call-taker presses.
DTMF_SEQUENCE_TIMEOUT = 3.0
BRIDGE_PREFIX = "call-"
#: Longest a blocked caller's announcement may play before the hang-up.
BLOCKED_ANNOUNCEMENT_LIMIT = 30.0
#: Channel variable that keeps a waiting call's priority class across a callgate restart.
PRIORITY_VAR = "CALLGATE_PRIORITY"

#: Asterisk device states (ARI DeviceStateChanged) as the core sees them.
_DEVICE_STATES = {
    "NOT_INUSE": DeviceState.NOT_INUSE,
    "INUSE": DeviceState.IN_USE,
    "BUSY": DeviceState.IN_USE,
    "ONHOLD": DeviceState.IN_USE,
    "RINGINUSE": DeviceState.IN_USE,
    "RINGING": DeviceState.RINGING,
    "UNAVAILABLE": DeviceState.UNAVAILABLE,
    "INVALID": DeviceState.UNAVAILABLE,
    "UNKNOWN": DeviceState.UNAVAILABLE,
}


@dataclass
class CallbackLeg:
    """A callback attempt's outbound call; the layout's call id is its channel id."""

    dial: str  # the dial string through the trunk
    dialled: bool = False  # originated (it exists in Asterisk)
    answered: bool = False  # picked up and bridged with the call-taker
    agent_id: str = ""  # the call-taker who took it
    tone: str | None = None  # playback id of the ringing tone the call-taker hears


@dataclass
class CallLayout:
    """What Asterisk holds for one call."""

    call_id: str
    caller: str
    bridge_id: str | None = None  # made when somebody answers
    callback: CallbackLeg | None = None  # set for a callback attempt (no caller channel yet)
    recording: str | None = None  # MixMonitor's file, relative to [recording] asterisk_dir
    greeting: str | None = None  # playback id while the greeting plays
    moh: bool = False
    # Somebody is being connected to the caller: from here no prompt may start on the caller's
    # channel (Asterisk would hold the bridge request behind it until it ended).
    connecting: bool = False
    handed_back: bool = False
    ended: bool = False
    adopted: bool = False  # a conversation found after a restart, outside the core
    setting_up: bool = False  # answered and being laid out; the core does not know it yet
    agent_legs: dict[str, str] = field(default_factory=dict)  # agent id -> channel id
    destination_leg: str | None = None
    shown: str = ""  # caller-ID name call-takers see (tag and number)
    # Silence detection: the caller spoke (TALK_DETECT) or pressed a key while waiting; ``wake``
    # interrupts the watch at once.
    spoke: bool = False
    key_pressed: bool = False
    listening: bool = False  # TALK_DETECT is on: silence means something
    prompted: bool = False  # the "press a key" prompt has started: keys count from now
    wake: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class Leg:
    """A channel callgate originated for a call."""

    call_id: str
    role: str  # CALLTAKER, DESTINATION, AGENCY or ADOPTED
    agent_id: str = ""  # the call-taker (for an agency leg: the one who asked for it)
    agency: str = ""
    hand_off: bool = False  # agency leg: the call-taker leaves once the agency answers


class AriCalls:
    """Translates between ARI and the ACD core for every 112 call and call-taker."""

    def __init__(
        self,
        ari: AriClient,
        settings: Settings,
        *,
        observer: CallObserver | None = None,
        clock: Callable[[], float] = time.time,
        screener: Screener | None = None,
        feed: EventSink | None = None,
        dispositions: DispositionSink | None = None,
    ) -> None:
        self.ari = ari
        self.settings = settings
        #: Where translated events go: the engine's ``feed`` (the composition root passes it).
        self.feed: Callable[..., Awaitable[None]] = feed or _nowhere
        self.observer: CallObserver = observer or NullObserver()
        self.clock = clock
        self.screener = screener
        self.calls: dict[str, CallLayout] = {}
        self.legs: dict[str, Leg] = {}  # channel id -> leg
        self.answered: set[str] = set()
        #: Callback attempts whose outbound call failed -> (outcome, cause), told once.
        self._callback_results: dict[str, tuple[AttemptOutcome, str]] = {}
        self.endpoints = {agent_id_of(e): e for e in settings.calltakers.endpoints}
        self._tasks: set[asyncio.Future[None]] = set()
        self._dtmf: dict[str, tuple[str, float]] = {}  # call-taker leg -> (* or #, when)
        self._arrivals: asyncio.Future[None] | None = None  # the last caller being set up
        #: Callers handed back to the dialplan, whose recording is sealed when they hang up.
        self._awaiting_hangup: dict[str, CallLayout] = {}
        self._started_agents = False
        self._playbacks: dict[str, asyncio.Future[None]] = {}  # playback id -> its end
        #: Where call-takers' dispositions go (``**<digit>`` during a call), if anywhere.
        self.dispositions = dispositions

    # ------------------------------------------------------------------ ARI -> core

    async def on_connected(self) -> None:
        """(Re)connected to ARI: subscribe, log call-takers in once, reconcile calls.

        Raises (TimeoutError, AriError, AriUnavailable) when it could not finish; the caller
        retries it, so every step may be repeated: the subscription is idempotent, the phones'
        states are read again, and the reconciliation skips callers it already holds.
        """
        sources = ",".join(f"deviceState:{e}" for e in self.endpoints.values())
        phones: dict[str, DeviceState] = {}
        # Bounded as a whole: N slow replies must not add up to N request timeouts. The
        # reconciliation below is not: cancelling it halfway could strand a caller it was
        # taking; each of its requests has the client's own timeout, and a caller it cannot
        # set up is handed back to the dialplan.
        async with asyncio.timeout(self.settings.ari.setup_timeout):
            if sources:
                await self.ari.request(
                    "POST",
                    f"/applications/{self.ari.app}/subscription",
                    params={"eventSource": sources},
                )
            for agent_id, endpoint in self.endpoints.items():
                phones[agent_id] = await self._device_state(endpoint)
        events: list[Event] = []
        for agent_id, endpoint in self.endpoints.items():
            device = phones[agent_id]
            if not self._started_agents and self.settings.calltakers.logged_in_at_start:
                events.append(AgentLoggedIn(agent_id, endpoint, device=device, name=endpoint))
            else:
                events.append(DeviceStateChanged(agent_id, device))
        self._started_agents = True
        await self.feed(*events)
        await self._reconcile()

    async def on_event(self, event: JsonObject) -> None:
        kind = event.get("type")
        try:
            if kind == "StasisStart":
                await self._on_stasis_start(event)
            elif kind == "ChannelDestroyed" and event["channel"]["id"] in self._awaiting_hangup:
                layout = self._awaiting_hangup.pop(event["channel"]["id"])
                self._background(self._seal_when_closed(layout))
            elif kind == "StasisEnd" and self._free_when_destroyed(event["channel"]["id"]):
                # A call-taker is free once their channel is gone (Asterisk's Hangup), a moment
                # after it leaves Stasis: a wrap-up counted from StasisEnd could end up to
                # ~20 ms early. Their leg was originated into our app, so ChannelDestroyed
                # follows; if it does not come, the StasisEnd counts after a grace.
                self._background(self._gone_unless_destroyed(event))
            elif kind in ("StasisEnd", "ChannelDestroyed"):
                await self._gone(event)
            elif kind == "ChannelDtmfReceived":
                await self._on_dtmf(event["channel"]["id"], str(event["digit"]))
            elif kind == "DeviceStateChanged":
                await self._on_device_state(event["device_state"])
            elif kind == "PlaybackFinished":
                await self._on_playback_finished(event["playback"])
            elif kind == "ChannelTalkingStarted":
                self._on_caller_sign(event["channel"]["id"], spoke=True)
        except (KeyError, TypeError, AttributeError) as exc:
            log.error(
                "ARI event without the expected fields; skipped",
                extra={"event_type": kind, "missing": str(exc)},
            )

    def _free_when_destroyed(self, channel_id: str) -> bool:
        leg = self.legs.get(channel_id)
        return leg is not None and leg.role == CALLTAKER and channel_id in self.answered

    async def _gone_unless_destroyed(self, event: JsonObject) -> None:
        await asyncio.sleep(DESTROYED_GRACE)
        if event["channel"]["id"] in self.legs:  # no ChannelDestroyed meanwhile
            await self._gone(event)

    async def _gone(self, event: JsonObject) -> None:
        # Asterisk's own stamp: a call-taker's wrap-up counts from the real hang-up, however
        # late the event reaches us under load.
        await self._on_channel_gone(
            event["channel"],
            event.get("cause_txt", ""),
            at=ari_moment_passed(event.get("timestamp")),
        )

    async def _on_stasis_start(self, event: JsonObject) -> None:
        channel = event["channel"]
        channel_id = channel["id"]
        args = event.get("args") or []
        if args and args[0] == CALLBACK:
            await self._callback_answered(channel_id)
            return
        if args and args[0] in (CALLTAKER, DESTINATION, AGENCY):
            leg = self.legs.get(channel_id)
            if leg is None:
                # A leg from before a restart, or one already cancelled: nobody waits for it.
                log.info("unexpected leg answered; hanging it up", extra={"channel": channel_id})
                await self._quiet_hangup(channel_id)
                return
            self.answered.add(channel_id)
            if leg.role == CALLTAKER:
                await self.feed(AgentAnswered(leg.call_id, leg.agent_id))
            elif leg.role == AGENCY:
                await self._agency_answered(leg, channel_id)
            else:
                await self._destination_answered(leg, channel_id)
            return
        if channel_id in self.calls:
            return
        # Set up in its own task: a burst of callers must not queue behind each other's
        # round trips to Asterisk and the journal, nor delay other events (hang-ups).
        self._background(self._new_call(channel))

    async def _new_call(self, channel: JsonObject, *, reconnected: bool = False) -> None:
        """Take a new (or, after a restart, a re-found) caller and queue them."""
        channel_id = channel["id"]
        caller = channel.get("caller", {}).get("number", "") or "anonymous"
        layout = CallLayout(call_id=channel_id, caller=caller, setting_up=True)
        self.calls[channel_id] = layout
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
            self.calls.pop(channel_id, None)
            layout.handed_back = True
            await self._quiet(self.ari.continue_in_dialplan(channel_id))
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
        if channel.get("state") != "Up":
            await self._quiet(self.ari.answer(channel_id))  # a dialplan that left it to us
        priority, category, shown, warning = int(Priority.NORMAL), "", f"112 {caller}", ""
        if reconnected:
            recording, stored = await asyncio.gather(
                self._channel_var(channel, "CALLGATE_RECORDING"),
                self._channel_var(channel, PRIORITY_VAR),
            )
            priority = int(stored) if stored.isdigit() else int(Priority.NORMAL)
            await self._start_moh(layout)
        else:
            identity = await self._identity(channel_id, caller)
            decision, recording, caller_sent, dialed = await asyncio.gather(
                self._screen(caller, identity),
                self._channel_var(channel, "CALLGATE_RECORDING"),
                self._channel_var(channel, "CALLGATE_CALLER_SENT"),
                self._channel_var(channel, "CALLGATE_DIALED"),
            )
            if decision is not None:
                priority, category = int(decision.priority), decision.category
                if decision.tag:
                    shown = f"{decision.tag} {caller}"
                if decision.warn:
                    warning = self.settings.screening.warning
            start = CallStart(
                channel_id, caller, caller_sent, dialed, priority, self.clock(), category, identity
            )
            await self.observer.call_started(start)
            if decision is not None and decision.blocked:
                layout.recording = recording or None
                # In the background: the announcement must not hold up the callers behind.
                self._background(self._reject_blocked(layout))
                return
        layout.shown = shown
        layout.recording = recording or None
        if layout.recording is None:
            # Every call is recorded, but a call without a recording is still answered.
            self._recording_alarm(channel_id, "no MixMonitor on the call (see the dialplan)")
        if ahead is not None:
            # Bounded: one caller whose set-up hangs must not hold up the others.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(ahead), ARRIVAL_ORDER_WAIT)
        layout.setting_up = False
        if layout.ended or layout.handed_back:
            return  # the caller left (or was handed back on shutdown) while we set up
        await self._arrived(layout, priority, category, shown)
        if not reconnected:
            # After the core has the call: a free call-taker's phone rings while the caller
            # hears the greeting, not after it (on Asterisk 22 a playback holds the channel's
            # other requests until it ends, which put 1.6 s before every first ring).
            self._background(self._while_waiting(layout, priority, warning))

    async def _while_waiting(self, layout: CallLayout, priority: int, warning: str) -> None:
        """What a new caller hears and how they are watched while the ACD finds a call-taker."""
        # Before the greeting, in this order: Asterisk runs a channel's requests one by one, and
        # these two would otherwise wait for the whole greeting.
        await self._set_var(layout.call_id, PRIORITY_VAR, str(priority))
        await self._listen_for_speech(layout)
        if not self._still_waiting(layout):
            return  # answered (or gone) already: no greeting into a conversation
        await self._play_greeting(layout, warning)
        if self._silence_detection:
            await self._watch_silence(layout)

    async def _arrived(self, layout: CallLayout, priority: int, category: str, shown: str) -> None:
        channel_id, caller = layout.call_id, layout.caller
        log.info(
            "112 call entered",
            extra={"call_id": channel_id, "caller": caller, "priority": priority},
        )
        await self.feed(
            CallArrived(
                channel_id,
                caller=caller,
                priority=priority,
                category=category,
                caller_name=shown,
            )
        )

    async def _screen(self, caller: str, identity: str | None) -> ScreeningDecision | None:
        if self.screener is None:
            return None
        return await self.screener.decide(caller, self.clock(), identity=identity)

    async def _identity(self, channel_id: str, caller: str) -> str | None:
        """A SIM-less caller's IMEI-derived identity from the carrier's SIP headers, if any.

        Asked only for callers without a number: everyone else is keyed by their number, and
        the two extra round trips would delay every call."""
        if self.screener is None or not is_anonymous(caller):
            return None
        headers = await asyncio.gather(
            self._get_var(channel_id, "PJSIP_HEADER(read,Contact)"),
            self._get_var(channel_id, "PJSIP_HEADER(read,P-Asserted-Identity)"),
        )
        identity = imei_identity(*headers)
        if identity is not None:
            log.info(
                "SIM-less caller identified by the carrier",
                extra={"call_id": channel_id, "identity": f"imei:{identity}"},
            )
        return identity

    async def _reject_blocked(self, layout: CallLayout) -> None:
        """A caller under a block the centre configured: announce, hang up, journal it.

        Only reachable with ``[screening.blocking] enabled``; the core's safety valve has already
        put through a blocked number that keeps calling."""
        channel_id = layout.call_id
        log.warning(
            "blocked caller rejected", extra={"call_id": channel_id, "caller": layout.caller}
        )
        announcement = self.settings.screening.blocking.announcement
        if announcement:
            playback_id = f"blocked-{channel_id}"
            done = self._playback_done(playback_id)
            try:
                await self.ari.request(
                    "POST",
                    f"/channels/{channel_id}/play/{playback_id}",
                    params={"media": announcement},
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done, BLOCKED_ANNOUNCEMENT_LIMIT)
            except AriError as exc:
                log.warning(
                    "block announcement failed", extra={"call_id": channel_id, "error": str(exc)}
                )
            finally:
                self._playbacks.pop(playback_id, None)
        await self.observer.call_ended_outside_core(channel_id, "BLOCKED", self.clock())
        layout.ended = True
        try:
            await self.ari.hangup(channel_id)
        except AriError as exc:
            if exc.status != 404:  # 404: the caller hung up first
                # Never leave the caller alone in Stasis: the fallback queue answers.
                self.calls.pop(channel_id, None)
                layout.ended = False
                await self._hand_back(layout, f"block hang-up failed: {exc}")

    def _playback_done(self, playback_id: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._playbacks[playback_id] = future
        return future

    # ------------------------------------------------------------------ silent callers

    @property
    def _silence_detection(self) -> bool:
        screening = self.settings.screening
        return screening.enabled and screening.silence_detection

    async def _listen_for_speech(self, layout: CallLayout) -> None:
        """Ask Asterisk to report the caller's speech (ChannelTalkingStarted)."""
        if not self._silence_detection:
            return
        layout.listening = await self._set_var(layout.call_id, "TALK_DETECT(set)", "")
        if not layout.listening:
            # Without it every caller would look silent and be lowered as a ghost.
            log.error(
                "ALARM: no talk detection on the call (is func_talkdetect loaded?); "
                "its silence is not judged",
                extra={"call_id": layout.call_id},
            )

    def _on_caller_sign(self, channel_id: str, *, spoke: bool = False, key: bool = False) -> None:
        """The waiting caller spoke or pressed a key: not a silent call (or a silent one that
        cannot speak, for a key)."""
        layout = self.calls.get(channel_id)
        if layout is None:
            return
        layout.spoke = layout.spoke or spoke
        # Only the answer to the prompt counts: a key pressed by a caller who can talk (or
        # before being asked) must not lift a call above everyone else.
        layout.key_pressed = layout.key_pressed or (key and layout.prompted)
        layout.wake.set()

    def _still_waiting(self, layout: CallLayout) -> bool:
        return (
            self.calls.get(layout.call_id) is layout
            and layout.bridge_id is None
            and not (layout.connecting or layout.ended or layout.handed_back)
        )

    async def _watch_silence(self, layout: CallLayout) -> None:
        """UK "press 55" practice: a caller silent while waiting is asked to press a key.

        A key lifts the call to the top class (the caller may be unable to speak: an intruder
        in the house, a stroke); silence through the prompt classes it ghost, in the lower
        class. Either way it stays in the queue and reaches a call-taker."""
        try:
            if layout.listening and await self._stays_silent(layout):
                await self._reclass_silent(layout)
        finally:
            # Talk events for the rest of the call would only load the event pump.
            if not layout.ended:
                await self._set_var(layout.call_id, "TALK_DETECT(remove)", "")

    async def _stays_silent(self, layout: CallLayout) -> bool:
        """Wait out the silence window, then the prompt; True if the call is to be reclassed."""
        settings = self.settings.screening
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(layout.wake.wait(), settings.silence_seconds)
        if not self._still_waiting(layout) or layout.spoke:
            return False
        layout.wake.clear()
        layout.prompted = True
        log.info("caller silent; asking for a key press", extra={"call_id": layout.call_id})
        await self._play_waiting_prompt(layout, settings.silent_prompt, "silence")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(layout.wake.wait(), settings.key_seconds)
        return self._still_waiting(layout) and (layout.key_pressed or not layout.spoke)

    async def _reclass_silent(self, layout: CallLayout) -> None:
        policy = self.screener.policy if self.screener is not None else ScreeningPolicy()
        outcome = after_silence(layout.key_pressed, policy)
        shown = f"{outcome.tag} {layout.shown}"
        log.info(
            "silent caller pressed a key; raised" if layout.key_pressed else "silent caller: ghost",
            extra={
                "call_id": layout.call_id,
                "category": outcome.category,
                "priority": outcome.priority,
            },
        )
        await self._set_var(layout.call_id, PRIORITY_VAR, str(outcome.priority))
        await self.feed(
            CallReprioritised(layout.call_id, outcome.priority, outcome.category, shown)
        )

    async def _quiet(self, request: Awaitable[object]) -> None:
        with contextlib.suppress(AriError):
            await request

    async def _on_channel_gone(
        self, channel: JsonObject, cause: str, *, at: float | None = None
    ) -> None:
        channel_id = channel["id"]
        layout = self.calls.get(channel_id)
        if layout is not None and layout.callback is not None:
            self._callback_gone(layout, cause)
        if layout is not None:
            if layout.handed_back or layout.ended:
                await self._forget_call(layout)  # e.g. a blocked caller, already journaled
            elif layout.setting_up:
                # Gone before the core ever heard of it: an abandoned call all the same.
                layout.ended = True
                log.info("caller hung up during set-up", extra={"call_id": channel_id})
                await self._forget_call(layout)
            else:
                layout.ended = True
                log.info("caller hung up", extra={"call_id": channel_id})
                await self.feed(CallerHungUp(channel_id, at=at))
                await self._forget_call(layout)
            return
        leg = self.legs.pop(channel_id, None)
        if leg is None:
            return
        if leg.role == ADOPTED:
            # One side of a conversation from before a restart left: end the other side too.
            self.answered.discard(channel_id)
            await self._quiet_hangup(leg.call_id)
            await self.observer.call_ended_outside_core(leg.call_id, "COMPLETED", self.clock())
            return
        answered = channel_id in self.answered
        self.answered.discard(channel_id)
        self._dtmf.pop(channel_id, None)
        call = self.calls.get(leg.call_id)
        if leg.role == CALLTAKER and await self._callback_taker_gone(call, answered=answered):
            return
        if leg.role == AGENCY:
            await self._agency_gone(leg, call, answered=answered)
            return
        if leg.role == DESTINATION:
            if call is not None:
                call.destination_leg = None
            if not answered:
                await self.feed(DestinationFailed(leg.call_id, cause or "no answer"))
            return
        if call is not None and call.agent_legs.get(leg.agent_id) == channel_id:
            del call.agent_legs[leg.agent_id]
        if answered:
            await self.feed(AgentHungUp(leg.call_id, leg.agent_id, at=at))
        else:
            await self.feed(AgentNoAnswer(leg.call_id, leg.agent_id, cause))

    async def _on_device_state(self, device_state: JsonObject) -> None:
        name = str(device_state["name"])
        agent_id = agent_id_of(name)
        if agent_id not in self.endpoints:
            return
        state = _DEVICE_STATES.get(str(device_state["state"]), DeviceState.UNAVAILABLE)
        await self.feed(DeviceStateChanged(agent_id, state))

    async def _on_playback_finished(self, playback: JsonObject) -> None:
        waiter = self._playbacks.pop(str(playback["id"]), None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
            return
        for layout in self.calls.values():
            if layout.greeting == playback["id"]:
                layout.greeting = None
                if layout.bridge_id is None and not layout.handed_back:
                    await self._start_moh(layout)
                return

    # ------------------------------------------------------------------ core -> ARI

    async def execute(self, command: Command) -> Sequence[Event]:
        if isinstance(command, RingAgent):
            return await self._ring(command)
        if isinstance(command, Bridge):
            return await self._bridge(command)
        if isinstance(command, CancelRing | HangUpAgent):
            await self._drop_agent_leg(command.call_id, command.agent_id)
        elif isinstance(command, HangUpCaller):
            layout = self.calls.get(command.call_id)
            if layout is not None:
                layout.ended = True
            await self._quiet_hangup(command.call_id)
        elif isinstance(command, SendToDestination):
            return await self._send_to_destination(command)
        elif isinstance(command, CallEnded):
            log.info(
                "call ended",
                extra={
                    "call_id": command.call_id,
                    "outcome": command.outcome.name,
                    "calltaker": command.agent_id,
                    "answer_time": command.answer_time,
                },
            )
            layout = self.calls.get(command.call_id)
            if layout is not None:
                layout.ended = True
        return ()

    async def _ring(self, command: RingAgent) -> Sequence[Event]:
        layout = self.calls.get(command.call_id)
        if layout is None:
            return (AgentNoAnswer(command.call_id, command.agent_id, "call gone"),)
        leg_id = f"calltaker-{uuid.uuid4()}"
        self.legs[leg_id] = Leg(command.call_id, CALLTAKER, command.agent_id)
        layout.agent_legs[command.agent_id] = leg_id
        try:
            await self.ari.originate(
                command.endpoint,
                app_args=f"{CALLTAKER},{command.call_id},{command.agent_id}",
                caller_id=f'"{_quote(command.caller_id_name)}" <{layout.caller}>',
                # The core times the ring itself and cancels it; this is only a backstop.
                ring_timeout=int(self.settings.calltakers.ring_timeout) + 30,
                channel_id=leg_id,
            )
        except AriError as exc:
            self.legs.pop(leg_id, None)
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

    async def _bridge(self, command: Bridge) -> Sequence[Event]:
        layout = self.calls.get(command.call_id)
        leg_id = layout.agent_legs.get(command.agent_id) if layout else None
        if layout is None or leg_id is None:
            return (AgentHungUp(command.call_id, command.agent_id),)
        if layout.callback is not None:
            return await self._dial_callback(layout, command.agent_id, leg_id)
        layout.connecting = True
        await self._stop_waiting_media(layout)
        try:
            await self._join(layout, leg_id)
        except AriError as exc:
            layout.connecting = layout.bridge_id is not None
            log.warning(
                "call-taker left before the bridge",
                extra={"call_id": command.call_id, "agent_id": command.agent_id, "error": str(exc)},
            )
            return (AgentHungUp(command.call_id, command.agent_id),)
        log.info("call connected", extra={"call_id": command.call_id, "agent_id": command.agent_id})
        await self.observer.agent_connected(command.call_id, command.agent_id, self.clock())
        return (CallBridged(command.call_id),)

    async def _drop_agent_leg(self, call_id: str, agent_id: str) -> None:
        layout = self.calls.get(call_id)
        leg_id = layout.agent_legs.pop(agent_id, None) if layout else None
        if leg_id is None:
            return
        # Forget the leg first: its hang-up must not come back as a fresh no-answer for a
        # later offer of the same call to the same call-taker.
        self.legs.pop(leg_id, None)
        self.answered.discard(leg_id)
        await self._quiet_hangup(leg_id)

    async def _send_to_destination(self, command: SendToDestination) -> Sequence[Event]:
        layout = self.calls.get(command.call_id)
        if layout is None:
            return ()
        if layout.callback is not None:
            return await self._callback_not_taken(layout, command)
        if command.fallback:
            await self._hand_back(layout, command.reason)
            return ()
        leg_id = f"destination-{uuid.uuid4()}"
        self.legs[leg_id] = Leg(command.call_id, DESTINATION)
        layout.destination_leg = leg_id
        log.info(
            "overflowing to a destination",
            extra={"call_id": command.call_id, "destination": command.destination},
        )
        try:
            await self.ari.originate(
                command.destination,
                app_args=f"{DESTINATION},{command.call_id}",
                caller_id=f'"{_quote("112 " + layout.caller)}" <{layout.caller}>',
                ring_timeout=int(self.settings.calltakers.ring_timeout) * 2,
                channel_id=leg_id,
            )
        except AriError as exc:
            self.legs.pop(leg_id, None)
            layout.destination_leg = None
            return (DestinationFailed(command.call_id, str(exc)),)
        return ()

    async def _destination_answered(self, leg: Leg, channel_id: str) -> None:
        layout = self.calls.get(leg.call_id)
        if layout is None:
            await self._quiet_hangup(channel_id)
            return
        layout.connecting = True
        await self._stop_waiting_media(layout)
        await self._join(layout, channel_id)
        await self.feed(DestinationAnswered(leg.call_id))

    # ------------------------------------------------------------------ hand-off to agencies

    async def _on_dtmf(self, channel_id: str, digit: str) -> None:
        """A key: from a waiting caller (silence detection), or from a call-taker during a
        call: ``*<digit>``/``#<digit>`` call an agency, ``**<digit>`` sets the disposition."""
        if channel_id in self.calls:
            self._on_caller_sign(channel_id, key=True)
            return
        leg = self.legs.get(channel_id)
        if leg is None or leg.role != CALLTAKER or channel_id not in self.answered:
            return
        now = self.clock()
        if digit in "*#":
            prefix, when = self._dtmf.get(channel_id, ("", 0.0))
            if digit == "*" and prefix == "*" and now - when <= DTMF_SEQUENCE_TIMEOUT:
                digit = "**"
            self._dtmf[channel_id] = (digit, now)
            return
        prefix, when = self._dtmf.pop(channel_id, ("", 0.0))
        if not prefix or now - when > DTMF_SEQUENCE_TIMEOUT:
            return
        if prefix == "**":
            # In the background: the journal's round trips must not hold up the event pump.
            self._background(self._set_disposition(leg, channel_id, digit))
            return
        for name, agency in self.settings.agencies.items():
            if agency.digit == digit:
                await self._call_agency(leg, name, agency.dial, hand_off=prefix == "#")
                return
        log.info(
            "no agency on that key",
            extra={"call_id": leg.call_id, "agent_id": leg.agent_id, "digit": digit},
        )

    async def _set_disposition(self, leg: Leg, channel_id: str, digit: str) -> None:
        """``**<digit>``: the call-taker classes the call they are on (genuine, prank...)."""
        sink = self.dispositions
        tones = self.settings.calltakers.prompts
        disposition = sink.for_digit(digit) if sink is not None else None
        if sink is None or disposition is None:
            log.info(
                "no disposition on that key",
                extra={"call_id": leg.call_id, "agent_id": leg.agent_id, "digit": digit},
            )
            await self._beep(channel_id, tones.in_call_disposition_failed)
            return
        try:
            ok = (await sink.set(leg.call_id, disposition, by=leg.agent_id, source="dtmf")).ok
        except Exception:
            log.exception("disposition failed", extra={"call_id": leg.call_id})
            ok = False
        await self._beep(
            channel_id, tones.in_call_disposition_ok if ok else tones.in_call_disposition_failed
        )

    async def _beep(self, channel_id: str, media: str) -> None:
        """A short confirmation to the call-taker only (the caller does not hear it)."""
        with contextlib.suppress(AriError):
            await self.ari.request("POST", f"/channels/{channel_id}/play", params={"media": media})

    async def _call_agency(self, asker: Leg, name: str, dial: str, *, hand_off: bool) -> None:
        layout = self.calls.get(asker.call_id)
        if layout is None:
            return
        leg_id = f"agency-{uuid.uuid4()}"
        self.legs[leg_id] = Leg(
            asker.call_id, AGENCY, agent_id=asker.agent_id, agency=name, hand_off=hand_off
        )
        log.info(
            "calling an agency",
            extra={
                "call_id": asker.call_id,
                "agent_id": asker.agent_id,
                "agency": name,
                "mode": "hand-off" if hand_off else "three-way",
            },
        )
        try:
            await self.ari.originate(
                dial,
                app_args=f"{AGENCY},{asker.call_id},{name}",
                caller_id=f'"{_quote("112 " + layout.caller)}" <{layout.caller}>',
                ring_timeout=60,
                channel_id=leg_id,
            )
        except AriError as exc:
            self.legs.pop(leg_id, None)
            log.warning(
                "agency could not be called",
                extra={"call_id": asker.call_id, "agency": name, "error": str(exc)},
            )

    async def _agency_answered(self, leg: Leg, channel_id: str) -> None:
        layout = self.calls.get(leg.call_id)
        if layout is None or layout.ended:
            await self._quiet_hangup(channel_id)
            return
        # The caller's MixMonitor goes on recording across the hand-off, in the same file.
        await self._join(layout, channel_id)
        log.info("agency joined", extra={"call_id": leg.call_id, "agency": leg.agency})
        await self.feed(AgencyJoined(leg.call_id, leg.agency))
        await self.observer.agency_joined(leg.call_id, leg.agency, leg.hand_off, self.clock())
        calltaker_leg = layout.agent_legs.get(leg.agent_id)
        if leg.hand_off and calltaker_leg is not None:
            # The call-taker's leg ends like any hang-up; the core knows the call is handed off.
            await self._quiet_hangup(calltaker_leg)

    async def _agency_gone(self, leg: Leg, layout: CallLayout | None, *, answered: bool) -> None:
        if not answered:
            log.warning(
                "agency did not answer", extra={"call_id": leg.call_id, "agency": leg.agency}
            )
            return
        log.info("agency left", extra={"call_id": leg.call_id, "agency": leg.agency})
        if layout is not None and layout.ended:
            # The call-taker had already gone: the caller's conversation is over.
            await self._quiet_hangup(leg.call_id)

    # ------------------------------------------------------------------ media

    async def _join(self, layout: CallLayout, channel_id: str) -> None:
        """Bridge ``channel_id`` with the caller, making the call's bridge on first use."""
        if layout.bridge_id is None:
            bridge_id = f"{BRIDGE_PREFIX}{layout.call_id}"
            await self.ari.create_bridge(bridge_id)
            layout.bridge_id = bridge_id
            await self.ari.add_to_bridge(bridge_id, layout.call_id, channel_id)
        else:
            await self.ari.add_to_bridge(layout.bridge_id, channel_id)

    async def _play_greeting(self, layout: CallLayout, warning: str = "") -> None:
        # A repeat nuisance caller hears the warning first; the greeting follows in one playback.
        greeting = ",".join(m for m in (warning, self.settings.call.greeting) if m)
        if not greeting:
            await self._start_moh(layout)
            return
        playback_id = f"greeting-{layout.call_id}"
        try:
            await self.ari.request(
                "POST",
                f"/channels/{layout.call_id}/play/{playback_id}",
                params={"media": greeting},
            )
            layout.greeting = playback_id
            if not self._still_waiting(layout):
                # Answered while the request was on its way: not into the conversation.
                await self._stop_waiting_media(layout)
        except AriError as exc:
            log.warning(
                "greeting could not be played", extra={"call_id": layout.call_id, "error": str(exc)}
            )
            await self._start_moh(layout)

    async def _play_waiting_prompt(self, layout: CallLayout, media: str, kind: str) -> None:
        """Interrupt what a waiting caller hears with ``media``; music on hold resumes after."""
        if not media:
            return
        await self._stop_waiting_media(layout)
        playback_id = f"{kind}-{layout.call_id}"
        try:
            await self.ari.request(
                "POST", f"/channels/{layout.call_id}/play/{playback_id}", params={"media": media}
            )
            layout.greeting = playback_id
            if not self._still_waiting(layout):
                # Answered (or handed back) while the request was on its way: not into a
                # conversation.
                await self._stop_waiting_media(layout)
                return
        except AriError as exc:
            log.warning(
                "prompt could not be played", extra={"call_id": layout.call_id, "error": str(exc)}
            )
            await self._start_moh(layout)

    async def _start_moh(self, layout: CallLayout) -> None:
        try:
            await self.ari.start_moh(layout.call_id, self.settings.call.moh_class)
            layout.moh = True
        except AriError as exc:
            log.warning("no music on hold", extra={"call_id": layout.call_id, "error": str(exc)})

    async def _stop_waiting_media(self, layout: CallLayout) -> None:
        if layout.greeting is not None:
            with contextlib.suppress(AriError):
                await self.ari.request("DELETE", f"/playbacks/{layout.greeting}")
            layout.greeting = None
        if layout.moh:
            with contextlib.suppress(AriError):
                await self.ari.stop_moh(layout.call_id)
            layout.moh = False

    def _recording_alarm(self, call_id: str, reason: str) -> None:
        log.error("ALARM: call recording failed", extra={"call_id": call_id, "reason": reason})
        self._background(self.observer.recording_failed(call_id, reason, self.clock()))

    def _background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background work failed", exc_info=task.exception())

    async def _seal_when_closed(self, layout: CallLayout) -> None:
        """After the caller is gone: wait for MixMonitor to close the file, then seal it."""
        if layout.recording is None:
            return
        path = Path(self.settings.recording.asterisk_dir) / layout.recording
        info = await asyncio.to_thread(seal_when_stable, layout.call_id, path)
        if isinstance(info, RecordingFailure):
            self._recording_alarm(layout.call_id, info.reason)
            return
        if info.unsealed is not None:
            # Hashed and journaled all the same: the evidence is kept, but others can alter it.
            log.error(
                "ALARM: call recording not sealed",
                extra={"call_id": info.call_id, "path": str(path), "reason": info.unsealed},
            )
        log.info(
            "recording ready",
            extra={
                "call_id": info.call_id,
                "path": str(path),
                "sha256": info.sha256,
                "duration_s": info.duration_s,
            },
        )
        await self.observer.recording(info, self.clock())

    # ------------------------------------------------------------------ callbacks

    async def expect_callback(self, call_id: str, number: str, priority: int) -> None:
        """A callback attempt is about to be offered to call-takers: lay it out with no caller
        channel yet (the number is dialled once a call-taker answers, with ``call_id`` as the
        outbound channel's id) and journal it like a 112 call."""
        dial = self.settings.callbacks.dial.format(number=number)
        self.calls[call_id] = CallLayout(call_id=call_id, caller=number, callback=CallbackLeg(dial))
        await self.observer.call_started(
            CallStart(
                call_id, e164(number), number, CALLBACK, priority, self.clock(), CALLBACK_CATEGORY
            )
        )

    def callback_result(self, call_id: str) -> tuple[AttemptOutcome, str] | None:
        """How an attempt's outbound call failed (told once), or None if it was not dialled."""
        return self._callback_results.pop(call_id, None)

    async def cancel_callback(self, call_id: str) -> None:
        """Withdraw an attempt whose number got through by itself; a conversation goes on."""
        layout = self.calls.get(call_id)
        if layout is None or layout.callback is None or layout.callback.answered or layout.ended:
            return
        log.info("callback withdrawn", extra={"call_id": call_id})
        layout.ended = True
        await self.feed(CallerHungUp(call_id))
        if layout.callback.dialled:
            await self._quiet_hangup(call_id)
        await self._forget_call(layout)

    async def _dial_callback(
        self, layout: CallLayout, agent_id: str, leg_id: str
    ) -> Sequence[Event]:
        """A call-taker took a callback: they wait in the call's bridge hearing a ringing tone
        while the trunk dials the number; the bridge is completed when it answers."""
        callback = layout.callback
        assert callback is not None
        call_id = layout.call_id
        bridge_id = f"{BRIDGE_PREFIX}{call_id}"
        try:
            await self.ari.create_bridge(bridge_id)
            layout.bridge_id = bridge_id
            await self.ari.add_to_bridge(bridge_id, leg_id)
        except AriError as exc:
            log.warning(
                "call-taker left before the callback was dialled",
                extra={"call_id": call_id, "agent_id": agent_id, "error": str(exc)},
            )
            if layout.bridge_id is not None:
                with contextlib.suppress(AriError):
                    await self.ari.destroy_bridge(layout.bridge_id)
                layout.bridge_id = None
            return (AgentHungUp(call_id, agent_id),)
        callback.agent_id = agent_id
        tone = f"ring-{call_id}"
        with contextlib.suppress(AriError):
            await self.ari.request(
                "POST", f"/channels/{leg_id}/play/{tone}", params={"media": "tone:ring"}
            )
            callback.tone = tone
        log.info(
            "dialling callback",
            extra={"call_id": call_id, "agent_id": agent_id, "number": layout.caller},
        )
        try:
            await self.ari.originate(
                callback.dial,
                app_args="",
                caller_id=CALLBACK_CALLER_ID,
                ring_timeout=CALLBACK_RING_SECONDS,
                channel_id=call_id,
                # The dialplan records it and hands it to Stasis once answered.
                dialplan=(CALLBACK_CONTEXT, "s", 1),
            )
            callback.dialled = True
            # Not in Stasis while it rings: follow it to hear how it ends unanswered.
            await self.ari.request(
                "POST",
                f"/applications/{self.ari.app}/subscription",
                params={"eventSource": f"channel:{call_id}"},
            )
        except AriError as exc:
            return await self._callback_failed(layout, str(exc))
        return ()

    async def _callback_failed(self, layout: CallLayout, note: str) -> Sequence[Event]:
        self._callback_results[layout.call_id] = (AttemptOutcome.FAILED, note)
        log.info(
            "callback not reached",
            extra={
                "call_id": layout.call_id,
                "outcome": AttemptOutcome.FAILED.value,
                "cause": note,
            },
        )
        layout.ended = True
        if layout.callback is not None and layout.callback.dialled:
            await self._quiet_hangup(layout.call_id)
        await self._forget_call(layout)
        return (CallerHungUp(layout.call_id),)

    async def _callback_answered(self, call_id: str) -> None:
        """The number called back answered (it runs Stasis from [callgate-callback])."""
        layout = self.calls.get(call_id)
        callback = layout.callback if layout is not None else None
        if layout is None or callback is None or layout.ended or layout.bridge_id is None:
            log.info("unexpected callback answered; hanging it up", extra={"call_id": call_id})
            await self._quiet_hangup(call_id)
            return
        callback.answered = True
        if callback.tone is not None:
            with contextlib.suppress(AriError):
                await self.ari.request("DELETE", f"/playbacks/{callback.tone}")
            callback.tone = None
        layout.recording = await self._get_var(call_id, "CALLGATE_RECORDING") or None
        if layout.recording is None:
            self._recording_alarm(call_id, "no MixMonitor on the callback (see the dialplan)")
        try:
            await self.ari.add_to_bridge(layout.bridge_id, call_id)
        except AriError as exc:
            # Gone already: its end arrives as a hang-up and ends the attempt.
            log.warning(
                "callback left before the bridge", extra={"call_id": call_id, "error": str(exc)}
            )
            return
        log.info(
            "callback connected",
            extra={"call_id": call_id, "agent_id": callback.agent_id, "number": layout.caller},
        )
        await self.feed(CallBridged(call_id))
        await self.observer.agent_connected(call_id, callback.agent_id, self.clock())

    def _callback_gone(self, layout: CallLayout, cause: str) -> None:
        """The outbound call ended: unanswered, keep why for the attempt's outcome."""
        callback = layout.callback
        if callback is None or callback.answered or layout.ended:
            return
        outcome = _callback_outcome(cause)
        self._callback_results[layout.call_id] = (outcome, cause or outcome.value)
        log.info(
            "callback not reached",
            extra={"call_id": layout.call_id, "outcome": outcome.value, "cause": cause},
        )

    async def _callback_taker_gone(self, layout: CallLayout | None, *, answered: bool) -> bool:
        """The call-taker hung up while the number still rang: the attempt ends (True)."""
        callback = layout.callback if layout is not None else None
        if layout is None or callback is None or not answered or callback.answered or layout.ended:
            return False
        note = "call-taker hung up while dialling"
        self._callback_results[layout.call_id] = (AttemptOutcome.FAILED, note)
        log.info("callback not reached", extra={"call_id": layout.call_id, "cause": note})
        layout.ended = True
        await self.feed(CallerHungUp(layout.call_id))
        await self._quiet_hangup(layout.call_id)
        await self._forget_call(layout)
        return True

    async def _callback_not_taken(
        self, layout: CallLayout, command: SendToDestination
    ) -> Sequence[Event]:
        """The core overflowed a callback offer nobody took: there is no caller to send on."""
        if not command.fallback:
            return (DestinationFailed(command.call_id, "callback: no caller to send"),)
        log.info(
            "callback not taken by a call-taker",
            extra={"call_id": command.call_id, "reason": command.reason},
        )
        layout.ended = True
        await self._forget_call(layout)
        return ()

    # ------------------------------------------------------------------ restart safety

    async def _reconcile(self) -> None:
        """Adopt what Asterisk still holds after a restart of callgate (or of Asterisk).

        Waiting callers are re-queued in their original order and priority; connected calls
        stay connected (the call-taker is busy until one side hangs up); legs that were ringing
        for the old process are hung up so their callers are offered afresh; calls the core
        still has but Asterisk no longer does are ended as hung up.
        """
        channels = await self.ari.list_channels()
        bridges: list[JsonObject] = await self.ari.request("GET", "/bridges")
        live_ids = {c["id"] for c in channels}
        in_bridge = {ch: b for b in bridges for ch in b.get("channels", [])}
        ours = [c for c in channels if _in_app(c, self.ari.app)]
        callers = sorted(
            (c for c in ours if not str(c["id"]).startswith((CALLTAKER, DESTINATION))),
            key=lambda c: str(c.get("creationtime", "")),
        )
        for channel in callers:
            if channel["id"] in self.calls:
                continue
            bridge = in_bridge.get(channel["id"])
            others = [ch for ch in (bridge or {}).get("channels", []) if ch != channel["id"]]
            if bridge is not None and others:
                await self._adopt_connected(channel, bridge, others)
                continue
            if bridge is not None:
                # Left alone in its bridge (the other side hung up while callgate was away).
                with contextlib.suppress(AriError):
                    await self.ari.destroy_bridge(str(bridge["id"]))
            log.warning(
                "re-queueing a caller found after restart", extra={"call_id": channel["id"]}
            )
            await self._new_call(channel, reconnected=True)
        for channel in channels:
            # A call-taker's phone still ringing for the old process: the caller is re-offered.
            channel_id = str(channel["id"])
            stale = channel_id.startswith(CALLTAKER) and channel_id not in self.legs
            if stale and channel_id not in in_bridge:
                await self._quiet_hangup(channel_id)
        # Asterisk restarted (or channels vanished while we were away): end what is gone.
        for call_id, layout in list(self.calls.items()):
            if call_id not in live_ids and not layout.ended:
                layout.ended = True
                await self.feed(CallerHungUp(call_id))
                await self._forget_call(layout)
        for channel_id in [c for c in self.legs if c not in live_ids]:
            await self._on_channel_gone({"id": channel_id}, "gone after reconnect")

    async def _adopt_connected(
        self, channel: JsonObject, bridge: JsonObject, others: list[str]
    ) -> None:
        """A conversation that outlived callgate: keep it, and journal it when it ends."""
        call_id = str(channel["id"])
        caller = channel.get("caller", {}).get("number", "") or "anonymous"
        layout = CallLayout(call_id=call_id, caller=caller, bridge_id=str(bridge["id"]))
        layout.recording = await self._get_var(call_id, "CALLGATE_RECORDING") or None
        layout.ended = True  # the core never saw it; only the bridge is ours to clean up
        layout.adopted = True
        self.calls[call_id] = layout
        for other in others:
            self.legs[other] = Leg(call_id, ADOPTED)
            self.answered.add(other)
        log.warning(
            "adopted a connected call after restart",
            extra={"call_id": call_id, "legs": ",".join(others)},
        )

    async def _forget_call(self, layout: CallLayout) -> None:
        self.calls.pop(layout.call_id, None)
        if layout.adopted and any(leg.call_id == layout.call_id for leg in self.legs.values()):
            # The caller of an adopted conversation hung up first.
            await self.observer.call_ended_outside_core(layout.call_id, "COMPLETED", self.clock())
        for leg_id in list(layout.agent_legs.values()):
            self.legs.pop(leg_id, None)
            await self._quiet_hangup(leg_id)
        for leg_id, leg in list(self.legs.items()):
            if leg.call_id == layout.call_id:
                del self.legs[leg_id]
                await self._quiet_hangup(leg_id)
        if layout.bridge_id is not None:
            with contextlib.suppress(AriError):
                await self.ari.destroy_bridge(layout.bridge_id)
        if layout.handed_back:
            # The caller goes on (still recorded) in the fallback queue: seal when they hang up.
            self._awaiting_hangup[layout.call_id] = layout
        else:
            self._background(self._seal_when_closed(layout))

    async def hand_back_waiting(self) -> None:
        """On shutdown: callers still waiting go to the fallback queue; conversations go on."""
        for layout in list(self.calls.values()):
            connected = any(c in self.answered for c in layout.agent_legs.values())
            if layout.ended or layout.handed_back or connected:
                continue
            if layout.callback is not None and not layout.callback.dialled:
                continue  # no caller channel yet: the task stays open for the next run
            await self._drop_all_rings(layout)
            await self._hand_back(layout, "callgate is stopping")

    async def _hand_back(self, layout: CallLayout, reason: str) -> None:
        """Send a waiting caller to the dialplan's fallback queue (which always answers)."""
        log.warning(
            "handing the call to the fallback queue",
            extra={"call_id": layout.call_id, "reason": reason},
        )
        layout.handed_back = True
        await self._stop_waiting_media(layout)
        await self._follow_after_stasis(layout.call_id)
        try:
            await self.ari.continue_in_dialplan(layout.call_id)
        except AriError as exc:
            log.warning(
                "caller left before the hand-back",
                extra={"call_id": layout.call_id, "error": str(exc)},
            )

    async def _follow_after_stasis(self, channel_id: str) -> None:
        """Keep hearing of a caller who leaves Stasis, to seal their recording at hang-up."""
        with contextlib.suppress(AriError):
            await self.ari.request(
                "POST",
                f"/applications/{self.ari.app}/subscription",
                params={"eventSource": f"channel:{channel_id}"},
            )

    async def drain(self, seconds: float = 10.0) -> None:
        """On shutdown: let recordings being sealed (and set-ups in flight) finish, bounded."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=seconds)

    async def _drop_all_rings(self, layout: CallLayout) -> None:
        for agent_id in list(layout.agent_legs):
            await self._drop_agent_leg(layout.call_id, agent_id)

    # ------------------------------------------------------------------ helpers

    async def _device_state(self, endpoint: str) -> DeviceState:
        """A phone's state now, from its PJSIP endpoint (ARI's deviceStates covers only custom
        device states, so a phone registered before callgate started would look absent)."""
        tech, _, resource = endpoint.partition("/")
        try:
            state = await self.ari.get_endpoint(tech, resource)
        except AriError:
            return DeviceState.UNAVAILABLE
        if state.get("state") != "online":
            return DeviceState.UNAVAILABLE
        return DeviceState.IN_USE if state.get("channel_ids") else DeviceState.NOT_INUSE

    async def _channel_var(self, channel: JsonObject, name: str) -> str:
        """A dialplan variable of a new channel: from the event itself when ari.conf lists it in
        ``channelvars`` (no round trip before the first ring), else asked of Asterisk."""
        known = channel.get("channelvars")
        if isinstance(known, dict) and name in known:
            return str(known[name] or "")
        return await self._get_var(str(channel["id"]), name)

    async def _get_var(self, channel_id: str, name: str) -> str:
        try:
            return await self.ari.get_variable(channel_id, name)
        except AriError:
            return ""

    async def _set_var(self, channel_id: str, name: str, value: str) -> bool:
        """Set a channel variable (or function); False if Asterisk refused it."""
        try:
            await self.ari.request(
                "POST",
                f"/channels/{channel_id}/variable",
                params={"variable": name, "value": value},
            )
        except AriError:
            return False
        return True

    async def _quiet_hangup(self, channel_id: str) -> None:
        try:
            await self.ari.hangup(channel_id)
        except AriError as exc:
            if exc.status != 404:  # 404: it hung up by itself first
                log.warning("hangup failed", extra={"channel": channel_id, "error": str(exc)})


async def _nowhere(*_events: Event) -> None:
    raise RuntimeError("AriCalls.feed was not wired to an engine")


def _in_app(channel: JsonObject, app: str) -> bool:
    dialplan: dict[str, Any] = channel.get("dialplan", {})
    return (
        dialplan.get("app_name") == "Stasis"
        and str(dialplan.get("app_data", "")).split(",")[0] == app
    )


def _callback_outcome(cause: str) -> AttemptOutcome:
    """An unanswered callback's outcome from Asterisk's hang-up cause text."""
    text = cause.lower()
    if "busy" in text:
        return AttemptOutcome.BUSY
    if "answer" in text or "no user responding" in text or "subscriber absent" in text:
        return AttemptOutcome.NO_ANSWER
    return AttemptOutcome.FAILED


def _quote(text: str) -> str:
    """Make a caller-ID name safe inside double quotes."""
    return text.replace("\\", "").replace('"', "'")
