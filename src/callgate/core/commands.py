"""Commands: what the core asks its driver to do, plus notifications for the event stream.

Commands are imperative frozen dataclasses returned by ``Acd.handle``/``Acd.handle_timer``
in the order they must be carried out. Notifications (subclasses of :class:`Notification`:
``CallStateChanged``, ``AgentStateChanged``, ``CallEnded``, ``CallScreened``...) are another
type, not commands: they change nothing on the phone system and no driver acts on one; they
are the core's own record, from which logs, the journal, the CAD event stream and the KPIs
are built. Each carries what its observers need, so no observer has to read the core's live
state. What the driver must do after a decision it also reports (keep a new class with the
call, forget an ended call) is a command of its own (:class:`KeepClass`, :class:`ForgetCall`).
"""

from __future__ import annotations

from dataclasses import dataclass

from callgate.core.agents import AgentRequest, AgentState, DeviceState, RequestAnswer
from callgate.core.callbacks import CallbackTask
from callgate.core.calls import CallState


class Command:
    """Base class of commands: what the driver carries out."""

    __slots__ = ()


class Notification:
    """Base class of notifications: the core's record of what it decided, for observers (not
    a command: no driver acts on one)."""

    __slots__ = ()


Output = Command | Notification
"""What the core answers an event or a timer with, in order: commands and notifications."""


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
    """Hang up the caller's leg: the call-taker ended the conversation, or a blocked caller
    heard the announcement. Report ``HangUpFailed`` if the caller is still there after all."""

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
    """Dialstring or dialplan extension from ``AcdConfig.overflow_destinations`` (or, for a
    caller out of hours, ``out_of_hours_destinations``)."""
    attempt: int
    "Index into those destinations (0 is the first)."
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
class CallStateChanged(Notification):
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
    caller: str = ""
    "The call's caller number."
    category: str = ""
    "The call's screening category at the change (``callback`` for a callback attempt)."
    call_taker: str | None = None
    "The call-taker answering or connected (CONNECTING and later), else None."
    priority: int = 1
    "The call's priority class at the change (observers count waiting calls by class)."

    def __str__(self) -> str:
        return f"call {self.call_id}: {self.old.name} -[{self.cause}]-> {self.new.name}"


@dataclass(frozen=True, slots=True)
class AgentStateChanged(Notification):
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
    by: str = ""
    """Who asked for it: the ``by`` of the log-in, log-out, pause or unpause that made it (for a
    pause or log-out asked during a call, of that request, applied at its end); empty for the
    call-taker's own phone and for what the core did by itself."""
    call_id: str | None = None
    """The call the call-taker rings for, answers or talks on after the move (a projection's
    ringing set and a call-taker's current call), else None."""

    def __str__(self) -> str:
        return f"agent {self.agent_id}: {self.old.name} -[{self.cause}]-> {self.new.name}"


@dataclass(frozen=True, slots=True)
class AgentDetails(Notification):
    """Notification: what the core holds of a call-taker beside their state changed (their
    phone, a pause or log-out waiting for a call's end, their counts); sent once per event or
    timer, after the moves, for each call-taker it changed (observers keep their own view)."""

    agent_id: str
    "The call-taker."
    endpoint: str
    "Their phone's endpoint (empty until they log in)."
    device: DeviceState
    "Their phone's state."
    pending_pause: str | None
    "The reason of a pause asked for during a call, applied at its end, else None."
    pending_logout: bool
    "A log-out asked for during a call, applied at its end."
    calls_answered: int
    "Calls they answered since they were first seen."
    misses: int
    "Offers in a row they let ring out."
    at: float
    "The core's time of the change."


@dataclass(frozen=True, slots=True)
class RingMissed(Notification):
    """Notification: a call-taker let a call ring out, declined it, or answered and left before
    the bridge; it counts towards ``max_consecutive_no_answers``. Sent just before that
    call-taker's ``AgentStateChanged`` away from RINGING (or ON_CALL). A ring withdrawn for
    another reason (answered elsewhere, the caller gone, a pause, a logout, the phone
    unregistered) is no miss and sends none."""

    agent_id: str
    "The call-taker."
    call_id: str
    "The call that rang."
    cause: str
    "What ended the ring (``RingTimedOut``, ``AgentNoAnswer``, ``AgentHungUp``)."
    at: float
    "The core's time."


@dataclass(frozen=True, slots=True)
class CallEnded(Notification):
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


# -- a new call's class, blocked callers and silent callers ---------------------------------


