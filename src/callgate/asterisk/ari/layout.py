"""What Asterisk holds for callgate, and a call's life outside the core, as a table.

How a 112 call is laid out in Asterisk:

- the caller's channel id is the call id;
- the dialplan answers the call and starts MixMonitor on the caller's channel before Stasis, so
  one recording covers the whole call from answer to hang-up (queue time, abandoned calls, both
  parties, an agency that joins), at no extra channel's cost;
- a waiting caller is alone on their channel (greeting, then music on hold): no bridge, so a
  burst of callers costs Asterisk one channel each, as in app_queue;
- once someone answers, a mixing bridge ``call-<call id>`` joins the caller and the call-taker;
  an agency on a hand-off joins the same bridge;
- a call-taker's leg is originated into the Stasis app with ``calltaker,<call id>,<agent id>``
  and enters Stasis only when answered; an overflow leg uses ``destination,<call id>``.

Rules of the phase table, read these first:

- A layout's :class:`Phase` changes only through :meth:`CallLayout.move`, which looks the move up
  in :data:`PHASE_MOVES`; a move that is not in the table is a bug in the adapter and raises
  :class:`PhaseError`. The adapter's modules decide *which* move applies, the table *where it
  leads*.
- The phase is about Asterisk's side of the call (set-up, media, bridge, hand-back); whether the
  core queues, offers or connects it is the core's own table (``core/calls.py``).
- ``END`` applies in every phase and ``HAND_BACK`` in every phase but ADOPTED (callgate may
  learn that a call ended, or hand a caller back, at any moment); once handed back or over,
  laying out media moves nothing.

The life of a call (every live phase is SETTING_UP, BLOCKED, QUEUED, CONNECTING or BRIDGED)::

    SETTING_UP ─ARRIVE─> QUEUED ─CONNECT─> CONNECTING ─BRIDGE─> BRIDGED
                          │ ^  ^ └──────BRIDGE (a callback's bridge)─────^ │
                          │ │  └──BRIDGE_FAILED (no bridge made)─┘         │
                          │ └─────UNBRIDGE (a callback's bridge)───────────┘
                          └─BLOCK (the core's screening: a blocked caller)─> BLOCKED
    any live phase ─HAND_BACK─> HANDED_BACK ─END─> RELEASED
    any live phase ─END─> ENDED ─HAND_BACK─> RELEASED
    ADOPTED (found connected after a restart; END leaves it as it is)
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# Roles of the channels callgate originates (the first Stasis argument).
CALLTAKER = "calltaker"
DESTINATION = "destination"
ADOPTED = "adopted"  # a leg of a conversation that outlived a restart of callgate
AGENCY = "agency"
CALLBACK = "callback"  # a callback attempt's outbound call, in Stasis once answered
BRIDGE_PREFIX = "call-"
#: Channel variable that keeps a waiting call's priority class across a callgate restart.
PRIORITY_VAR = "CALLGATE_PRIORITY"
#: A blocked caller's announcement is the playback ``blocked-<call id>``.
ANNOUNCEMENT_PREFIX = "blocked-"
#: A waiting caller's queue announcements are the playbacks ``queue-<call id>-<token>``.
QUEUE_ANNOUNCEMENT_PREFIX = "queue-"
#: Channel variables the dialplan sets on a caller's channel before Stasis.
RECORDING_VAR = "CALLGATE_RECORDING"
CALLER_SENT_VAR = "CALLGATE_CALLER_SENT"
DIALED_VAR = "CALLGATE_DIALED"


class Phase(enum.Enum):
    """Where a call is in its life on Asterisk's side."""

    # Answered and being laid out (its history and variables read); the core does not know it yet.
    SETTING_UP = "SETTING_UP"
    # A caller the core found blocked: the announcement, then the hang-up (both the core's
    # commands); the core keeps it until the channel is gone.
    BLOCKED = "BLOCKED"
    # The core has it; the caller waits alone (greeting, music on hold), or a callback waits.
    QUEUED = "QUEUED"
    # Somebody is being connected to the caller: from here no prompt may start on the caller's
    # channel (Asterisk would hold the bridge request behind it until it ended).
    CONNECTING = "CONNECTING"
    # The call's bridge exists (the caller with a call-taker, a destination, an agency).
    BRIDGED = "BRIDGED"
    # Sent to the dialplan's fallback queue; its recording is sealed when the caller hangs up.
    HANDED_BACK = "HANDED_BACK"
    # Handed back and over for callgate (the core closed it, or it had ended before).
    RELEASED = "RELEASED"
    # Over: gone, or ended by the core; only the clean-up remains.
    ENDED = "ENDED"
    # A conversation found after a restart, outside the core; only its bridge is ours.
    ADOPTED = "ADOPTED"


