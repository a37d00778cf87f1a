"""The call-taker (agent) state machine.

Rules of this module:

- An agent's state changes only through :meth:`Agent.transition` and :data:`AGENT_TRANSITIONS`.
- An agent rings for or talks on at most one call; a call rings more than one agent only
  under the ring-all strategy.
- Missing calls pauses an agent (with a reason) after N in a row; it never logs them out
  (kazoo PR 6609 logged agents out forever).
- The device state is kept apart from the agent state: an unregistered or busy phone makes an
  AVAILABLE agent unofferable without pretending they changed their own status.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from callgate.core.errors import InvalidTransitionError


class AgentState(enum.Enum):
    """What a call-taker is doing, as far as the ACD is concerned."""

    LOGGED_OUT = "LOGGED_OUT"
    AVAILABLE = "AVAILABLE"
    RINGING = "RINGING"
    ON_CALL = "ON_CALL"
    WRAP_UP = "WRAP_UP"
    PAUSED = "PAUSED"


class DeviceState(enum.Enum):
    """The agent's phone as Asterisk reports it (a subset of Asterisk device states)."""

    NOT_INUSE = "NOT_INUSE"
    IN_USE = "IN_USE"
    RINGING = "RINGING"
    UNAVAILABLE = "UNAVAILABLE"


class AgentTrigger(enum.Enum):
    """Why an agent moves."""

    LOGIN = "LOGIN"
    LOGOUT = "LOGOUT"
    OFFER = "OFFER"
    ANSWER = "ANSWER"
    RELEASE = "RELEASE"
    CALL_END = "CALL_END"
    WRAP_END = "WRAP_END"
    PAUSE = "PAUSE"
    UNPAUSE = "UNPAUSE"


class AgentRequest(enum.Enum):
    """What a call-taker (their feature code) or a user of the admin API asks of the ACD."""

    LOGIN = "login"
    LOGOUT = "logout"
    PAUSE = "pause"
    UNPAUSE = "unpause"


class RequestAnswer(enum.Enum):
    """The core's answer to an :class:`AgentRequest`."""

    OK = "ok"
    "Done (or, during a call, done once it is over)."
    ALREADY = "already"
    "Nothing to change: already so."
    REFUSED = "refused"
    "Not allowed now (pause or unpause while logged out)."


_S = AgentState
_T = AgentTrigger

#: Every legal move of an agent: ``(state, trigger) -> next state``.
AGENT_TRANSITIONS: Mapping[tuple[AgentState, AgentTrigger], AgentState] = {
    (_S.LOGGED_OUT, _T.LOGIN): _S.AVAILABLE,
    (_S.AVAILABLE, _T.OFFER): _S.RINGING,
    (_S.AVAILABLE, _T.PAUSE): _S.PAUSED,
    (_S.AVAILABLE, _T.LOGOUT): _S.LOGGED_OUT,
    (_S.RINGING, _T.ANSWER): _S.ON_CALL,
    # RELEASE: the ring ended without a conversation (no answer, cancelled, caller gone).
    (_S.RINGING, _T.RELEASE): _S.AVAILABLE,
    (_S.RINGING, _T.PAUSE): _S.PAUSED,
    (_S.RINGING, _T.LOGOUT): _S.LOGGED_OUT,
    (_S.ON_CALL, _T.CALL_END): _S.WRAP_UP,
    # An answered call whose bridge never came up (the agent or the caller left first).
    (_S.ON_CALL, _T.RELEASE): _S.AVAILABLE,
    (_S.ON_CALL, _T.PAUSE): _S.PAUSED,
    (_S.ON_CALL, _T.LOGOUT): _S.LOGGED_OUT,
    (_S.WRAP_UP, _T.WRAP_END): _S.AVAILABLE,
    (_S.WRAP_UP, _T.PAUSE): _S.PAUSED,
    (_S.WRAP_UP, _T.LOGOUT): _S.LOGGED_OUT,
    (_S.PAUSED, _T.PAUSE): _S.PAUSED,
    (_S.PAUSED, _T.UNPAUSE): _S.AVAILABLE,
    (_S.PAUSED, _T.LOGOUT): _S.LOGGED_OUT,
}


class Agent:
    """One call-taker as the core sees them. Mutated only by the ACD (``calltakers.py``...)."""

    __slots__ = (
        "agent_id",
        "call_id",
        "calls_answered",
        "device",
        "endpoint",
        "idle_since",
        "misses",
        "name",
        "pause_reason",
        "pending_logout",
        "pending_logout_by",
        "pending_pause",
        "pending_pause_by",
        "skills",
        "state",
        "token",
    )

    def __init__(self, agent_id: str) -> None:
        self.agent_id = agent_id
        self.endpoint = ""
        self.name = ""
        #: Skill name -> tier (1 is the strongest); used by the skills strategy and eligibility.
        self.skills: dict[str, int] = {}
        self.state = AgentState.LOGGED_OUT
        self.device = DeviceState.NOT_INUSE
        self.pause_reason: str | None = None
        #: A pause or logout asked for during a call; applied once the call is over.
        self.pending_pause: str | None = None
        self.pending_logout = False
        #: Who asked for each (an ``AgentPaused``'s or ``AgentLoggedOut``'s ``by``).
        self.pending_pause_by = ""
        self.pending_logout_by = ""
        self.call_id: str | None = None
        self.idle_since = 0.0
        self.calls_answered = 0
        #: Consecutive offers this agent let ring out; reset by a bridged call or an unpause.
        self.misses = 0
        #: Bumped on every transition so that a timer armed in an earlier state is ignored.
        self.token = 0

    @property
    def offerable(self) -> bool:
        """True if a call may be offered to this agent now."""
        return self.state is AgentState.AVAILABLE and self.device is DeviceState.NOT_INUSE

    def transition(self, trigger: AgentTrigger) -> AgentState:
        """Apply ``trigger`` through :data:`AGENT_TRANSITIONS`; return the previous state."""
        old = self.state
        try:
            self.state = AGENT_TRANSITIONS[(old, trigger)]
        except KeyError:
            raise InvalidTransitionError(
                f"agent {self.agent_id}: no transition from {old.name} on {trigger.name}"
            ) from None
        self.token += 1
        return old