@dataclass(frozen=True, slots=True)
class CallScreened(Notification):
    """Notification: a new call's start and class at arrival, before its first
    ``CallStateChanged``.

    Sent for every ``CallArrived`` that is not ``resumed``, screened or not (then it carries the
    class the event gave), with the caller's facts the event brought: observers record the
    call's start from it (the journal's row, CAD's ``received`` and ``screened``).
    """

    call_id: str
    "The call."
    caller: str
    "Caller number."
    priority: int
    "Its priority class."
    category: str
    "Its screening category (empty, ``anonymous``, ``repeat-nuisance``, ``blocked``...)."
    caller_name: str
    "What call-takers' phones show."
    tag: str
    "Screening's tag (``PRANK x3``, ``ANON``...), or empty."
    warn: bool
    "A repeat nuisance: the caller hears the warning before the greeting."
    blocked: bool
    "A blocked caller: ``PlayAnnouncement`` and a hang-up follow; the call never queues."
    valve: bool
    "A blocked caller put through by the safety valve."
    score: float
    "The caller's nuisance score at arrival (0 when not screened)."
    at: float
    "The core's time of arrival."
    caller_sent: str = ""
    "The number as the carrier sent it (``CallArrived.caller_sent``)."
    dialed: str = ""
    "What the caller dialled (``CallArrived.dialed``)."
    identity: str | None = None
    "A SIM-less caller's identity (``CallArrived.identity``)."


@dataclass(frozen=True, slots=True)
class KeepClass(Command):
    """Keep the call's priority class with it in the phone system (a restarted driver
    re-queues it in that class). Follows every ``CallScreened`` (``new``) and
    ``CallReclassified``."""

    call_id: str
    "The call."
    priority: int
    "Its class now."
    new: bool = False
    "A new call's first class (after ``CallScreened``)."
    warn: bool = False
    "A new repeat nuisance: the caller hears the warning before the greeting."
    blocked: bool = False
    "A new blocked caller: it never queues; an announcement and a hang-up follow."


@dataclass(frozen=True, slots=True)
class ForgetCall(Command):
    """The core has ended the call (``CallEnded`` came first): the driver lets go of what it
    keeps for the call; a leg still up is the driver's to finish."""

    call_id: str
    "The call."


@dataclass(frozen=True, slots=True)
class CallReclassified(Notification):
    """Notification: a call's class changed while it exists (after the silent-caller watch, or
    a ``CallReprioritised``). The driver keeps the new ``priority`` with the call."""

    call_id: str
    "The call."
    priority: int
    "Its new priority class."
    category: str
    "Its category now."
    caller_name: str
    "What call-takers' phones show from the next ring on."
    cause: str
    "What changed it (``CallerPressedKey``, ``KeyWindowEnded``, ``CallReprioritised``)."
    at: float
    "The core's time of the change."


@dataclass(frozen=True, slots=True)
class CallBlocked(Notification):
    """Notification: a blocked caller's call is over for the core (announced and hung up, or
    gone by itself). Its record ends with the outcome BLOCKED; it never reached the queue,
    so no ``CallEnded`` follows (it counts in no KPI)."""

    call_id: str
    "The call."
    caller: str
    "Caller number."
    at: float
    "The core's time."

    outcome = "BLOCKED"


@dataclass(frozen=True, slots=True)
class PlayAnnouncement(Command):
    """Play ``media`` to the caller, alone on their channel; report ``AnnouncementFinished``
    when it ends or cannot be played (the core stops waiting after a limit of its own)."""

    call_id: str
    "The call."
    media: str
    "What to play (for the phone system: an ARI media URI list)."


@dataclass(frozen=True, slots=True)
class StartListening(Command):
    """Turn on talk detection for the waiting caller: report ``CallerSpoke`` when they speak,
    or ``ListeningFailed`` if it cannot be turned on. Not on the way of the call's rings."""

    call_id: str
    "The call."


@dataclass(frozen=True, slots=True)
class StopListening(Command):
    """Turn talk detection off again: the watch is over."""

    call_id: str
    "The call."


@dataclass(frozen=True, slots=True)
class PlayPrompt(Command):
    """Interrupt what a waiting caller hears with ``media``; their waiting music resumes after.

    Never into a conversation: a call that is being connected meanwhile skips it."""

    call_id: str
    "The call."
    media: str
    "What to play (the silent-caller prompt: press a key if you cannot speak); empty: nothing."


# -- queue announcements ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnnounceQueue(Command):
    """Tell a waiting caller their place in the queue and/or the expected wait, in place of
    their waiting music, which resumes after (``announcements.py`` says when).

    Never in the way of a ring or a conversation: a call being connected meanwhile skips it, and
    a greeting or prompt still playing is not cut (the caller hears the next one). The core
    sends ``StopQueueAnnouncement`` when the call is offered."""

    call_id: str
    "The call."
    position: int | None
    "1 for the next call to be offered; None: not said."
    expected_wait: float | None
    "Seconds the caller may still wait; None: not said (or no call-taker on duty)."
    at: float
    "The core's time."


