"""Asterisk's queue_log, read for the 112 calls that callgate never served.

The dialplan's fallback queue (app_queue) answers calls while callgate is away and the calls
callgate hands back when it stops. Those calls are in no callgate event, only in app_queue's
queue_log file, one line per event::

    epoch|call id|queue|agent|event|data1|data2|...

The call id is the caller channel's unique id, which is callgate's call id; the agent is the
member name from queues.conf (``log_membername_as_agent = yes``: "Operator 1001"). The dialplan
adds one line of its own before Queue(), ``CALLGATEINFO`` with ``sent|dialled|reason``, because
queue_log knows neither the number as the carrier sent it nor why the call is in the queue.

This module is pure: lines and ``now`` in, finished calls out. No file, no clock, no database.
A line that is not what app_queue (or the dialplan) writes is refused: counted, returned by
:meth:`FallbackQueueLog.feed` with the reason, skipped, never raised. Refused are a wrong
timestamp or call id, any control or line-separator character inside a field (C0, DEL, C1,
U+2028/U+2029: the file is split on ``\n`` only, so such a character cannot start a line, but it
has no business in a field either), and for the events this module acts on a wrong number of
fields or a non-number where app_queue writes one: a caller ID that smuggled a ``|`` or a line
break into the file shifts fields and is refused rather than believed. A call is reported once it
is over:

- the caller hung up (``COMPLETECALLER``, ``ABANDON``): over at once;
- the queue let the caller go otherwise (``COMPLETEAGENT``, a transfer, ``EXITWITH...``): the
  dialplan puts a caller still on the line back in the queue within a second or two, so the call
  is over only when no ``ENTERQUEUE`` followed for ``settle`` seconds;
- Asterisk started again (``QUEUESTART``): every call still in the queue before it is gone.

A call still in the queue is kept for the next lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

#: The dialplan's own line before Queue(): ``sent|dialled|reason``.
CALLGATE_INFO = "CALLGATEINFO"
ENTER = "ENTERQUEUE"
CONNECT = "CONNECT"
#: The caller left: nothing more can happen to the call.
CALLER_GONE = frozenset({"COMPLETECALLER", "ABANDON"})
#: The queue let the caller go while the caller may still be on the line (the dialplan requeues).
LEFT_QUEUE = frozenset(
    {
        "COMPLETEAGENT",
        "BLINDTRANSFER",
        "ATTENDEDTRANSFER",
        "EXITWITHTIMEOUT",
        "EXITWITHKEY",
        "EXITEMPTY",
    }
)
#: Written when app_queue loads, i.e. when Asterisk starts: earlier callers are gone.
QUEUE_START = "QUEUESTART"
#: The ``end_event`` of a call cut off by a restart of Asterisk.
ASTERISK_RESTARTED = "ASTERISK_RESTARTED"
#: What queue_log writes when a field does not apply.
NONE = "NONE"


@dataclass(frozen=True, slots=True)
class QueueLogLine:
    """One well-formed queue_log line."""

    at: float
    "Epoch seconds (Asterisk's clock)."
    call_id: str
    "The caller channel's unique id, or NONE for queue-less lines."
    queue: str
    agent: str
    "The member name (or interface), NONE when no member is involved."
    event: str
    data: tuple[str, ...]


#: Epoch seconds as app_queue writes them (``%ld``; a fraction allowed): no sign, no exponent,
#: no ``nan``.
_STAMP = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,9})?", re.ASCII)
#: A channel's unique id (``[system name-]epoch.sequence``) or NONE: it also names the
#: recording file, so nothing that could walk out of a folder.
_CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)
_EVENT = re.compile(r"[A-Z][A-Z0-9_]{0,63}", re.ASCII)
_NUMBER = re.compile(r"[0-9]{1,12}", re.ASCII)
#: C0, DEL, C1 and the Unicode line and paragraph separators: never inside a field.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

#: The data fields of the events acted on, as Asterisk 16 to 22 write them (and callgate's own
#: queue_log): one pattern per field, ``n`` a whole number, ``*`` any text. Several shapes where
#: versions differ. Other events are ignored, so only their common fields are checked.
_SHAPES: dict[str, tuple[str, ...]] = {
    CALLGATE_INFO: ("***",),  # sent|dialled|reason (the dialplan filters all three)
    ENTER: ("**", "**n"),  # url|caller id[|position]
    CONNECT: ("n*", "n*n"),  # holdtime|member uniqueid[|ringtime]
    "COMPLETECALLER": ("nnn",),  # holdtime|calltime|origposition
    "COMPLETEAGENT": ("nnn",),
    "ABANDON": ("nnn",),  # position|origposition|waittime
    "EXITWITHTIMEOUT": ("n", "nnn"),
    "EXITEMPTY": ("nnn",),
    "EXITWITHKEY": ("*n", "*nnn"),  # key|position[|origposition|waittime]
    "BLINDTRANSFER": ("**nnn",),  # extension|context|holdtime|calltime|origposition
    "ATTENDEDTRANSFER": ("**nn", "**nnn"),  # BRIDGE or APP|what|holdtime|calltime[|origposition]
}


def refusal(text: str) -> str | None:
    """Why ``text`` (one line, its trailing newline allowed) is no queue_log line this module
    accepts, or None if it is one."""
    parsed = _parsed(text)
    return parsed if isinstance(parsed, str) else None


def parse_line(text: str) -> QueueLogLine | None:
    """The line's fields, or None if it is not a queue_log line (see :func:`refusal`)."""
    line = _parsed(text)
    return line if isinstance(line, QueueLogLine) else None


