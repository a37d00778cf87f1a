"""The queue and its offers: who rings for which waiting call, and where a call overflows.

No call-taker idles while a call they may take waits: after every event the head calls are
offered (``RingAgent``) to the ready call-takers the strategy chooses, skill and roster
permitting. A ring that ends unanswered puts the call back in line (or overflows it); a call
nobody can take is sent on (``SendToDestination``): overflow destinations, then the fallback.

=======================  ===========================================================
Event / timer            Move
=======================  ===========================================================
(after each event)       ``OFFER`` the head calls to ready call-takers
AgentNoAnswer            ring withdrawn, a miss; the call back in line at its last ring
RingTimedOut             every ring withdrawn, a miss each
MaxWaitReached           a queued call overflows (a ringing one once its ring fails)
SkillRelaxed             the call may go to any call-taker
DestinationFailed        on to the next destination (``DESTINATION_FAILED``/``FALLBACK``)
=======================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from callgate.core.agents import Agent, AgentState, AgentTrigger
from callgate.core.calls import Call, CallState, CallTrigger
from callgate.core.calltakers import CallTakers
from callgate.core.commands import CancelRing, RingAgent, SendToDestination
from callgate.core.errors import AcdError
from callgate.core.events import AgentNoAnswer, DestinationFailed
from callgate.core.floor import Floor, Out, Table, Timer


class Ending(Protocol):
    """What the queue needs of a call's life (``conversations.Conversations``)."""

    def end(self, call: Call, now: float, out: Out) -> None: ...


class Withdrawing(Protocol):
    """What the queue needs of the callback attempts (``callback_attempts.CallbackAttempts``)."""

    def withdraw_attempt(self, call: Call, cause: str, now: float, out: Out) -> None: ...