@dataclass(frozen=True, slots=True)
class StopQueueAnnouncement(Command):
    """The call is offered (sent right after its rings): stop its queue announcement if one
    still plays; its waiting music resumes until the call-taker answers."""

    call_id: str
    "The call."


# -- callbacks -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrepareCallback(Command):
    """A callback attempt starts: lay it out with no caller channel yet and record its start.

    The core queues the attempt as a call of its own right after (category ``callback``,
    ``caller`` the number) and rings a free call-taker for it; the number is dialled only on
    ``DialCallback``.
    """

    call_id: str
    "The attempt's call id (``cb-...-1.2``); also the outbound channel's id."
    number: str
    "The normalised number to call back."
    priority: int
    "Its priority class in the queue."


@dataclass(frozen=True, slots=True)
class DialCallback(Command):
    """The call-taker answered a callback attempt: keep them on the line (ringing tone) and
    dial ``number`` through the trunk. Report ``CallBridged`` when the number answers and is
    with the call-taker, ``CallbackFailed`` when it does not (or the call-taker leaves while it
    rings), ``AgentHungUp`` if the call-taker left before anything was dialled."""

    call_id: str
    "The attempt."
    agent_id: str
    "The call-taker who took it."
    number: str
    "The number to dial."


@dataclass(frozen=True, slots=True)
class CancelCallback(Command):
    """Forget a callback attempt the core withdrew (nobody took it, or the number got through
    by itself): hang up its outbound call if one was dialled."""

    call_id: str
    "The attempt."


@dataclass(frozen=True, slots=True)
class CallbackTaskChanged(Notification):
    """Notification: a callback task was made, joined, offered, restored, cancelled or ended.

    ``task`` is the snapshot to store (tasks are keyed by ``task.task_id``); ``restored`` ones
    are already stored."""

    task: CallbackTask
    "The task as it is now."
    change: str
    """``abandoned``, ``requested``, ``offered``, ``attempt-ended``, ``not-taken``,
    ``cancelled`` or ``restored``."""
    call_id: str
    "The call or attempt that changed it (empty for a restored task)."
    at: float
    "The core's time."
    outcome: str = ""
    "For ``attempt-ended``/``not-taken``: how the attempt ended (``busy``, ``abandoned``...)."


# -- the roster ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RosterChanged(Notification):
    """Notification: shifts began or ended; out of hours when none is on (callers then go to
    the out-of-hours destinations at once)."""

    staffed: bool
    "True while at least one shift is on."
    shifts: tuple[str, ...]
    "The shifts on now, by name."
    at: float
    "The core's time of the change."


@dataclass(frozen=True, slots=True)
class ShiftStaffing(Notification):
    """Notification: how many call-takers a shift on needs and has (sent on every change).

    A call-taker counts for a shift while logged in (paused too) with a reachable phone, if
    the shift names them or names nobody. ``short`` is the alarm: fewer than ``rostered`` after
    the roster's grace period."""

    shift: str
    "The shift's name."
    rostered: int
    "Call-takers it needs: its head count, or as many as it names."
    logged_in: int
    "Call-takers counting for it now."
    short: bool
    "Short-handed: ``logged_in < rostered`` and the grace period is over."
    on: bool
    "False in the last notification of a shift, when it ends."
    at: float
    "The core's time."


@dataclass(frozen=True, slots=True)
class AgentRequestAnswered(Notification):
    """The core's answer to an ``AgentRequested``, for the asker (the feature code's prompt,
    the admin API's reply); a move it made is reported by its ``AgentStateChanged``."""

    agent_id: str
    "The call-taker."
    request: AgentRequest
    "What was asked."
    answer: RequestAnswer
    "Done, already so, or refused."
    request_id: str = ""
    "The asker's id of the request."
    by: str = ""
    "Who asked (empty: the call-taker's own phone)."


@dataclass(frozen=True, slots=True)
class CallAgency(Command):
    """The call-taker keyed ``*<digit>`` (three-way: they stay on) or ``#<digit>`` (hand-off:
    they leave once the agency answers): call the agency on ``digit`` into ``call_id``."""

    call_id: str
    "The call."
    agent_id: str
    "The call-taker who keyed it."
    digit: str
    "The agency's digit (``[agencies]``)."
    hand_off: bool
    "A hand-off (``#``) rather than a three-way call (``*``)."


@dataclass(frozen=True, slots=True)
class SetDispositionByKey(Command):
    """The call-taker keyed ``**<digit>``: record the disposition on ``digit`` for ``call_id``,
    and tell them (only them) by a tone whether it was recorded."""

    call_id: str
    "The call."
    agent_id: str
    "The call-taker who keyed it."
    digit: str
    "The disposition's digit (``[dispositions] codes``)."
