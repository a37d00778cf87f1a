"""Waiting calls, best first, with O(log n) insert and take and O(1) removal.

Order: by priority class, then arrival (FIFO within a class). With aging, a call of class
``p`` is ranked as if it had arrived ``p * aging_interval`` seconds later than it did, so every
class is worth ``aging_interval`` seconds of waiting and a low class cannot starve. Both keys
are fixed when a call is queued, which is what lets a plain heap hold them.

Calls that need a skill wait in their own heap per skill; the ACD (``offers.py``) looks at the
head of each heap, so the cost of an offer grows with the number of distinct skills, not with calls.
Removal is lazy: a removed call's heap entry is skipped when it reaches the top, and a heap
that is mostly stale entries is rebuilt.
"""

from __future__ import annotations

import heapq

from callgate.core.calls import Call

_Entry = tuple[float, int, int, Call]

#: Rebuild a heap once stale entries outnumber live ones by this factor (plus some slack).
_COMPACT_FACTOR = 2
_COMPACT_SLACK = 64


class WaitingQueue:
    """The waiting calls of one ACD."""

    def __init__(self, aging_interval: float | None = None) -> None:
        self._aging = aging_interval
        self._heaps: dict[str | None, list[_Entry]] = {}
        self._live: dict[str | None, int] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def key(self, call: Call) -> float:
        """The rank of ``call``: lower is served first (ties broken by arrival)."""
        if self._aging is None:
            return float(call.priority)
        return call.arrived_at + call.priority * self._aging

    def push(self, call: Call) -> None:
        """Queue ``call`` under its current skill and priority."""
        call.queue_token += 1
        call.in_queue = True
        skill = call.skill
        heap = self._heaps.setdefault(skill, [])
        heapq.heappush(heap, (self.key(call), call.seq, call.queue_token, call))
        self._live[skill] = self._live.get(skill, 0) + 1
        self._size += 1

    def discard(self, call: Call) -> None:
        """Take ``call`` out of the queue (no-op if it is not queued)."""
        if not call.in_queue:
            return
        call.queue_token += 1
        call.in_queue = False
        self._size -= 1
        # A call is always removed before its skill can change (see Acd), so this is its heap.
        skill = call.skill
        self._live[skill] -= 1
        heap = self._heaps[skill]
        if len(heap) > _COMPACT_FACTOR * self._live[skill] + _COMPACT_SLACK:
            heap[:] = [e for e in heap if e[3].in_queue and e[2] == e[3].queue_token]
            heapq.heapify(heap)

    def heads(self) -> list[Call]:
        """The best waiting call of each skill group, best first."""
        found: list[_Entry] = []
        for skill, heap in list(self._heaps.items()):
            while heap and not (heap[0][3].in_queue and heap[0][2] == heap[0][3].queue_token):
                heapq.heappop(heap)
            if heap:
                found.append(heap[0])
            else:
                del self._heaps[skill]
                del self._live[skill]
        found.sort()
        return [entry[3] for entry in found]

    def calls(self) -> list[Call]:
        """Every waiting call, best first (O(n log n); for rare bulk moves and inspection)."""
        live = [
            e
            for heap in self._heaps.values()
            for e in heap
            if e[3].in_queue and e[2] == e[3].queue_token
        ]
        live.sort()
        return [entry[3] for entry in live]
