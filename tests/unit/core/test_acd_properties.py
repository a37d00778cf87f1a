"""Property-based tests: random sequences of what a phone system can report, with invariants
checked after every step. The driver picks targets from the core's current state so that most
events are meaningful, and also sends stale ones (races are normal on a phone system)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from hypothesis import event, given
from hypothesis import strategies as st

from callgate.core import (
    Acd,
    AcdConfig,
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNoAnswer,
    AgentPaused,
    AgentState,
    AgentStateChanged,
    AgentUnpaused,
    CallArrived,
    CallBridged,
    CallEnded,
    CallerHungUp,
    CallReclassified,
    CallReprioritised,
    CallScreened,
    CallState,
    DestinationAnswered,
    DestinationFailed,
    DeviceState,
    DeviceStateChanged,
    Event,
    ForgetCall,
    KeepClass,
    Output,
    RingAgent,
    Roster,
    SendToDestination,
    Shift,
)
from callgate.core.strategies import STRATEGIES

AGENTS = ("a1", "a2", "a3", "a4")
#: Skills the generated calls need (None: any call-taker) and what each call-taker has.
SKILL_NEEDS = (None, None, "tolaki", "en")
AGENT_SKILLS = {"a1": {"id": 1}, "a2": {"tolaki": 1}, "a3": {"en": 2, "tolaki": 2}, "a4": {}}
OPS = (
    "arrive",
    "arrive",
    "arrive",
    "caller_hangup",
    "answer",
    "answer",
    "no_answer",
    "bridged",
    "bridged",
    "agent_hangup",
    "agent_hangup",
    "login",
    "logout",
    "pause",
    "unpause",
    "device",
    "dest_answer",
    "dest_fail",
    "reprioritise",
    "advance",
    "advance",
    "stale",
)

configs = st.builds(
    AcdConfig,
    strategy=st.sampled_from(sorted(STRATEGIES)),
    ring_timeout=st.sampled_from([5.0, 15.0]),
    wrap_up_time=st.sampled_from([0.0, 5.0]),
    max_consecutive_no_answers=st.sampled_from([1, 3]),
    max_wait=st.sampled_from([None, 30.0, 90.0]),
    overflow_destinations=st.sampled_from([("fb",), ("sup", "fb"), ("sup", "neighbour", "fb")]),
    aging_interval=st.sampled_from([None, 20.0]),
    skill_relax_after=st.sampled_from([None, 25.0]),
)
steps = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, 63), st.floats(0.0, 40.0)),
    min_size=20,
    max_size=120,
)


@dataclass
class World:
    """What the driver has told the core, to judge what the core says back."""

    acd: Acd
    skills: bool = False
    now: float = 0.0
    next_id: int = 0
    arrived: list[str] = field(default_factory=list)
    ended: Counter[str] = field(default_factory=Counter)
    caller_hung_up: set[str] = field(default_factory=set)
    bridged: set[str] = field(default_factory=set)
    dest_answered: set[str] = field(default_factory=set)
    logout_asked: set[str] = field(default_factory=set)
    records: list[CallEnded] = field(default_factory=list)

    def pick(self, items: list[str], index: int) -> str | None:
        return items[index % len(items)] if items else None

    def calls_in(self, *states: CallState) -> list[str]:
        return sorted(c.call_id for c in self.acd.calls.values() if c.state in states)

    def agents_in(self, *states: AgentState) -> list[str]:
        return sorted(a.agent_id for a in self.acd.agents.values() if a.state in states)

    def event_for(self, op: str, index: int) -> Event | None:
        acd = self.acd
        if op == "arrive":
            self.next_id += 1
            call_id = f"c{self.next_id}"
            self.arrived.append(call_id)
            skill = SKILL_NEEDS[index % len(SKILL_NEEDS)] if self.skills else None
            return CallArrived(call_id, caller="0812", priority=index % 3, required_skill=skill)
        if op == "caller_hangup":
            call_id = self.pick(sorted(acd.calls), index)
            return None if call_id is None else CallerHungUp(call_id)
        if op in ("answer", "no_answer", "agent_hangup"):
            states = (
                (AgentState.RINGING,)
                if op != "agent_hangup"
                else (AgentState.RINGING, AgentState.ON_CALL)
            )
            agent_id = self.pick(self.agents_in(*states), index)
            if agent_id is None:
                return None
            call_id = acd.agents[agent_id].call_id or ""
            kind = {
                "answer": AgentAnswered,
                "no_answer": AgentNoAnswer,
                "agent_hangup": AgentHungUp,
            }[op]
            return kind(call_id, agent_id)
        if op == "bridged":
            call_id = self.pick(self.calls_in(CallState.CONNECTING), index)
            return None if call_id is None else CallBridged(call_id)
        if op in ("dest_answer", "dest_fail"):
            call_id = self.pick(self.calls_in(CallState.OVERFLOWING), index)
            if call_id is None:
                return None
            return (
                DestinationAnswered(call_id) if op == "dest_answer" else DestinationFailed(call_id)
            )
        if op == "reprioritise":
            call_id = self.pick(sorted(acd.calls), index)
            return None if call_id is None else CallReprioritised(call_id, index % 3)
        if op == "stale":
            # Events about calls that are gone or agents that never rang: must be harmless.
            call_id = self.pick(self.arrived, index) or "nope"
            agent_id = AGENTS[index % len(AGENTS)]
            options: list[Event] = [
                CallerHungUp(call_id),
                AgentAnswered(call_id, agent_id),
                AgentNoAnswer(call_id, agent_id),
                AgentHungUp(call_id, agent_id),
                CallBridged(call_id),
                DestinationAnswered(call_id),
                DestinationFailed(call_id),
            ]
            event = options[index % len(options)]
            if isinstance(event, CallerHungUp) and call_id in acd.calls:
                self.caller_hung_up.add(call_id)
            return event
        agent_id = AGENTS[index % len(AGENTS)]
        if op == "login":
            self.logout_asked.discard(agent_id)
            skills = AGENT_SKILLS[agent_id] if self.skills else {}
            return AgentLoggedIn(agent_id, f"PJSIP/{agent_id}", skills)
        if op == "logout":
            self.logout_asked.add(agent_id)
            return AgentLoggedOut(agent_id)
        if op == "pause":
            return AgentPaused(agent_id, "break")
        if op == "unpause":
            return AgentUnpaused(agent_id)
        assert op == "device"
        return DeviceStateChanged(agent_id, list(DeviceState)[index % len(DeviceState)])

    def apply(self, op: str, index: int, dt: float) -> None:
        if op == "advance":
            target = self.now + dt
            while (deadline := self.acd.next_deadline()) is not None and deadline <= target:
                self.now = max(self.now, deadline)
                self.observe(self.acd.handle_timer(self.now), ringing_before=self.ringing())
            self.now = target
            return
        event = self.event_for(op, index)
        if event is None:
            return
        if isinstance(event, CallerHungUp) and event.call_id in self.acd.calls:
            self.caller_hung_up.add(event.call_id)
        if isinstance(event, CallBridged) and event.call_id in self.acd.calls:
            self.bridged.add(event.call_id)
        if isinstance(event, DestinationAnswered) and event.call_id in self.acd.calls:
            self.dest_answered.add(event.call_id)
        self.now += 0.5
        before = self.ringing()
        self.observe(self.acd.handle(event, self.now), ringing_before=before)

    def ringing(self) -> set[str]:
        return set(self.agents_in(AgentState.RINGING, AgentState.ON_CALL))

    def observe(self, out: list[Output], ringing_before: set[str]) -> None:
        fallback_sent = {c.call_id for c in out if isinstance(c, SendToDestination) and c.fallback}
        paired(out)
        for command in out:
            if isinstance(command, CallEnded):
                call_id = command.call_id
                self.ended[call_id] += 1
                self.records.append(command)
                # Every terminal state is consistent with what the driver reported.
                expected = {
                    CallState.COMPLETED: call_id in self.bridged,
                    CallState.ABANDONED: call_id in self.caller_hung_up,
                    CallState.OVERFLOWED: call_id in self.dest_answered,
                    CallState.FALLBACK: call_id in fallback_sent,
                }
                assert expected[command.outcome], command
                assert (command.answered_at is not None) == (command.outcome is CallState.COMPLETED)
            if isinstance(command, AgentStateChanged) and command.new is AgentState.LOGGED_OUT:
                # Missing calls pauses a call-taker; only they themselves log out.
                assert command.agent_id in self.logout_asked, command
        offered_now = {c.call_id for c in out if isinstance(c, RingAgent)}
        self.check(offered_now)

    def check(self, offered_now: set[str]) -> None:
        acd = self.acd
        calls = acd.calls
        # No call lost or duplicated: each is alive in the core or ended exactly once.
        for call_id in self.arrived:
            alive = call_id in calls
            assert self.ended[call_id] + alive == 1, call_id
        queued = [c.call_id for c in acd.queued_calls()]
        assert len(queued) == len(set(queued)) == acd.waiting
        assert set(queued) == set(self.calls_in(CallState.QUEUED))
        # No agent double-booked; a call rings one agent unless the strategy is ring-all.
        booked: Counter[str] = Counter()
        for call in calls.values():
            assert call.state not in (CallState.ARRIVED,)
            if call.state is CallState.OFFERED:
                assert call.ringing
                if not acd._floor.strategy.rings_all:
                    assert len(call.ringing) == 1
                for agent_id in call.ringing:
                    agent = acd.agents[agent_id]
                    assert agent.state is AgentState.RINGING
                    assert agent.call_id == call.call_id
                booked.update(call.ringing)
            else:
                assert not call.ringing
            if call.state in (CallState.CONNECTING, CallState.CONNECTED):
                assert call.agent_id is not None
                agent = acd.agents[call.agent_id]
                assert agent.state is AgentState.ON_CALL
                assert agent.call_id == call.call_id
                booked[call.agent_id] += 1
        assert all(n == 1 for n in booked.values()), booked
        for agent in acd.agents.values():
            engaged = agent.state in (AgentState.RINGING, AgentState.ON_CALL)
            assert engaged == (agent.call_id is not None) == (agent.agent_id in booked)
        # Nobody who could take a call idles while it waits; out of hours nothing waits.
        rostered = acd._floor.rostered
        assert acd.staffed or not acd.waiting
        for waiting_call in acd.queued_calls():
            need = waiting_call.skill
            idle = [
                a
                for a in acd.agents.values()
                if a.offerable
                and (need is None or need in a.skills)
                and (rostered is None or a.agent_id in rostered)
            ]
            assert not idle, (waiting_call.call_id, idle)
        # FIFO within a class: nothing of the same class that came earlier is still waiting.
        waiting = acd.queued_calls()
        for call_id in offered_now:
            call = calls.get(call_id)
            if call is None or call.state is not CallState.OFFERED:
                continue
            # FIFO holds within a skill group: a Tolaki call may pass an older English one.
            assert not [
                w
                for w in waiting
                if w.priority == call.priority and w.skill == call.skill and w.seq < call.seq
            ]


def paired(out: list[Output]) -> None:
    """No driver acts on a notification: what it must do after one is the command right after
    it (a class to keep, an ended call to forget), and that command comes only there."""
    expected: list[Output] = []
    for note in out:
        if isinstance(note, CallScreened):
            expected.append(KeepClass(note.call_id, note.priority, True, note.warn, note.blocked))
        elif isinstance(note, CallReclassified):
            expected.append(KeepClass(note.call_id, note.priority))
        elif isinstance(note, CallEnded):
            expected.append(ForgetCall(note.call_id))
    followers = [
        out[i + 1] if i + 1 < len(out) else None
        for i, note in enumerate(out)
        if isinstance(note, CallScreened | CallReclassified | CallEnded)
    ]
    assert followers == expected
    assert [c for c in out if isinstance(c, KeepClass | ForgetCall)] == expected


#: Night shift for a1/a2 until 08:00, a ten-minute day shift for a3/a4, then out of hours;
#: the scripts start at 07:58 local time so that they cross both changes.
ROSTER = Roster(
    "WITA",
    (
        Shift(dt.time(0), dt.time(8), agents=frozenset({"a1", "a2"})),
        Shift(dt.time(8), dt.time(8, 10), agents=frozenset({"a3", "a4"})),
    ),
)
ROSTER_START = dt.datetime(2025, 6, 2, 7, 58, tzinfo=ZoneInfo("Asia/Makassar")).timestamp()


@given(
    config=configs,
    staff=st.integers(0, len(AGENTS)),
    script=steps,
    skills=st.booleans(),
    roster=st.booleans(),
)
def test_random_event_sequences_keep_every_invariant_and_end_every_call(
    config: AcdConfig,
    staff: int,
    script: list[tuple[str, int, float]],
    skills: bool,
    roster: bool,
) -> None:
    if roster:
        config = dataclasses.replace(config, roster=ROSTER)
    world = World(Acd(config), skills=skills, now=ROSTER_START if roster else 0.0)
    for index in range(staff):
        world.apply("login", index, 0.0)
    for op, index, seconds in script:
        world.apply(op, index, seconds)
    # Drain: every caller eventually hangs up or the call ends elsewhere; nothing is left over.
    drained = set(world.acd.calls)
    for call_id in sorted(drained):
        world.caller_hung_up.add(call_id)
        world.now += 1.0
        world.observe(world.acd.handle(CallerHungUp(call_id), world.now), set())
    world.apply("advance", 0, 10_000.0)
    for name in sorted({c.outcome.name for c in world.records if c.call_id not in drained}):
        event(name)
    assert not world.acd.calls
    assert all(world.ended[call_id] == 1 for call_id in world.arrived)
    deadline = world.acd.next_deadline()
    # Only the roster's next shift change may remain.
    assert deadline is None or (roster and deadline > world.now)
    assert all(
        a.state in (AgentState.AVAILABLE, AgentState.PAUSED, AgentState.LOGGED_OUT)
        for a in world.acd.agents.values()
    )
