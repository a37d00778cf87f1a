"""What the journal's readers return: plain frozen dataclasses, detached from the database.

Every time is a tz-aware UTC datetime.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class RecordingStatus(enum.StrEnum):
    """The fate of a call's recording file."""

    READY = "READY"
    """The file is finished, hashed and in place; a ``reason`` says what is wrong with it (e.g.
    not sealed: others may still change it)."""
    FAILED = "FAILED"
    "No usable file exists (Asterisk failed, disk full...); ``reason`` says why."
    DELETED = "DELETED"
    "The file was removed by the retention policy; its hash and size remain as evidence."


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change of a call."""

    at: datetime
    "When the change happened."
    from_state: str | None
    "The state left (None for the first state)."
    to_state: str
    "The state entered."
    trigger: str
    "Why the call moved (the core's trigger name)."


#: The role prefix of a supervisor's step on a call (``agent_id``: the supervisor): ``assign:<the
#: call-taker chosen>``, ``listen|whisper|barge`` (allowed: their phone rings), and
#: ``<mode>:joined|left`` (:mod:`callgate.daemon.journaling`, :mod:`callgate.daemon.timeline`).
SUPERVISOR_ROLE = "supervisor:"


@dataclass(frozen=True, slots=True)
class AgentInvolvement:
    """A call-taker, agency or supervisor that took part in a call."""

    agent_id: str
    "The call-taker's (or agency's, or supervisor's) id."
    role: str
    "How they took part, e.g. ``call-taker``, ``agency`` or ``supervisor:listen:joined``."
    at: datetime
    "When they were first involved in that role."


@dataclass(frozen=True, slots=True)
class RecordingRecord:
    """A call's recording as the journal knows it."""

    call_id: str
    "The call recorded."
    status: RecordingStatus
    "Ready, failed or deleted by retention."
    at: datetime
    "When the file was finished (or the recording failed)."
    path: str | None
    "Where the file is (or was); None when the recording failed."
    sha256: str | None
    "Hex SHA-256 of the file as finished, kept after deletion as evidence."
    size_bytes: int | None
    "File size in bytes."
    duration_s: float | None
    "Length of the recording in seconds."
    reason: str | None
    "Why the recording failed, or (READY) why its file is not sealed; None when all is well."
    deleted_at: datetime | None
    "When retention deleted the file."


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call's history: who called, how it moved, who handled it, how it ended."""

    call_id: str
    "Unique id for the call's whole life."
    caller: str
    "Caller number as the daemon uses it (may be empty for SIM-less calls)."
    caller_sent: str
    "Caller number exactly as the carrier sent it, before any normalisation."
    dialed: str
    "The number dialled (112, 110...)."
    priority: int
    "Priority class at arrival (lower is served first)."
    category: str
    "Screening category."
    started_at: datetime
    "When the daemon learned of the call."
    state: str | None
    "The latest state reported (None before the first transition)."
    ended_at: datetime | None
    "When the call ended; None while it is open."
    outcome: str | None
    "Terminal state (COMPLETED, ABANDONED, OVERFLOWED, FALLBACK); None while open."
    answered_at: datetime | None
    "When the call-taker who talked with the caller answered."
    answered_by: str | None
    "The call-taker who talked with the caller."
    destination: str | None
    "The overflow destination that took the call, if any."
    transitions: tuple[Transition, ...]
    "Every state change, oldest first."
    agents: tuple[AgentInvolvement, ...]
    "Call-takers and agencies involved, in order of involvement."
    recording: RecordingRecord | None
    "The recording, if one was finished or failed."

    @property
    def is_open(self) -> bool:
        """True while the call has started but not ended."""
        return self.ended_at is None
