"""Call-takers: logging in and out, pauses, their phones, and the end of their calls.

The moves are the agent table's (``agents.py``); the guards are here. A call-taker asked to
pause or log out during a call is moved once the call (ring, conversation, wrap-up) is over;
one who lets ``max_consecutive_no_answers`` offers in a row ring out is paused with
:data:`AUTO_PAUSE_REASON`, never logged out.

=======================  ===========================================================
Event / timer            Move
=======================  ===========================================================
AgentLoggedIn            ``LOGIN`` (not for one off the roster logged in on their behalf)
AgentLoggedOut           ``LOGOUT`` (a ring withdrawn first; on a call: after it)
AgentPaused              ``PAUSE`` (a ring withdrawn first; on a call: after it)
AgentUnpaused            ``UNPAUSE``
DeviceStateChanged       a ring to a phone gone unavailable withdrawn, without a miss
WrapUpEnded              ``WRAP_END`` (or the pause / logout asked for)
=======================  ===========================================================
"""

from __future__ import annotations

from typing import Protocol

from callgate.core.agents import Agent, AgentState, AgentTrigger, DeviceState
from callgate.core.calls import Call
from callgate.core.commands import AgentDetails, RingMissed, StartWrapUp
from callgate.core.events import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentPaused,
    AgentUnpaused,
    DeviceStateChanged,
)
from callgate.core.floor import Floor, Out, Table, Timer

#: Pause reason given to a call-taker who let too many offers in a row ring out.
AUTO_PAUSE_REASON = "auto: missed calls"


class Rings(Protocol):
    """What call-takers need of the queue and its offers (``offers.Offers``)."""

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
    ) -> None: ...

    def overflow_waiting(self, reason: str, cause: str, now: float, out: Out) -> None: ...