def _parsed(text: str) -> QueueLogLine | str:
    text = text.removesuffix("\n").removesuffix("\r")
    if _CONTROL.search(text):
        return "control or line-separator character"
    fields = text.split("|")
    if len(fields) < 5:
        return "fewer than 5 fields"
    stamp, call_id, queue, agent, event, *data = fields
    if not _STAMP.fullmatch(stamp):
        return "bad timestamp"
    if not _CALL_ID.fullmatch(call_id):
        return "bad call id"
    if not _EVENT.fullmatch(event) or not queue or not agent:
        return "bad queue, agent or event"
    shapes = _SHAPES.get(event)
    if shapes is not None:
        matching = [s for s in shapes if len(s) == len(data)]
        if not matching:
            return f"{event} with {len(data)} data fields"
        if not any(_fits(shape, data) for shape in matching):
            return f"{event} with text where a number belongs"
    return QueueLogLine(float(stamp), call_id, queue, agent, event, tuple(data))


def _fits(shape: str, data: Sequence[str]) -> bool:
    return all(
        kind == "*" or _NUMBER.fullmatch(value) for kind, value in zip(shape, data, strict=True)
    )


def calltaker_id(agent: str, endpoints: Mapping[str, str]) -> str:
    """callgate's call-taker id for a queue member as queue_log names it.

    ``endpoints`` maps call-taker id -> endpoint ("1001" -> "PJSIP/1001"). queues.conf names
    members "Operator 1001" (the id last) on the interface PJSIP/1001; either form is mapped. A
    member that is no configured call-taker keeps the interface's resource or its name as is.
    """
    for agent_id, endpoint in endpoints.items():
        if agent == endpoint:
            return agent_id
    words = agent.split()
    if words and words[-1] in endpoints:
        return words[-1]
    tech, slash, resource = agent.partition("/")
    if slash and tech and resource:
        return resource
    return agent


@dataclass(frozen=True, slots=True)
class Refused:
    """A line :meth:`FallbackQueueLog.feed` skipped."""

    index: int
    "Its place among the lines fed (0 for the first)."
    reason: str


@dataclass(frozen=True, slots=True)
class FallbackCall:
    """A call that went through the fallback queue and is over."""

    call_id: str
    "The caller channel's unique id (callgate's call id)."
    caller: str
    "The caller's number as the dialplan normalised it (E.164 or anonymous); '' if unknown."
    caller_sent: str
    "The number as the carrier sent it (CALLGATEINFO); '' if unknown."
    dialed: str
    "The number dialled (CALLGATEINFO); '' if unknown."
    reason: str
    "Why the call was in the fallback queue: callgate-not-connected, handed-back or ''."
    entered_at: float
    "First ENTERQUEUE (or the first line seen of the call when that is missing)."
    answered_at: float | None
    "First CONNECT: when a call-taker answered; None if nobody did."
    ended_at: float
    "When the call left the queue for good."
    agents: tuple[tuple[str, float], ...]
    "Every call-taker who answered (id, when), in order; the first one is ``agent_id``."
    end_event: str
    "The queue_log event that ended it (COMPLETECALLER, ABANDON, ...) or ASTERISK_RESTARTED."

    @property
    def agent_id(self) -> str | None:
        """The call-taker who answered first, if anyone did."""
        return self.agents[0][0] if self.agents else None


