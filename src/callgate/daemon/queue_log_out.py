"""callgate's own calls and call-takers in Asterisk's ``queue_log`` format, for the queue reporting
tools a centre already has.

app_queue writes one line per event to ``/var/log/asterisk/queue_log``, and most call-centre
reporting tools read that file. callgate's calls never pass through app_queue, so those tools
saw only the fallback queue's calls. With ``[queue_log] path`` set, callgate writes the same
lines for its own calls into a file of its own::

    epoch|call id|queue|agent|event|data1|data2|...

- *call id*: callgate's call id (the caller channel's unique id, as app_queue would write);
  ``NONE`` on lines about a call-taker alone;
- *queue*: ``[queue_log] queue`` (``callgate``), so callgate's calls are told apart from the
  fallback queue's;
- *agent*: ``[queue_log] agent``, by default the call-taker's endpoint (``PJSIP/1001``), which is
  what app_queue writes for a member without a name; ``Operator {id}`` matches the lab's
  fallback queue (``log_membername_as_agent``); ``NONE`` when no call-taker is involved.

The events, with the fields app_queue gives them (times in whole seconds, ring time in ms):

==================  =======================================  ======================================
event               data                                     when
==================  =======================================  ======================================
``ENTERQUEUE``      ``url|caller id`` (url empty)            a call joins callgate's queue
``CONNECT``         ``holdtime|member uniqueid|ringtime``    caller and call-taker are bridged
                    (uniqueid empty: callgate does not
                    report the leg's channel)
``COMPLETECALLER``  ``holdtime|calltime|origposition``       the caller hung up a conversation
``COMPLETEAGENT``   ``holdtime|calltime|origposition``       the call-taker hung up
``ABANDON``         ``position|origposition|waittime``       the caller hung up while waiting
``EXITWITHTIMEOUT`` ``position|origposition|waittime``       max_wait: to the overflow destinations
``EXITEMPTY``       ``position|origposition|waittime``       nobody logged in: overflow or fallback
``RINGNOANSWER``    ``ringtime`` (ms)                        a ring missed (``RingMissed``)
``ADDMEMBER``       (empty)                                  a call-taker logged in
``REMOVEMEMBER``    (empty)                                  logged out (or the daemon stopped)
``PAUSE``           ``reason``                               paused, with the reason
``UNPAUSE``         (empty)                                  unpaused
==================  =======================================  ======================================

Logins are ``ADDMEMBER``/``REMOVEMEMBER`` (what app_queue writes for members who log in and out
of a queue), not ``AGENTLOGIN``/``AGENTLOGOFF`` (chan_agent's, gone since Asterisk 12): writing
both would count every session twice in the tools that read both. *position* is the caller's
place among the callers callgate held when they joined (``origposition``) or left: callgate's
queue is ordered by priority class, so it is a place in arrival order. Callback attempts are
outgoing calls and are left out, as app_queue never logs those.

Why a file and not AMI ``QueueLog``: that action needs the AMI ``agent`` write class, and the AMI
account callgate ships has ``write = system`` only (asterisk-conf/manager.conf); a file needs
nothing from Asterisk, and keeps working while AMI is down. It must not be Asterisk's own
queue_log, which callgate reads for the fallback queue's calls (``[fallback] queue_log``): the
config refuses the same path.

:class:`QueueLogLines` is pure (notifications in, lines out); :class:`QueueLogFile` appends them
off the call path: one ``write`` per line on a file opened for appending (opened again for every
batch, so a log rotation that moves the file is followed), lines kept in a bounded buffer and
retried while the file cannot be written (disk full), with a rate-limited WARNING.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from callgate.config import Settings
from callgate.core.agents import AgentState
from callgate.core.callbacks import CALLBACK_CATEGORY
from callgate.core.calls import TERMINAL_CALL_STATES, CallState
from callgate.core.commands import AgentStateChanged, CallStateChanged, RingMissed
from callgate.logs import LogThrottle
from callgate.ports import Observed, agent_id_of

log = logging.getLogger(__name__)

NONE = "NONE"
#: Longest pause between two attempts at writing the file.
MAX_RETRY_SECONDS = 30.0
#: At most one WARNING this often about the file.
WARNING_INTERVAL = 60.0
#: What the cause of a move to OVERFLOWING is when max_wait ran out (the core's timer).
MAX_WAIT_CAUSE = "MaxWaitReached"
_WAITING = (CallState.QUEUED, CallState.OFFERED, CallState.CONNECTING)


#: ``|`` (the separator) becomes ``/``; every control character (C0, DEL, C1: line feed, vertical
#: tab, form feed, NEL, ...) and the Unicode line and paragraph separators become a space. Each of
#: those ends a line for some reader (``str.splitlines`` splits at all of them), and free text (a
#: pause reason from the admin API, a caller's number) must never start a line of its own.
_CLEAN = {
    ord("|"): "/",
    **dict.fromkeys([*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029], " "),
}


def clean(text: str) -> str:
    """A field as queue_log can hold it: no ``|``, no control character, no line separator."""
    return text.translate(_CLEAN)


@dataclass(slots=True)
class _Call:
    entered_at: float
    origposition: int
    answered_at: float | None = None
    ring_time: float = 0.0
    bridged_at: float | None = None


class QueueLogLines:
    """Turns the core's notifications into queue_log lines. Pure: no file, no clock."""

    def __init__(self, queue: str, agent_name: Callable[[str], str]) -> None:
        self.queue = clean(queue)
        self.agent_name = agent_name
        self._calls: dict[str, _Call] = {}
        #: Calls waiting in callgate's queue, in the order they joined.
        self._waiting: list[str] = []
        self._rings: dict[str, float] = {}
        self._members: set[str] = set()

    def lines(self, note: Observed) -> list[str]:
        """The lines ``note`` adds (none for most notifications)."""
        if isinstance(note, CallStateChanged):
            if note.category == CALLBACK_CATEGORY:
                return []
            return self._call(note)
        if isinstance(note, AgentStateChanged):
            return self._agent(note)
        if isinstance(note, RingMissed) and note.call_id in self._calls:
            rang = note.at - self._rings.pop(note.agent_id, note.at)
            return [self._line(note.at, note.call_id, note.agent_id, "RINGNOANSWER", _ms(rang))]
        return []

    def stopping(self, at: float) -> list[str]:
        """``REMOVEMEMBER`` for every call-taker still logged in: the daemon stops."""
        out = [self._line(at, NONE, a, "REMOVEMEMBER", "") for a in sorted(self._members)]
        self._members.clear()
        return out

    def _line(self, at: float, call_id: str, agent: str | None, event: str, *data: str) -> str:
        name = NONE if agent is None else clean(self.agent_name(agent))
        fields = [str(int(at)), clean(call_id), self.queue, name, event, *map(clean, data)]
        return "|".join(fields)

    def _position(self, call_id: str) -> int:
        return self._waiting.index(call_id) + 1 if call_id in self._waiting else 1

    def _call(self, note: CallStateChanged) -> list[str]:
        at, call_id, old, new = note.at, note.call_id, note.old, note.new
        out: list[str] = []
        if old is CallState.ARRIVED:
            self._calls[call_id] = _Call(at, len(self._waiting) + 1)
            out.append(self._line(at, call_id, None, "ENTERQUEUE", "", note.caller))
            if new in _WAITING:
                self._waiting.append(call_id)
        call = self._calls.get(call_id)
        if call is None:
            return out  # joined before this daemon started: app_queue has no line for it either
        wait = _s(at - call.entered_at)
        if new is CallState.CONNECTING:
            call.answered_at = at
            agent = note.call_taker or ""
            call.ring_time = at - self._rings.pop(agent, at)
        elif new is CallState.CONNECTED and call.answered_at is not None:
            call.bridged_at = at
            hold = _s(call.answered_at - call.entered_at)
            out.append(
                self._line(at, call_id, note.call_taker, "CONNECT", hold, "", _s(call.ring_time))
            )
        elif new is CallState.ABANDONED:
            where = (str(self._position(call_id)), str(call.origposition), wait)
            out.append(self._line(at, call_id, None, "ABANDON", *where))
        elif new is CallState.OVERFLOWING or (
            new is CallState.FALLBACK and old is not CallState.OVERFLOWING
        ):
            event = "EXITWITHTIMEOUT" if note.cause == MAX_WAIT_CAUSE else "EXITEMPTY"
            where = (str(self._position(call_id)), str(call.origposition), wait)
            out.append(self._line(at, call_id, None, event, *where))
        elif old is CallState.CONNECTED and call.bridged_at is not None:
            hold = _s((call.answered_at or call.bridged_at) - call.entered_at)
            event = "COMPLETEAGENT" if note.cause == "AgentHungUp" else "COMPLETECALLER"
            talk = _s(at - call.bridged_at)
            out.append(
                self._line(at, call_id, note.call_taker, event, hold, talk, str(call.origposition))
            )
        if new not in _WAITING and call_id in self._waiting:
            self._waiting.remove(call_id)
        if new in TERMINAL_CALL_STATES:
            self._calls.pop(call_id, None)
        return out

    def _agent(self, note: AgentStateChanged) -> list[str]:
        at, agent, old, new = note.at, note.agent_id, note.old, note.new
        out: list[str] = []
        if new is AgentState.RINGING:
            self._rings[agent] = at
        elif old is AgentState.RINGING:
            # A ring that ended without RingMissed (answered elsewhere, caller gone): forgotten
            # unless CONNECTING took it first.
            self._rings.pop(agent, None)
        if old is AgentState.LOGGED_OUT:
            self._members.add(agent)
            out.append(self._line(at, NONE, agent, "ADDMEMBER", ""))
        if new is AgentState.PAUSED:
            out.append(self._line(at, NONE, agent, "PAUSE", note.reason or ""))
        elif new is AgentState.LOGGED_OUT:
            self._members.discard(agent)
            out.append(self._line(at, NONE, agent, "REMOVEMEMBER", ""))
        elif old is AgentState.PAUSED:
            out.append(self._line(at, NONE, agent, "UNPAUSE", ""))
        return out


