"""A call's life: arrival and screening, the answer, the bridge, hand-offs and the end.

The moves are the call table's (``calls.py``); the guards are here. A new call is screened
(``AcdConfig.screening``, from the history ``CallArrived`` carries) and reported in
``CallScreened``; a blocked caller goes to ``blocking``, the others to the queue. Every call
that leaves the core leaves with one ``CallEnded``.

=======================  ===========================================================
Event                    Move
=======================  ===========================================================
CallArrived              screened; blocked, or ``QUEUE`` (or overflowed at once)
CallerHungUp             ``CALLER_HANGUP`` (rings withdrawn, the call-taker hung up)
CallReprioritised        a new class, the arrival order kept within it
AgentAnswered            ``ANSWER``: ``Bridge`` (``DialCallback`` for an attempt)
CallBridged              ``BRIDGED``: the call is answered
AgentHungUp              a declined ring, a failed bridge (back in line), or the end
AgencyJoined             the caller is handed off to an agency
DestinationAnswered      ``DESTINATION_ANSWERED``: the call is over for the core
=======================  ===========================================================
"""

from __future__ import annotations

from typing import Protocol

from callgate.core.agents import AgentState, AgentTrigger
from callgate.core.blocking import Blocking
from callgate.core.calls import Call, CallState, CallTrigger
from callgate.core.calltakers import CallTakers
from callgate.core.commands import (
    Bridge,
    CallEnded,
    CallScreened,
    CancelRing,
    DialCallback,
    ForgetCall,
    HangUpAgent,
    HangUpCaller,
    KeepClass,
)
from callgate.core.errors import AcdUsageError
from callgate.core.events import (
    AgencyJoined,
    AgentAnswered,
    AgentHungUp,
    CallArrived,
    CallBridged,
    CallerHungUp,
    CallReprioritised,
    DestinationAnswered,
)
from callgate.core.floor import Floor, Out, Table, Timer
from callgate.core.offers import Offers
from callgate.core.screening import ScreeningDecision, is_anonymous, screen
from callgate.core.silent import SilentCallers


class Following(Protocol):
    """What a call's end and bridge tell the callback worklist (``callback_attempts``)."""

    def call_bridged(self, call: Call, now: float, out: Out) -> None: ...

    def call_ended(self, record: CallEnded, taker: str | None, now: float, out: Out) -> None: ...


