"""The live feed: the core's notifications as JSON messages for the wallboard and the screens.

An observer of the engine like the journal and the CAD stream: each notification that changes
a call or a call-taker becomes one message with the call's or call-taker's row as it is now,
handed to ``publish`` (the admin port's streams, :mod:`callgate.http.streams`, which filter them by
role and send them as Server-Sent Events). A client that connects gets :meth:`LiveFeed.snapshot`
first, then these messages.

Messages (``type``):

- ``snapshot``: ``calls`` (in the ACD now, longest-waiting first), ``agents``, ``today``,
  ``shifts``, ``staffed``, ``at``;
- ``call``: one call's row; ``call-ended``: ``call_id``, ``outcome``;
- ``agent``: one call-taker's row; ``today``: the day's figures (and ``shift``: this shift's)
  after a call ended (in the core, outside it, or in the fallback queue), once the journal's
  were read at start, and at each day end and shift boundary (the daemon's timer);
- ``shifts``: ``shifts`` (each shift on that needs call-takers: ``shift``, ``rostered``,
  ``logged_in``, ``short_handed``) and ``staffed`` (False out of hours), whenever the roster's
  figures change (supervisors only);
- ``alarms``: ``alarms``, what the wallboard shows beside ``/readyz``: ``fallback`` (callers in
  the dialplan's fallback queue as the daemon's watch last read them: ``callers``,
  ``longest_wait_s``, ``since``; None when empty) and ``recordings`` (today's failed
  recordings: ``failed``, ``last_at``, ``last_reason``), on every change (supervisors only);
- ``recording``: ``call_id``, ``agent_id`` (who answered it), ``state`` (``ready``,
  ``unsealed``: hashed but not sealed, or ``failed``), ``detail``, ``at``: a call's recording
  once it is stored (after the call ended), for supervisors and the call's own call-taker.

What the rows add to the admin API's (:mod:`callgate.daemon.view`): a call's tags (screening
tag, ``silent``, ``key``, ``callback`` when the caller has an open callback task), its nuisance
score at arrival and its queue position; a call-taker's ``since`` (their last change of state
this daemon saw), its display ``name`` (``[calltakers] names``) and whether its phone is
``registered`` (AMI; False until AMI says it is, None for a phone it does not follow). Today's
and this shift's figures are the journal's (:mod:`callgate.daemon.board_figures`): read at
start, each ended call folded in (those the core ends, those ending outside it, the fallback
queue's as its reader journals them), in the centre's day; a restart changes nothing. The
snapshot's ``wallboard`` is the page's marks and sound (``[wallboard]``).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from callgate.core.agents import AgentState
from callgate.core.callbacks import TaskState
from callgate.core.calls import TERMINAL_CALL_STATES
from callgate.core.commands import (
    AgentDetails,
    AgentStateChanged,
    CallbackTaskChanged,
    CallEnded,
    CallReclassified,
    CallScreened,
    CallStateChanged,
    RosterChanged,
    ShiftStaffing,
)
from callgate.core.screening import history_key
from callgate.daemon.board_figures import BoardFigures, EndedCall
from callgate.daemon.view import LiveDaemonView, live_row, shift_rows
from callgate.ports import (
    AgentConnected,
    CallEndedOutsideCore,
    CallRecorded,
    CallStarted,
    JournalError,
    Observed,
    RecordingFailed,
    RecordingInfo,
)
from callgate.storage.history import dispositions_of

JsonDict = dict[str, Any]
#: How far back a call-taker's screen shows the caller's earlier calls, and how long it waits.
HISTORY_DAYS = 90
HISTORY_TIMEOUT = 2.0
#: NENA-STA-020.1's answer-time marks (seconds): the figures' default ([wallboard]).
MARKS = (15, 20)
_OPEN_TASKS = frozenset({TaskState.OPEN, TaskState.DIALLING})
#: Ended calls whose call-taker the feed remembers, for their recording's message.
ENDED_KEPT = 512


@dataclass
class _CallNotes:
    """What the notifications said about a live call that the projection's row does not hold."""

    tags: list[str] = field(default_factory=list)
    score: float = 0.0


