"""THE call state machine: every state a 112 call can be in, and every move between them.

Rules of this module, read these first:

- A call's state changes only through :meth:`Call.transition`, which looks the move up in
  :data:`CALL_TRANSITIONS`. A move that is not in the table is a bug in the core and raises
  :class:`~callgate.core.errors.InvalidTransitionError`; the sub-machines (``conversations.py``,
  ``offers.py``...) decide *which* trigger applies, this table decides *where it leads*.
- Screening (nuisance scores) happens as a call arrives, before it becomes a :class:`Call`; a
  blocked caller never becomes one (``blocking.py`` announces and hangs up). The silent-caller
  watch (``silence.py``) only changes a waiting call's class, never its state.
- Terminal states: COMPLETED (a call-taker spoke with the caller), ABANDONED (the caller hung
  up before a human or a destination took the call), OVERFLOWED (an overflow destination
  answered) and FALLBACK (handed to the fallback queue, which always accepts). No other way out
  exists: the core never drops a call.

The lifecycle::

    ARRIVED ─QUEUE─> QUEUED ─OFFER─> OFFERED ─ANSWER─> CONNECTING ─BRIDGED─> CONNECTED ─> COMPLETED
       │               ^  │             │                  │
       │               └──┼─RING_END────┘                  └─BRIDGE_FAILED─> QUEUED
       └─OVERFLOW─────────┴──> OVERFLOWING ─DESTINATION_ANSWERED─> OVERFLOWED
                                    └─(last destination)─FALLBACK─> FALLBACK
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from callgate.core.errors import InvalidTransitionError


class Priority(enum.IntEnum):
    """Suggested priority classes; any int works, and a lower number is served first."""

    CALLBACK = 0
    NORMAL = 1
    NUISANCE = 2


class CallState(enum.Enum):
    """Where a call is in its life."""

    ARRIVED = "ARRIVED"
    QUEUED = "QUEUED"
    OFFERED = "OFFERED"
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    OVERFLOWING = "OVERFLOWING"
    COMPLETED = "COMPLETED"
    ABANDONED = "ABANDONED"
    OVERFLOWED = "OVERFLOWED"
    FALLBACK = "FALLBACK"


TERMINAL_CALL_STATES = frozenset(
    {CallState.COMPLETED, CallState.ABANDONED, CallState.OVERFLOWED, CallState.FALLBACK}
)


class CallTrigger(enum.Enum):
    """Why a call moves; the facade picks the trigger from the event and the guards."""

    QUEUE = "QUEUE"
    OFFER = "OFFER"
    RING_END = "RING_END"
    ANSWER = "ANSWER"
    BRIDGED = "BRIDGED"
    BRIDGE_FAILED = "BRIDGE_FAILED"
    CALLER_HANGUP = "CALLER_HANGUP"
    AGENT_HANGUP = "AGENT_HANGUP"
    OVERFLOW = "OVERFLOW"
    DESTINATION_ANSWERED = "DESTINATION_ANSWERED"
    DESTINATION_FAILED = "DESTINATION_FAILED"
    FALLBACK = "FALLBACK"


_S = CallState
_T = CallTrigger

#: Every legal move of a call: ``(state, trigger) -> next state``.
CALL_TRANSITIONS: Mapping[tuple[CallState, CallTrigger], CallState] = {
    (_S.ARRIVED, _T.QUEUE): _S.QUEUED,
    (_S.ARRIVED, _T.OVERFLOW): _S.OVERFLOWING,
    (_S.ARRIVED, _T.FALLBACK): _S.FALLBACK,
    (_S.QUEUED, _T.OFFER): _S.OFFERED,
    (_S.QUEUED, _T.CALLER_HANGUP): _S.ABANDONED,
    (_S.QUEUED, _T.OVERFLOW): _S.OVERFLOWING,
    (_S.QUEUED, _T.FALLBACK): _S.FALLBACK,
    (_S.OFFERED, _T.ANSWER): _S.CONNECTING,
    (_S.OFFERED, _T.RING_END): _S.QUEUED,
    (_S.OFFERED, _T.CALLER_HANGUP): _S.ABANDONED,
    # app_queue#1557: an agent who answers and hangs up before the bridge must not lose the
    # call, so a failed bridge puts the caller back at the head of the queue.
    (_S.CONNECTING, _T.BRIDGED): _S.CONNECTED,
    (_S.CONNECTING, _T.BRIDGE_FAILED): _S.QUEUED,
    (_S.CONNECTING, _T.CALLER_HANGUP): _S.ABANDONED,
    (_S.CONNECTED, _T.CALLER_HANGUP): _S.COMPLETED,
    (_S.CONNECTED, _T.AGENT_HANGUP): _S.COMPLETED,
    (_S.OVERFLOWING, _T.DESTINATION_ANSWERED): _S.OVERFLOWED,
    (_S.OVERFLOWING, _T.DESTINATION_FAILED): _S.OVERFLOWING,
    (_S.OVERFLOWING, _T.FALLBACK): _S.FALLBACK,
    (_S.OVERFLOWING, _T.CALLER_HANGUP): _S.ABANDONED,
}


class Call:
    """One 112 call as the core sees it. Mutated only by the facade."""

    __slots__ = (
        "agent_id",
        "answer_candidate_at",
        "answered_at",
        "arrived_at",
        "call_id",
        "caller",
        "caller_name",
        "category",
        "destination_index",
        "destinations",
        "handed_to",
        "in_queue",
        "missed_by",
        "priority",
        "queue_token",
        "relaxed",
        "required_skill",
        "ringing",
        "seq",
        "state",
        "token",
    )

    def __init__(
        self,
        call_id: str,
        *,
        caller: str,
        caller_name: str,
        priority: int,
        category: str,
        required_skill: str | None,
        arrived_at: float,
        seq: int,
    ) -> None:
        self.call_id = call_id
        self.caller = caller
        self.caller_name = caller_name
        self.priority = priority
        self.category = category
        self.required_skill = required_skill
        self.arrived_at = arrived_at
        #: Arrival order; ties in the queue are broken by it, which is what makes it FIFO.
        self.seq = seq
        self.state = CallState.ARRIVED
        #: Bumped on every transition so that a timer armed in an earlier state is ignored.
        self.token = 0
        #: Bumped on every queue insert/removal; stale heap entries carry an older value.
        self.queue_token = 0
        self.in_queue = False
        #: Agents being rung for this call right now (more than one only under ring-all).
        self.ringing: list[str] = []
        #: Agents who let this call ring out; others are preferred for the next offer.
        self.missed_by: set[str] = set()
        self.agent_id: str | None = None
        self.answer_candidate_at: float | None = None
        self.answered_at: float | None = None
        self.relaxed = False
        self.destination_index = -1
        #: The destinations it is sent to, in order, once it leaves the queue (overflow or
        #: out-of-hours); ``destination_index`` points into it.
        self.destinations: tuple[str, ...] = ()
        #: The agency a connected call was handed to (its call-taker may then leave freely).
        self.handed_to: str | None = None

    @property
    def skill(self) -> str | None:
        """The skill an agent needs to be offered this call now (None once relaxed)."""
        return None if self.relaxed else self.required_skill

    def transition(self, trigger: CallTrigger) -> CallState:
        """Apply ``trigger`` through :data:`CALL_TRANSITIONS`; return the previous state."""
        old = self.state
        try:
            self.state = CALL_TRANSITIONS[(old, trigger)]
        except KeyError:
            raise InvalidTransitionError(
                f"call {self.call_id}: no transition from {old.name} on {trigger.name}"
            ) from None
        self.token += 1
        return old
