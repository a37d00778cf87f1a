"""The abandoned-call callback worklist (RFC 7090 describes PSAP callback).

Rules of this module, read these first:

- A caller who hangs up before a call-taker answers, or whose connected call drops, gets one
  callback task. Tasks are keyed by the normalised caller number: more abandons from the
  same number join its open task (the call ids are kept), they never make a second task.
- A call from that number answered by a call-taker cancels its open task at once: the
  caller got through, nobody needs to ring them back.
- Anonymous, withheld and SIM-less callers get no task: there is no number to dial (an
  IMEI-derived identity can key a history but cannot be called).
- A caller screened as a repeat nuisance still gets a task (a prankster's abandoned call can
  be a real emergency), but flagged ``nuisance``: such tasks come after the others and are
  offered in the normal class, not above waiting 112 calls. The latest call's flag wins.
- Callbacks are work for call-takers at :attr:`~callgate.core.calls.Priority.CALLBACK`:
  the worklist's (``worklist.py``) ``offer`` returns the ``CallArrived`` that puts the task in
  the ACD's queue. When a call-taker answers that offer, the daemon originates the outbound call to
  ``task.number`` through the trunk and bridges it, then reports the attempt's outcome.
- Pure: every entry point takes ``now``; nothing reads a clock. Methods return immutable
  :class:`CallbackTask` snapshots; the worklist's ``drain_closed`` hands closed tasks (the
  recorded outcomes) to the daemon for storage.
- Ids are safe as ARI channel ids and MQTT topic levels: a task is ``<prefix><n>`` and its
  attempts ``<task id>.<attempt>`` (``cb-1.1``); no ``/``. Task ids are the journal's primary
  key, so they must stay unique across restarts: the daemon gives each run its own
  ``id_prefix`` (from its start time) and the worklist's ``restore`` reloads the open tasks of
  earlier runs, which keep their ids.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from callgate.core.errors import AcdConfigError

#: Category of the ACD pseudo-calls that carry callback work.
CALLBACK_CATEGORY = "callback"


@dataclass(frozen=True, slots=True)
class CallbackPolicy:
    """How the core runs the worklist (``AcdConfig.callbacks``; None: no callbacks)."""

    max_attempts: int = 3
    "Failed attempts after which a task is given up."
    retry_delay: float = 120.0
    "Seconds from a failed or untaken attempt to the next."
    first_delay: float = 0.0
    "Seconds from a new task to its first attempt: callers often ring back themselves."
    max_concurrent: int = 1
    "Attempts in progress at once, at most."
    id_prefix: str = "cb-"
    "Task id prefix; the daemon gives each run its own (ids are the journal's keys)."

    def __post_init__(self) -> None:
        if self.max_concurrent < 1:
            raise AcdConfigError("callback max_concurrent must be at least 1")
        check_rules(self.max_attempts, self.retry_delay, self.first_delay, self.id_prefix)


class CallbackReason(enum.Enum):
    """Why a task exists (the first reason is kept when abandons are merged)."""

    ABANDONED = "abandoned"
    DROPPED = "dropped"


class TaskState(enum.Enum):
    """Where a callback task is; REACHED, CANCELLED and GAVE_UP are final."""

    OPEN = "OPEN"
    DIALLING = "DIALLING"
    REACHED = "REACHED"
    CANCELLED = "CANCELLED"
    GAVE_UP = "GAVE_UP"


class AttemptOutcome(enum.Enum):
    """How one callback attempt ended."""

    REACHED = "reached"
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One finished callback attempt."""

    call_id: str
    "The ACD pseudo-call id of the attempt."
    started_at: float
    "When it was offered to call-takers."
    ended_at: float
    "When its outcome was reported."
    outcome: AttemptOutcome
    "How it ended."
    agent_id: str
    "The call-taker who made it ( if nobody took it)."
    note: str
    "Free text for the record."


@dataclass(frozen=True, slots=True)
class CallbackTask:
    """One number to call back; a snapshot (the worklist replaces it on every change)."""

    task_id: str
    "Stable id (``cb-1``...)."
    number: str
    "The normalised number to dial through the trunk."
    reason: CallbackReason
    "Why the first call led to a task."
    call_ids: tuple[str, ...]
    "The abandoned or dropped calls behind it, oldest first."
    created_at: float
    "When the first call was abandoned or dropped."
    state: TaskState = TaskState.OPEN
    "Where the task is."
    next_attempt_at: float = 0.0
    "When the task may next be offered."
    attempt_call_id: str | None = None
    "The attempt in progress (DIALLING), or on a cancelled task the attempt to withdraw."
    attempt_started_at: float | None = None
    "When the attempt in progress was offered."
    attempts: tuple[AttemptRecord, ...] = ()
    "Finished attempts, oldest first."
    closed_at: float | None = None
    "When the task reached a final state."
    nuisance: bool = False
    "The latest call behind it was screened as a repeat nuisance: offered last, normal class."


def attempt_call_id(task_id: str, attempt: int) -> str:
    """The ACD call id of a task's ``attempt``-th attempt (``cb-1.2``): also the outbound
    channel's id and an MQTT topic level, hence no ``/``."""
    return f"{task_id}.{attempt}"


def task_id_of(call_id: str) -> str:
    """The task an attempt's call id belongs to (``cb-1.2`` -> ``cb-1``)."""
    return call_id.rpartition(".")[0]


def check_rules(max_attempts: int, retry_delay: float, first_delay: float, id_prefix: str) -> None:
    """Refuse rules a worklist cannot run by, naming the setting."""
    if max_attempts < 1:
        raise AcdConfigError("callback max_attempts must be at least 1")
    if retry_delay < 0:
        raise AcdConfigError("callback retry_delay must not be negative")
    if first_delay < 0:
        raise AcdConfigError("callback first_delay must not be negative")
    if not id_prefix or any(c in id_prefix for c in "/+#. "):
        # Ids become channel ids and MQTT topic levels; "." separates the attempt number.
        raise AcdConfigError(f"callback id_prefix {id_prefix!r} is empty or unsafe")
