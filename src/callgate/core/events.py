"""Events: what happened, told to the core by its driver (the daemon or the simulator).

Every event is a frozen dataclass named in the past tense. The driver passes each one to
:meth:`callgate.core.acd.Acd.handle` together with ``now``. Events about calls or agents the
core no longer knows (races with hang-ups are normal on a phone system) are ignored, never
fatal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from callgate.core.agents import AgentRequest, DeviceState
from callgate.core.callbacks import AttemptOutcome, CallbackTask
from callgate.core.calls import Priority as Priority  # drivers meet it here, with CallArrived
from callgate.core.config import AcdConfig
from callgate.core.screening import CallerHistory


class Event:
    """Base class of all events."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class CallArrived(Event):
    """A 112 call was answered by the trunk and now needs a call-taker.

    The core screens it (with ``AcdConfig.screening`` set and a ``history`` given), blocks it if
    the centre configured blocking and the caller is blocked, watches a silent caller (with
    ``AcdConfig.silence`` set), and reports the outcome in a ``CallScreened`` notification
    before the call's first ``CallStateChanged``.
    """

    call_id: str
    "Unique id for the call's whole life (the caller's channel id works)."
    caller: str = ""
    "Caller number as delivered by the carrier (may be empty for SIM-less calls)."
    priority: int = Priority.NORMAL
    "Priority class before screening; lower is served first (see :class:`Priority`)."
    category: str = ""
    "Category before screening (screening replaces it), carried into the call record."
    required_skill: str | None = None
    "A skill the call-taker must have (e.g. a local language), until relaxed by waiting."
    caller_name: str = ""
    """Tag to show on the call-taker's phone; defaults to the caller number. A screening tag
    replaces it (``PRANK x2 0812...``)."""
    history: CallerHistory | None = None
    """The caller's screening history as loaded at arrival: empty for a first call, for a caller
    without a history key, or when the store did not answer in time. None: not screened
    (screening off, or done before); the class above is kept as it is."""
    resumed: bool = False
    """The call was already waiting before the driver restarted (found again in the phone
    system): it was screened, announced and watched then, so none of that happens again and no
    ``CallScreened`` is sent; it is queued in the class given above."""
    caller_sent: str = ""
    "The number as the carrier sent it (before normalising), for the call's record."
    dialed: str = ""
    "What the caller dialled (``112``, ``0112``...), for the call's record."
    identity: str | None = None
    "A SIM-less caller's IMEI-derived identity from the carrier, for the call's record."


@dataclass(frozen=True, slots=True)
class CallerHungUp(Event):
    """The caller's leg ended."""

    call_id: str
    "The call whose caller hung up."
    at: float | None = None
    "When the leg ended by the phone system's clock, if known (a wrap-up counts from then)."


@dataclass(frozen=True, slots=True)
class CallReprioritised(Event):
    """The call's priority class changed while it exists (e.g. silence detection finished)."""

    call_id: str
    "The call to move."
    priority: int
    "The new priority class; the call keeps its arrival order within that class."
    category: str | None = None
    "The call's new screening category (e.g. ``ghost`` after silence), or None to keep it."
    caller_name: str | None = None
    "The new tag shown on call-takers' phones from the next ring on, or None to keep it."


@dataclass(frozen=True, slots=True)
class AgentAnswered(Event):
    """An agent picked up a call the core rang them for."""

    call_id: str
    "The call that was offered."
    agent_id: str
    "The agent who answered."


@dataclass(frozen=True, slots=True)
class AgentNoAnswer(Event):
    """An agent's phone refused or gave up on a ring before the core's ring timeout."""

    call_id: str
    "The call that was offered."
    agent_id: str
    "The agent who did not answer."
    reason: str = ""
    "Free text for the record (busy, declined, ...)."


@dataclass(frozen=True, slots=True)
class CallBridged(Event):
    """Caller and agent are in one bridge: they can talk. Sent after a ``Bridge`` command."""

    call_id: str
    "The bridged call."


@dataclass(frozen=True, slots=True)
class AgentHungUp(Event):
    """The agent's leg of a call ended (while ringing, before the bridge, or in conversation)."""

    call_id: str
    "The call the agent's leg belonged to."
    agent_id: str
    "The agent whose leg ended."
    at: float | None = None
    "When the leg ended by the phone system's clock, if known (a wrap-up counts from then)."


@dataclass(frozen=True, slots=True)
class AgencyJoined(Event):
    """An agency (fire, police, ambulance...) joined a connected call: the call is handed off.

    From now on the call-taker leaving does not end the caller's call: the caller stays with
    the agency (a blind hand-off is the call-taker leaving once the agency has answered).
    """

    call_id: str
    "The connected call."
    agency: str
    "The agency's name from the config; kept as the call's destination in its record."