class Offers:
    """The waiting queue, the offers of its calls, and overflow."""

    def __init__(self, floor: Floor, calltakers: CallTakers) -> None:
        self.floor = floor
        self.calltakers = calltakers
        #: A call's life and the callback attempts, set by the ``Acd`` that composes them.
        self.ending: Ending
        self.attempts: Withdrawing

    def table(self) -> Table:
        return {
            AgentNoAnswer: self.agent_no_answer,
            DestinationFailed: self.destination_failed,
        }

    def route(self, call: Call, cause: str, now: float, out: Out) -> None:
        """Queue a call that needs a call-taker, or overflow it if none can be had."""
        floor = self.floor
        if call.state is CallState.QUEUED and call.call_id in floor.attempts:
            self.attempts.withdraw_attempt(call, cause, now, out)
            return
        reason = self._overflow_reason(call, now)
        if reason is not None:
            self.overflow(call, reason, cause, now, out)
            return
        if call.state is CallState.ARRIVED:
            floor.call_to(call, CallTrigger.QUEUE, cause, now, out)
        floor.queue.push(call)

    def _overflow_reason(self, call: Call, now: float) -> str | None:
        reason = self.floor.overflow_reason_for_shift()
        if reason is not None:
            return reason
        max_wait = self.floor.config.max_wait
        if max_wait is not None and now >= call.arrived_at + max_wait:
            return "max-wait"
        return None

    def overflow_waiting(self, reason: str, cause: str, now: float, out: Out) -> None:
        queue = self.floor.queue
        for call in queue.calls():
            queue.discard(call)
            self.overflow(call, reason, cause, now, out)

    def overflow(self, call: Call, reason: str, cause: str, now: float, out: Out) -> None:
        self.send(call, 0, reason, cause, now, out)

    def send(self, call: Call, attempt: int, reason: str, cause: str, now: float, out: Out) -> None:
        if attempt == 0:
            # Out of hours a caller goes where the centre sends them when nobody is on duty;
            # else (max-wait, nobody logged in) to the overflow destinations.
            config = self.floor.config
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
        self.floor.call_to(call, trigger, cause, now, out)
        out.append(SendToDestination(call.call_id, destinations[attempt], attempt, final, reason))
        if final:
            self.ending.end(call, now, out)

    def destination_failed(self, event: DestinationFailed, now: float, out: Out) -> None:
        call = self.floor.calls.get(event.call_id)
        if call is None or call.state is not CallState.OVERFLOWING:
            return
        self.send(
            call, call.destination_index + 1, "destination-failed", "DestinationFailed", now, out
        )

    def dispatch(self, cause: str, now: float, out: Out) -> None:
        """Offer waiting calls while someone can take them: no agent idles while a call waits."""
        floor = self.floor
        ready = floor.ready
        queue = floor.queue
        while ready and queue:
            for call in queue.heads():
                candidates = self._eligible(call)
                if candidates:
                    break
            else:
                return
            strategy = floor.strategy
            chosen = strategy.choose(call, candidates, now)
            if not chosen or (len(chosen) > 1 and not strategy.rings_all):
                raise AcdError(f"strategy {floor.config.strategy!r} chose {len(chosen)} agents")
            self._offer(call, chosen, cause, now, out)

    def _eligible(self, call: Call) -> list[Agent]:
        skill = call.skill
        rostered = self.floor.rostered
        candidates = [
            agent
            for agent in self.floor.ready.values()
            if (skill is None or skill in agent.skills)
            and (rostered is None or agent.agent_id in rostered)
        ]
        if call.missed_by:
            # "Ring timeout -> offer to the next agent": prefer those who have not missed it.
            fresh = [agent for agent in candidates if agent.agent_id not in call.missed_by]
            if fresh:
                return fresh
        return candidates

    def offer_to(self, call: Call, agent: Agent, cause: str, now: float, out: Out) -> None:
        """Offer a waiting (queued) ``call`` to ``agent`` now: a supervisor's choice."""
        self._offer(call, [agent], cause, now, out)

    def _offer(self, call: Call, agents: Sequence[Agent], cause: str, now: float, out: Out) -> None:
        floor = self.floor
        floor.queue.discard(call)
        floor.call_to(call, CallTrigger.OFFER, cause, now, out)
        for agent in agents:
            call.ringing.append(agent.agent_id)
            agent.call_id = call.call_id
            floor.agent_to(agent, AgentTrigger.OFFER, cause, now, out)
            out.append(RingAgent(call.call_id, agent.agent_id, agent.endpoint, call.caller_name))
        if floor.announcements is not None:
            floor.announcements.offered(call.call_id, out)  # after the rings: never before
        floor.arm(now + floor.config.ring_timeout, Timer.RING, call, call.token)

    def cancel_rings(
        self, call: Call, reason: str, cause: str, now: float, out: Out, *, missed: bool
    ) -> None:
        """Withdraw every ring of ``call``; the call is requeued if nobody answered it."""
        for agent_id in list(call.ringing):
            self.withdraw_ring(self.floor.agents[agent_id], reason, cause, now, out, missed=missed)

    def withdraw_ring(
        self,
        agent: Agent,
        reason: str,
        cause: str,
        now: float,
        out: Out,
        *,
        missed: bool,
        settle: bool = True,
        requeue: bool = True,
    ) -> None:
        """Stop ringing ``agent``; if that was the call's last ring and it is still offered,
        put the call back in line. ``settle`` also moves the agent on (else the caller does).
        ``requeue=False`` leaves the call QUEUED but out of line (nor overflowed, past its
        limits): the caller's next ring is the one who withdrew it (a supervisor's choice)."""
        call = self.floor.calls[agent.call_id or ""]
        out.append(CancelRing(call.call_id, agent.agent_id, reason))
        call.ringing.remove(agent.agent_id)
        if missed:
            call.missed_by.add(agent.agent_id)
        if settle:
            self.calltakers.release(agent, cause, now, out, missed=missed)
        else:
            agent.call_id = None
        if not call.ringing and call.state is CallState.OFFERED:
            self.floor.call_to(call, CallTrigger.RING_END, cause, now, out)
            if requeue:
                self.route(call, cause, now, out)

    def agent_no_answer(self, event: AgentNoAnswer, now: float, out: Out) -> None:
        agent = self.floor.agents.get(event.agent_id)
        if agent is not None and agent.call_id == event.call_id:
            # Only a ringing agent can not-answer; an answered one hangs up instead.
            if agent.state is not AgentState.RINGING:
                return
            self.withdraw_ring(agent, "no-answer", "AgentNoAnswer", now, out, missed=True)

    # -- timers: each kind fires with (target, token) and says whether it is still live ---

    @staticmethod
    def ringing(call: Call, token: int) -> bool:
        return call.token == token

    def ring_timed_out(self, call: Call, token: int, now: float, out: Out) -> None:
        if call.token != token:
            return
        self.cancel_rings(call, "ring-timeout", Timer.RING.value, now, out, missed=True)

    @staticmethod
    def waiting(call: Call, token: int) -> bool:
        return call.state in (CallState.QUEUED, CallState.OFFERED)

    def max_wait_reached(self, call: Call, token: int, now: float, out: Out) -> None:
        # A call that is ringing someone keeps ringing; it overflows if that ring fails.
        if call.state is CallState.QUEUED:
            self.floor.queue.discard(call)
            self.overflow(call, "max-wait", Timer.MAX_WAIT.value, now, out)

    @staticmethod
    def unrelaxed(call: Call, token: int) -> bool:
        return not call.relaxed and call.state in (CallState.QUEUED, CallState.OFFERED)

    def relax_skill(self, call: Call, token: int, now: float, out: Out) -> None:
        if call.in_queue:
            self.floor.queue.discard(call)
            call.relaxed = True
            self.floor.queue.push(call)
        else:
            call.relaxed = True