@dataclass(slots=True)
class _Pending:
    call_id: str
    first_seen: float
    last_seen: float
    caller: str = ""
    caller_sent: str = ""
    dialed: str = ""
    reason: str = ""
    entered_at: float | None = None
    answered_at: float | None = None
    agents: list[tuple[str, float]] = field(default_factory=list)
    ended_at: float | None = None
    end_event: str = ""
    final: bool = False

    def finished(self) -> FallbackCall:
        assert self.ended_at is not None
        return FallbackCall(
            call_id=self.call_id,
            caller=self.caller,
            caller_sent=self.caller_sent,
            dialed=self.dialed,
            reason=self.reason,
            entered_at=self.first_seen if self.entered_at is None else self.entered_at,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            agents=tuple(self.agents),
            end_event=self.end_event,
        )


class FallbackQueueLog:
    """Follows one queue's calls through queue_log lines fed in file order.

    Feed lines with :meth:`feed` (any number of times, as the file grows), then take the calls
    that are over with :meth:`completed`; each is returned once. Calls still in the queue are
    kept until a later feed finishes them.
    """

    def __init__(
        self,
        queue: str,
        endpoints: Sequence[str],
        *,
        settle: float = 60.0,
        forget_after: float = 86_400.0,
    ) -> None:
        """``endpoints`` are the call-takers' endpoints ([calltakers] endpoints); ``settle`` the
        seconds after the queue let a caller go without a new ENTERQUEUE before the call counts
        as over; ``forget_after`` the seconds after which a call whose end never came (its lines
        lost to rotation) is dropped."""
        self.queue = queue
        self.endpoints = {e.partition("/")[2]: e for e in endpoints}
        self.settle = settle
        self.forget_after = forget_after
        self.malformed = 0
        "Lines skipped because they are not queue_log lines (since creation)."
        self.forgotten = 0
        "Calls dropped because their end never came (since creation)."
        self._calls: dict[str, _Pending] = {}

    @property
    def waiting(self) -> int:
        """Calls seen but not over yet."""
        return len(self._calls)

    def feed(self, lines: Iterable[str]) -> list[Refused]:
        """Take lines in file order (a trailing newline is allowed; blank lines are ignored);
        the lines refused, by their place in ``lines`` (0 for the first)."""
        refused: list[Refused] = []
        for index, text in enumerate(lines):
            if not text.strip():
                continue
            line = _parsed(text)
            if isinstance(line, str):
                self.malformed += 1
                refused.append(Refused(index, line))
                continue
            if line.event == QUEUE_START:
                self._asterisk_started(line.at)
            elif line.queue == self.queue and line.call_id != NONE:
                self._call_line(line)
        return refused

    def completed(self, now: float) -> list[FallbackCall]:
        """Calls over by ``now`` (epoch seconds), oldest end first; each is returned once."""
        done: list[_Pending] = []
        for call_id, call in list(self._calls.items()):
            if call.ended_at is not None and (call.final or now - call.ended_at >= self.settle):
                done.append(call)
                del self._calls[call_id]
            elif call.ended_at is None and now - call.last_seen >= self.forget_after:
                self.forgotten += 1
                del self._calls[call_id]
        done.sort(key=lambda c: (c.ended_at or 0.0, c.call_id))
        return [c.finished() for c in done]

    def _call_line(self, line: QueueLogLine) -> None:
        call = self._calls.get(line.call_id)
        if call is None:
            call = _Pending(line.call_id, first_seen=line.at, last_seen=line.at)
            self._calls[line.call_id] = call
        call.last_seen = max(call.last_seen, line.at)
        if line.event == CALLGATE_INFO:
            self._info(call, line.data)
        elif line.event == ENTER:
            if call.entered_at is None:
                call.entered_at = line.at
            if len(line.data) > 1 and line.data[1] and not call.caller:
                call.caller = line.data[1]
            if not call.final:
                call.ended_at = None  # back in the queue: the earlier exit was not the end
                call.end_event = ""
        elif line.event == CONNECT:
            if call.answered_at is None:
                call.answered_at = line.at
            if line.agent and line.agent != NONE:
                call.agents.append((calltaker_id(line.agent, self.endpoints), line.at))
        elif line.event in CALLER_GONE:
            call.ended_at, call.end_event, call.final = line.at, line.event, True
        elif line.event in LEFT_QUEUE and not call.final:
            call.ended_at, call.end_event = line.at, line.event

    @staticmethod
    def _info(call: _Pending, data: tuple[str, ...]) -> None:
        # "sent|dialled|reason", exactly three fields (the shape check): a number as sent that
        # brought its own "|" is refused with its line, never glued back together.
        call.caller_sent, call.dialed, call.reason = data

    def _asterisk_started(self, at: float) -> None:
        for call in self._calls.values():
            if call.final:
                continue
            if call.ended_at is None:
                call.ended_at, call.end_event = max(at, call.last_seen), ASTERISK_RESTARTED
            call.final = True
