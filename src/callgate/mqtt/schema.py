"""The CAD event stream's wire format: events callgate publishes, commands CAD sends back, and
the replies to those commands. Pydantic v2 models; ``docs/events/`` is generated from them
(``scripts/gen-event-docs``), so every field carries a docstring that ends up in the docs.

Rules every subscriber can rely on:

- ``schema_version`` changes only when a field is removed or its meaning changes; new optional
  fields and new event types may appear within a version, so ignore what you do not know.
- ``seq`` is per stream (a call, or a call-taker) and strictly increasing from 1, also across a
  daemon restart. Delivery is at least once: the same ``event_id`` may arrive twice; drop the
  second.
- ``at`` is UTC. Caller numbers are E.164 (``+62...``) or ``anonymous``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    field_serializer,
    field_validator,
)

#: Bumped only on incompatible changes (see the module docstring).
SCHEMA_VERSION: Literal[1] = 1

#: E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
E164 = r"^\+[1-9][0-9]{1,14}$"
CallerNumber = Annotated[str, Field(pattern=E164 + r"|^anonymous$")]

Disposition = Literal["genuine", "information", "prank", "ghost", "test", "wrong-number"]
"""How the call-taker or CAD classified a call (the categories the centres report on)."""

AgentStateName = Literal["LOGGED_OUT", "AVAILABLE", "RINGING", "ON_CALL", "WRAP_UP", "PAUSED"]
CallOutcome = Literal["COMPLETED", "ABANDONED", "OVERFLOWED", "FALLBACK"]

_WIRE = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class _Wire(BaseModel):
    model_config = _WIRE

    @field_validator("at", check_fields=False)
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_serializer("at", check_fields=False)
    def _iso(self, value: datetime) -> str:
        # Always "Z": one spelling of UTC is easier on subscribers than +00:00 and Z mixed.
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class EventBase(_Wire):
    """Fields every event carries."""

    schema_version: Literal[1] = SCHEMA_VERSION
    """Version of this schema; see the stream's rules for when it changes."""
    event_id: str = Field(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )
    """A random UUID (version 4), unique per event: de-duplicate on it (delivery is at least
    once)."""
    seq: int = Field(ge=1)
    """Position in its stream (one call, or one call-taker): strictly increasing from 1, with no
    reuse across daemon restarts. A gap means an event you have not seen yet, not a lost one:
    events are delivered in order per stream."""
    at: AwareDatetime
    """When it happened, UTC (ISO 8601 with ``Z``)."""
    site: str
    """The callgate site (centre) that produced the event."""


class CallEventBase(EventBase):
    """An event in one call's stream (topic ``.../calls/{call_id}/events``)."""

    call_id: str = Field(min_length=1)
    """callgate's id of the call (Asterisk's channel id of the caller's leg)."""


class CallReceived(CallEventBase):
    """A 112 call reached callgate."""

    type: Literal["received"] = "received"
    """Event type."""
    caller: CallerNumber
    """Caller number in E.164, or ``anonymous`` when withheld or not a number."""
    caller_sent: str
    """The caller number exactly as the carrier sent it (``0812...``, ``62812...``)."""
    dialed: str
    """The number the caller dialled (``112``)."""


class CallScreened(CallEventBase):
    """Screening decided the call's priority class (before it joins the queue)."""

    type: Literal["screened"] = "screened"
    """Event type."""
    priority: int
    """Priority class; a lower number is served first."""
    category: str
    """Screening category (empty while no screening rule classified it)."""


class CallQueued(CallEventBase):
    """The call is waiting for a call-taker."""

    type: Literal["queued"] = "queued"
    """Event type."""
    requeued: bool
    """True when the call was queued again (a ring went unanswered, a bridge failed)."""
    cause: str
    """What caused it, in the core's words (``CallArrived``, ``RingTimedOut``...)."""


class CallOffered(CallEventBase):
    """A call-taker's phone is ringing with this call."""

    type: Literal["offered"] = "offered"
    """Event type."""
    cause: str
    """What caused it, in the core's words."""


class CallAnswered(CallEventBase):
    """A call-taker is talking with the caller."""

    type: Literal["answered"] = "answered"
    """Event type."""
    agent_id: str | None
    """The call-taker who answered, when known."""


class CallTransferred(CallEventBase):
    """An agency (Damkar, Polres, ...) joined the call at the call-taker's request."""

    type: Literal["transferred"] = "transferred"
    """Event type."""
    destination: str
    """The agency's name from callgate's ``[agencies]`` config."""
    mode: Literal["three-way", "hand-off"]
    """three-way: the call-taker stays on; hand-off: the call-taker leaves once it answered."""


