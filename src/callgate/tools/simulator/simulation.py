"""The discrete-event loop: simulated callers and call-takers around the real core."""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from callgate.core import (
    AUTO_PAUSE_REASON,
    Acd,
    AcdConfig,
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentState,
    AgentStateChanged,
    AgentUnpaused,
    Bridge,
    CallArrived,
    CallBridged,
    CallEnded,
    CallerHistory,
    CallerHungUp,
    CallScreened,
    CancelRing,
    Command,
    DestinationAnswered,
    Disposition,
    DispositionRecord,
    Event,
    KpiReport,
    Priority,
    RingAgent,
    Roster,
    ScreeningPolicy,
    SendToDestination,
    compute_kpis,
    history_key,
)
from callgate.tools.simulator.traffic import ShiftSpec, TraceCall

#: Delay before an overflow destination (not the fallback queue) takes a call.
DESTINATION_DELAY = 5.0
#: Seconds before a call-taker auto-paused after missed offers notices and unpauses. Without
#: it a week-long run slowly loses call-takers to chance runs of missed offers.
AUTO_PAUSE_RECOVERY = 120.0


@dataclass
class Outcome:
    """What a simulation produced."""

    report: KpiReport
    "KPIs of every call."
    records: list[CallEnded]
    "The core's record of every call, in the order they ended, with its true category."
    duration: float
    "Simulated seconds from the start to the last event."
    per_shift: dict[str, KpiReport] = field(default_factory=dict)
    "KPIs by shift, when shifts were given."
    deprioritised: int = 0
    "Calls screening moved to a lower priority class."
    tagged: int = 0
    "Calls screening tagged on the call-taker's phone."


