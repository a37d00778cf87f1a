"""Commands: what the core asks its driver to do, plus notifications for the event stream.

Commands are imperative frozen dataclasses returned by ``Acd.handle``/``Acd.handle_timer``
in the order they must be carried out. Notifications (``CallStateChanged``,
``AgentStateChanged``, ``CallEnded``) change nothing on the phone system; they are the core's
own record, from which logs, the CAD event stream and the KPIs are built.
"""

from __future__ import annotations

from dataclasses import dataclass

from callgate.core.agents import AgentState
from callgate.core.calls import CallState


class Command:
    """Base class of all commands and notifications."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class RingAgent(Command):
    """Ring ``endpoint`` for this call. The core times the ring itself; do not add a timeout."""

    call_id: str
    "The waiting call."
    agent_id: str
    "The call-taker to ring."
    endpoint: str
    "What to dial (from ``AgentLoggedIn``)."
    caller_id_name: str
    "Tag to present on the call-taker's phone."


@dataclass(frozen=True, slots=True)
class CancelRing(Command):
    """Stop ringing (hang up) this agent's leg for this call, if it still exists."""

    call_id: str
    "The call."
    agent_id: str
    "The call-taker whose leg to hang up."
    reason: str
    "``ring-timeout``, ``answered-elsewhere``, ``caller-hung-up``, ``no-answer``, ``paused``..."


@dataclass(frozen=True, slots=True)
class Bridge(Command):
    """Put the caller and the agent who answered into one bridge, then send ``CallBridged``."""

    call_id: str
    "The call."
    agent_id: str
    "The call-taker who answered."


@dataclass(frozen=True, slots=True)
class HangUpCaller(Command):
    """The agent ended the conversation: hang up the caller's leg."""

    call_id: str
    "The call."


@dataclass(frozen=True, slots=True)
class HangUpAgent(Command):
    """The caller is gone: hang up the agent's leg."""

    call_id: str
    "The call."
    agent_id: str
    "The call-taker whose leg to hang up."


@dataclass(frozen=True, slots=True)
class SendToDestination(Command):
    """Send the caller to an overflow destination; report ``DestinationAnswered``/``Failed``.

    When ``fallback`` is true the destination is the fallback queue: the call leaves the core
    for good and no report is expected.
    """

    call_id: str
    "The call."
    destination: str
    "Dialstring or dialplan extension from ``AcdConfig.overflow_destinations``."
    attempt: int
    "Index into ``overflow_destinations`` (0 is the first)."
    fallback: bool
    "True for the last destination, the fallback queue."
    reason: str
    "``max-wait``, ``nobody-logged-in`` or ``out-of-hours`` (of the first attempt)."


@dataclass(frozen=True, slots=True)
class StartWrapUp(Command):
    """The agent's call ended; they are in wrap-up until ``until`` (the core ends it itself)."""

    agent_id: str
    "The call-taker."
    call_id: str
    "The call they are wrapping up."
    until: float
    "When wrap-up ends, in the core's time."


@dataclass(frozen=True, slots=True)
class CallStateChanged(Command):
    """Notification: a call moved between states."""

    call_id: str
    "The call."
    old: CallState
    "State before."
    new: CallState
    "State after."
    cause: str
    "The event or timer that caused it (``CallerHungUp``, ``RingTimedOut``...)."
    at: float
    "The core's time of the change."

    def __str__(self) -> str:
        return f"call {self.call_id}: {self.old.name} -[{self.cause}]-> {self.new.name}"


@dataclass(frozen=True, slots=True)
class AgentStateChanged(Command):
    """Notification: an agent moved between states."""

    agent_id: str
    "The call-taker."
    old: AgentState
    "State before."
    new: AgentState
    "State after."
    cause: str
    "The event or timer that caused it."
    at: float
    "The core's time of the change."
    reason: str | None = None
    "Pause reason when ``new`` is PAUSED."

    def __str__(self) -> str:
        return f"agent {self.agent_id}: {self.old.name} -[{self.cause}]-> {self.new.name}"


@dataclass(frozen=True, slots=True)
class CallEnded(Command):
    """Notification: the call left the core; this is its record for KPIs and reports."""

    call_id: str
    "The call."
    outcome: CallState
    "Terminal state: COMPLETED, ABANDONED, OVERFLOWED or FALLBACK."
    caller: str
    "Caller number."
    category: str
    "Screening category."
    priority: int
    "Priority class at the end."
    arrived_at: float
    "When the core learned of the call."
    answered_at: float | None
    "When the call-taker who talked with the caller answered (None if nobody did)."
    ended_at: float
    "When the call left the core."
    agent_id: str | None
    "The call-taker who talked with the caller."
    destination: str | None
    "The overflow destination that took the call, if any."

    @property
    def answer_time(self) -> float | None:
        """Seconds from arrival to answer by a call-taker, or None."""
        return None if self.answered_at is None else self.answered_at - self.arrived_at