class Move(enum.Enum):
    """Why a layout's phase moves."""

    ARRIVE = "ARRIVE"
    BLOCK = "BLOCK"
    CONNECT = "CONNECT"
    BRIDGE = "BRIDGE"
    BRIDGE_FAILED = "BRIDGE_FAILED"
    UNBRIDGE = "UNBRIDGE"
    HAND_BACK = "HAND_BACK"
    END = "END"


_P = Phase
_M = Move
#: Still alive in Stasis and not handed back: HAND_BACK and END lead out of these.
_LIVE = (_P.SETTING_UP, _P.BLOCKED, _P.QUEUED, _P.CONNECTING, _P.BRIDGED)
#: Handed back or over: moves of the media or the set-up leave these as they are.
_AFTER = (_P.HANDED_BACK, _P.RELEASED, _P.ENDED, _P.ADOPTED)

#: Every legal move of a layout: ``(phase, move) -> next phase``.
PHASE_MOVES: Mapping[tuple[Phase, Move], Phase] = {
    (_P.SETTING_UP, _M.ARRIVE): _P.QUEUED,
    # The core screens a call once it has it: its KeepClass says blocked before any ring.
    (_P.QUEUED, _M.BLOCK): _P.BLOCKED,
    (_P.QUEUED, _M.CONNECT): _P.CONNECTING,
    (_P.CONNECTING, _M.CONNECT): _P.CONNECTING,
    (_P.BRIDGED, _M.CONNECT): _P.BRIDGED,  # another party joins the bridge
    (_P.CONNECTING, _M.BRIDGE): _P.BRIDGED,
    # A callback's call-taker waits in the bridge while the number rings; an agency a call-taker
    # called joins even if the call-taker's bridge then failed.
    (_P.QUEUED, _M.BRIDGE): _P.BRIDGED,
    (_P.BRIDGED, _M.BRIDGE): _P.BRIDGED,
    # app_queue#1557: the call-taker left before the bridge; the caller waits again.
    (_P.CONNECTING, _M.BRIDGE_FAILED): _P.QUEUED,
    (_P.BRIDGED, _M.BRIDGE_FAILED): _P.BRIDGED,  # the bridge stays for the next one
    (_P.BRIDGED, _M.UNBRIDGE): _P.QUEUED,  # a callback's bridge, after its call-taker left
    **{(p, _M.HAND_BACK): _P.HANDED_BACK for p in _LIVE},
    **{(p, _M.END): _P.ENDED for p in _LIVE},
    (_P.HANDED_BACK, _M.HAND_BACK): _P.HANDED_BACK,
    (_P.HANDED_BACK, _M.END): _P.RELEASED,
    (_P.ENDED, _M.HAND_BACK): _P.RELEASED,
    (_P.ENDED, _M.END): _P.ENDED,
    (_P.RELEASED, _M.HAND_BACK): _P.RELEASED,
    (_P.RELEASED, _M.END): _P.RELEASED,
    (_P.ADOPTED, _M.END): _P.ADOPTED,
    **{
        (p, m): p
        for p in _AFTER
        for m in (_M.ARRIVE, _M.BLOCK, _M.CONNECT, _M.BRIDGE, _M.BRIDGE_FAILED, _M.UNBRIDGE)
    },
}

