"""The ACD's floor: the state every sub-machine shares, and the moves they all make.

One :class:`Floor` per :class:`~callgate.core.acd.Acd`: the calls and call-takers, the waiting
queue, the one timer heap and the configuration in force. The sub-machines (``offers``,
``calltakers``, ``conversations``, ``blocking``, ``silent``, ``callback_attempts``, ``staffing``,
``reload``, ``agent_requests``, ``incall_keys``) each hold it; none keeps a copy of what lives
here, so a reloaded configuration, a new strategy or a re-sorted queue is seen by all at once.

The moves here are the two state tables' (``calls.py``, ``agents.py``): every move is reported
as a ``CallStateChanged`` / ``AgentStateChanged`` notification, which is the transition log.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Callable, Mapping
from typing import Any

from callgate.core.agents import Agent, AgentState, AgentTrigger
from callgate.core.announcements import Announcements
from callgate.core.callbacks import AttemptOutcome
from callgate.core.calls import Call, CallTrigger
from callgate.core.commands import (
    AgentStateChanged,
    CallReclassified,
    CallStateChanged,
    KeepClass,
    Output,
)
from callgate.core.config import AcdConfig
from callgate.core.events import Event
from callgate.core.queue import WaitingQueue
from callgate.core.roster import RosterState
from callgate.core.strategies import Strategy, make_strategy


class Timer(enum.Enum):
    """A kind of deadline on the heap; its value is the cause it is logged under."""

    RING = "RingTimedOut"
    MAX_WAIT = "MaxWaitReached"
    RELAX = "SkillRelaxed"
    WRAP_UP = "WrapUpEnded"
    WATCH = "WatchWindowEnded"
    ANNOUNCEMENT = "AnnouncementTimedOut"
    KEYS = "KeySequenceTimedOut"


#: The commands one event produces, in the order the driver carries them out.
Out = list[Output]
#: How a sub-machine handles one kind of event: (event, now, out).
Handler = Callable[[Any, float, Out], None]
#: A sub-machine's table: the events it handles, by type (``Acd`` routes by it).
Table = Mapping[type[Event], Handler]
#: A timer on the heap: deadline, arming order (ties), kind, what it is about, its token.
TimerEntry = tuple[float, int, Timer, Any, int]
#: A callback attempt's failure: how its outbound call ended, and the phone system's cause.
Failure = tuple[AttemptOutcome, str]


class Floor:
    """The shared state of one ACD (the sub-machines read and write it; drivers do not)."""

    def __init__(self, config: AcdConfig) -> None:
        self.config = config
        self.strategy: Strategy = make_strategy(config.strategy)
        self.queue = WaitingQueue(config.aging_interval)
        self.calls: dict[str, Call] = {}
        self.agents: dict[str, Agent] = {}
        #: Agents who may be offered a call right now, in login order.
        self.ready: dict[str, Agent] = {}
        self.logged_in: set[str] = set()
        #: Call-takers whose details (``AgentDetails``) the event or timer may have changed:
        #: whatever changes a call-taker's details marks them here first; reported and cleared
        #: at its end (``CallTakers.report``).
        self.touched: set[str] = set()
        #: One counter for calls' arrival order and timers' arming order.
        self.seq = itertools.count()
        self.timers: list[TimerEntry] = []
        #: False when the roster says the centre is out of hours.
        self.staffed = True
        #: Who the roster has on now (None: no roster, everybody may take calls).
        self.rostered: frozenset[str] | None = None
        #: What the roster said at its last look (None: no roster, or not looked yet).
        self.roster_state: RosterState | None = None
        #: The driver's latest ``now``: callback tasks already due then wait for a call-taker.
        self.now: float | None = None
        #: Callback attempts in the core (pseudo-calls), with the failure reported for each.
        self.attempts: dict[str, Failure | None] = {}
        announcing = config.announcements
        self.announcements: Announcements | None = (
            None if announcing is None else Announcements(announcing, config.wrap_up_time)
        )

    def arm(self, deadline: float, kind: Timer, target: object, token: int) -> None:
        heapq.heappush(self.timers, (deadline, next(self.seq), kind, target, token))

    def call_to(self, call: Call, trigger: CallTrigger, cause: str, now: float, out: Out) -> None:
        old = call.transition(trigger)
        out.append(
            CallStateChanged(
                call.call_id,
                old,
                call.state,
                cause,
                now,
                call.caller,
                call.category,
                call.agent_id,
                call.priority,
            )
        )

    def agent_to(
        self,
        agent: Agent,
        trigger: AgentTrigger,
        cause: str,
        now: float,
        out: Out,
        *,
        reason: str | None = None,
        by: str = "",
    ) -> None:
        self.touched.add(agent.agent_id)
        old = agent.transition(trigger)
        out.append(
            AgentStateChanged(
                agent.agent_id, old, agent.state, cause, now, reason, by, agent.call_id
            )
        )
        self.refresh_ready(agent)

    def refresh_ready(self, agent: Agent) -> None:
        if agent.offerable:
            self.ready[agent.agent_id] = agent
        else:
            self.ready.pop(agent.agent_id, None)

    def reclassify(
        self,
        call: Call,
        priority: int,
        category: str,
        caller_name: str,
        cause: str,
        now: float,
        out: Out,
    ) -> None:
        """Give ``call`` a new class; it keeps its arrival order within the new one."""
        out.append(CallReclassified(call.call_id, priority, category, caller_name, cause, now))
        out.append(KeepClass(call.call_id, priority))
        call.category = category
        call.caller_name = caller_name
        if call.in_queue:
            self.queue.discard(call)
            call.priority = priority
            self.queue.push(call)
        else:
            call.priority = priority

    def nobody_logged_in(self) -> bool:
        rostered = self.rostered
        return not (self.logged_in if rostered is None else self.logged_in & rostered)

    def overflow_reason_for_shift(self) -> str | None:
        if not self.staffed:
            return "out-of-hours"
        if self.nobody_logged_in():
            return "nobody-logged-in"
        return None

    def on_duty(self) -> int:
        """Call-takers logged in, not paused and in the roster: those who will take calls."""
        rostered = self.rostered
        return sum(
            1
            for agent_id in self.logged_in
            if self.agents[agent_id].state is not AgentState.PAUSED
            and (rostered is None or agent_id in rostered)
        )

    def someone_free(self) -> bool:
        rostered = self.rostered
        return any(rostered is None or agent_id in rostered for agent_id in self.ready)
