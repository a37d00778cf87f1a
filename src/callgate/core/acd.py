"""The ACD facade: events and ``now`` in, commands and the next deadline out.

Usage, the same for the daemon and the simulator::

    acd = Acd(AcdConfig())
    for command in acd.handle(CallArrived("c1", caller="0812..."), now):
        ...                       # carry out RingAgent, Bridge, ...; publish notifications
    deadline = acd.next_deadline()  # call acd.handle_timer(now) once now >= deadline

``now`` is seconds since the Unix epoch (UTC), supplied by the driver; it must never go
backwards. The core reads no clock, does no I/O and never blocks.

Guards (which trigger applies) live here; the moves themselves are the tables in
``calls.py``, ``agents.py`` and ``silence.py``. Every move is reported as a
``CallStateChanged`` / ``AgentStateChanged`` notification, which is the transition log.

Every decision about a call is made here, behind the one ``next_deadline()``:

- screening at arrival (``AcdConfig.screening``, from the history ``CallArrived`` carries),
  reported in ``CallScreened``;
- blocking, for a centre that configures it: a blocked caller never queues; they hear
  ``PlayAnnouncement``, then ``HangUpCaller`` (after ``AnnouncementFinished`` or a limit),
  recorded by ``CallBlocked``; a hang-up that fails hands them to the fallback queue instead;
- the silent-caller watch (``AcdConfig.silence``, table in ``silence.py``): ``StartListening``,
  ``PlayPrompt``, ``StopListening`` and a new class in ``CallReclassified``;
- the callback worklist (``AcdConfig.callbacks``, rules in ``callbacks.py``): abandoned calls
  make tasks, answered calls cancel them, a due task becomes an attempt (``PrepareCallback``,
  a pseudo-call in the queue, ``DialCallback`` once a call-taker answers it) only while a
  call-taker is free and fewer than ``max_concurrent`` attempts are in progress; every change
  of a task is a ``CallbackTaskChanged`` for the record;
- queue announcements (``AcdConfig.announcements``, rules in ``announcements.py``):
  ``AnnounceQueue`` to a caller who waits, ``StopQueueAnnouncement`` after the rings of an
  offer.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from callgate.core.agents import Agent, AgentState, AgentTrigger, DeviceState
from callgate.core.announcements import Announcements
from callgate.core.callbacks import (
    AttemptOutcome,
    CallbackTask,
    CallbackWorklist,
    task_id_of,
)
from callgate.core.calls import Call, CallState, CallTrigger
from callgate.core.commands import (
    AgentStateChanged,
    Bridge,
    CallbackTaskChanged,
    CallBlocked,
    CallEnded,
    CallReclassified,
    CallScreened,
    CallStateChanged,
    CancelCallback,
    CancelRing,
    Command,
    DialCallback,
    HangUpAgent,
    HangUpCaller,
    PlayAnnouncement,
    PlayPrompt,
    PrepareCallback,
    RingAgent,
    RingMissed,
    RosterChanged,
    SendToDestination,
    ShiftStaffing,
    StartListening,
    StartWrapUp,
    StopListening,
)
from callgate.core.config import AcdConfig
from callgate.core.errors import AcdError, AcdUsageError
from callgate.core.events import (
    AgencyJoined,
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNoAnswer,
    AgentPaused,
    AgentUnpaused,
    AnnouncementFinished,
    CallArrived,
    CallbackFailed,
    CallbackRequested,
    CallbacksRestored,
    CallBridged,
    CallerHungUp,
    CallerPressedKey,
    CallerSpoke,
    CallReprioritised,
    ConfigChanged,
    DestinationAnswered,
    DestinationFailed,
    DeviceStateChanged,
    Event,
    HangUpFailed,
    ListeningFailed,
    ReadinessChanged,
)
from callgate.core.queue import WaitingQueue
from callgate.core.roster import Roster, RosterState, StaffingWatch
from callgate.core.screening import (
    CATEGORY_REPEAT_NUISANCE,
    ScreeningDecision,
    ScreeningPolicy,
    after_silence,
    is_anonymous,
    screen,
)
from callgate.core.silence import SilenceWatch, WatchPhase, WatchStep, WatchTrigger
from callgate.core.strategies import Strategy, make_strategy

#: Pause reason given to a call-taker who let too many offers in a row ring out.
AUTO_PAUSE_REASON = "auto: missed calls"


class _Timer(enum.Enum):
    RING = "RingTimedOut"
    MAX_WAIT = "MaxWaitReached"
    RELAX = "SkillRelaxed"
    WRAP_UP = "WrapUpEnded"
    WATCH = "WatchWindowEnded"
    ANNOUNCEMENT = "AnnouncementTimedOut"


_Out = list[Command]

#: States in which a caller waits for a human: silence means something only then.
_WAITING = frozenset({CallState.QUEUED, CallState.OFFERED, CallState.OVERFLOWING})
#: A callback attempt's failure: how its outbound call ended, and the phone system's cause.
_Failure = tuple[AttemptOutcome, str]


class _Blocked:
    """A blocked caller: never a call in the queue, only an announcement and a hang-up."""

    __slots__ = ("call_id", "caller", "hanging_up")

    def __init__(self, call_id: str, caller: str) -> None:
        self.call_id = call_id
        self.caller = caller
        #: Told to hang up; kept until the caller is gone or the hang-up failed.
        self.hanging_up = False


class Acd:
    """One automatic call distributor: one queue of 112 calls and its call-takers."""

    def __init__(self, config: AcdConfig | None = None) -> None:
        self.config = config or AcdConfig()
        self._strategy: Strategy = make_strategy(self.config.strategy)
        self._queue = WaitingQueue(self.config.aging_interval)
        self._calls: dict[str, Call] = {}
        self._agents: dict[str, Agent] = {}
        #: Agents who may be offered a call right now, in login order.
        self._ready: dict[str, Agent] = {}
        self._logged_in: set[str] = set()
        self._seq = itertools.count()
        self._timers: list[tuple[float, int, _Timer, Any, int]] = []
        self._staffed = True
        self._rostered: frozenset[str] | None = None
        #: When the roster next needs a look; None until the first event tells us the time.
        self._roster_until: float | None = None
        #: What the roster said at its last look (None: no roster, or not looked yet).
        self._roster_state: RosterState | None = None
        roster = self.config.roster
        self._staffing = None if roster is None else StaffingWatch(roster.alarm_grace)
        #: The driver's latest ``now``: callback tasks already due then wait for a call-taker.
        self._now: float | None = None
        #: Blocked callers being announced to and hung up, by call id.
        self._blocked: dict[str, _Blocked] = {}
        #: Silent-caller watches of waiting calls, by call id.
        self._watches: dict[str, SilenceWatch] = {}
        callbacks = self.config.callbacks
        self._worklist: CallbackWorklist | None = (
            None if callbacks is None else callbacks.worklist()
        )
        #: Callback attempts in the core (pseudo-calls), with the failure reported for each.
        self._attempts: dict[str, _Failure | None] = {}
        #: Whether the driver can carry out an attempt now (``ReadinessChanged``).
        self._driver_ready = True
        announcing = self.config.announcements
        self._announcements: Announcements | None = (
            None if announcing is None else Announcements(announcing, self.config.wrap_up_time)
        )
        self._handlers: dict[type[Event], Callable[[Any, float, _Out], None]] = {
            CallArrived: self._call_arrived,
            CallerHungUp: self._caller_hung_up,
            CallReprioritised: self._call_reprioritised,
            CallerSpoke: self._caller_spoke,
            CallerPressedKey: self._caller_pressed_key,
            ListeningFailed: self._listening_failed,
            AnnouncementFinished: self._announcement_finished,
            HangUpFailed: self._hang_up_failed,
            CallbackRequested: self._callback_requested,
            CallbacksRestored: self._callbacks_restored,
            CallbackFailed: self._callback_failed,
            ReadinessChanged: self._readiness_changed,
            ConfigChanged: self._config_changed,
            AgentAnswered: self._agent_answered,
            AgentNoAnswer: self._agent_no_answer,
            CallBridged: self._call_bridged,
            AgentHungUp: self._agent_hung_up,
            AgencyJoined: self._agency_joined,
            DestinationAnswered: self._destination_answered,
            DestinationFailed: self._destination_failed,
            AgentLoggedIn: self._agent_logged_in,
            AgentLoggedOut: self._agent_logged_out,
            AgentPaused: self._agent_paused,
            AgentUnpaused: self._agent_unpaused,
            DeviceStateChanged: self._device_state_changed,
        }

    # -- entry points -------------------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[Command]:
        """Apply one event that happened at ``now``; return the commands to carry out."""
        out: _Out = []
        self._now = now
        self._sync_roster(now, out)
        try:
            handler = self._handlers[type(event)]
        except KeyError:
            raise AcdUsageError(f"not a core event: {event!r}") from None
        handler(event, now, out)
        self._dispatch(type(event).__name__, now, out)
        self._offer_callbacks(now, out)
        self._check_staffing(now, out)
        return out

    def handle_timer(self, now: float) -> list[Command]:
        """Fire every deadline that is due at ``now``; return the commands to carry out."""
        out: _Out = []
        self._now = now
        self._sync_roster(now, out)
        timers = self._timers
        cause = "Timer"
        while timers and timers[0][0] <= now:
            _, _, kind, target, token = heapq.heappop(timers)
            cause = kind.value
            if kind is _Timer.RING:
                self._ring_timed_out(target, token, now, out)
            elif kind is _Timer.MAX_WAIT:
                self._max_wait_reached(target, now, out)
            elif kind is _Timer.RELAX:
                self._relax_skill(target)
            elif kind is _Timer.WRAP_UP:
                self._wrap_up_ended(target, token, now, out)
            elif kind is _Timer.WATCH:
                self._watch_window_ended(target, token, now, out)
            else:
                self._announcement_timed_out(target, now, out)
        # Offers made now are logged against the last timer that fired (e.g. WrapUpEnded).
        self._dispatch(cause, now, out)
        self._announce(now, out)
        self._offer_callbacks(now, out)
        self._check_staffing(now, out)
        return out

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` should next be called, or None if nothing is pending."""
        timers = self._timers
        while timers and not self._timer_live(timers[0]):
            heapq.heappop(timers)
        first = timers[0][0] if timers else None
        worklist = self._worklist
        retry = None if worklist is None else worklist.next_deadline(after=self._now)
        announcements = self._announcements
        turn = None if announcements is None else announcements.next_deadline()
        staffing = None if self._staffing is None else self._staffing.deadline()
        deadlines = [t for t in (first, self._roster_until, retry, turn, staffing) if t is not None]
        return min(deadlines) if deadlines else None

    # -- read-only views for drivers, tests and status pages ----------------------------

    @property
    def calls(self) -> Mapping[str, Call]:
        """Calls still in the core, by id (do not mutate)."""
        return self._calls

    @property
    def agents(self) -> Mapping[str, Agent]:
        """Every agent the core has seen, by id (do not mutate)."""
        return self._agents

    @property
    def waiting(self) -> int:
        """Number of calls waiting in the queue."""
        return len(self._queue)

    def queued_calls(self) -> list[Call]:
        """Waiting calls, best first."""
        return self._queue.calls()

    @property
    def staffed(self) -> bool:
        """False when the roster says the centre is out of hours."""
        return self._staffed

    @property
    def shift_staffing(self) -> tuple[ShiftStaffing, ...]:
        """The latest figures of each shift on that needs call-takers (empty without a roster)."""
        return () if self._staffing is None else self._staffing.figures

    # -- call events --------------------------------------------------------------------

    def _call_arrived(self, event: CallArrived, now: float, out: _Out) -> None:
        call_id, caller = event.call_id, event.caller
        if call_id in self._calls or call_id in self._blocked:
            raise AcdUsageError(f"call {call_id} arrived twice")
        priority, category = event.priority, event.category
        caller_name = event.caller_name or caller
        if not event.resumed:
            decision = self._screen(event, now)
            if decision is not None:
                priority, category = decision.priority, decision.category
                if decision.tag:
                    caller_name = decision.caller_name(caller)
            d = decision or ScreeningDecision(0.0, "", False, priority, category)
            out.append(
                CallScreened(
                    call_id,
                    caller,
                    priority,
                    category,
                    caller_name,
                    d.tag,
                    d.warn,
                    d.blocked,
                    d.valve,
                    d.score,
                    now,
                )
            )
            if d.blocked:
                self._block(_Blocked(call_id, caller), now, out)
                return
        call = Call(
            call_id,
            caller=caller,
            caller_name=caller_name,
            priority=priority,
            category=category,
            required_skill=event.required_skill,
            arrived_at=now,
            seq=next(self._seq),
        )
        self._calls[call_id] = call
        config = self.config
        if config.max_wait is not None:
            self._arm(now + config.max_wait, _Timer.MAX_WAIT, call, 0)
        if call.required_skill is not None and config.skill_relax_after is not None:
            self._arm(now + config.skill_relax_after, _Timer.RELAX, call, 0)
        if config.silence is not None and not event.resumed:
            self._watch(call, now, out)
        if self._announcements is not None:
            self._announcements.arrived(call_id, now)
        self._route(call, "CallArrived", now, out)

    def _screen(self, event: CallArrived, now: float) -> ScreeningDecision | None:
        """Screening's decision for a new call, or None when it is not screened."""
        policy, history = self.config.screening, event.history
        if policy is None or history is None:
            return None
        # Nothing on record is a first call, whatever key the history has.
        known = history if history.dispositions or history.blocks else None
        return screen(known, now, policy, anonymous=is_anonymous(event.caller))

    def _caller_hung_up(self, event: CallerHungUp, now: float, out: _Out) -> None:
        call = self._calls.get(event.call_id)
        if call is None:
            blocked = self._blocked.get(event.call_id)
            if blocked is not None:
                # Gone by themselves (during the announcement, or hung up by us just now).
                del self._blocked[blocked.call_id]
                if not blocked.hanging_up:
                    out.append(CallBlocked(blocked.call_id, blocked.caller, now))
            return
        self._caller_gone(call, "CallerHungUp", now, out, at=event.at)

    def _caller_gone(
        self, call: Call, cause: str, now: float, out: _Out, *, at: float | None = None
    ) -> None:
        """The caller's leg is over (or, for a callback attempt, the attempt is)."""
        state = call.state
        # Terminal first, so that withdrawing the rings below cannot put the call back in line.
        self._call_to(call, CallTrigger.CALLER_HANGUP, cause, now, out)
        if state is CallState.QUEUED:
            self._queue.discard(call)
        elif state is CallState.OFFERED:
            self._cancel_rings(call, "caller-hung-up", cause, now, out, missed=False)
        elif state is CallState.CONNECTING or state is CallState.CONNECTED:
            agent = self._agents[call.agent_id or ""]
            out.append(HangUpAgent(call.call_id, agent.agent_id))
            if state is CallState.CONNECTED:
                self._end_conversation(agent, call, cause, now, out, at=at)
            else:
                self._release(agent, cause, now, out, missed=False)
        self._end(call, now, out)

    def _call_reprioritised(self, event: CallReprioritised, now: float, out: _Out) -> None:
        call = self._calls.get(event.call_id)
        if call is None:
            return
        category = call.category if event.category is None else event.category
        caller_name = call.caller_name if event.caller_name is None else event.caller_name
        self._reclassify(call, event.priority, category, caller_name, "CallReprioritised", now, out)

    def _reclassify(
        self,
        call: Call,
        priority: int,
        category: str,
        caller_name: str,
        cause: str,
        now: float,
        out: _Out,
    ) -> None:
        """Give ``call`` a new class; it keeps its arrival order within the new one."""
        out.append(CallReclassified(call.call_id, priority, category, caller_name, cause, now))
        call.category = category
        call.caller_name = caller_name
        if call.in_queue:
            self._queue.discard(call)
            call.priority = priority
            self._queue.push(call)
        else:
            call.priority = priority

    def _agent_answered(self, event: AgentAnswered, now: float, out: _Out) -> None:
        call = self._calls.get(event.call_id)
        agent = self._agents.get(event.agent_id)
        if call is None or agent is None or agent.call_id != call.call_id:
            # A late answer for an offer already withdrawn: make sure that leg goes away.
            out.append(CancelRing(event.call_id, event.agent_id, "not-offered"))
            return
        if agent.state is not AgentState.RINGING:
            # The same agent answered twice (a duplicate event): the first one counts.
            return
        cause = "AgentAnswered"
        call.ringing.remove(agent.agent_id)
        call.agent_id = agent.agent_id
        call.answer_candidate_at = now
        self._call_to(call, CallTrigger.ANSWER, cause, now, out)
        # Ring-all: the first answer wins; the others return to AVAILABLE without a miss.
        self._cancel_rings(call, "answered-elsewhere", cause, now, out, missed=False)
        self._agent_to(agent, AgentTrigger.ANSWER, cause, now, out)
        if call.call_id in self._attempts:
            # A callback: the call-taker is there; now the number is dialled.
            out.append(DialCallback(call.call_id, agent.agent_id, call.caller))
        else:
            out.append(Bridge(call.call_id, agent.agent_id))

    def _agent_no_answer(self, event: AgentNoAnswer, now: float, out: _Out) -> None:
        agent = self._agents.get(event.agent_id)
        if agent is not None and agent.call_id == event.call_id:
            # Only a ringing agent can not-answer; an answered one hangs up instead.
            if agent.state is not AgentState.RINGING:
                return
            self._withdraw_ring(agent, "no-answer", "AgentNoAnswer", now, out, missed=True)

    def _call_bridged(self, event: CallBridged, now: float, out: _Out) -> None:
        call = self._calls.get(event.call_id)
        if call is None or call.state is not CallState.CONNECTING:
            return
        self._call_to(call, CallTrigger.BRIDGED, "CallBridged", now, out)
        call.answered_at = call.answer_candidate_at
        agent = self._agents[call.agent_id or ""]
        agent.calls_answered += 1
        agent.misses = 0
        if self._worklist is not None and call.call_id not in self._attempts:
            self._got_through(call.caller, call.call_id, now, out)

    def _agent_hung_up(self, event: AgentHungUp, now: float, out: _Out) -> None:
        call = self._calls.get(event.call_id)
        agent = self._agents.get(event.agent_id)
        if call is None or agent is None or agent.call_id != call.call_id:
            return
        cause = "AgentHungUp"
        if agent.state is AgentState.RINGING:
            # Hanging up a ringing phone is declining the offer.
            self._withdraw_ring(agent, "no-answer", cause, now, out, missed=True)
        elif call.state is CallState.CONNECTING:
            # app_queue#1557: answered then gone before the bridge. The caller stays and goes
            # back to the head of the queue; nobody else's ring is affected.
            call.missed_by.add(agent.agent_id)
            call.agent_id = None
            self._call_to(call, CallTrigger.BRIDGE_FAILED, cause, now, out)
            self._release(agent, cause, now, out, missed=True)
            self._route(call, cause, now, out)
        else:
            if call.handed_to is None:
                out.append(HangUpCaller(call.call_id))
            # else: handed off; the caller stays with the agency, only the call-taker leaves.
            self._end_conversation(agent, call, cause, now, out, at=event.at)
            self._call_to(call, CallTrigger.AGENT_HANGUP, cause, now, out)
            self._end(call, now, out)

    def _agency_joined(self, event: AgencyJoined, now: float, out: _Out) -> None:
        call = self._calls.get(event.call_id)
        if call is None or call.state is not CallState.CONNECTED:
            return
        call.handed_to = event.agency

    def _destination_answered(self, event: DestinationAnswered, now: float, out: _Out) -> None:
        call = self._calls.get(event.call_id)
        if call is None or call.state is not CallState.OVERFLOWING:
            return
        self._call_to(call, CallTrigger.DESTINATION_ANSWERED, "DestinationAnswered", now, out)
        self._end(call, now, out)

    def _destination_failed(self, event: DestinationFailed, now: float, out: _Out) -> None:
        call = self._calls.get(event.call_id)
        if call is None or call.state is not CallState.OVERFLOWING:
            return
        self._send(
            call, call.destination_index + 1, "destination-failed", "DestinationFailed", now, out
        )

    # -- agent events -------------------------------------------------------------------

    def _agent_logged_in(self, event: AgentLoggedIn, now: float, out: _Out) -> None:
        agent = self._agents.get(event.agent_id)
        if agent is None:
            agent = self._agents[event.agent_id] = Agent(event.agent_id)
        agent.endpoint = event.endpoint
        agent.skills = dict(event.skills)
        agent.name = event.name
        agent.device = event.device
        agent.pending_logout = False
        # A login on their behalf (the driver starting) is for those rostered now only; the
        # others keep their phone's details and log in themselves when they come on.
        state = self._roster_state
        off_roster = event.rostered_only and state is not None and not state.allows(agent.agent_id)
        if agent.state is AgentState.LOGGED_OUT and not off_roster:
            agent.idle_since = now
            agent.misses = 0
            self._logged_in.add(agent.agent_id)
            self._agent_to(agent, AgentTrigger.LOGIN, "AgentLoggedIn", now, out, by=event.by)
        self._refresh_ready(agent)

    def _agent_logged_out(self, event: AgentLoggedOut, now: float, out: _Out) -> None:
        agent = self._agents.get(event.agent_id)
        if agent is None or agent.state is AgentState.LOGGED_OUT:
            return
        if agent.state is AgentState.ON_CALL:
            # Calls in progress survive a logout (and a shift change): it waits for the end.
            agent.pending_logout = True
            agent.pending_logout_by = event.by
            return
        cause = "AgentLoggedOut"
        if agent.state is AgentState.RINGING:
            self._withdraw_ring(agent, "logged-out", cause, now, out, missed=False, settle=False)
        self._log_out(agent, cause, now, out, by=event.by)

    def _agent_paused(self, event: AgentPaused, now: float, out: _Out) -> None:
        agent = self._agents.get(event.agent_id)
        if agent is None or agent.state is AgentState.LOGGED_OUT:
            return
        if agent.state is AgentState.ON_CALL:
            agent.pending_pause = event.reason
            agent.pending_pause_by = event.by
            return
        cause = "AgentPaused"
        if agent.state is AgentState.RINGING:
            self._withdraw_ring(agent, "paused", cause, now, out, missed=False, settle=False)
        self._pause(agent, event.reason, cause, now, out, by=event.by)

    def _agent_unpaused(self, event: AgentUnpaused, now: float, out: _Out) -> None:
        agent = self._agents.get(event.agent_id)
        if agent is None:
            return
        agent.pending_pause = None
        if agent.state is AgentState.PAUSED:
            agent.misses = 0
            agent.pause_reason = None
            self._agent_to(agent, AgentTrigger.UNPAUSE, "AgentUnpaused", now, out, by=event.by)

    def _device_state_changed(self, event: DeviceStateChanged, now: float, out: _Out) -> None:
        agent = self._agents.get(event.agent_id)
        if agent is None:
            return
        agent.device = event.state
        if agent.state is AgentState.RINGING and event.state is DeviceState.UNAVAILABLE:
            # The phone dropped its registration mid-ring: not the call-taker's fault.
            self._withdraw_ring(
                agent, "device-unavailable", "DeviceStateChanged", now, out, missed=False
            )
        self._refresh_ready(agent)

    # -- timers -------------------------------------------------------------------------

    def _arm(
        self, deadline: float, kind: _Timer, target: Call | Agent | _Blocked, token: int
    ) -> None:
        heapq.heappush(self._timers, (deadline, next(self._seq), kind, target, token))

    def _timer_live(self, entry: tuple[float, int, _Timer, Any, int]) -> bool:
        _, _, kind, target, token = entry
        if kind is _Timer.RING or kind is _Timer.WRAP_UP:
            return bool(target.token == token)
        if kind is _Timer.MAX_WAIT:
            return target.state in (CallState.QUEUED, CallState.OFFERED)
        if kind is _Timer.WATCH:
            return self._watch_of(target, token) is not None
        if kind is _Timer.ANNOUNCEMENT:
            return self._announcing(target)
        return not target.relaxed and target.state in (CallState.QUEUED, CallState.OFFERED)

    def _ring_timed_out(self, call: Call, token: int, now: float, out: _Out) -> None:
        if call.token != token:
            return
        self._cancel_rings(call, "ring-timeout", _Timer.RING.value, now, out, missed=True)

    def _max_wait_reached(self, call: Call, now: float, out: _Out) -> None:
        # A call that is ringing someone keeps ringing; it overflows if that ring fails.
        if call.state is CallState.QUEUED:
            self._queue.discard(call)
            self._overflow(call, "max-wait", _Timer.MAX_WAIT.value, now, out)

    def _relax_skill(self, call: Call) -> None:
        if call.in_queue:
            self._queue.discard(call)
            call.relaxed = True
            self._queue.push(call)
        else:
            call.relaxed = True

    def _wrap_up_ended(self, agent: Agent, token: int, now: float, out: _Out) -> None:
        if agent.token != token:
            return
        agent.idle_since = now
        self._settle(agent, AgentTrigger.WRAP_END, _Timer.WRAP_UP.value, now, out)

    def _watch_window_ended(self, call: Call, token: int, now: float, out: _Out) -> None:
        watch = self._watch_of(call, token)
        if watch is None:
            return
        listening = watch.phase is WatchPhase.LISTENING
        cause = "SilenceWindowEnded" if listening else "KeyWindowEnded"
        self._watch_step(call, watch, WatchTrigger.WINDOW_ENDED, cause, now, out)

    def _announcement_timed_out(self, blocked: _Blocked, now: float, out: _Out) -> None:
        if self._announcing(blocked):
            self._hang_up_blocked(blocked, now, out)

    # -- queue announcements ------------------------------------------------------------

    def _announce(self, now: float, out: _Out) -> None:
        announcements = self._announcements
        if announcements is not None:
            queued = self._queue.calls
            announcements.fire(now, self._calls, queued, self._watches, self._on_duty, out)

    def _on_duty(self) -> int:
        """Call-takers logged in, not paused and in the roster: those who will take calls."""
        rostered = self._rostered
        return sum(
            1
            for agent_id in self._logged_in
            if self._agents[agent_id].state is not AgentState.PAUSED
            and (rostered is None or agent_id in rostered)
        )

    # -- blocked callers ----------------------------------------------------------------

    def _block(self, blocked: _Blocked, now: float, out: _Out) -> None:
        """Reject a blocked caller: the announcement, then the hang-up; never the queue.

        Only reachable with blocking configured; screening's safety valve has already put
        through a blocked number that keeps calling."""
        self._blocked[blocked.call_id] = blocked
        policy = self.config.screening
        # screen() blocks only with blocking configured.
        assert policy is not None
        assert policy.blocking is not None
        announcement = policy.blocking.announcement
        if not announcement:
            self._hang_up_blocked(blocked, now, out)
            return
        out.append(PlayAnnouncement(blocked.call_id, announcement))
        self._arm(now + policy.blocking.announcement_limit, _Timer.ANNOUNCEMENT, blocked, 0)

    def _announcing(self, blocked: _Blocked) -> bool:
        return self._blocked.get(blocked.call_id) is blocked and not blocked.hanging_up

    def _hang_up_blocked(self, blocked: _Blocked, now: float, out: _Out) -> None:
        blocked.hanging_up = True
        out.append(CallBlocked(blocked.call_id, blocked.caller, now))
        out.append(HangUpCaller(blocked.call_id))

    def _announcement_finished(self, event: AnnouncementFinished, now: float, out: _Out) -> None:
        blocked = self._blocked.get(event.call_id)
        if blocked is not None and not blocked.hanging_up:
            self._hang_up_blocked(blocked, now, out)

    def _hang_up_failed(self, event: HangUpFailed, now: float, out: _Out) -> None:
        blocked = self._blocked.get(event.call_id)
        if blocked is None or not blocked.hanging_up:
            return  # a conversation's caller: the call is over for the core either way
        del self._blocked[blocked.call_id]
        # Never leave the caller alone: the fallback queue answers.
        destinations = self.config.overflow_destinations
        last = len(destinations) - 1
        out.append(
            SendToDestination(
                blocked.call_id, destinations[last], last, True, "block-hang-up-failed"
            )
        )

    # -- silent callers -----------------------------------------------------------------

    def _watch(self, call: Call, now: float, out: _Out) -> None:
        silence = self.config.silence
        assert silence is not None
        watch = self._watches[call.call_id] = SilenceWatch(silence)
        out.append(StartListening(call.call_id))
        self._arm(now + silence.silence_seconds, _Timer.WATCH, call, watch.token)

    def _watch_of(self, call: Call, token: int) -> SilenceWatch | None:
        watch = self._watches.get(call.call_id)
        return watch if watch is not None and watch.token == token else None

    def _caller_spoke(self, event: CallerSpoke, now: float, out: _Out) -> None:
        self._caller_sign(event.call_id, WatchTrigger.SPOKE, now, out)

    def _caller_pressed_key(self, event: CallerPressedKey, now: float, out: _Out) -> None:
        self._caller_sign(event.call_id, WatchTrigger.KEY, now, out)

    def _caller_sign(self, call_id: str, trigger: WatchTrigger, now: float, out: _Out) -> None:
        watch = self._watches.get(call_id)
        if watch is not None:
            self._watch_step(self._calls[call_id], watch, trigger, trigger.value, now, out)

    def _listening_failed(self, event: ListeningFailed, now: float, out: _Out) -> None:
        # Without talk detection every caller would look silent and be lowered as a ghost.
        self._watches.pop(event.call_id, None)

    def _watch_step(
        self,
        call: Call,
        watch: SilenceWatch,
        trigger: WatchTrigger,
        cause: str,
        now: float,
        out: _Out,
    ) -> None:
        if call.state not in _WAITING:
            # Being connected or connected: silence means nothing any more.
            self._end_watch(call, out)
            return
        step = watch.step(trigger)
        if step is WatchStep.PROMPT:
            silence = watch.policy
            out.append(PlayPrompt(call.call_id, silence.prompt))
            self._arm(now + silence.key_seconds, _Timer.WATCH, call, watch.token)
            return
        if step is not WatchStep.NOT_SILENT:
            policy = self.config.screening or ScreeningPolicy()
            outcome = after_silence(step is WatchStep.RAISE, policy)
            shown = f"{outcome.tag} {call.caller_name}"
            self._reclassify(call, outcome.priority, outcome.category, shown, cause, now, out)
        self._end_watch(call, out)

    def _end_watch(self, call: Call, out: _Out) -> None:
        del self._watches[call.call_id]
        # Talk events for the rest of the call would only load the driver.
        out.append(StopListening(call.call_id))

    # -- callbacks ----------------------------------------------------------------------

    def _callback_requested(self, event: CallbackRequested, now: float, out: _Out) -> None:
        worklist = self._worklist
        if worklist is None:
            return
        call = self._calls.get(event.call_id)
        caller, category = (
            (event.caller, event.category)
            if call is None
            else (
                call.caller,
                call.category,
            )
        )
        nuisance = category == CATEGORY_REPEAT_NUISANCE
        task = worklist.dropped(event.call_id, caller, now, nuisance=nuisance)
        self._task_changed(task, "requested", event.call_id, now, out)

    def _callbacks_restored(self, event: CallbacksRestored, now: float, out: _Out) -> None:
        worklist = self._worklist
        if worklist is None:
            return
        for task in worklist.restore(event.tasks):
            out.append(CallbackTaskChanged(task, "restored", "", now))

    def _callback_failed(self, event: CallbackFailed, now: float, out: _Out) -> None:
        if event.call_id not in self._attempts:
            return
        self._attempts[event.call_id] = (event.outcome, event.note)
        self._caller_gone(self._calls[event.call_id], "CallbackFailed", now, out)

    def _readiness_changed(self, event: ReadinessChanged, now: float, out: _Out) -> None:
        self._driver_ready = event.ready

    def _offer_callbacks(self, now: float, out: _Out) -> None:
        """Start attempts of due tasks while a call-taker is free: after the waiting 112
        calls had their turn, so a callback never takes a call-taker a caller could have."""
        worklist = self._worklist
        if worklist is None or not self._driver_ready or not self._staffed:
            return
        limit = self.config.callbacks.max_concurrent  # type: ignore[union-attr]
        while len(self._attempts) < limit and self._someone_free():
            offerable = worklist.offerable(now)
            if not offerable:
                return
            due = offerable[0]
            arrived = worklist.offer(due.task_id, now)
            call_id = arrived.call_id
            self._attempts[call_id] = None
            out.append(PrepareCallback(call_id, due.number, arrived.priority))
            task = worklist.task_for(due.number)
            assert task is not None
            out.append(CallbackTaskChanged(task, "offered", call_id, now))
            call = Call(
                call_id,
                caller=arrived.caller,
                caller_name=arrived.caller_name,
                priority=arrived.priority,
                category=arrived.category,
                required_skill=None,
                arrived_at=now,
                seq=next(self._seq),
            )
            # No max-wait: an attempt never waits (a free call-taker rings for it at once,
            # and one that comes back to the queue is withdrawn).
            self._calls[call_id] = call
            self._route(call, "CallArrived", now, out)
            self._dispatch("CallArrived", now, out)

    def _someone_free(self) -> bool:
        rostered = self._rostered
        return any(rostered is None or agent_id in rostered for agent_id in self._ready)

    def _got_through(self, caller: str, call_id: str, now: float, out: _Out) -> None:
        """A 112 call from ``caller`` was answered: nobody needs to ring them back."""
        worklist = self._worklist
        assert worklist is not None
        open_task = worklist.task_for(caller)
        if open_task is not None and call_id in open_task.call_ids:
            return  # the task is about this very call (CAD asked to call back after it dropped)
        task = worklist.answered(caller, now)
        if task is None:
            return
        self._task_changed(task, "cancelled", call_id, now, out)
        attempt = self._calls[task.attempt_call_id] if task.attempt_call_id else None
        if attempt is not None and attempt.state is not CallState.CONNECTED:
            # Withdrawn; an attempt that reached the number goes on as a conversation.
            self._caller_gone(attempt, "CallbackCancelled", now, out)
            out.append(CancelCallback(attempt.call_id))

    def _withdraw_attempt(self, call: Call, cause: str, now: float, out: _Out) -> None:
        """An attempt back in the queue (nobody took it) leaves it: retried later, uncounted,
        rather than waiting in the top class ahead of the 112 callers who arrive meanwhile."""
        self._call_to(call, CallTrigger.CALLER_HANGUP, "CallbackWithdrawn", now, out)
        out.append(CancelCallback(call.call_id))
        self._end(call, now, out)

    def _attempt_ended(self, record: CallEnded, taker: str | None, now: float, out: _Out) -> None:
        worklist = self._worklist
        assert worklist is not None
        call_id = record.call_id
        failure = self._attempts.pop(call_id)
        task_id = task_id_of(call_id)
        if record.answered_at is not None:
            task = worklist.attempt_ended(
                task_id, AttemptOutcome.REACHED, now, agent_id=record.agent_id or ""
            )
            self._task_changed(task, "attempt-ended", call_id, now, out, "reached")
        elif failure is not None:
            outcome, note = failure
            task = worklist.attempt_ended(task_id, outcome, now, agent_id=taker or "", note=note)
            self._task_changed(task, "attempt-ended", call_id, now, out, outcome.value)
        else:
            # Never dialled: no call-taker took it (or it was withdrawn); no attempt counted.
            task = worklist.withdrawn(task_id, now)
            outcome_name = record.outcome.name.lower()
            self._task_changed(task, "not-taken", call_id, now, out, outcome_name)

    def _task_changed(
        self,
        task: CallbackTask | None,
        change: str,
        call_id: str,
        now: float,
        out: _Out,
        outcome: str = "",
    ) -> None:
        # Every snapshot goes out in the notification: nothing else reads the closed ones.
        self._worklist.drain_closed()  # type: ignore[union-attr]
        if task is not None:
            out.append(CallbackTaskChanged(task, change, call_id, now, outcome))

    # -- a reloaded configuration --------------------------------------------------------

    def _config_changed(self, event: ConfigChanged, now: float, out: _Out) -> None:
        """Decide by ``event.config`` from now on; calls in progress keep what they had."""
        old, new = self.config, event.config
        if (old.callbacks is None) != (new.callbacks is None):
            # The worklist's records live in the driver, which sets them up at its start.
            raise AcdUsageError("callbacks cannot be turned on or off while running")
        self.config = new
        if new.strategy != old.strategy:
            self._strategy = make_strategy(new.strategy)
        if new.aging_interval != old.aging_interval:
            waiting = self._queue.calls()
            self._queue = WaitingQueue(new.aging_interval)
            for call in waiting:
                self._queue.push(call)
        if self._worklist is not None:
            self._worklist.follow(new.callbacks)  # type: ignore[arg-type]
        announcing = new.announcements
        if announcing is None:
            # Turns end; an announcement playing now ends by itself within seconds.
            self._announcements = None
        elif self._announcements is None:
            self._announcements = Announcements(announcing, new.wrap_up_time)
        else:
            self._announcements.follow(announcing, new.wrap_up_time)
        self._follow_roster(old.roster, new.roster, now, out)
        for agent_id in sorted(event.removed_agents):
            agent = self._agents.get(agent_id)
            if agent is not None and agent.agent_id in self._logged_in:
                self._log_out_after_call(agent, "ConfigChanged", now, out)

    def _follow_roster(self, old: Roster | None, new: Roster | None, now: float, out: _Out) -> None:
        if new == old:
            return
        if new is None:
            # Always on from now on: every call-taker logged in may take calls.
            assert self._staffing is not None
            out.extend(self._staffing.update((), (), now))  # the shifts' figures end
            self._staffing = None
            self._roster_state = None
            self._roster_until = None
            self._rostered = None
            out.append(RosterChanged(True, (), now))
            self._staffed = True
            return
        if self._staffing is None:
            self._staffing = StaffingWatch(new.alarm_grace)
        else:
            self._staffing.grace = new.alarm_grace
        # Looked at again now, as at a change of shift (the shift names may be the same).
        self._roster_until = None
        self._sync_roster(now, out)

    # -- roster -------------------------------------------------------------------------

    def _sync_roster(self, now: float, out: _Out) -> None:
        roster = self.config.roster
        if roster is None or (self._roster_until is not None and now < self._roster_until):
            return
        state = roster.state_at(now)
        before = self._roster_state
        self._roster_state = state
        self._staffed = state.staffed
        self._rostered = state.rostered
        self._roster_until = state.until
        names = tuple(shift.name for shift in state.shifts)
        if before is None or names != tuple(shift.name for shift in before.shifts):
            out.append(RosterChanged(state.staffed, names, now))
        reason = self._overflow_reason_for_shift()
        if reason is not None:
            self._overflow_waiting(reason, "RosterChanged", now, out)
        if roster.logout_off_roster:
            self._log_out_off_roster(state, now, out)

    def _log_out_off_roster(self, state: RosterState, now: float, out: _Out) -> None:
        """Call-takers the roster no longer has on leave: at once if idle or paused, else once
        their current call (ring, conversation, wrap-up) is over, as ``*12`` would."""
        for agent_id in sorted(self._logged_in):
            if not state.allows(agent_id):
                self._log_out_after_call(self._agents[agent_id], "RosterChanged", now, out)

    def _log_out_after_call(self, agent: Agent, cause: str, now: float, out: _Out) -> None:
        """Log ``agent`` out at once if idle or paused, else once their current call (ring,
        conversation, wrap-up) is over."""
        if agent.pending_logout:
            return
        if agent.state in (AgentState.AVAILABLE, AgentState.PAUSED):
            self._log_out(agent, cause, now, out)
        else:
            agent.pending_logout = True
            agent.pending_logout_by = ""  # the roster's, nobody's request

    def _check_staffing(self, now: float, out: _Out) -> None:
        """Report each change of a shift's figures (and a shift short-handed)."""
        staffing, state = self._staffing, self._roster_state
        if staffing is None or state is None:
            return
        present = [
            agent_id
            for agent_id in self._logged_in
            if self._agents[agent_id].device is not DeviceState.UNAVAILABLE
        ]
        out.extend(staffing.update(state.shifts, present, now))

    def _overflow_reason_for_shift(self) -> str | None:
        if not self._staffed:
            return "out-of-hours"
        if self._nobody_logged_in():
            return "nobody-logged-in"
        return None

    # -- guards and moves ---------------------------------------------------------------

    def _overflow_reason(self, call: Call, now: float) -> str | None:
        reason = self._overflow_reason_for_shift()
        if reason is not None:
            return reason
        max_wait = self.config.max_wait
        if max_wait is not None and now >= call.arrived_at + max_wait:
            return "max-wait"
        return None

    def _route(self, call: Call, cause: str, now: float, out: _Out) -> None:
        """Queue a call that needs a call-taker, or overflow it if none can be had."""
        if call.state is CallState.QUEUED and call.call_id in self._attempts:
            self._withdraw_attempt(call, cause, now, out)
            return
        reason = self._overflow_reason(call, now)
        if reason is not None:
            self._overflow(call, reason, cause, now, out)
            return
        if call.state is CallState.ARRIVED:
            self._call_to(call, CallTrigger.QUEUE, cause, now, out)
        self._queue.push(call)

    def _overflow_waiting(self, reason: str, cause: str, now: float, out: _Out) -> None:
        for call in self._queue.calls():
            self._queue.discard(call)
            self._overflow(call, reason, cause, now, out)

    def _overflow(self, call: Call, reason: str, cause: str, now: float, out: _Out) -> None:
        self._send(call, 0, reason, cause, now, out)

    def _send(
        self, call: Call, attempt: int, reason: str, cause: str, now: float, out: _Out
    ) -> None:
        if attempt == 0:
            # Out of hours a caller goes where the centre sends them when nobody is on duty;
            # else (max-wait, nobody logged in) to the overflow destinations.
            config = self.config
            out_of_hours = config.out_of_hours_destinations
            call.destinations = (
                out_of_hours
                if reason == "out-of-hours" and out_of_hours
                else config.overflow_destinations
            )
        destinations = call.destinations
        final = attempt == len(destinations) - 1
        if final:
            trigger = CallTrigger.FALLBACK
        elif call.state is CallState.OVERFLOWING:
            trigger = CallTrigger.DESTINATION_FAILED
        else:
            trigger = CallTrigger.OVERFLOW
        call.destination_index = attempt
        self._call_to(call, trigger, cause, now, out)
        out.append(SendToDestination(call.call_id, destinations[attempt], attempt, final, reason))
        if final:
            self._end(call, now, out)

    def _dispatch(self, cause: str, now: float, out: _Out) -> None:
        """Offer waiting calls while someone can take them: no agent idles while a call waits."""
        ready = self._ready
        queue = self._queue
        while ready and queue:
            for call in queue.heads():
                candidates = self._eligible(call)
                if candidates:
                    break
            else:
                return
            chosen = self._strategy.choose(call, candidates, now)
            if not chosen or (len(chosen) > 1 and not self._strategy.rings_all):
                raise AcdError(f"strategy {self.config.strategy!r} chose {len(chosen)} agents")
            self._offer(call, chosen, cause, now, out)

    def _eligible(self, call: Call) -> list[Agent]:
        skill = call.skill
        rostered = self._rostered
        candidates = [
            agent
            for agent in self._ready.values()
            if (skill is None or skill in agent.skills)
            and (rostered is None or agent.agent_id in rostered)
        ]
        if call.missed_by:
            # "Ring timeout -> offer to the next agent": prefer those who have not missed it.
            fresh = [agent for agent in candidates if agent.agent_id not in call.missed_by]
            if fresh:
                return fresh
        return candidates

    def _offer(
        self, call: Call, agents: Sequence[Agent], cause: str, now: float, out: _Out
    ) -> None:
        self._queue.discard(call)
        self._call_to(call, CallTrigger.OFFER, cause, now, out)
        for agent in agents:
            call.ringing.append(agent.agent_id)
            agent.call_id = call.call_id
            self._agent_to(agent, AgentTrigger.OFFER, cause, now, out)
            out.append(RingAgent(call.call_id, agent.agent_id, agent.endpoint, call.caller_name))
        if self._announcements is not None:
            self._announcements.offered(call.call_id, out)  # after the rings: never before
        self._arm(now + self.config.ring_timeout, _Timer.RING, call, call.token)

    def _cancel_rings(
        self, call: Call, reason: str, cause: str, now: float, out: _Out, *, missed: bool
    ) -> None:
        """Withdraw every ring of ``call``; the call is requeued if nobody answered it."""
        for agent_id in list(call.ringing):
            self._withdraw_ring(self._agents[agent_id], reason, cause, now, out, missed=missed)

    def _withdraw_ring(
        self,
        agent: Agent,
        reason: str,
        cause: str,
        now: float,
        out: _Out,
        *,
        missed: bool,
        settle: bool = True,
    ) -> None:
        """Stop ringing ``agent``; if that was the call's last ring and it is still offered,
        put the call back in line. ``settle`` also moves the agent on (else the caller does)."""
        call = self._calls[agent.call_id or ""]
        out.append(CancelRing(call.call_id, agent.agent_id, reason))
        call.ringing.remove(agent.agent_id)
        if missed:
            call.missed_by.add(agent.agent_id)
        if settle:
            self._release(agent, cause, now, out, missed=missed)
        else:
            agent.call_id = None
        if not call.ringing and call.state is CallState.OFFERED:
            self._call_to(call, CallTrigger.RING_END, cause, now, out)
            self._route(call, cause, now, out)

    def _release(self, agent: Agent, cause: str, now: float, out: _Out, *, missed: bool) -> None:
        """An offer or an unbridged answer is over for ``agent``."""
        if missed:
            agent.misses += 1
            out.append(RingMissed(agent.agent_id, agent.call_id or "", cause, now))
        agent.call_id = None
        limit = self.config.max_consecutive_no_answers
        if missed and agent.misses >= limit and not agent.pending_logout:
            # Paused with a reason, never logged out (kazoo PR 6609 did that, for good).
            self._pause(agent, AUTO_PAUSE_REASON, cause, now, out)
        else:
            self._settle(agent, AgentTrigger.RELEASE, cause, now, out)

    def _end_conversation(
        self, agent: Agent, call: Call, cause: str, now: float, out: _Out, *, at: float | None
    ) -> None:
        agent.call_id = None
        self._agent_to(agent, AgentTrigger.CALL_END, cause, now, out)
        # Wrap-up is time after the call: it counts from when the call ended, not from when we
        # heard of it (under load the hang-up reaches us late; the phone was free all along).
        until = _conversation_end(call, now, at) + self.config.wrap_up_time
        out.append(StartWrapUp(agent.agent_id, call.call_id, until))
        self._arm(until, _Timer.WRAP_UP, agent, agent.token)

    def _settle(
        self, agent: Agent, trigger: AgentTrigger, cause: str, now: float, out: _Out
    ) -> None:
        """Move an agent on, applying a pause or logout asked for during the call first."""
        if agent.pending_logout:
            self._log_out(agent, cause, now, out, by=agent.pending_logout_by)
        elif agent.pending_pause is not None:
            self._pause(agent, agent.pending_pause, cause, now, out, by=agent.pending_pause_by)
        else:
            self._agent_to(agent, trigger, cause, now, out)

    def _pause(
        self, agent: Agent, reason: str, cause: str, now: float, out: _Out, *, by: str = ""
    ) -> None:
        agent.pending_pause = None
        agent.pause_reason = reason
        self._agent_to(agent, AgentTrigger.PAUSE, cause, now, out, reason=reason, by=by)

    def _log_out(self, agent: Agent, cause: str, now: float, out: _Out, *, by: str = "") -> None:
        agent.pending_logout = False
        agent.pending_pause = None
        agent.pause_reason = None
        self._agent_to(agent, AgentTrigger.LOGOUT, cause, now, out, by=by)
        self._logged_in.discard(agent.agent_id)
        if self._nobody_logged_in():
            self._overflow_waiting("nobody-logged-in", cause, now, out)

    def _nobody_logged_in(self) -> bool:
        rostered = self._rostered
        return not (self._logged_in if rostered is None else self._logged_in & rostered)

    def _call_to(self, call: Call, trigger: CallTrigger, cause: str, now: float, out: _Out) -> None:
        old = call.transition(trigger)
        out.append(
            CallStateChanged(
                call.call_id, old, call.state, cause, now, call.caller, call.category, call.agent_id
            )
        )

    def _agent_to(
        self,
        agent: Agent,
        trigger: AgentTrigger,
        cause: str,
        now: float,
        out: _Out,
        *,
        reason: str | None = None,
        by: str = "",
    ) -> None:
        old = agent.transition(trigger)
        out.append(AgentStateChanged(agent.agent_id, old, agent.state, cause, now, reason, by))
        self._refresh_ready(agent)

    def _refresh_ready(self, agent: Agent) -> None:
        if agent.offerable:
            self._ready[agent.agent_id] = agent
        else:
            self._ready.pop(agent.agent_id, None)

    def _end(self, call: Call, now: float, out: _Out) -> None:
        del self._calls[call.call_id]
        self._watches.pop(call.call_id, None)
        destination = call.handed_to
        if call.state is CallState.OVERFLOWED or call.state is CallState.FALLBACK:
            destination = call.destinations[call.destination_index]
        record = CallEnded(
            call_id=call.call_id,
            outcome=call.state,
            caller=call.caller,
            category=call.category,
            priority=call.priority,
            arrived_at=call.arrived_at,
            answered_at=call.answered_at,
            ended_at=now,
            agent_id=call.agent_id if call.answered_at is not None else None,
            destination=destination,
        )
        out.append(record)
        if self._announcements is not None:
            self._announcements.ended(record)
        worklist = self._worklist
        if worklist is None:
            return
        if call.call_id in self._attempts:
            self._attempt_ended(record, call.agent_id, now, out)
        elif record.answered_at is not None:
            self._got_through(record.caller, record.call_id, now, out)
        elif record.outcome is CallState.ABANDONED:
            nuisance = record.category == CATEGORY_REPEAT_NUISANCE
            task = worklist.abandoned(record.call_id, record.caller, now, nuisance=nuisance)
            self._task_changed(task, "abandoned", record.call_id, now, out)


def _conversation_end(call: Call, now: float, at: float | None) -> float:
    """When ``call``'s conversation ended, by the phone system's ``at`` where it makes sense.

    Never later than ``now`` (a clock running ahead must not lengthen a wrap-up) and never before
    the conversation began by our own clock (an event replayed after a reconnect, or a clock far
    behind, must not wipe out a wrap-up wholesale: the wrap-up then at worst ends at once, on the
    next timer). A missing or non-finite ``at`` means ``now``.
    """
    if at is None or not at < now:  # also NaN and +inf
        return now
    began = call.answered_at if call.answered_at is not None else call.arrived_at
    return max(at, began)
