"""Queue announcements: what a caller who waits hears about their place and their wait.

Rules of this module, read these first:

- A caller still waiting ``first_after`` seconds after arrival hears their position in the queue
  and/or the expected wait (``AnnounceQueue``), then again every ``period`` seconds while they
  wait. Most 112 callers are answered before the first (NENA: 90% within 15 s).
- Only a caller *in the queue* hears one. Not while the call is offered (a phone rings for it),
  not while the silent-caller watch is on (it has its own prompt, ``silence.py``), never a
  blocked caller (they never queue) nor a callback attempt (nobody on the line yet). A turn
  skipped for any of these is not made up: the next comes a period later.
- An announcement never delays a ring: the core offers a call the moment a call-taker is free,
  whatever the caller hears. A call offered after it heard an announcement gets
  ``StopQueueAnnouncement`` right after its rings, so the ring goes out first and the caller
  is not told a place in a queue they have left.
- The position is 1 + the calls ahead of it in the order the queue offers them (priority class,
  then arrival): a caller moves up as others ahead are answered or hang up, and a raised call
  (a silent caller who pressed a key) goes ahead. With skills, calls of another skill count too.
- The expected wait is ``position x mean handling time / call-takers on duty`` (logged in, not
  paused, in the roster): on duty call-takers free up one every ``handling / on duty`` seconds
  on average, and the caller is served by the ``position``-th. The mean handling time (talk
  plus wrap-up) is that of the last ``recent`` conversations, or ``handling_time`` until there
  are any. Nobody on duty (all paused): no estimate, only the position is said.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass

from callgate.core.calls import Call, CallState
from callgate.core.commands import AnnounceQueue, CallEnded, Output, StopQueueAnnouncement
from callgate.core.errors import AcdConfigError

#: States in which a call keeps its announcement turns (a ring that times out, or a bridge
#: that fails, puts it back in the queue, where its turns go on).
_KEEPS_TURNS = frozenset({CallState.QUEUED, CallState.OFFERED, CallState.CONNECTING})


@dataclass(frozen=True, slots=True)
class AnnouncementPolicy:
    """When waiting callers hear their place in the queue and the expected wait. Seconds."""

    first_after: float = 20.0
    "Waiting time before the first announcement."
    period: float = 30.0
    "Time from one announcement to the next."
    position: bool = True
    "Say the caller's position in the queue."
    wait: bool = True
    "Say the expected wait."
    handling_time: float = 120.0
    "Mean handling time (talk and wrap-up) assumed until conversations have ended."
    recent: int = 20
    "Conversations whose mean handling time the estimate uses."

    def __post_init__(self) -> None:
        if self.first_after <= 0 or self.period <= 0 or self.handling_time <= 0:
            raise AcdConfigError("announcement first_after, period and handling_time > 0")
        if not (self.position or self.wait):
            raise AcdConfigError("an announcement says the position, the wait, or both")
        if self.recent < 1:
            raise AcdConfigError("announcement recent must be at least 1")


class Announcements:
    """The announcement turns of the waiting calls, behind the core's one deadline.

    Mutated only by the ACD's sub-machines, which tell it of arrivals, offers and ends and
    ask it to :meth:`fire` when :meth:`next_deadline` has come (``staffing.py``)."""

    def __init__(self, policy: AnnouncementPolicy, wrap_up_time: float) -> None:
        self.policy = policy
        self._wrap_up = wrap_up_time
        #: Each tracked call's next turn: (when, its heap entry's sequence number).
        self._turns: dict[str, tuple[float, int]] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        #: Calls announced to since their last offer: an offer stops what may still play.
        self._heard: set[str] = set()
        self._handled: deque[float] = deque(maxlen=policy.recent)

    def follow(self, policy: AnnouncementPolicy, wrap_up_time: float) -> None:
        """Announce by ``policy`` from now on (a reloaded configuration): turns already armed
        keep their time, the next ones follow the new periods."""
        self.policy = policy
        self._wrap_up = wrap_up_time
        if policy.recent != self._handled.maxlen:
            self._handled = deque(self._handled, maxlen=policy.recent)

    def arrived(self, call_id: str, now: float) -> None:
        """A caller joined: their first turn comes ``first_after`` from now."""
        self._arm(call_id, now + self.policy.first_after)

    def offered(self, call_id: str, out: list[Output]) -> None:
        """The call is being offered (its rings are in ``out``): stop what it may still hear."""
        if call_id in self._heard:
            self._heard.discard(call_id)
            out.append(StopQueueAnnouncement(call_id))

    def ended(self, record: CallEnded) -> None:
        """The call left the core; a conversation's length feeds the estimate."""
        self._turns.pop(record.call_id, None)
        self._heard.discard(record.call_id)
        if record.answered_at is not None:
            self._handled.append(record.ended_at - record.answered_at + self._wrap_up)

    def next_deadline(self) -> float | None:
        """When the next turn is due, or None without one."""
        heap = self._heap
        while heap and self._turns.get(heap[0][2]) != heap[0][:2]:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def fire(
        self,
        now: float,
        calls: Mapping[str, Call],
        queued: Callable[[], list[Call]],
        watched: Container[str],
        on_duty: Callable[[], int],
        out: list[Output],
    ) -> None:
        """Take every turn due at ``now``: announce to queued callers, skip the others."""
        positions: dict[str, int] | None = None
        while (deadline := self.next_deadline()) is not None and deadline <= now:
            _, _, call_id = heapq.heappop(self._heap)
            del self._turns[call_id]
            call = calls.get(call_id)
            if call is None or call.state not in _KEEPS_TURNS:
                continue  # connected or sent on: no more turns
            self._arm(call_id, now + self.policy.period)
            if not call.in_queue or call_id in watched:
                continue
            if positions is None:
                positions = {c.call_id: i for i, c in enumerate(queued(), start=1)}
            position = positions[call_id]
            wait = self.expected_wait(position, on_duty()) if self.policy.wait else None
            shown = position if self.policy.position else None
            out.append(AnnounceQueue(call_id, shown, wait, now))
            self._heard.add(call_id)

    def expected_wait(self, position: int, on_duty: int) -> float | None:
        """Seconds the caller at ``position`` may still wait (see the module's rules)."""
        if on_duty < 1:
            return None
        handled = self._handled
        mean = sum(handled) / len(handled) if handled else self.policy.handling_time
        return position * mean / on_duty

    def _arm(self, call_id: str, at: float) -> None:
        entry = (at, next(self._seq))
        self._turns[call_id] = entry
        heapq.heappush(self._heap, (*entry, call_id))
