"""The calls, the call-takers and the roster's figures as the daemon's readers show them, kept
from the engine's notifications alone (issue #20's item 5: nothing outside the engine reads the
live core).

One :class:`Projection` is the engine's first observer (``daemon/app.py``), so every reader after
it sees the state each notification leaves. What the notifications do not carry (a call-taker's
phone, a pause or log-out pending until a call ends, the ring's set under ring-all, the queue's
order beyond class and arrival) is not here; the readers that show those still read the core
(see ``docs/architecture.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

from callgate.core.agents import AgentState
from callgate.core.calls import TERMINAL_CALL_STATES, CallState
from callgate.core.commands import (
    AgentStateChanged,
    CallEnded,
    CallReclassified,
    CallScreened,
    CallStateChanged,
    RosterChanged,
    ShiftStaffing,
)


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


@dataclass(slots=True)
class ProjectedAgent:
    """One call-taker the notifications named."""

    agent_id: str
    state: AgentState
    pause_reason: str | None = None
    call_id: str | None = None


class Projection:
    """Calls, call-takers, staffed or not and each shift's figures, from notifications."""

    def __init__(self) -> None:
        self.calls: dict[str, ProjectedCall] = {}
        self.agents: dict[str, ProjectedAgent] = {}
        #: False when the roster says the centre is out of hours.
        self.staffed = True
        self._shifts: dict[str, ShiftStaffing] = {}

    async def notification(self, note: object) -> None:
        """The engine's observer: the same as :meth:`apply`."""
        self.apply(note)

    def apply(self, note: object) -> None:
        if isinstance(note, CallStateChanged):
            self._call_moved(note)
        elif isinstance(note, CallScreened):
            self.calls.setdefault(
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
        elif isinstance(note, CallReclassified) and note.call_id in self.calls:
            call = self.calls[note.call_id]
            call.priority, call.category = note.priority, note.category
        elif isinstance(note, CallEnded):
            self.calls.pop(note.call_id, None)
        elif isinstance(note, AgentStateChanged):
            self._agent_moved(note)
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
            call = self.calls[note.call_id] = ProjectedCall(
                note.call_id, note.new, note.caller, note.category, note.priority, note.at
            )
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
        """Calls waiting in the queue, by class (lower first) then arrival."""
        waiting = [c for c in self.calls.values() if c.state is CallState.QUEUED]
        return sorted(waiting, key=lambda c: (c.priority, c.arrived_at))

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