@dataclass(frozen=True, slots=True)
class DestinationAnswered(Event):
    """An overflow destination (not the fallback queue) took the call."""

    call_id: str
    "The call sent with ``SendToDestination``."


@dataclass(frozen=True, slots=True)
class DestinationFailed(Event):
    """An overflow destination was busy, unreachable or did not answer."""

    call_id: str
    "The call sent with ``SendToDestination``; the core tries the next destination."
    reason: str = ""
    "Free text for the record."


@dataclass(frozen=True, slots=True)
class AgentLoggedIn(Event):
    """A call-taker logged in (sending it again while logged in updates the details)."""

    agent_id: str
    "Stable id of the call-taker."
    endpoint: str
    "What to dial to ring them (e.g. ``PJSIP/operator-3``)."
    skills: Mapping[str, int] = field(default_factory=dict)
    "Skill name -> tier, 1 strongest (e.g. ``{'id': 1, 'tolaki': 2, 'en': 3}``)."
    device: DeviceState = DeviceState.NOT_INUSE
    "The phone's state at login."
    name: str = ""
    "Display name, for notifications."
    rostered_only: bool = False
    """A login made for the call-taker, not by them (the driver starting): it applies only if
    the roster has them on now. Otherwise the core keeps their phone's details and they stay
    logged out until they log in themselves."""
    by: str = ""
    """Who asked, when not the call-taker's own phone: the user of the admin API, the CLI or the
    wallboard (recorded as the change's ``by``). Empty for the call-taker's feature code."""


@dataclass(frozen=True, slots=True)
class AgentLoggedOut(Event):
    """A call-taker logged out; takes effect after their current call, if any."""

    agent_id: str
    "The call-taker."
    by: str = ""
    """Who asked, when not the call-taker's own phone: the user of the admin API, the CLI or the
    wallboard (recorded as the change's ``by``). Empty for the call-taker's feature code."""


@dataclass(frozen=True, slots=True)
class AgentPaused(Event):
    """A call-taker paused (break, briefing, ...); takes effect after their current call."""

    agent_id: str
    "The call-taker."
    reason: str = ""
    "Why, kept until they unpause."
    by: str = ""
    """Who asked, when not the call-taker's own phone: the user of the admin API, the CLI or the
    wallboard (recorded as the change's ``by``). Empty for the call-taker's feature code."""


@dataclass(frozen=True, slots=True)
class AgentUnpaused(Event):
    """A call-taker is ready again (also clears an auto-pause after missed calls)."""

    agent_id: str
    "The call-taker."
    by: str = ""
    """Who asked, when not the call-taker's own phone: the user of the admin API, the CLI or the
    wallboard (recorded as the change's ``by``). Empty for the call-taker's feature code."""


@dataclass(frozen=True, slots=True)
class AgentRequested(Event):
    """A call-taker (their feature code) or a user of the admin API asks to log them in or out,
    pause or unpause them. The core decides whether it is done and answers with an
    ``AgentRequestAnswered`` naming ``request_id``; when it is, the move follows as for
    ``AgentLoggedIn``, ``AgentLoggedOut``, ``AgentPaused`` or ``AgentUnpaused``."""

    agent_id: str
    "The call-taker."
    request: AgentRequest
    "What is asked."
    request_id: str = ""
    "The asker's own id for it, named again by the answer."
    endpoint: str = ""
    "A login: what to dial to ring them (also their display name)."
    reason: str = ""
    "A pause: why, kept until they unpause."
    by: str = ""
    """Who asked, when not the call-taker's own phone: the user of the admin API, the CLI or the
    wallboard (recorded as the change's ``by``). Empty for the call-taker's feature code."""


@dataclass(frozen=True, slots=True)
class CallTakerKeyPressed(Event):
    """A call-taker connected to a call pressed a key on their phone (DTMF): ``*``, ``#``,
    a digit. The core reads the sequences (``*<digit>``, ``#<digit>``, ``**<digit>``) and their
    timeout, and answers with ``CallAgency`` or ``SetDispositionByKey``."""

    call_id: str
    "The call they are connected to."
    agent_id: str
    "The call-taker."
    key: str
    "The key, one character."


@dataclass(frozen=True, slots=True)
class DeviceStateChanged(Event):
    """Asterisk reported a new state for a call-taker's phone."""

    agent_id: str
    "The call-taker who owns the device."
    state: DeviceState
    "The new device state."