def _s(seconds: float) -> str:
    return str(max(0, round(seconds)))


def _ms(seconds: float) -> str:
    return str(max(0, round(seconds * 1000)))


class QueueLogFile:
    """Appends queue_log lines to ``path`` off the call path; never blocks a call.

    ``notification`` only adds lines to a buffer of at most ``max_lines``; a writer task appends
    them (in a thread: a slow disk must not hold the event loop). A line that cannot be written
    (disk full, folder gone, permission) stays in the buffer and is tried again with backoff up to
    :data:`MAX_RETRY_SECONDS`; a full buffer drops its oldest lines. Both are WARNINGs, at most
    one per :data:`WARNING_INTERVAL`.
    """

    def __init__(
        self,
        path: Path,
        lines: QueueLogLines,
        *,
        max_lines: int = 100_000,
        clock: Callable[[], float],
        first_retry: float = 1.0,
    ) -> None:
        self.path = path
        self.lines = lines
        self.clock = clock
        self.first_retry = first_retry
        self._buffer: collections.deque[str] = collections.deque()
        #: How many lines ever left the buffer (written or dropped): where ``_buffer[0]`` is.
        self._head = 0
        self.max_lines = max_lines
        self.dropped = 0
        "Lines dropped since start because the buffer was full."
        self._ready = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._warnings = LogThrottle(WARNING_INTERVAL)
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    @property
    def pending(self) -> int:
        """Lines not yet in the file."""
        return len(self._buffer)

    def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name="queue-log-writer")

    async def close(self, drain_seconds: float = 5.0) -> None:
        """``REMOVEMEMBER`` for the call-takers still logged in, write what is buffered (for up
        to ``drain_seconds``), then stop."""
        self._add(self.lines.stopping(self.clock()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained(), drain_seconds)
        if self._buffer:
            log.warning(
                "queue_log lines not written at stop",
                extra={"path": str(self.path), "lines": len(self._buffer)},
            )
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def notification(self, note: Observed) -> None:
        """Engine observer: buffer the lines of ``note``."""
        self._add(self.lines.lines(note))

    def _add(self, lines: Sequence[str]) -> None:
        if not lines:
            return
        self._buffer.extend(lines)
        self._empty.clear()
        excess = len(self._buffer) - self.max_lines
        if excess > 0:
            self._forget(excess)
            self.dropped += excess
            self._warn("buffer full", "queue_log buffer full; oldest lines dropped")
        self._ready.set()

    def _forget(self, count: int) -> None:
        for _ in range(count):
            self._buffer.popleft()
        self._head += count
        if not self._buffer:
            self._empty.set()

    async def _drained(self) -> None:
        await self._empty.wait()

    def _warn(self, kind: str, message: str, **extra: object) -> None:
        held_back = self._warnings.admit(kind)
        if held_back is not None:
            log.warning(
                message,
                extra={
                    "path": str(self.path),
                    "pending_lines": len(self._buffer),
                    "dropped_total": self.dropped,
                    "not_logged": held_back,
                    **extra,
                },
            )

    async def _writer(self) -> None:
        delay = self.first_retry
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._buffer:
                batch, start = list(self._buffer), self._head
                written, error = await asyncio.to_thread(_append, self.path, batch)
                # Lines dropped meanwhile (a full buffer) have left from the head already.
                self._forget(max(0, start + written - self._head))
                if error is None:
                    if self._failing:
                        self._failing = False
                        log.info("queue_log writable again", extra={"path": str(self.path)})
                    delay = self.first_retry
                    continue
                self._failing = True
                self._warn(
                    "write failed",
                    "queue_log not writable; lines kept in memory and retried, calls go on",
                    error=error,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)


def _append(path: Path, lines: Iterable[str]) -> tuple[int, str | None]:
    """Append ``lines`` with one ``write`` each (no line is ever half in a buffer); how many
    were written, and the error that stopped it."""
    written = 0
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    except OSError as exc:
        return 0, exc.strerror or str(exc)
    try:
        for line in lines:
            data = (line + "\n").encode()
            if os.write(fd, data) != len(data):
                return written, "short write (disk full?)"
            written += 1
    except OSError as exc:
        return written, exc.strerror or str(exc)
    finally:
        os.close(fd)
    return written, None


def queue_log_file(
    settings: Settings,
    *,
    clock: Callable[[], float],
    endpoints: Mapping[str, str] | None = None,
) -> QueueLogFile | None:
    """The writer ``[queue_log]`` asks for, or None when its ``path`` is empty. ``endpoints``
    (call-taker id -> endpoint) is read at each line, so a call-taker a reload adds is named
    like the others; default: ``[calltakers] endpoints`` as they are now."""
    q = settings.queue_log
    if not q.path:
        return None
    if endpoints is None:
        endpoints = {agent_id_of(e): e for e in settings.calltakers.endpoints}

    def name(agent_id: str) -> str:
        return q.agent.format(endpoint=endpoints.get(agent_id, agent_id), id=agent_id)

    return QueueLogFile(
        Path(q.path), QueueLogLines(q.queue, name), max_lines=q.max_buffered_lines, clock=clock
    )