class CallAbandoned(CallEventBase):
    """The caller hung up before a call-taker or a destination took the call."""

    type: Literal["abandoned"] = "abandoned"
    """Event type."""
    cause: str
    """What caused it, in the core's words."""


class CallOverflowed(CallEventBase):
    """The call left callgate's queue for an overflow destination or the fallback queue."""

    type: Literal["overflowed"] = "overflowed"
    """Event type."""
    fallback: bool
    """True when it went to the dialplan's fallback queue (the last resort)."""
    cause: str
    """What caused it, in the core's words."""


class CallEndedEvent(CallEventBase):
    """The call is over for callgate; the last event of a call except later annotations
    (recording, disposition, incident, callback)."""

    type: Literal["ended"] = "ended"
    """Event type."""
    outcome: CallOutcome | str
    """COMPLETED, ABANDONED, OVERFLOWED or FALLBACK (other values for calls adopted after a
    restart)."""
    agent_id: str | None = None
    """The call-taker who talked with the caller, if any."""
    destination: str | None = None
    """The overflow destination that took the call, if any."""
    answered_at: AwareDatetime | None = None
    """When a call-taker answered, UTC, if one did."""
    wait_s: float | None = None
    """Seconds from arrival to answer, if answered."""


class RecordingReady(CallEventBase):
    """The call's recording is on disk and checked."""

    type: Literal["recording-ready"] = "recording-ready"
    """Event type."""
    path: str
    """Path of the recording file on the callgate host."""
    url: str = Field(examples=["/api/calls/1733551200.42/recording"])
    """Where the admin API serves the recording (audio/wav, range requests), relative to the
    centre's admin URL (its TLS reverse proxy): fetch it with ``Authorization: Bearer`` and a
    CAD client's token (``[[auth.users]]`` role ``cad`` with ``token_hash``). The file is hashed
    again before it is served: one that no longer matches ``sha256`` is answered 409."""
    sha256: str
    """SHA-256 of the file, hex."""
    size_bytes: int
    """File size."""
    duration_s: float | None
    """Length of the audio in seconds, when known."""


class RecordingFailed(CallEventBase):
    """The call's recording could not be made or checked."""

    type: Literal["recording-failed"] = "recording-failed"
    """Event type."""
    reason: str
    """Why, in words."""


class DispositionSet(CallEventBase):
    """The call was classified (by CAD or a call-taker)."""

    type: Literal["disposition-set"] = "disposition-set"
    """Event type."""
    disposition: Disposition
    """The classification."""
    by: str
    """Who set it (a CAD operator or call-taker id)."""


class CallbackRequested(CallEventBase):
    """Someone asked for the caller to be called back."""

    type: Literal["callback-requested"] = "callback-requested"
    """Event type."""
    by: str
    """Who asked."""


class IncidentAttached(CallEventBase):
    """CAD linked the call to one of its incidents."""

    type: Literal["incident-attached"] = "incident-attached"
    """Event type."""
    incident_id: str
    """CAD's incident id."""


class AgentStateEvent(EventBase):
    """A call-taker's state (retained on ``.../agents/{agent_id}/state``: the latest is always
    there for a new subscriber)."""

    type: Literal["agent-state"] = "agent-state"
    """Event type."""
    agent_id: str = Field(min_length=1)
    """The call-taker (their extension)."""
    state: AgentStateName
    """The new state."""
    previous: AgentStateName
    """The state before."""
    reason: str | None = None
    """Pause reason when the state is PAUSED."""
    cause: str
    """What caused the change, in the core's words."""


class ShiftStaffingEvent(EventBase):
    """A shift's staffing (retained on ``.../shifts/{shift}/staffing``; one stream per shift):
    sent when a shift of the ``[roster]`` that needs call-takers begins, on every change of its
    figures, and when it ends. ``short_handed`` is the alarm."""

    type: Literal["shift-staffing"] = "shift-staffing"
    """Event type."""
    shift: str = Field(min_length=1)
    """The shift's name from ``[roster]`` (``pagi``, ``siang``, ``malam``...)."""
    rostered: int = Field(ge=0)
    """Call-takers it needs logged in: its head count, or as many as it names."""
    logged_in: int = Field(ge=0)
    """Call-takers counting for it now: logged in (paused too) with a registered phone."""
    short_handed: bool
    """Fewer logged in than rostered once the roster's grace period (``alarm_grace``) is over:
    the supervisor should act."""
    on: bool
    """False in the shift's last event, when it ends (figures as they were then)."""