# -- the waiting caller: silence, announcements, hang-ups ---------------------------------


@dataclass(frozen=True, slots=True)
class CallerSpoke(Event):
    """Talk detection heard the waiting caller (after ``StartListening``)."""

    call_id: str
    "The call whose caller spoke."


@dataclass(frozen=True, slots=True)
class CallerPressedKey(Event):
    """The caller pressed a key on their phone."""

    call_id: str
    "The call whose caller pressed a key."
    digit: str = ""
    "The key, for the record."


@dataclass(frozen=True, slots=True)
class ListeningFailed(Event):
    """Talk detection could not be turned on for the caller (after ``StartListening``).

    Their silence then means nothing: the core stops watching it, so a caller it cannot hear
    is never lowered as a ghost.
    """

    call_id: str
    "The call."


@dataclass(frozen=True, slots=True)
class AnnouncementFinished(Event):
    """The announcement of a ``PlayAnnouncement`` ended, or could not be played at all."""

    call_id: str
    "The call it was played to."


@dataclass(frozen=True, slots=True)
class HangUpFailed(Event):
    """A ``HangUpCaller`` could not be carried out and the caller is still there.

    Not sent when the caller had hung up already. For a blocked caller the core then hands the
    call to the fallback queue: no caller is ever left alone.
    """

    call_id: str
    "The call."
    reason: str = ""
    "Why, for the record."


# -- callbacks -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallbackRequested(Event):
    """CAD asked for a callback of a call (a connected call that dropped).

    A call the core still has gives its own caller and category; for an ended call the driver
    passes them from its records. A call with no number to dial makes no task.
    """

    call_id: str
    "The call to call back."
    caller: str = ""
    "Its caller, from the driver's records (empty when unknown)."
    category: str = ""
    "Its screening category from the driver's records."


@dataclass(frozen=True, slots=True)
class CallbacksRestored(Event):
    """Open callback tasks an earlier run stored; they keep their ids (send once, at start)."""

    tasks: tuple[CallbackTask, ...]
    "The stored open tasks."


@dataclass(frozen=True, slots=True)
class CallbackFailed(Event):
    """A callback attempt's outbound call ended without reaching the number.

    Busy, no answer, a trunk failure, or the call-taker hanging up while it rang: the attempt
    counts, and the task is retried later or given up.
    """

    call_id: str
    "The attempt (``PrepareCallback.call_id``)."
    outcome: AttemptOutcome
    "How it ended (not REACHED)."
    note: str = ""
    "The phone system's cause, for the record."


@dataclass(frozen=True, slots=True)
class ReadinessChanged(Event):
    """The driver became ready (or stopped being ready) to carry out the core's commands.

    Callback attempts are started only while ready: the core starts ready.
    """

    ready: bool
    "True once every connection the driver needs is up."


# -- the configuration -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigChanged(Event):
    """The centre's configuration was reloaded while the driver runs.

    It applies to decisions from now on; calls in progress keep what they had (a ring keeps its
    timeout, a waiting caller the max-wait deadline and silent-caller watch it started with, a
    call sent on its destinations, a conversation its wrap-up). Waiting callers are ranked by the
    new aging, and the new roster is followed at once, as at a change of shift. Callbacks cannot
    be turned on or off this way (their records need the driver): only their timing changes.
    """

    config: AcdConfig
    "The new configuration."
    removed_agents: frozenset[str] = frozenset()
    """Call-takers no longer configured: logged out at once when available or paused, else
    once their current call (ring, conversation, wrap-up) is over, as a roster's logout. A
    call-taker added is told by an ``AgentLoggedIn`` after this event (``rostered_only``, as
    at the driver's start)."""


@dataclass(frozen=True, slots=True)
class CallAssigned(Event):
    """A supervisor gives waiting ``call_id`` to call-taker ``agent_id`` (the wallboard)."""

    call_id: str
    "The waiting call."
    agent_id: str
    "The call-taker chosen."
    by: str = ""
    "The supervisor (the audit trail's name)."
    request_id: str = ""
    "The asker's id for it, named again by the answer."


@dataclass(frozen=True, slots=True)
class MonitorRequested(Event):
    """A supervisor asks to listen to, whisper to or barge into ``agent_id``'s conversation,
    on their own phone ``phone`` (a dial string)."""

    agent_id: str
    "The call-taker."
    mode: str
    "``listen``, ``whisper`` or ``barge`` (``callgate.core.supervision``)."
    phone: str
    "What to dial to ring the supervisor."
    by: str = ""
    "The supervisor (the audit trail's name)."
    request_id: str = ""
    "The asker's id for it, named again by the answer."