class Conversations:
    """The calls in the core, from arrival to ``CallEnded``."""

    def __init__(
        self,
        floor: Floor,
        blocking: Blocking,
        silent: SilentCallers,
        calltakers: CallTakers,
        offers: Offers,
    ) -> None:
        self.floor = floor
        self.blocking = blocking
        self.silent = silent
        self.calltakers = calltakers
        self.offers = offers
        #: The callback worklist, set by the ``Acd`` that composes both.
        self.callbacks: Following

    def table(self) -> Table:
        return {
            CallArrived: self.call_arrived,
            CallerHungUp: self.caller_hung_up,
            CallReprioritised: self.call_reprioritised,
            AgentAnswered: self.agent_answered,
            CallBridged: self.call_bridged,
            AgentHungUp: self.agent_hung_up,
            AgencyJoined: self.agency_joined,
            DestinationAnswered: self.destination_answered,
        }

    def call_arrived(self, event: CallArrived, now: float, out: Out) -> None:
        floor = self.floor
        call_id, caller = event.call_id, event.caller
        if call_id in floor.calls or call_id in self.blocking.blocked:
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
                    event.caller_sent,
                    event.dialed,
                    event.identity,
                )
            )
            out.append(KeepClass(call_id, priority, True, d.warn, d.blocked))
            if d.blocked:
                self.blocking.block(call_id, caller, now, out)
                return
        call = Call(
            call_id,
            caller=caller,
            caller_name=caller_name,
            priority=priority,
            category=category,
            required_skill=event.required_skill,
            arrived_at=now,
            seq=next(floor.seq),
        )
        floor.calls[call_id] = call
        config = floor.config
        if config.max_wait is not None:
            floor.arm(now + config.max_wait, Timer.MAX_WAIT, call, 0)
        if call.required_skill is not None and config.skill_relax_after is not None:
            floor.arm(now + config.skill_relax_after, Timer.RELAX, call, 0)
        if config.silence is not None and not event.resumed:
            self.silent.watch(call, now, out)
        if floor.announcements is not None:
            floor.announcements.arrived(call_id, now)
        self.offers.route(call, "CallArrived", now, out)

    def _screen(self, event: CallArrived, now: float) -> ScreeningDecision | None:
        """Screening's decision for a new call, or None when it is not screened."""
        policy, history = self.floor.config.screening, event.history
        if policy is None or history is None:
            return None
        # Nothing on record is a first call, whatever key the history has.
        known = history if history.dispositions or history.blocks else None
        return screen(known, now, policy, anonymous=is_anonymous(event.caller))

    def caller_hung_up(self, event: CallerHungUp, now: float, out: Out) -> None:
        call = self.floor.calls.get(event.call_id)
        if call is None:
            self.blocking.caller_hung_up(event.call_id, now, out)
            return
        self.caller_gone(call, "CallerHungUp", now, out, at=event.at)

    def caller_gone(
        self, call: Call, cause: str, now: float, out: Out, *, at: float | None = None
    ) -> None:
        """The caller's leg is over (or, for a callback attempt, the attempt is)."""
        state = call.state
        # Terminal first, so that withdrawing the rings below cannot put the call back in line.
        self.floor.call_to(call, CallTrigger.CALLER_HANGUP, cause, now, out)
        if state is CallState.QUEUED:
            self.floor.queue.discard(call)
        elif state is CallState.OFFERED:
            self.offers.cancel_rings(call, "caller-hung-up", cause, now, out, missed=False)
        elif state is CallState.CONNECTING or state is CallState.CONNECTED:
            agent = self.floor.agents[call.agent_id or ""]
            out.append(HangUpAgent(call.call_id, agent.agent_id))
            if state is CallState.CONNECTED:
                self.calltakers.end_conversation(agent, call, cause, now, out, at=at)
            else:
                self.calltakers.release(agent, cause, now, out, missed=False)
        self.end(call, now, out)

    def call_reprioritised(self, event: CallReprioritised, now: float, out: Out) -> None:
        call = self.floor.calls.get(event.call_id)
        if call is None:
            return
        category = call.category if event.category is None else event.category
        caller_name = call.caller_name if event.caller_name is None else event.caller_name
        self.floor.reclassify(
            call, event.priority, category, caller_name, "CallReprioritised", now, out
        )

    def agent_answered(self, event: AgentAnswered, now: float, out: Out) -> None:
        floor = self.floor
        call = floor.calls.get(event.call_id)
        agent = floor.agents.get(event.agent_id)
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
        floor.call_to(call, CallTrigger.ANSWER, cause, now, out)
        # Ring-all: the first answer wins; the others return to AVAILABLE without a miss.
        self.offers.cancel_rings(call, "answered-elsewhere", cause, now, out, missed=False)
        floor.agent_to(agent, AgentTrigger.ANSWER, cause, now, out)
        if call.call_id in floor.attempts:
            # A callback: the call-taker is there; now the number is dialled.
            out.append(DialCallback(call.call_id, agent.agent_id, call.caller))
        else:
            out.append(Bridge(call.call_id, agent.agent_id))

    def call_bridged(self, event: CallBridged, now: float, out: Out) -> None:
        floor = self.floor
        call = floor.calls.get(event.call_id)
        if call is None or call.state is not CallState.CONNECTING:
            return
        floor.call_to(call, CallTrigger.BRIDGED, "CallBridged", now, out)
        call.answered_at = call.answer_candidate_at
        agent = floor.agents[call.agent_id or ""]
        floor.touched.add(agent.agent_id)
        agent.calls_answered += 1
        agent.misses = 0
        self.callbacks.call_bridged(call, now, out)

    def agent_hung_up(self, event: AgentHungUp, now: float, out: Out) -> None:
        floor = self.floor
        call = floor.calls.get(event.call_id)
        agent = floor.agents.get(event.agent_id)
        if call is None or agent is None or agent.call_id != call.call_id:
            return
        cause = "AgentHungUp"
        if agent.state is AgentState.RINGING:
            # Hanging up a ringing phone is declining the offer.
            self.offers.withdraw_ring(agent, "no-answer", cause, now, out, missed=True)
        elif call.state is CallState.CONNECTING:
            # app_queue#1557: answered then gone before the bridge. The caller stays and goes
            # back to the head of the queue; nobody else's ring is affected.
            call.missed_by.add(agent.agent_id)
            call.agent_id = None
            floor.call_to(call, CallTrigger.BRIDGE_FAILED, cause, now, out)
            self.calltakers.release(agent, cause, now, out, missed=True)
            self.offers.route(call, cause, now, out)
        else:
            if call.handed_to is None:
                out.append(HangUpCaller(call.call_id))
            # else: handed off; the caller stays with the agency, only the call-taker leaves.
            self.calltakers.end_conversation(agent, call, cause, now, out, at=event.at)
            floor.call_to(call, CallTrigger.AGENT_HANGUP, cause, now, out)
            self.end(call, now, out)

    def agency_joined(self, event: AgencyJoined, now: float, out: Out) -> None:
        call = self.floor.calls.get(event.call_id)
        if call is None or call.state is not CallState.CONNECTED:
            return
        call.handed_to = event.agency

    def destination_answered(self, event: DestinationAnswered, now: float, out: Out) -> None:
        call = self.floor.calls.get(event.call_id)
        if call is None or call.state is not CallState.OVERFLOWING:
            return
        self.floor.call_to(call, CallTrigger.DESTINATION_ANSWERED, "DestinationAnswered", now, out)
        self.end(call, now, out)

    def end(self, call: Call, now: float, out: Out) -> None:
        floor = self.floor
        del floor.calls[call.call_id]
        self.silent.forget(call.call_id)
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
        out.append(ForgetCall(call.call_id))
        if floor.announcements is not None:
            floor.announcements.ended(record)
        self.callbacks.call_ended(record, call.agent_id, now, out)