#: Over for callgate: no prompt, no agency, no talk detection to remove.
ENDED_PHASES = frozenset({_P.ENDED, _P.RELEASED, _P.ADOPTED})
#: Sent to the fallback queue: no music on hold; the recording is sealed at the hang-up.
HANDED_BACK_PHASES = frozenset({_P.HANDED_BACK, _P.RELEASED})
#: The core does not know the call yet: its caller leaving is no hang-up for the core.
SETTING_UP_PHASES = frozenset({_P.SETTING_UP})
#: The caller is alone on their channel: a greeting or prompt may play.
WAITING_PHASES = frozenset({_P.SETTING_UP, _P.BLOCKED, _P.QUEUED})
#: The core has the call: its caller leaving is a hang-up the core must hear.
IN_CORE_PHASES = frozenset({_P.BLOCKED, _P.QUEUED, _P.CONNECTING, _P.BRIDGED})


class PhaseError(Exception):
    """A move the phase table does not allow: a bug in the adapter, not in Asterisk."""


@dataclass
class CallbackLeg:
    """A callback attempt's outbound call; the layout's call id is its channel id."""

    dial: str  # the dial string through the trunk
    dialled: bool = False  # originated (it exists in Asterisk)
    answered: bool = False  # picked up (its bridge with the call-taker follows)
    agent_id: str = ""  # the call-taker who took it
    tone: str | None = None  # playback id of the ringing tone the call-taker hears


@dataclass
class CallLayout:
    """What Asterisk holds for one call, and where the call is in its life (:class:`Phase`)."""

    call_id: str
    caller: str
    phase: Phase = Phase.QUEUED
    bridge_id: str | None = None  # made when somebody answers
    callback: CallbackLeg | None = None  # set for a callback attempt (no caller channel yet)
    recording: str | None = None  # MixMonitor's file, relative to [recording] asterisk_dir
    greeting: str | None = None  # playback id while the greeting (or a prompt) plays
    moh: bool = False
    agent_legs: dict[str, str] = field(default_factory=dict)  # agent id -> channel id
    destination_leg: str | None = None
    warn: bool = False  # a repeat nuisance: the warning plays before the greeting
    #: Bumped by each queue announcement and by the call's offer: an announcement whose token
    #: is no longer this one is not started (or is stopped at once if it just started).
    announcement_token: int = 0
    #: An adopted conversation's call-taker and answer time, as Asterisk has them
    #: (:func:`~callgate.asterisk.ari.translate.adopted_answer`); None when it cannot tell.
    answered_by: str | None = None
    answered_at: float | None = None
    #: Requests on the caller's channel that must keep their order but not hold up the core's
    #: other commands (priority variable, talk detection, greeting, prompts): the latest one.
    media: asyncio.Future[None] | None = None

    def move(self, move: Move) -> None:
        """Move to the phase the table gives; raises :class:`PhaseError` if it has none."""
        after = PHASE_MOVES.get((self.phase, move))
        if after is None:
            raise PhaseError(f"{self.call_id}: no {move.name} from {self.phase.name}")
        if after is not self.phase:
            log.debug(
                "call phase moved",
                extra={
                    "call_id": self.call_id,
                    "transition": f"{self.phase.name} -[{move.name}]-> {after.name}",
                },
            )
        self.phase = after

    @property
    def ended(self) -> bool:
        return self.phase in ENDED_PHASES

    @property
    def handed_back(self) -> bool:
        return self.phase in HANDED_BACK_PHASES

    @property
    def adopted(self) -> bool:
        return self.phase is Phase.ADOPTED


@dataclass(frozen=True)
class Leg:
    """A channel callgate originated for a call."""

    call_id: str
    role: str  # CALLTAKER, DESTINATION, AGENCY or ADOPTED
    agent_id: str = ""  # the call-taker (for an agency leg: the one who asked for it)
    agency: str = ""
    hand_off: bool = False  # agency leg: the call-taker leaves once the agency answers


@dataclass
class Book:
    """Every call and leg callgate holds in Asterisk; :mod:`.translate` only reads it."""

    calls: dict[str, CallLayout] = field(default_factory=dict)
    legs: dict[str, Leg] = field(default_factory=dict)  # channel id -> leg
    answered: set[str] = field(default_factory=set)  # legs that entered Stasis (picked up)
    endpoints: dict[str, str] = field(default_factory=dict)  # agent id -> endpoint

    def still_waiting(self, layout: CallLayout) -> bool:
        """The caller is still ours and alone on their channel (nobody being connected)."""
        return self.calls.get(layout.call_id) is layout and layout.phase in WAITING_PHASES
