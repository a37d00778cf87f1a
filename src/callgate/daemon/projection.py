"""The calls, the call-takers and the roster's figures as the daemon's readers show them, kept
from the engine's notifications alone (issue #20's item 5: nothing outside the engine reads the
live core).

The engine holds one :class:`Projection` and tells it each notification and record before its
observers (``daemon/engine.py``), so every reader sees the state each one leaves: the metrics,
the admin view (``daemon/view.py``) and the live screens (``daemon/live.py``). A call-taker's
phone, pending requests and counts come in ``AgentDetails``; who took a handed-off call in the
``AgencyConnected`` record; the queue's order is the core's (class, or with aging arrival plus
class times the aging interval; then arrival).
"""

from __future__ import annotations

from dataclasses import dataclass

from callgate.config import Settings
from callgate.core.agents import AgentState, DeviceState
from callgate.core.calls import TERMINAL_CALL_STATES, CallState
from callgate.core.commands import (
    AgentDetails,
    AgentStateChanged,
    CallEnded,
    CallReclassified,
    CallScreened,
    CallStateChanged,
    RosterChanged,
    ShiftStaffing,
)
from callgate.ports import AgencyConnected


@dataclass(slots=True)
class ProjectedCall:
    """One call still in the core, as the notifications told it."""

    call_id: str
    state: CallState
    caller: str
    category: str
    priority: int
    arrived_at: float
    answered_at: float | None = None
    agent_id: str | None = None
    #: When the call-taker answered; the call counts as answered at that time once bridged.
    answering_at: float | None = None
    caller_name: str = ""
    #: The agency a connected call was handed to (``AgencyConnected``), else None.
    handed_to: str | None = None


@dataclass(slots=True)
class ProjectedAgent:
    """One call-taker the notifications named."""

    agent_id: str
    state: AgentState
    pause_reason: str | None = None
    call_id: str | None = None
    endpoint: str = ""
    device: DeviceState = DeviceState.NOT_INUSE
    pending_pause: str | None = None
    pending_logout: bool = False
    calls_answered: int = 0
    misses: int = 0


class Projection:
    """Calls, call-takers, staffed or not and each shift's figures, from notifications."""

    def __init__(self, aging_interval: float | None = None) -> None:
        #: The queue's aging (``[acd] aging_seconds``): its order, as the core's.
        self.aging_interval = aging_interval
        self.calls: dict[str, ProjectedCall] = {}
        self.agents: dict[str, ProjectedAgent] = {}
        #: False when the roster says the centre is out of hours.
        self.staffed = True
        self._shifts: dict[str, ShiftStaffing] = {}

    def reconfigure(self, settings: Settings) -> None:
        """A reload: the queue's aging from ``settings`` (the core re-ranks its queue too)."""
        self.aging_interval = settings.acd.aging_seconds

    async def notification(self, note: object) -> None:
        """The engine's observer: the same as :meth:`apply`."""
        self.apply(note)

    def apply(self, note: object) -> None:
        if isinstance(note, CallStateChanged):
            self._call_moved(note)
        elif isinstance(note, CallScreened):
            screened = self.calls.setdefault(
                note.call_id,
                ProjectedCall(
                    note.call_id,
                    CallState.ARRIVED,
                    note.caller,
                    note.category,
                    note.priority,
                    note.at,
                ),
            )
            screened.caller_name = note.caller_name
        elif isinstance(note, CallReclassified) and note.call_id in self.calls:
            call = self.calls[note.call_id]
            call.priority, call.category = note.priority, note.category
            call.caller_name = note.caller_name
        elif isinstance(note, CallEnded):
            self.calls.pop(note.call_id, None)
        elif isinstance(note, AgentStateChanged):
            self._agent_moved(note)
        elif isinstance(note, AgentDetails):
            agent = self._agent(note.agent_id)
            agent.endpoint, agent.device = note.endpoint, note.device
            agent.pending_pause, agent.pending_logout = note.pending_pause, note.pending_logout
            agent.calls_answered, agent.misses = note.calls_answered, note.misses
        elif isinstance(note, AgencyConnected):
            handed = self.calls.get(note.call_id)
            # As the core: only a call in conversation is handed on.
            if handed is not None and handed.state is CallState.CONNECTED:
                handed.handed_to = note.agency
        elif isinstance(note, RosterChanged):
            self.staffed = note.staffed
            if not note.shifts:
                self._shifts.clear()
        elif isinstance(note, ShiftStaffing):
            if note.on:
                self._shifts[note.shift] = note
            else:
                self._shifts.pop(note.shift, None)

    def _call_moved(self, note: CallStateChanged) -> None:
        call = self.calls.get(note.call_id)
        if call is None:
            # A call resumed after a restart (no CallScreened): the core names it by its
            # number unless the arrival gave a name, which no notification carries.
            call = self.calls[note.call_id] = ProjectedCall(
                note.call_id, note.new, note.caller, note.category, note.priority, note.at
            )
            call.caller_name = note.caller
        call.state = note.new
        call.priority = note.priority
        call.caller = note.caller or call.caller
        call.category = note.category or call.category
        call.agent_id = note.call_taker
        if note.new is CallState.CONNECTING:
            call.answering_at = note.at
        elif note.new is CallState.CONNECTED and call.answered_at is None:
            call.answered_at = call.answering_at
        if note.new in TERMINAL_CALL_STATES:
            self.calls.pop(note.call_id, None)

    def _agent(self, agent_id: str) -> ProjectedAgent:
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = self.agents[agent_id] = ProjectedAgent(agent_id, AgentState.LOGGED_OUT)
        return agent

    def _agent_moved(self, note: AgentStateChanged) -> None:
        agent = self._agent(note.agent_id)
        agent.state = note.new
        agent.pause_reason = note.reason if note.new is AgentState.PAUSED else None
        agent.call_id = note.call_id

    # The readers' questions.

    def queued(self) -> list[ProjectedCall]:
        """Calls waiting in the queue, best first (the core's order, ``core/queue.py``)."""
        waiting = [c for c in self.calls.values() if c.state is CallState.QUEUED]
        aging = self.aging_interval
        if aging is None:
            return sorted(waiting, key=lambda c: (c.priority, c.arrived_at))
        return sorted(waiting, key=lambda c: (c.arrived_at + c.priority * aging, c.arrived_at))

    @property
    def waiting(self) -> int:
        return sum(1 for c in self.calls.values() if c.state is CallState.QUEUED)

    def ringing(self, call_id: str) -> list[str]:
        """The call-takers ``call_id`` rings now."""
        return [
            a.agent_id
            for a in self.agents.values()
            if a.state is AgentState.RINGING and a.call_id == call_id
        ]

    @property
    def shift_staffing(self) -> tuple[ShiftStaffing, ...]:
        """The latest figures of each shift on that needs call-takers."""
        return tuple(self._shifts.values())
