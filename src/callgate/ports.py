"""The seams between callgate's parts: the types and interfaces more than one part needs.

Adapters (``asterisk``, ``events``, ``storage``, the admin HTTP port) and the daemon's services
meet here instead of importing each other: a type two of them share lives in this module, and so
does every interface one of them offers the others. It imports nothing but the standard library
and the pure core, so any part may import it (``pyproject.toml``'s import-linter contracts check
the direction).

- What the daemon learns that the core does not decide on (a connection, a recording, a call
  the core never had): a :data:`Record`, fed to the engine beside the core's events.
- What observers hear, in one ordered stream: :data:`Observed` (the core's notifications and
  the records), each observer one :data:`Observer` callable.
- The one way into the engine: an :class:`EventSink` (the engine's ``feed``); and the way out,
  a :class:`CommandExecutor` (the ARI adapter).
- The services the adapters call: a caller's screening history (:class:`HistorySource`),
  dispositions (:class:`DispositionSink`), blocks
  (:class:`BlockControl`), call-takers' own commands (:class:`AgentCommandResult`), whether a
  channel a FastAGI request names is real (:class:`ChannelCheck`), the MQTT outbox
  (:class:`OutboxStore`), and the journal's two errors every writer tells apart.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, Protocol

from callgate.core.commands import CallScreened, Command
from callgate.core.commands import Notification as CoreNotification
from callgate.core.events import Event
from callgate.core.screening import CallerHistory

# -- what the daemon learns about a call beside the core ----------------------------------
#
# Neutral records: facts the core does not decide on (a call's connection, its recording, a
# call it never had) enter through the engine's one feed beside the core's events and reach
# the observers in the same ordered stream as the core's notifications.


@dataclass(frozen=True, slots=True)
class CallStarted:
    """Record: a call the core did not screen, as the daemon first knows it (re-found after a
    restart, gone before the core had it, a callback's outbound leg), for the journal and CAD.
    A screened call's start is the core's ``CallScreened``."""

    call_id: str
    caller: str  # E.164 from the dialplan, or "anonymous"
    caller_sent: str  # the number as the carrier sent it
    dialed: str  # what the caller dialled (112, 0112...), or "callback"
    priority: int  # class after screening
    at: float
    category: str = ""  # screening category ("", anonymous, repeat-nuisance, blocked...)
    identity: str | None = None  # a SIM-less caller's IMEI-derived identity
    #: Re-found in Stasis after a restart: the journal records it if the process before never
    #: did (killed first); CAD's stream already had its ``received``, so it is not sent again.
    restored: bool = False


#: The outcome of a call found gone when callgate (re)connected to Asterisk, that nobody saw
#: end: callgate was killed (or cut off from ARI) while it ended. Its ``ended_at`` is when
#: callgate found it gone, an upper bound; its last journaled step is the lower one.
ENDED_UNSEEN: Final = "ENDED_UNSEEN"


@dataclass(frozen=True, slots=True)
class OpenCall:
    """A call the journal holds started but not ended."""

    call_id: str
    last_seen: datetime
    "The call's last journaled moment (its start, or its last step): it was alive then."
    recorded: bool = False
    "The journal has its recording (or its failure) already."


#: The journal's open calls (the composition root reads them; the ARI adapter ends those that
#: Asterisk no longer has).
OpenCalls = Callable[[], Awaitable[Sequence[OpenCall]]]


def start_of(note: CallScreened) -> CallStarted:
    """A screened call's start, as the observers record it: from the core's notification, which
    carries the caller's facts from ``CallArrived``."""
    return CallStarted(
        note.call_id,
        note.caller,
        note.caller_sent,
        note.dialed,
        note.priority,
        note.at,
        note.category,
        note.identity,
    )


@dataclass(frozen=True)
class RecordingInfo:
    """A finished call recording, as the journal keeps it."""

    call_id: str
    path: Path
    sha256: str
    size: int
    duration_s: float
    unsealed: str | None = None
    """Why the file is hashed but not sealed (others can still change it); None when sealed."""


@dataclass(frozen=True, slots=True)
class AgentConnected:
    """Record: a call-taker's leg is bridged with the caller."""

    call_id: str
    agent_id: str
    at: float


@dataclass(frozen=True, slots=True)
class AgencyConnected:
    """Record: an agency's leg joined the call (``hand_off``: the call-taker leaves)."""

    call_id: str
    agency: str
    hand_off: bool
    at: float


@dataclass(frozen=True, slots=True)
class SupervisorMonitoring:
    """Record: a supervisor's leg on a conversation (the core's ``MonitorCall``) ``joined``
    or ``left`` it, or ``failed``: the core allowed it but no phone rang (``reason``:
    ``not-connected``, the conversation gone meanwhile; ``phone-failed``, not rung)."""

    call_id: str
    agent_id: str
    by: str
    mode: str
    step: str
    at: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CallRecorded:
    """Record: a call's recording is finished and hashed."""

    info: RecordingInfo
    at: float


@dataclass(frozen=True, slots=True)
class RecordingFailed:
    """Record: a call has no usable recording, and why."""

    call_id: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class CallEndedOutsideCore:
    """Record: a call the core never had (or no longer has) ended, with its outcome.

    ``answered_by``/``answered_at``: an adopted conversation's call-taker and answer as
    Asterisk has them (the journal keeps the answer it recorded before, if it has one)."""

    call_id: str
    outcome: str
    at: float
    answered_by: str | None = None
    answered_at: float | None = None


Record = (
    CallStarted
    | AgentConnected
    | AgencyConnected
    | SupervisorMonitoring
    | CallRecorded
    | RecordingFailed
    | (CallEndedOutsideCore)
)
"""What the daemon reports beside the core's events, through the engine's feed."""

RECORDS = (
    CallStarted,
    AgentConnected,
    AgencyConnected,
    SupervisorMonitoring,
    CallRecorded,
    RecordingFailed,
    CallEndedOutsideCore,
)


def agent_id_of(endpoint: str) -> str:
    """The call-taker id for an endpoint: ``PJSIP/1001`` -> ``1001``."""
    return endpoint.partition("/")[2]


# -- the engine: events in, commands out, notifications to observers ----------------------

Notification = CoreNotification
"""What the core reports to observers (the journal, CAD's events, metrics, callbacks): the
core's own base class (``CallStateChanged``, ``CallEnded``, ``CallScreened``, ``CallBlocked``,
``CallbackTaskChanged``...); observers pick the kinds they need with ``isinstance``."""


Observed = Notification | Record
"""What an observer hears: the core's notifications and the daemon's records, in one order."""

Observer = Callable[[Observed], Awaitable[None]]
"""An observer of the engine (the journal, CAD's stream, metrics, the live screens): one call."""


class EventSink(Protocol):
    """The one way into the core: the engine's ``feed``. Every part that turns something from
    outside (ARI, AGI feature codes, the admin API, CAD) into core events is given one; records
    go the same way, to the observers."""

    async def __call__(self, *events: Event | Record) -> None:
        """Apply ``events`` in order; return once every command they caused is carried out."""
        ...


class CommandExecutor(Protocol):
    """Carries out the core's commands on the phone system (the ARI adapter)."""

    async def execute(self, command: Command) -> Sequence[Event]:
        """Do it; return the events it produced at once (may be empty)."""
        ...


# -- services the adapters use ------------------------------------------------------------


class AgentCommandResult(enum.StrEnum):
    """What the daemon made of a call-taker's own command; also the value of the channel
    variable ``CALLGATE_AGENT_RESULT`` after a feature code."""

    OK = "OK"
    """Done: the call-taker's state changed."""
    ALREADY = "ALREADY"
    """Nothing to do: already logged in / logged out / paused / available."""
    REFUSED = "REFUSED"
    """Not allowed now (unknown endpoint, pause while logged out, ...)."""


class ChannelCheck(Protocol):
    """Whether Asterisk has the channel a FastAGI request claims to come from (the ARI adapter,
    ``callgate.asterisk.ari.channel_check.AriChannelCheck``). The AGI adapter asks before a
    call-taker's state changes: FastAGI's header is whatever the peer wrote, ARI is Asterisk's
    own word."""

    async def channel_exists(self, channel_id: str, name: str) -> bool | None:
        """True when Asterisk has a channel with id ``channel_id`` (the request's
        ``agi_uniqueid``), named ``name`` (its ``agi_channel``), in the dialplan where the feature
        codes run (``[callgate-agents]``, ``agent-code``); False when it has none, one by another
        name, or one elsewhere in the dialplan; None when it could not be asked (ARI down, slow
        or failing). Answers in bounded time."""
        ...


class HistorySource(Protocol):
    """Where a new caller's screening history comes from
    (``callgate.daemon.caller_history.HistoryLoader``, over the journal): the ARI adapter puts it
    in ``CallArrived`` and the core screens with it. It answers in bounded time, with an empty
    history when it cannot say."""

    async def __call__(
        self, caller: str, now: float, identity: str | None = None
    ) -> CallerHistory: ...


class DispositionResultLike(Protocol):
    """What the disposition service answers (``callgate.daemon.dispositions.DispositionResult``)."""

    @property
    def ok(self) -> bool: ...
    @property
    def outcome(self) -> str: ...
    @property
    def call_id(self) -> str | None: ...


#: How an agency joins a call: the call-taker stays on (``three-way``) or leaves once the agency
#: answers (``hand-off``), as ``*<digit>`` and ``#<digit>`` on the phone.
HAND_OFF_MODES = ("three-way", "hand-off")


class HandOffs(Protocol):
    """Calls an agency into a call as the call-taker's keys do (the ARI adapter)."""

    async def hand_off(self, call_id: str, agency: str, mode: str) -> str:
        """``ok`` (the agency is being called), ``unknown-agency``, ``not-connected`` (no
        call-taker on the call in Asterisk) or ``failed`` (Asterisk refused to dial)."""
        ...

    def agencies(self) -> list[str]:
        """The agencies configured now (``[agencies]``), by name."""
        ...


class DispositionSink(Protocol):
    """Where a disposition goes (the daemon's disposition service), whoever sets it: a
    call-taker during a call (ARI), CAD (MQTT)."""

    def for_digit(self, digit: str) -> str | None: ...
    async def set(
        self, call_id: str, disposition: str, *, by: str, source: str
    ) -> DispositionResultLike: ...


class BlockLike(Protocol):
    """A caller's block as the services report it (``callgate.storage.blocks.Block``)."""

    @property
    def until(self) -> datetime: ...


class BlockResultLike(Protocol):
    """What the block service answers (``callgate.daemon.dispositions.BlockResult``)."""

    @property
    def ok(self) -> bool: ...
    @property
    def outcome(self) -> str: ...
    @property
    def key(self) -> str | None: ...
    @property
    def blocks(self) -> Sequence[BlockLike]: ...
    @property
    def detail(self) -> str: ...


class BlockControl(Protocol):
    """Supervisors' blocks (``callgate.daemon.dispositions.Blocks``), for CAD's ``block`` and
    ``unblock``."""

    async def block(
        self, number: str, *, hours: float, reason: str, by: str, source: str
    ) -> BlockResultLike: ...
    async def unblock(
        self, number: str, *, reason: str, by: str, source: str
    ) -> BlockResultLike: ...


#: Longest block a supervisor may place (30 days): every block is time-limited.
MAX_BLOCK_HOURS: Final = 720.0
#: Longest texts stored for who and why (the journal's column sizes); every way in checks them.
MAX_BY: Final = 64
MAX_REASON: Final = 500


# -- the journal, as its writers see it ---------------------------------------------------


class JournalError(Exception):
    """The journal cannot be opened or written; the message names the database (password
    hidden) and the cause."""


class JournalUnavailable(JournalError):
    """The database cannot be reached or cannot take the write now (stopped, refusing, timed out,
    connection lost, locked, disk full): the record is fine, and writing it again later may
    succeed. Writers keep such records and retry; see :mod:`callgate.backlog`."""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An event ready for the outbox (``id`` is given by the database)."""

    event_id: str
    stream: str
    seq: int
    topic: str
    payload: str
    retain: bool
    created_at: datetime
    id: int | None = None


class OutboxStore(Protocol):
    """Where CAD's events wait until the broker has them (``callgate.storage.outbox.Outbox``).
    Each method raises :class:`JournalError` (or :class:`JournalUnavailable`) when the database
    fails."""

    async def append(self, entries: Sequence[OutboxEntry]) -> None: ...
    async def unsent(self, limit: int = 200) -> list[OutboxEntry]: ...
    async def mark_sent(self, ids: Sequence[int], at: datetime) -> None: ...
    async def last_seqs(self, streams: Collection[str]) -> dict[str, int]: ...
    async def known(self, event_ids: Collection[str]) -> set[str]: ...
    async def prune(self, sent_before: datetime, limit: int = 1000) -> int: ...


# -- the admin port's browser sessions and wall-screen displays, kept in the journal -------


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A browser session as the journal keeps it: the SHA-256 of its id (hex), never the id.
    ``name`` is a user of ``[auth]``, or a display's name when ``display``; ``fingerprint``
    is the SHA-256 of what the user was when it started (role, call-taker, phone, secrets'
    hashes), so a restore can tell a user changed while the daemon was down."""

    digest: str
    name: str
    display: bool
    created: datetime
    last_seen: datetime
    fingerprint: str = ""


@dataclass(frozen=True, slots=True)
class DisplayInfo:
    """A wall screen's device token as listed (the token itself is never kept)."""

    name: str
    created: datetime
    created_by: str
    sessions: int
    last_seen: datetime | None


class SessionRecords(Protocol):
    """Where browser sessions outlive the daemon (``callgate.storage.browser_sessions``).
    Each method raises :class:`JournalError` when the database fails. ``find_session`` finds
    a display's session only while its display is there (not revoked); ``touch_session``
    writes a last sight, never adds a row: False when there is none (the session ended).
    Neither it nor ``save_session`` moves a row's last sight back: writes may land out of
    order, and the latest sight must win."""

    async def find_session(self, digest: str) -> StoredSession | None: ...
    async def save_session(self, session: StoredSession) -> None: ...
    async def touch_session(self, digest: str, last_seen: datetime) -> bool: ...
    async def drop_session(self, digest: str) -> None: ...
    async def drop_sessions(self, name: str, *, display: bool) -> int: ...
    async def prune_sessions(self, people_before: datetime, displays_before: datetime) -> int: ...


class DisplayRecords(Protocol):
    """The wall screens' device tokens, by the SHA-256 of the token (hex). ``revoke_display``
    forgets the token and every session it opened, in one transaction."""

    async def add_display(self, name: str, digest: str, by: str, at: datetime) -> bool: ...
    async def displays(self) -> list[DisplayInfo]: ...
    async def display_of(self, digest: str) -> str | None: ...
    async def revoke_display(self, name: str) -> bool: ...
