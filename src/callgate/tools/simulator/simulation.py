"""The discrete-event loop: simulated callers and call-takers around the real core.

The core decides (screening, blocking and its valve, the silent-caller watch, callbacks, the
roster); this module is the world it talks to, answering its commands as Asterisk and the
people on the line would. How the simulated callers behave is :class:`Callers`.
"""

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
    AnnouncementFinished,
    AttemptOutcome,
    Bridge,
    CallArrived,
    CallbackFailed,
    CallbackTask,
    CallbackTaskChanged,
    CallBlocked,
    CallBridged,
    CallEnded,
    CallerHistory,
    CallerHungUp,
    CallerPressedKey,
    CallerSpoke,
    CallScreened,
    CancelRing,
    DestinationAnswered,
    DialCallback,
    Disposition,
    DispositionRecord,
    Event,
    HangUpCaller,
    KpiReport,
    Output,
    PlayAnnouncement,
    PlayPrompt,
    Priority,
    RingAgent,
    Roster,
    ScreeningPolicy,
    SendToDestination,
    StartListening,
    compute_kpis,
    history_key,
    record_call,
    record_disposition,
)
from callgate.core.callbacks import CALLBACK_CATEGORY, task_id_of
from callgate.tools.simulator.traffic import ShiftSpec, TraceCall

#: Delay before an overflow destination (not the fallback queue) takes a call.
DESTINATION_DELAY = 5.0
#: Seconds before a call-taker auto-paused after missed offers notices and unpauses. Without
#: it a week-long run slowly loses call-takers to chance runs of missed offers.
AUTO_PAUSE_RECOVERY = 120.0


@dataclass(frozen=True, slots=True)
class Callers:
    """How simulated callers answer what the daemon does to them. The figures are assumptions
    (no centre publishes them); each is an option of ``callgate simulate``.

    - Talking callers (genuine, information, prank) are heard by talk detection
      ``speak_after`` seconds (mean, exponential) after the answer, most of them before the
      silent-caller prompt; one still quiet when prompted speaks then.
    - Ghost callers (a phone in a pocket) never speak nor press a key: the prompt's window ends
      and the core lowers the call. A share ``cannot_speak`` of genuine callers cannot talk
      (an intruder, a stroke): silent, they press a key ``key_delay`` seconds (half to one and
      a half times) after the prompt.
    - A repeat nuisance hears the warning (``warning_length`` seconds, played while the
      call-takers' phones ring); a share ``warning_deters`` of prank callers hang up during it.
      Nobody else reacts to it.
    - A blocked caller hears the announcement (``announcement_length`` seconds) and is hung up
      by the core. A blocked genuine caller calls again ``redial_after`` seconds later (mean),
      up to ``redials`` times: the safety valve puts them through once they call often enough.
      Blocked prank and ghost callers do not call again.
    - No caller gives up within ``min_patience`` seconds (they hear the greeting); beyond it,
      patience is exponential, its mean over all callers the simulation's ``patience``.
    - A callback rings ``callback_ring`` seconds (mean) before the number answers, which it does
      with probability ``callback_reach``; otherwise the attempt fails after 30 s. The
      conversation is as long as the abandoned call's would have been.
    """

    speak_after: float = 3.0
    "Mean seconds from the answer to a talking caller's first words."
    cannot_speak: float = 0.01
    "Share of genuine callers who cannot speak and press a key when prompted."
    key_delay: float = 4.0
    "Seconds from the prompt to their key press, on average (uniform, +-50%)."
    warning_length: float = 8.0
    "Seconds of the warning to a repeat nuisance."
    warning_deters: float = 0.3
    "Share of prank callers who hang up during the warning."
    announcement_length: float = 8.0
    "Seconds of the announcement to a blocked caller."
    redials: int = 3
    "Times a blocked genuine caller calls again."
    redial_after: float = 30.0
    "Mean seconds before a blocked genuine caller calls again."
    min_patience: float = 10.0
    "Seconds no caller hangs up within."
    callback_reach: float = 0.7
    "Share of callbacks the number answers."
    callback_ring: float = 12.0
    "Mean seconds a callback rings before it is answered."


#: Seconds a callback rings before the attempt is given up as not answered.
CALLBACK_NO_ANSWER = 30.0
#: How long after the last call a run goes on for callbacks still open (nobody free to make
#: them, a number that does not answer yet).
CALLBACK_TAIL = 3600.0