class CallTakers:
    """The call-takers' side of the ACD."""

    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        #: The queue and its offers, set by the ``Acd`` that composes both.
        self.rings: Rings
        #: Each call-taker's details as last reported in an ``AgentDetails``.
        self._reported: dict[str, tuple[str, DeviceState, str | None, bool, int, int]] = {}
        #: Each call-taker's place in ``floor.agents`` (the order ``AgentDetails`` come in).
        self._rank: dict[str, int] = {}

    def table(self) -> Table:
        return {
            AgentLoggedIn: self.logged_in,
            AgentLoggedOut: self.logged_out,
            AgentPaused: self.paused,
            AgentUnpaused: self.unpaused,
            DeviceStateChanged: self.device_state_changed,
        }

    def report(self, now: float, out: Out) -> None:
        """An ``AgentDetails`` for each call-taker whose details the event or timer changed, in
        ``floor.agents`` order. Only those it touched (``floor.touched``, marked wherever their
        details change) are compared: the cost is theirs, not the whole floor's."""
        floor = self.floor
        touched = floor.touched
        if not touched:
            return
        agents = floor.agents
        reported = self._reported
        for agent_id in sorted(touched, key=self._rank.__getitem__):
            agent = agents[agent_id]
            details = (
                agent.endpoint,
                agent.device,
                agent.pending_pause,
                agent.pending_logout,
                agent.calls_answered,
                agent.misses,
            )
            if reported.get(agent.agent_id) != details:
                reported[agent.agent_id] = details
                out.append(AgentDetails(agent.agent_id, *details, at=now))
        touched.clear()

    def logged_in(self, event: AgentLoggedIn, now: float, out: Out) -> None:
        floor = self.floor
        agent = floor.agents.get(event.agent_id)
        if agent is None:
            agent = floor.agents[event.agent_id] = Agent(event.agent_id)
            self._rank[agent.agent_id] = len(self._rank)
        floor.touched.add(agent.agent_id)
        agent.endpoint = event.endpoint
        agent.skills = dict(event.skills)
        agent.name = event.name
        agent.device = event.device
        agent.pending_logout = False
        # A login on their behalf (the driver starting) is for those rostered now only; the
        # others keep their phone's details and log in themselves when they come on.
        state = floor.roster_state
        off_roster = event.rostered_only and state is not None and not state.allows(agent.agent_id)
        if agent.state is AgentState.LOGGED_OUT and not off_roster:
            agent.idle_since = now
            agent.misses = 0
            floor.logged_in.add(agent.agent_id)
            floor.agent_to(agent, AgentTrigger.LOGIN, "AgentLoggedIn", now, out, by=event.by)
        floor.refresh_ready(agent)

    def logged_out(self, event: AgentLoggedOut, now: float, out: Out) -> None:
        agent = self.floor.agents.get(event.agent_id)
        if agent is None or agent.state is AgentState.LOGGED_OUT:
            return
        if agent.state is AgentState.ON_CALL:
            # Calls in progress survive a logout (and a shift change): it waits for the end.
            self.floor.touched.add(agent.agent_id)
            agent.pending_logout = True
            agent.pending_logout_by = event.by
            return
        cause = "AgentLoggedOut"
        if agent.state is AgentState.RINGING:
            self.rings.withdraw_ring(
                agent, "logged-out", cause, now, out, missed=False, settle=False
            )
        self.log_out(agent, cause, now, out, by=event.by)

    def paused(self, event: AgentPaused, now: float, out: Out) -> None:
        agent = self.floor.agents.get(event.agent_id)
        if agent is None or agent.state is AgentState.LOGGED_OUT:
            return
        if agent.state is AgentState.ON_CALL:
            self.floor.touched.add(agent.agent_id)
            agent.pending_pause = event.reason
            agent.pending_pause_by = event.by
            return
        cause = "AgentPaused"
        if agent.state is AgentState.RINGING:
            self.rings.withdraw_ring(agent, "paused", cause, now, out, missed=False, settle=False)
        self._pause(agent, event.reason, cause, now, out, by=event.by)

    def unpaused(self, event: AgentUnpaused, now: float, out: Out) -> None:
        agent = self.floor.agents.get(event.agent_id)
        if agent is None:
            return
        self.floor.touched.add(agent.agent_id)
        agent.pending_pause = None
        if agent.state is AgentState.PAUSED:
            agent.misses = 0
            agent.pause_reason = None
            self.floor.agent_to(agent, AgentTrigger.UNPAUSE, "AgentUnpaused", now, out, by=event.by)

    def device_state_changed(self, event: DeviceStateChanged, now: float, out: Out) -> None:
        agent = self.floor.agents.get(event.agent_id)
        if agent is None:
            return
        self.floor.touched.add(agent.agent_id)
        agent.device = event.state
        if agent.state is AgentState.RINGING and event.state is DeviceState.UNAVAILABLE:
            # The phone dropped its registration mid-ring: not the call-taker's fault.
            self.rings.withdraw_ring(
                agent, "device-unavailable", "DeviceStateChanged", now, out, missed=False
            )
        self.floor.refresh_ready(agent)

    def wrapping_up(self, agent: Agent, token: int) -> bool:
        """Whether the wrap-up timer ``token`` of ``agent`` is still live."""
        return agent.token == token

    def wrap_up_ended(self, agent: Agent, token: int, now: float, out: Out) -> None:
        if agent.token != token:
            return
        agent.idle_since = now
        self._settle(agent, AgentTrigger.WRAP_END, Timer.WRAP_UP.value, now, out)

    def release(self, agent: Agent, cause: str, now: float, out: Out, *, missed: bool) -> None:
        """An offer or an unbridged answer is over for ``agent``."""
        if missed:
            self.floor.touched.add(agent.agent_id)
            agent.misses += 1
            out.append(RingMissed(agent.agent_id, agent.call_id or "", cause, now))
        agent.call_id = None
        limit = self.floor.config.max_consecutive_no_answers
        if missed and agent.misses >= limit and not agent.pending_logout:
            # Paused with a reason, never logged out (kazoo PR 6609 did that, for good).
            self._pause(agent, AUTO_PAUSE_REASON, cause, now, out)
        else:
            self._settle(agent, AgentTrigger.RELEASE, cause, now, out)

    def end_conversation(
        self, agent: Agent, call: Call, cause: str, now: float, out: Out, *, at: float | None
    ) -> None:
        agent.call_id = None
        self.floor.agent_to(agent, AgentTrigger.CALL_END, cause, now, out)
        # Wrap-up is time after the call: it counts from when the call ended, not from when we
        # heard of it (under load the hang-up reaches us late; the phone was free all along).
        until = _conversation_end(call, now, at) + self.floor.config.wrap_up_time
        out.append(StartWrapUp(agent.agent_id, call.call_id, until))
        self.floor.arm(until, Timer.WRAP_UP, agent, agent.token)

    def _settle(
        self, agent: Agent, trigger: AgentTrigger, cause: str, now: float, out: Out
    ) -> None:
        """Move an agent on, applying a pause or logout asked for during the call first."""
        if agent.pending_logout:
            self.log_out(agent, cause, now, out, by=agent.pending_logout_by)
        elif agent.pending_pause is not None:
            self._pause(agent, agent.pending_pause, cause, now, out, by=agent.pending_pause_by)
        else:
            self.floor.agent_to(agent, trigger, cause, now, out)

    def _pause(
        self, agent: Agent, reason: str, cause: str, now: float, out: Out, *, by: str = ""
    ) -> None:
        self.floor.touched.add(agent.agent_id)
        agent.pending_pause = None
        agent.pause_reason = reason
        self.floor.agent_to(agent, AgentTrigger.PAUSE, cause, now, out, reason=reason, by=by)

    def log_out(self, agent: Agent, cause: str, now: float, out: Out, *, by: str = "") -> None:
        floor = self.floor
        floor.touched.add(agent.agent_id)
        agent.pending_logout = False
        agent.pending_pause = None
        agent.pause_reason = None
        floor.agent_to(agent, AgentTrigger.LOGOUT, cause, now, out, by=by)
        floor.logged_in.discard(agent.agent_id)
        if floor.nobody_logged_in():
            self.rings.overflow_waiting("nobody-logged-in", cause, now, out)

    def log_out_after_call(self, agent: Agent, cause: str, now: float, out: Out) -> None:
        """Log ``agent`` out at once if idle or paused, else once their current call (ring,
        conversation, wrap-up) is over."""
        if agent.pending_logout:
            return
        if agent.state in (AgentState.AVAILABLE, AgentState.PAUSED):
            self.log_out(agent, cause, now, out)
        else:
            self.floor.touched.add(agent.agent_id)
            agent.pending_logout = True
            agent.pending_logout_by = ""  # the roster's, nobody's request


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
