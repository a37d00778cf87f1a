"""The ACD facade: events and ``now`` in, commands and the next deadline out.

Usage, the same for the daemon and the simulator::

    acd = Acd(AcdConfig())
    for command in acd.handle(CallArrived("c1", caller="0812..."), now):
        ...                       # carry out RingAgent, Bridge, ...; publish notifications
    deadline = acd.next_deadline()  # call acd.handle_timer(now) once now >= deadline

``now`` is seconds since the Unix epoch (UTC), supplied by the driver; it must never go
backwards. The core reads no clock, does no I/O and never blocks.

``Acd`` only composes: it routes each event by its type to the one sub-machine whose table
has it, fires each due timer through the table of timer kinds, asks the queue to offer what
waits, and merges the sub-machines' deadlines into one ``next_deadline()``. The sub-machines
share one :class:`~callgate.core.floor.Floor` (calls, call-takers, queue, timers, config) and
hold the guards; the moves themselves are the tables in ``calls.py``, ``agents.py`` and
``silence.py``. Every move is reported as a ``CallStateChanged`` / ``AgentStateChanged``
notification, which is the transition log.

Every decision about a call is made in the core, behind the one ``next_deadline()``:

- a call's life (``conversations.py``), the queue and its offers (``offers.py``), the
  call-takers (``calltakers.py``);
- screening at arrival (``conversations.py``; ``AcdConfig.screening``, from the history
  ``CallArrived`` carries), reported in ``CallScreened``;
- blocking (``blocking.py``), for a centre that configures it: a blocked caller never
  queues; they hear ``PlayAnnouncement``, then ``HangUpCaller`` (after
  ``AnnouncementFinished`` or a limit), recorded by ``CallBlocked``; a hang-up that fails
  hands them to the fallback queue instead;
- the silent-caller watch (``silent.py``; ``AcdConfig.silence``, table in ``silence.py``):
  ``StartListening``, ``PlayPrompt``, ``StopListening`` and a new class in
  ``CallReclassified``;
- the callback worklist (``callback_attempts.py``; ``AcdConfig.callbacks``, rules in
  ``callbacks.py``): abandoned calls make tasks, answered calls cancel them, a due task
  becomes an attempt (``PrepareCallback``, a pseudo-call in the queue, ``DialCallback`` once a
  call-taker answers it) only while a call-taker is free and fewer than ``max_concurrent``
  attempts are in progress; every change of a task is a ``CallbackTaskChanged``;
- the roster (``staffing.py``; ``AcdConfig.roster``): ``RosterChanged``, ``ShiftStaffing``;
- queue announcements (``staffing.py``; ``AcdConfig.announcements``, rules in
  ``announcements.py``): ``AnnounceQueue`` to a caller who waits, ``StopQueueAnnouncement``
  after the rings of an offer;
- a reloaded configuration (``reload.py``, ``ConfigChanged``);
- call-takers' requests to log in or out, pause or unpause (``agent_requests.py``,
  ``AgentRequested``): answered by ``AgentRequestAnswered``, then moved as the plain events;
- a call-taker's keys during a call (``incall_keys.py``, ``CallTakerKeyPressed``): the
  ``*``/``#``/``**`` sequences and their timeout, ending in ``CallAgency`` or
  ``SetDispositionByKey``;
- a supervisor's requests (``supervision.py``, ``CallAssigned``, ``MonitorRequested``): a
  waiting caller offered to a chosen call-taker, ``MonitorCall`` to listen, whisper or barge.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from typing import Any

from callgate.core.agent_requests import AgentRequests
from callgate.core.agents import Agent
from callgate.core.blocking import Blocking
from callgate.core.callback_attempts import CallbackAttempts
from callgate.core.calls import Call
from callgate.core.calltakers import AUTO_PAUSE_REASON, CallTakers
from callgate.core.commands import Output, ShiftStaffing
from callgate.core.config import AcdConfig
from callgate.core.conversations import Conversations
from callgate.core.errors import AcdUsageError
from callgate.core.events import Event
from callgate.core.floor import Floor, Handler, Out, Timer, TimerEntry
from callgate.core.incall_keys import InCallKeys
from callgate.core.offers import Offers
from callgate.core.reload import Reload
from callgate.core.silent import SilentCallers
from callgate.core.staffing import Staffing
from callgate.core.supervision import Supervision

__all__ = ["AUTO_PAUSE_REASON", "Acd"]

#: A timer kind fires with (target, token, now, out) ...
_Fire = Callable[[Any, int, float, Out], None]
#: ... and is still live (worth waking the driver for) while this says so of (target, token).
_Live = Callable[[Any, int], bool]


class Acd:
    """One automatic call distributor: one queue of 112 calls and its call-takers."""

    def __init__(self, config: AcdConfig | None = None) -> None:
        floor = self._floor = Floor(config or AcdConfig())
        calltakers = self._calltakers = CallTakers(floor)
        offers = self._offers = Offers(floor, calltakers)
        blocking = Blocking(floor)
        silent = SilentCallers(floor)
        conversations = Conversations(floor, blocking, silent, calltakers, offers)
        callbacks = self._callbacks = CallbackAttempts(floor, offers, conversations)
        staffing = self._staffing = Staffing(floor, offers, calltakers, silent)
        reload = Reload(floor, calltakers, callbacks, staffing)
        requests = AgentRequests(floor, calltakers)
        keys = InCallKeys(floor)
        supervision = Supervision(floor, offers)
        # The few calls up the stack (a withdrawn ring requeues, a call's end reaches the
        # worklist), wired here so that each module imports only those below it.
        calltakers.rings = offers
        offers.ending = conversations
        offers.attempts = callbacks
        conversations.callbacks = callbacks
        self._handlers: dict[type[Event], Handler] = {}
        machines = (conversations, offers, calltakers, blocking, silent, callbacks, reload)
        for machine in (*machines, requests, keys, supervision):
            table = machine.table()
            assert not table.keys() & self._handlers.keys(), "an event with two handlers"
            self._handlers.update(table)
        self._timer_kinds: dict[Timer, tuple[_Fire, _Live]] = {
            Timer.RING: (offers.ring_timed_out, offers.ringing),
            Timer.MAX_WAIT: (offers.max_wait_reached, offers.waiting),
            Timer.RELAX: (offers.relax_skill, offers.unrelaxed),
            Timer.WRAP_UP: (calltakers.wrap_up_ended, calltakers.wrapping_up),
            Timer.WATCH: (silent.window_ended, silent.watching),
            Timer.ANNOUNCEMENT: (blocking.announcement_timed_out, blocking.announcing),
            Timer.KEYS: (keys.timed_out, keys.pending),
        }

    # -- entry points -------------------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[Output]:
        """Apply one event that happened at ``now``; return the commands to carry out."""
        out: Out = []
        self._floor.now = now
        self._staffing.sync(now, out)
        try:
            handler = self._handlers[type(event)]
        except KeyError:
            raise AcdUsageError(f"not a core event: {event!r}") from None
        handler(event, now, out)
        self._offers.dispatch(type(event).__name__, now, out)
        self._callbacks.offer_callbacks(now, out)
        self._staffing.check(now, out)
        self._calltakers.report(now, out)
        return out

    def handle_timer(self, now: float) -> list[Output]:
        """Fire every deadline that is due at ``now``; return the commands to carry out."""
        out: Out = []
        self._floor.now = now
        self._staffing.sync(now, out)
        timers = self._floor.timers
        kinds = self._timer_kinds
        cause = "Timer"
        while timers and timers[0][0] <= now:
            _, _, kind, target, token = heapq.heappop(timers)
            cause = kind.value
            kinds[kind][0](target, token, now, out)
        # Offers made now are logged against the last timer that fired (e.g. WrapUpEnded).
        self._offers.dispatch(cause, now, out)
        self._staffing.announce(now, out)
        self._callbacks.offer_callbacks(now, out)
        self._staffing.check(now, out)
        self._calltakers.report(now, out)
        return out

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` should next be called, or None if nothing is pending."""
        timers = self._floor.timers
        while timers and not self._live(timers[0]):
            heapq.heappop(timers)
        first = timers[0][0] if timers else None
        deadlines = [
            t
            for t in (first, self._callbacks.deadline(), self._staffing.deadline())
            if t is not None
        ]
        return min(deadlines) if deadlines else None

    def _live(self, entry: TimerEntry) -> bool:
        _, _, kind, target, token = entry
        return self._timer_kinds[kind][1](target, token)

    # -- read-only views for drivers, tests and status pages ----------------------------

    @property
    def config(self) -> AcdConfig:
        """The configuration decided by (the latest ``ConfigChanged``'s)."""
        return self._floor.config

    @property
    def calls(self) -> Mapping[str, Call]:
        """Calls still in the core, by id (do not mutate)."""
        return self._floor.calls

    @property
    def agents(self) -> Mapping[str, Agent]:
        """Every agent the core has seen, by id (do not mutate)."""
        return self._floor.agents

    @property
    def waiting(self) -> int:
        """Number of calls waiting in the queue."""
        return len(self._floor.queue)

    def queued_calls(self) -> list[Call]:
        """Waiting calls, best first."""
        return self._floor.queue.calls()

    @property
    def staffed(self) -> bool:
        """False when the roster says the centre is out of hours."""
        return self._floor.staffed

    @property
    def shift_staffing(self) -> tuple[ShiftStaffing, ...]:
        """The latest figures of each shift on that needs call-takers (empty without a roster)."""
        return self._staffing.figures