@dataclass
class Outcome:
    """What a simulation produced."""

    report: KpiReport
    "KPIs of every call that reached the queue (redials of blocked callers included)."
    records: list[CallEnded]
    "The core's record of every such call, in the order they ended, with its true category."
    duration: float
    "Simulated seconds from the start to the last event."
    per_shift: dict[str, KpiReport] = field(default_factory=dict)
    "KPIs by shift, when shifts were given."
    deprioritised: int = 0
    "Calls screening moved to a lower priority class."
    tagged: int = 0
    "Calls screening tagged on the call-taker's phone."
    start: float = 0.0
    "The simulation's start (epoch seconds): trace arrivals count from it."
    origin: dict[str, int] = field(default_factory=dict)
    "Call id -> index of the trace call it belongs to (a redial belongs to the first call)."
    blocked: dict[str, float] = field(default_factory=dict)
    "Calls the core blocked (announced and hung up) -> when; they reach no queue and no KPI."
    called_back: dict[str, float] = field(default_factory=dict)
    "Call id -> when a callback reached its number (every call the task covered)."
    attempts: list[CallEnded] = field(default_factory=list)
    "The core's records of callback attempts (call-takers' time, not callers' calls)."
    deterred: int = 0
    "Prank callers who hung up during the warning."
    prompted: int = 0
    "Callers who heard the silent-caller prompt."


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
        callers: Callers | None = None,
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
        self.deterred = 0
        self.prompted = 0
        self.callers = callers or Callers()
        #: Call id -> the trace call's index; a redial keeps its first call's.
        self.origin: dict[str, int] = {}
        self.blocked: dict[str, float] = {}
        #: Blocked calls whose caller is still on the line (the announcement).
        self._blocked_live: set[str] = set()
        #: Calls whose caller cannot speak (genuine, silent, presses a key when prompted).
        self._mute: set[str] = set()
        self._redials: dict[int, int] = {}
        #: Callback attempt -> when its number answered; task id -> its latest snapshot.
        self._reached_at: dict[str, float] = {}
        self._tasks: dict[str, CallbackTask] = {}
        self._open_tasks: set[str] = set()
        self.called_back: dict[str, float] = {}
        self.attempts: list[CallEnded] = []
        self._calls = calls
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
            self._arrive(f"call-{n}", n, start + call.arrival)
        horizon = self._horizon = start + (calls[-1].arrival if calls else 0.0)
        if agents is not None:
            for k in range(agents):
                self._push(start, AgentLoggedIn(f"agent-{k + 1}", f"SIM/agent-{k + 1}"))
        roster = config.roster
        if roster is not None:
            self._schedule_shifts(roster, shifts, horizon)

    def _push(self, when: float, event: Event, token: int = 0) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), event, token))

    def _arrive(self, call_id: str, n: int, when: float) -> None:
        """Trace call ``n`` (or its redial ``call_id``) arrives at ``when``."""
        call = self._calls[n]
        self.origin[call_id] = n
        self._talk[call_id] = call.talk_time
        self.categories[call_id] = call.category
        if call.category == "genuine" and self.rng.random() < self.callers.cannot_speak:
            self._mute.add(call_id)
        self._push(when, CallArrived(call_id, call.caller, category=call.category))
        floor = min(self.callers.min_patience, self.patience)
        extra = self.patience - floor
        patience = floor + (self.rng.expovariate(1.0 / extra) if extra > 0 else 0.0)
        self._push(when + patience, CallerHungUp(call_id))

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
        """Run until every call has ended, blocked callers included, and the callbacks are done
        (at most :data:`CALLBACK_TAIL` after the last call); return the KPIs."""
        acd = self.acd
        heap = self._heap
        now = self.start
        tail = self._horizon + CALLBACK_TAIL
        while True:
            deadline = acd.next_deadline()
            if deadline is not None and (not heap or deadline <= heap[0][0]):
                now = max(now, deadline)
                commands = acd.handle_timer(now)
            elif not heap:
                break
            else:
                when, _, event, token = heapq.heappop(heap)
                if not self._still_relevant(event, token):
                    continue
                now = max(now, when)
                if isinstance(event, CallArrived) and self.screening is not None:
                    history = self.history(event.caller)
                    event = replace(event, history=history)
                    if history.key:
                        # The valve counts a caller's recent calls, as the daemon's journal does.
                        self.histories[history.key] = record_call(history, now, self.screening)
                commands = acd.handle(event, now)
            self._react(commands, now)
            if self._arrivals_left or acd.calls or self._blocked_live:
                continue
            if not self._open_tasks or now > tail:
                break
        report = compute_kpis(self.records, self.agent_changes, until=now)
        return Outcome(
            report,
            self.records,
            now - self.start,
            deprioritised=self.deprioritised,
            tagged=self.tagged,
            start=self.start,
            origin=self.origin,
            blocked=self.blocked,
            called_back=self.called_back,
            attempts=self.attempts,
            deterred=self.deterred,
            prompted=self.prompted,
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
        assert self.screening is not None
        # The core's own rule, automatic blocks included, as the daemon's dispositions use it.
        self.histories[key] = record_disposition(
            history, DispositionRecord(record.ended_at, disposition, record.call_id), self.screening
        )

    def _still_relevant(self, event: Event, token: int) -> bool:
        if isinstance(event, CallArrived):
            self._arrivals_left -= 1
            return True
        if isinstance(event, AgentAnswered):
            return self._ring_token.get((event.call_id, event.agent_id)) == token
        if isinstance(event, AgentLoggedIn | AgentLoggedOut | AgentUnpaused):
            return True
        call_id: str = event.call_id  # type: ignore[attr-defined]
        if call_id in self._blocked_live:
            # A blocked caller hangs up or hears the end of the announcement; nothing else.
            if isinstance(event, CallerHungUp):
                self._blocked_live.discard(call_id)
            return isinstance(event, CallerHungUp | AnnouncementFinished)
        if isinstance(event, CallerHungUp):
            # Patience only runs out while nobody is talking to the caller.
            call = self.acd.calls.get(call_id)
            return call is not None and call.answered_at is None
        return call_id in self.acd.calls

    def _react(self, commands: list[Output], now: float) -> None:
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
                self._screened(command, now)
            elif isinstance(command, StartListening):
                self._listened_to(command.call_id, now)
            elif isinstance(command, PlayPrompt):
                self.prompted += 1
                if command.call_id in self._mute:
                    delay = self.rng.uniform(0.5, 1.5) * self.callers.key_delay
                    self._push(now + delay, CallerPressedKey(command.call_id, "5"))
            elif isinstance(command, PlayAnnouncement):
                delay = self.callers.announcement_length
                self._push(now + delay, AnnouncementFinished(command.call_id))
            elif isinstance(command, HangUpCaller) and command.call_id in self._blocked_live:
                self._push(now, CallerHungUp(command.call_id))
            elif isinstance(command, CallBlocked):
                self.blocked[command.call_id] = now
                self._redial(command.call_id, now)
            elif isinstance(command, DialCallback):
                self._dialled(command, now)
            elif isinstance(command, CallbackTaskChanged):
                self._task_changed(command)
            elif isinstance(command, CallEnded):
                self._ended(command)
            elif isinstance(command, AgentStateChanged):
                self.agent_changes.append(command)
                if command.new is AgentState.PAUSED and command.reason == AUTO_PAUSE_REASON:
                    self._push(now + AUTO_PAUSE_RECOVERY, AgentUnpaused(command.agent_id))

    # -- the callers' side ----------------------------------------------------------------

    def _screened(self, command: CallScreened, now: float) -> None:
        self.screened[command.call_id] = command
        self.deprioritised += command.priority > Priority.NORMAL
        self.tagged += bool(command.tag)
        if command.blocked:
            self._blocked_live.add(command.call_id)
        elif (
            command.warn
            and self.categories.get(command.call_id) == "prank"
            and self.rng.random() < self.callers.warning_deters
        ):
            self.deterred += 1
            during = self.rng.uniform(0.3, 1.0) * self.callers.warning_length
            self._push(now + during, CallerHungUp(command.call_id))

    def _listened_to(self, call_id: str, now: float) -> None:
        """Talk detection is on: a talking caller is heard; ghosts and mute callers are not."""
        if self.categories.get(call_id) == "ghost" or call_id in self._mute:
            return
        delay = self.rng.expovariate(1.0 / self.callers.speak_after)
        self._push(now + delay, CallerSpoke(call_id))

    def _redial(self, call_id: str, now: float) -> None:
        """A blocked genuine caller calls again, up to ``Callers.redials`` times."""
        n = self.origin.get(call_id)
        if n is None or self._calls[n].category != "genuine":
            return
        done = self._redials.get(n, 0)
        if done >= self.callers.redials:
            return
        self._redials[n] = done + 1
        self._arrivals_left += 1
        when = now + self.rng.expovariate(1.0 / self.callers.redial_after)
        self._arrive(f"call-{n}-r{done + 1}", n, when)

    # -- callbacks ------------------------------------------------------------------------

    def _dialled(self, command: DialCallback, now: float) -> None:
        """The number of a callback rings: answered (a conversation) or not."""
        call_id = command.call_id
        if self.rng.random() >= self.callers.callback_reach:
            failed = CallbackFailed(call_id, AttemptOutcome.NO_ANSWER)
            self._push(now + CALLBACK_NO_ANSWER, failed)
            return
        answered = now + min(
            CALLBACK_NO_ANSWER, self.rng.expovariate(1.0 / self.callers.callback_ring)
        )
        self._reached_at[call_id] = answered
        self._push(answered, CallBridged(call_id))
        task = self._tasks.get(task_id_of(call_id))
        talk = self._talk.get(task.call_ids[-1], 60.0) if task is not None else 60.0
        self._push(answered + talk, AgentHungUp(call_id, command.agent_id))

    def _task_changed(self, change: CallbackTaskChanged) -> None:
        task = change.task
        self._tasks[task.task_id] = task
        if task.closed_at is None:
            self._open_tasks.add(task.task_id)
        else:
            self._open_tasks.discard(task.task_id)
        if change.change == "attempt-ended" and change.outcome == "reached":
            reached = self._reached_at[change.call_id]
            for call_id in task.call_ids:
                self.called_back.setdefault(call_id, reached)

    def _ended(self, command: CallEnded) -> None:
        if command.category == CALLBACK_CATEGORY and command.call_id not in self.categories:
            self.attempts.append(command)
            return
        # The call's true category, so the KPIs can be split by it; screening's is in
        # ``screened``.
        true = self.categories.get(command.call_id, command.category)
        record = replace(command, category=true)
        self.records.append(record)
        if self.screening is not None:
            self._record_disposition(record)