class Simulation:
    """One run: a queue of future events, the core, and simulated people reacting to it."""

    def __init__(
        self,
        config: AcdConfig,
        calls: Sequence[TraceCall],
        *,
        start: float,
        agents: int | None,
        shifts: Sequence[ShiftSpec],
        rng: random.Random,
        patience: float,
        answer_delay: float,
        no_answer_share: float,
        screening: ScreeningPolicy | None = None,
    ) -> None:
        # Screening is the core's, as in the daemon: the calls arrive with their history.
        self.acd = Acd(config if screening is None else replace(config, screening=screening))
        self.screening = screening
        #: Caller histories by history key, as the daemon would load them from storage.
        self.histories: dict[str, CallerHistory] = {}
        #: What the core decided for each call at arrival.
        self.screened: dict[str, CallScreened] = {}
        #: Each call's true category (screening replaces the one the core keeps).
        self.categories: dict[str, str] = {}
        self.deprioritised = 0
        self.tagged = 0
        self.start = start
        self.rng = rng
        self.patience = patience
        self.answer_delay = answer_delay
        self.no_answer_share = no_answer_share
        self._heap: list[tuple[float, int, Event, int]] = []
        self._seq = itertools.count()
        self._talk: dict[str, float] = {}
        self._ring_token: dict[tuple[str, str], int] = {}
        self._arrivals_left = len(calls)
        self.records: list[CallEnded] = []
        self.agent_changes: list[AgentStateChanged] = []
        for n, call in enumerate(calls):
            call_id = f"call-{n}"
            self._talk[call_id] = call.talk_time
            self.categories[call_id] = call.category
            when = start + call.arrival
            self._push(when, CallArrived(call_id, call.caller, category=call.category))
            self._push(when + rng.expovariate(1.0 / patience), CallerHungUp(call_id))
        horizon = start + (calls[-1].arrival if calls else 0.0)
        if agents is not None:
            for k in range(agents):
                self._push(start, AgentLoggedIn(f"agent-{k + 1}", f"SIM/agent-{k + 1}"))
        roster = config.roster
        if roster is not None:
            self._schedule_shifts(roster, shifts, horizon)

    def _push(self, when: float, event: Event, token: int = 0) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), event, token))

    def _schedule_shifts(self, roster: Roster, specs: Sequence[ShiftSpec], horizon: float) -> None:
        tz = roster.zone
        first = dt.datetime.fromtimestamp(self.start, tz).date() - dt.timedelta(days=1)
        days = int((horizon - self.start) // 86400) + 3
        for offset in range(days):
            day = first + dt.timedelta(days=offset)
            for index, (shift, spec) in enumerate(zip(roster.shifts, specs, strict=True)):
                begin = dt.datetime.combine(day, shift.start, tzinfo=tz).timestamp()
                end_day = day if shift.end > shift.start else day + dt.timedelta(days=1)
                end = dt.datetime.combine(end_day, shift.end, tzinfo=tz).timestamp()
                if end < self.start or begin > horizon + 86400:
                    continue
                for k in range(spec.agents):
                    agent_id = f"s{index + 1}-{k + 1}"
                    # Log in a minute early so the handover has no gap.
                    self._push(max(self.start, begin - 60.0), AgentLoggedIn(agent_id, agent_id))
                    self._push(end, AgentLoggedOut(agent_id))

    def run(self) -> Outcome:
        """Run until every call has ended; return the KPIs."""
        acd = self.acd
        heap = self._heap
        now = self.start
        while heap or acd.calls:
            deadline = acd.next_deadline()
            if deadline is not None and (not heap or deadline <= heap[0][0]):
                now = max(now, deadline)
                commands = acd.handle_timer(now)
            else:
                when, _, event, token = heapq.heappop(heap)
                now = max(now, when)
                if not self._still_relevant(event, token):
                    continue
                if isinstance(event, CallArrived) and self.screening is not None:
                    event = replace(event, history=self.history(event.caller))
                commands = acd.handle(event, now)
            self._react(commands, now)
            if not self._arrivals_left and not acd.calls:
                break
        report = compute_kpis(self.records, self.agent_changes, until=now)
        return Outcome(
            report,
            self.records,
            now - self.start,
            deprioritised=self.deprioritised,
            tagged=self.tagged,
        )

    def history(self, caller: str) -> CallerHistory:
        """The caller's history as the daemon's loader gives it: empty when nothing is known or
        the caller has no history key (simulated callers have no IMEI identity)."""
        key = history_key(caller, None)
        if key is None:
            return CallerHistory("")
        return self.histories.get(key) or CallerHistory(key)

    def _record_disposition(self, record: CallEnded) -> None:
        key = history_key(record.caller, None)
        if key is None or record.answered_at is None:
            return
        try:
            disposition = Disposition(record.category)
        except ValueError:
            return  # a trace category screening does not know: no disposition
        history = self.histories.get(key) or CallerHistory(key)
        self.histories[key] = history.with_disposition(
            DispositionRecord(record.ended_at, disposition, record.call_id)
        )

    def _still_relevant(self, event: Event, token: int) -> bool:
        if isinstance(event, CallArrived):
            self._arrivals_left -= 1
            return True
        if isinstance(event, AgentAnswered):
            return self._ring_token.get((event.call_id, event.agent_id)) == token
        if isinstance(event, CallerHungUp):
            # Patience only runs out while nobody is talking to the caller.
            call = self.acd.calls.get(event.call_id)
            return call is not None and call.answered_at is None
        if isinstance(event, AgentLoggedIn | AgentLoggedOut | AgentUnpaused):
            return True
        return event.call_id in self.acd.calls  # type: ignore[attr-defined]

    def _react(self, commands: list[Command], now: float) -> None:
        for command in commands:
            if isinstance(command, RingAgent):
                key = (command.call_id, command.agent_id)
                token = self._ring_token.get(key, 0) + 1
                self._ring_token[key] = token
                if self.rng.random() >= self.no_answer_share:
                    delay = self.rng.uniform(0.5, 1.5) * self.answer_delay
                    self._push(now + delay, AgentAnswered(*key), token)
            elif isinstance(command, CancelRing):
                self._ring_token.pop((command.call_id, command.agent_id), None)
            elif isinstance(command, Bridge):
                self._push(now, CallBridged(command.call_id))
                talk = self._talk[command.call_id]
                self._push(now + talk, AgentHungUp(command.call_id, command.agent_id))
            elif isinstance(command, SendToDestination) and not command.fallback:
                self._push(now + DESTINATION_DELAY, DestinationAnswered(command.call_id))
            elif isinstance(command, CallScreened):
                self.screened[command.call_id] = command
                self.deprioritised += command.priority > Priority.NORMAL
                self.tagged += bool(command.tag)
            elif isinstance(command, CallEnded):
                # The call's true category, so the KPIs can be split by it; screening's is in
                # ``screened``.
                true = self.categories.get(command.call_id, command.category)
                record = replace(command, category=true)
                self.records.append(record)
                if self.screening is not None:
                    self._record_disposition(record)
            elif isinstance(command, AgentStateChanged):
                self.agent_changes.append(command)
                if command.new is AgentState.PAUSED and command.reason == AUTO_PAUSE_REASON:
                    self._push(now + AUTO_PAUSE_RECOVERY, AgentUnpaused(command.agent_id))