@dataclass
class RecordingFailures:
    """Today's failed recordings (a recording is the call's evidence: each one is an alarm)."""

    day: str
    failed: int = 0
    last_at: float | None = None
    last_reason: str | None = None

    def to_json(self) -> JsonDict:
        return {"failed": self.failed, "last_at": self.last_at, "last_reason": self.last_reason}


class LiveFeed:
    """Turns the engine's notifications and records (recordings) into live messages (see the
    module's docstring), and is told the fallback queue's callers by the daemon's watch
    (:meth:`fallback_waiting`)."""

    def __init__(
        self,
        view: LiveDaemonView,
        publish: Callable[[JsonDict], None],
        *,
        clock: Callable[[], float] = time.time,
        local_day: Callable[[float], str] | None = None,
        figures: BoardFigures | None = None,
        wallboard: Callable[[], JsonDict] = dict,
        names: Callable[[], Mapping[str, str]] = dict,
        registered: Callable[[str], bool | None] = lambda _endpoint: None,
    ) -> None:
        self.view = view
        self.publish = publish
        self.clock = clock
        #: Today's and this shift's figures (the centre's zone; default WIB, no roster).
        self.figures = figures or BoardFigures(
            ZoneInfo("Asia/Jakarta"), lambda: None, lambda: MARKS
        )
        zone = self.figures.zone
        self.local_day = local_day or (lambda t: datetime.fromtimestamp(t, zone).date().isoformat())
        #: The page's marks and sound ([wallboard]); call-takers' names; phones registered.
        self.wallboard = wallboard
        self.names = names
        self.registered = registered
        self._calls: dict[str, _CallNotes] = {}
        self._since: dict[str, float] = {}
        #: Open callback tasks by number (a waiting caller with one is tagged ``callback``).
        self._tasks: dict[str, str] = {}
        now = clock()
        self.figures.started(now)
        self._fallback: JsonDict | None = None
        #: Who answered each recently ended call (its recording is stored after the end).
        self._answered_by: OrderedDict[str, str | None] = OrderedDict()
        self._recordings = RecordingFailures(self.local_day(now))

    # -- what a client gets on connecting -------------------------------------------------

    def snapshot(self) -> JsonDict:
        now = self.clock()
        calls = sorted(self.view.projection.calls.values(), key=lambda c: c.arrived_at)
        return {
            "type": "snapshot",
            "at": now,
            "calls": [self._call_row(c.call_id, now) for c in calls],
            "agents": [self._agent_row(a) for a in self.view.agents()],
            "today": self.figures.to_json(now, len(self._tasks)),
            "wallboard": self.wallboard(),
            **self._shifts(),
            "alarms": self._alarms(),
        }

    def call(self, call_id: str) -> JsonDict | None:
        """The live row of ``call_id`` (None when it is not in the ACD)."""
        if call_id not in self.view.projection.calls:
            return None
        return self._call_row(call_id, self.clock())

    async def my_call(self, agent_id: str) -> JsonDict:
        """``{"call": row or None, "history": [...], "callback_open": bool}``: the call ringing
        or connected on call-taker ``agent_id``'s phone and its caller's earlier calls with
        their dispositions (newest first; empty without a journal or when it does not answer
        in time: the screen must not wait on it)."""
        seen = self.view.projection
        mine = [
            c
            for c in seen.calls.values()
            if c.agent_id == agent_id or agent_id in seen.ringing(c.call_id)
        ]
        if not mine:
            return {"call": None, "history": [], "callback_open": False}
        call = max(mine, key=lambda c: c.arrived_at)
        key = history_key(call.caller, None)
        history: list[JsonDict] = []
        journal = self.view.journal
        if key is not None and journal is not None:
            since = datetime.fromtimestamp(self.clock() - HISTORY_DAYS * 86400.0, UTC)
            try:
                past = await asyncio.wait_for(
                    dispositions_of(journal, key, since, exclude_call_id=call.call_id),
                    HISTORY_TIMEOUT,
                )
            except (TimeoutError, JournalError):
                past = []
            history = [
                {"call_id": p.call_id, "disposition": p.disposition, "at": p.at.timestamp()}
                for p in sorted(past, key=lambda p: p.at, reverse=True)
            ]
        return {
            "call": self._call_row(call.call_id, self.clock()),
            "history": history,
            "callback_open": call.caller in self._tasks,
        }

    # -- alarms -----------------------------------------------------------------------------

    def fallback_waiting(self, callers: int, longest_wait_s: float | None = None) -> None:
        """The fallback queue holds ``callers`` now (the daemon's watch, from AMI)."""
        was = self._fallback
        if callers <= 0:
            self._fallback = None
        else:
            since = self.clock() if was is None else was["since"]
            self._fallback = {"callers": callers, "longest_wait_s": longest_wait_s, "since": since}
        if self._fallback != was:
            self._publish_alarms()

    def _recording_failed(self, call_id: str, reason: str, at: float) -> None:
        day = self.local_day(at)
        if day != self._recordings.day:
            self._recordings = RecordingFailures(day)
        self._recordings.failed += 1
        self._recordings.last_at, self._recordings.last_reason = at, reason
        self._publish_alarms()
        self._publish_recording(call_id, "failed", reason, at)

    def _recording(self, info: RecordingInfo, at: float) -> None:
        state = "ready" if info.unsealed is None else "unsealed"
        self._publish_recording(info.call_id, state, info.unsealed, at)

    def _publish_recording(self, call_id: str, state: str, detail: str | None, at: float) -> None:
        live = self.view.projection.calls.get(call_id)
        agent_id = live.agent_id if live is not None else self._answered_by.get(call_id)
        self.publish(
            {
                "type": "recording",
                "call_id": call_id,
                "agent_id": agent_id,
                "state": state,
                "detail": detail,
                "at": at,
            }
        )

    def _alarms(self) -> JsonDict:
        if self.local_day(self.clock()) != self._recordings.day:
            self._recordings = RecordingFailures(self.local_day(self.clock()))
        return {"fallback": self._fallback, "recordings": self._recordings.to_json()}

    def _publish_alarms(self) -> None:
        self.publish({"type": "alarms", "alarms": self._alarms()})

    # -- the engine's observer --------------------------------------------------------------

    async def notification(self, note: Observed) -> None:
        if isinstance(note, CallRecorded):
            self._recording(note.info, note.at)
        elif isinstance(note, RecordingFailed):
            self._recording_failed(note.call_id, note.reason, note.at)
        elif isinstance(note, CallScreened):
            notes = self._calls.setdefault(note.call_id, _CallNotes())
            notes.score = round(note.score, 2)
            if note.tag and note.tag not in notes.tags:
                notes.tags.append(note.tag)
            self._publish_call(note.call_id)
        elif isinstance(note, CallReclassified):
            # A key pressed after the silent-caller prompt, or silence to the end: a ghost.
            tag = None if note.cause == "CallReprioritised" else "silent"
            if note.cause == "CallerPressedKey":
                tag = "key"
            notes = self._calls.setdefault(note.call_id, _CallNotes())
            if tag is not None and tag not in notes.tags:
                notes.tags.append(tag)
            self._publish_call(note.call_id)
        elif isinstance(note, CallStateChanged):
            if note.new.name not in _ENDED:
                self._publish_call(note.call_id)
        elif isinstance(note, CallEnded):
            self._ended(note)
        elif isinstance(note, CallStarted):
            # Not the core's (yet): if it ends outside the core, its start is what counts.
            self.figures.opened(note.call_id, note.at, note.category)
        elif isinstance(note, AgentConnected):
            self.figures.answered(note.call_id, note.at)
        elif isinstance(note, CallEndedOutsideCore):
            # An adopted call, or a caller gone before the core had it: the journal ends its
            # row, so the figures count it now as a restart would.
            self.figures.ended_outside(note.call_id, note.outcome)
            self.publish_today()
        elif isinstance(note, AgentStateChanged | AgentDetails):
            if isinstance(note, AgentStateChanged):
                self._since[note.agent_id] = note.at
            # AgentDetails (phone, pending requests, counts) follows the moves of the event.
            for row in self.view.agents():
                if row["agent_id"] == note.agent_id:
                    self.publish({"type": "agent", "agent": self._agent_row(row)})
            if (
                isinstance(note, AgentStateChanged)
                and note.new is AgentState.RINGING
                and note.call_id is not None
            ):
                # The core moves a call to its offer before its call-takers to ringing: the
                # call's row shows who it rings once they do.
                self._publish_call(note.call_id)
        elif isinstance(note, ShiftStaffing | RosterChanged):
            self.publish({"type": "shifts", **self._shifts()})
        elif isinstance(note, CallbackTaskChanged):
            task = note.task
            if task.state in _OPEN_TASKS:
                self._tasks[task.number] = task.task_id
            elif self._tasks.get(task.number) == task.task_id:
                del self._tasks[task.number]

    def _shifts(self) -> JsonDict:
        seen = self.view.projection
        return {"shifts": shift_rows(seen), "staffed": seen.staffed}

    def _publish_call(self, call_id: str) -> None:
        row = self.call(call_id)
        if row is not None:
            self.publish({"type": "call", "call": row})

    def _ended(self, note: CallEnded) -> None:
        self._calls.pop(note.call_id, None)
        self._answered_by[note.call_id] = note.agent_id
        if len(self._answered_by) > ENDED_KEPT:
            self._answered_by.popitem(last=False)
        self.publish({"type": "call-ended", "call_id": note.call_id, "outcome": note.outcome.name})
        self.figures.add(note)
        self.publish_today()

    def fallback_call(self, call: EndedCall) -> None:
        """A call the dialplan's fallback queue took was journaled (the queue_log's reader)."""
        self.figures.add_call(call)
        self.publish_today()

    def roll(self) -> None:
        """A new day or shift began (the daemon's timer): its figures and today's alarms."""
        self.publish_today()
        self._publish_alarms()

    def publish_today(self) -> None:
        """Today's and this shift's figures to every screen (after a call ended, or once the
        journal's were read at start)."""
        self.publish(
            {"type": "today", "today": self.figures.to_json(self.clock(), len(self._tasks))}
        )

    def phone_registered(self, endpoint: str) -> None:
        """A call-taker's phone registered or unregistered (AMI): their row again."""
        for row in self.view.agents():
            if row["endpoint"] == endpoint:
                self.publish({"type": "agent", "agent": self._agent_row(row)})

    # -- rows -------------------------------------------------------------------------------

    def _call_row(self, call_id: str, now: float) -> JsonDict:
        seen = self.view.projection
        call = seen.calls[call_id]
        row = live_row(call, now, seen.ringing(call_id))
        notes = self._calls.get(call_id, _CallNotes())
        tags = list(notes.tags)
        if call.caller in self._tasks and "callback" not in tags:
            tags.append("callback")
        queued = [c.call_id for c in seen.queued()]
        row.update(
            caller_name=call.caller_name,
            tags=tags,
            score=notes.score,
            position=queued.index(call_id) + 1 if call_id in queued else None,
        )
        return row

    def _agent_row(self, row: JsonDict) -> JsonDict:
        return {
            **row,
            "since": self._since.get(row["agent_id"]),
            "name": self.names().get(row["agent_id"]),
            "registered": self.registered(row["endpoint"]),
        }


_ENDED = frozenset(s.name for s in TERMINAL_CALL_STATES)