CallEvent = Annotated[
    CallReceived
    | CallScreened
    | CallQueued
    | CallOffered
    | CallAnswered
    | CallTransferred
    | CallAbandoned
    | CallOverflowed
    | CallEndedEvent
    | RecordingReady
    | RecordingFailed
    | DispositionSet
    | CallbackRequested
    | IncidentAttached,
    Field(discriminator="type"),
]
Event = Annotated[CallEvent | AgentStateEvent | ShiftStaffingEvent, Field(discriminator="type")]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


class QueueState(_Wire):
    """The queue right now (retained on ``.../queue/state``; not part of any stream, so no seq)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    """Version of this schema."""
    site: str
    """The callgate site."""
    at: AwareDatetime
    """When the snapshot was taken, UTC."""
    waiting: int = Field(ge=0)
    """Calls waiting for a call-taker."""
    waiting_by_class: dict[str, int]
    """Waiting calls per priority class (the class as a string key)."""
    longest_wait_s: float = Field(ge=0)
    """How long the longest-waiting call has waited, seconds (0 with nobody waiting)."""
    agents_by_state: dict[str, int]
    """Call-takers per state (AVAILABLE, ON_CALL, PAUSED...)."""


class Status(_Wire):
    """callgate's presence (retained on ``.../status``; the broker publishes ``offline`` as
    callgate's last will when the connection dies)."""

    status: Literal["online", "offline"]
    """``online`` while callgate is connected."""
    site: str
    """The callgate site."""
    at: AwareDatetime | None = None
    """When callgate came online or went offline cleanly (absent in the last will)."""


# -- commands from CAD ------------------------------------------------------------------


class _Command(_Wire):
    call_id: str = Field(min_length=1, max_length=128)
    """The call (``call_id`` from its events)."""


class SetDisposition(_Command):
    """Classify a call."""

    command: Literal["set-disposition"]
    """Command name."""
    disposition: Disposition
    """The classification (recorded as set by the CAD client, the command topic's
    ``<client>``)."""


class RequestCallback(_Command):
    """Ask for the caller to be called back."""

    command: Literal["request-callback"]
    """Command name."""


class AttachIncident(_Command):
    """Link the call to a CAD incident."""

    command: Literal["attach-incident"]
    """Command name."""
    incident_id: str = Field(min_length=1, max_length=128)
    """CAD's incident id."""


class BlockCaller(_Wire):
    """Block a caller for some hours (only when the centre enabled blocking): their calls hear
    an announcement and are hung up, unless the safety valve puts them through. Kept in the
    audit trail with ``by`` and ``reason``."""

    command: Literal["block"]
    """Command name."""
    number: str = Field(min_length=1, max_length=96)
    """The caller number in any spelling (``+62812...``, ``0812...``) or ``imei:<identity>``."""
    hours: float = Field(gt=0, le=720)
    """How long the block lasts (at most 30 days)."""
    reason: str = Field(min_length=1, max_length=500)
    """Why, for the audit trail (which names the CAD client as who blocked)."""


class UnblockCaller(_Wire):
    """Lift every block in force on a caller; kept in the audit trail with ``by`` and
    ``reason``."""

    command: Literal["unblock"]
    """Command name."""
    number: str = Field(min_length=1, max_length=96)
    """The caller number in any spelling (``+62812...``, ``0812...``) or ``imei:<identity>``."""
    reason: str = Field(min_length=1, max_length=500)
    """Why, for the audit trail (which names the CAD client as who unblocked)."""


Command = Annotated[
    SetDisposition | RequestCallback | AttachIncident | BlockCaller | UnblockCaller,
    Field(discriminator="command"),
]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)

ErrorCode = Literal[
    "bad-json",
    "invalid-command",
    "unknown-call",
    "invalid-number",
    "not-blocked",
    "blocking-disabled",
    "internal-error",
    "busy",
    "forbidden",
]


class Reply(_Wire):
    """callgate's answer to one command, on ``.../replies/{request_id}``."""

    request_id: str
    """The request id from the command's topic (``.../commands/<client>/<request id>``)."""
    ok: bool
    """True when the command was applied."""
    error: ErrorCode | None = None
    """Why not, when ``ok`` is false."""
    detail: str | None = None
    """The error in words (which field, which call)."""
    at: AwareDatetime
    """When callgate answered, UTC."""
