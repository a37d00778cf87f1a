"""Property-based tests of the decisions the core makes beside distribution: screening,
blocking, the silent-caller watch and callbacks. Random sequences of what a phone system and
its callers can report, with the invariants checked after every step."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

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
    AgentState,
    AnnouncementFinished,
    AttemptOutcome,
    BlockingPolicy,
    CallArrived,
    CallbackFailed,
    CallbackPolicy,
    CallbackRequested,
    CallBlocked,
    CallBridged,
    CallEnded,
    CallerHistory,
    CallerHungUp,
    CallerPressedKey,
    CallerSpoke,
    CallReclassified,
    CallScreened,
    CallState,
    CallStateChanged,
    CancelCallback,
    Command,
    DialCallback,
    Disposition,
    DispositionRecord,
    Event,
    HangUpCaller,
    HangUpFailed,
    ListeningFailed,
    PrepareCallback,
    ReadinessChanged,
    RingAgent,
    ScreeningPolicy,
    SendToDestination,
    SilencePolicy,
    StartListening,
    StopListening,
)

AGENTS = ("a1", "a2", "a3")
NUMBERS = ("+6281100001", "+6281100002", "+6281100003", "anonymous")
HISTORIES = ("none", "empty", "pranks", "blocked", "valve")
OPS = (
    "arrive",
    "arrive",
    "arrive",
    "caller_hangup",
    "answer",
    "answer",
    "answer",
    "no_answer",
    "bridged",
    "bridged",
    "agent_hangup",
    "login",
    "logout",
    "spoke",
    "key",
    "listen_failed",
    "announcement_done",
    "hangup_failed",
    "callback_failed",
    "callback_requested",
    "readiness",
    "advance",
    "advance",
)

screening = st.sampled_from(
    [
        None,
        ScreeningPolicy(),
        ScreeningPolicy(blocking=BlockingPolicy(announcement="sound:blocked")),
        ScreeningPolicy(blocking=BlockingPolicy(valve_calls=2)),
    ]
)
configs = st.builds(
    AcdConfig,
    strategy=st.sampled_from(["longest-idle", "ring-all"]),
    ring_timeout=st.sampled_from([5.0, 15.0]),
    wrap_up_time=st.sampled_from([0.0, 5.0]),
    max_wait=st.sampled_from([None, 60.0]),
    overflow_destinations=st.sampled_from([("fb",), ("sup", "fb")]),
    screening=screening,
    silence=st.sampled_from([None, SilencePolicy(5.0, 5.0, "sound:key"), SilencePolicy(3.0, 4.0)]),
    callbacks=st.sampled_from(
        [
            None,
            CallbackPolicy(retry_delay=10.0, max_concurrent=1),
            CallbackPolicy(max_attempts=1, first_delay=5.0, retry_delay=0.0, max_concurrent=2),
        ]
    ),
)
steps = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, 63), st.floats(0.0, 30.0)),
    min_size=20,
    max_size=120,
)


@dataclass
class World:
    """What the driver told the core, and what the core answered, to judge it."""

    acd: Acd
    now: float = 1_000_000.0
    next_id: int = 0
    arrived: list[str] = field(default_factory=list)
    ended: Counter[str] = field(default_factory=Counter)
    #: Calls screening rejected, how often each was recorded BLOCKED, and how each left:
    #: hang-up asked, handed back, or the caller gone by themselves.
    rejected: set[str] = field(default_factory=set)
    blocked: Counter[str] = field(default_factory=Counter)
    blocked_left: dict[str, str] = field(default_factory=dict)
    hung_up_by_caller: set[str] = field(default_factory=set)
    listening: set[str] = field(default_factory=set)
    stopped: set[str] = field(default_factory=set)
    #: Attempts offered, by call id (an untaken attempt's id is used again by the next one).
    attempts: Counter[str] = field(default_factory=Counter)
    dialled: set[str] = field(default_factory=set)
    ready: bool = True
    #: Each call's state as the notifications told it so far.
    states: dict[str, CallState] = field(default_factory=dict)

    def pick(self, items: list[str], index: int) -> str | None:
        return items[index % len(items)] if items else None

    def live(self, *states: CallState) -> list[str]:
        return sorted(c.call_id for c in self.acd.calls.values() if not states or c.state in states)

    def agents_in(self, *states: AgentState) -> list[str]:
        return sorted(a.agent_id for a in self.acd.agents.values() if a.state in states)

    def history(self, kind: str, caller: str) -> CallerHistory | None:
        if kind == "none":
            return None
        key = caller if caller != "anonymous" else ""
        if kind == "empty":
            return CallerHistory(key)
        pranks = tuple(
            DispositionRecord(self.now - 600 + i, Disposition.PRANK, f"p{i}") for i in range(3)
        )
        history = CallerHistory(key, dispositions=pranks)
        if kind == "pranks":
            return history
        history = history.with_block(self.now - 300, 86_400.0, "auto", "test")
        calls = (self.now - 60,) if kind == "valve" else ()
        return CallerHistory(
            key, dispositions=history.dispositions, blocks=history.blocks, calls=calls
        )

    def event_for(self, op: str, index: int) -> Event | None:
        acd = self.acd
        if op == "arrive":
            self.next_id += 1
            call_id = f"c{self.next_id}"
            self.arrived.append(call_id)
            caller = NUMBERS[index % len(NUMBERS)]
            history = self.history(HISTORIES[(index // 4) % len(HISTORIES)], caller)
            return CallArrived(call_id, caller=caller, caller_name=f"112 {caller}", history=history)
        if op == "caller_hangup":
            targets = sorted({*acd.calls, *self.blocking()})
            call_id = self.pick(targets, index)
            if call_id is None:
                return None
            self.hung_up_by_caller.add(call_id)
            return CallerHungUp(call_id)
        if op in ("answer", "no_answer", "agent_hangup"):
            states = (AgentState.RINGING,) if op != "agent_hangup" else (AgentState.ON_CALL,)
            agent_id = self.pick(self.agents_in(*states), index)
            if agent_id is None:
                return None
            call_id = acd.agents[agent_id].call_id or ""
            kind = {
                "answer": AgentAnswered,
                "no_answer": AgentNoAnswer,
                "agent_hangup": AgentHungUp,
            }
            return kind[op](call_id, agent_id)
        if op == "bridged":
            call_id = self.pick(self.live(CallState.CONNECTING), index)
            return None if call_id is None else CallBridged(call_id)
        if op in ("spoke", "key", "listen_failed"):
            call_id = self.pick(self.live(), index)
            if call_id is None:
                return None
            return {
                "spoke": CallerSpoke,
                "key": CallerPressedKey,
                "listen_failed": ListeningFailed,
            }[op](call_id)
        if op in ("announcement_done", "hangup_failed"):
            call_id = self.pick(sorted(self.blocking()), index)
            if call_id is None:
                return None
            return (
                AnnouncementFinished(call_id)
                if op == "announcement_done"
                else HangUpFailed(call_id)
            )
        if op == "callback_failed":
            call_id = self.pick(sorted(self.dialled & set(acd.calls)), index)
            if call_id is None:
                return None
            return CallbackFailed(call_id, list(AttemptOutcome)[1 + index % 3], "cause")
        if op == "callback_requested":
            call_id = self.pick(self.arrived, index) or "nope"
            return CallbackRequested(call_id, caller=NUMBERS[index % len(NUMBERS)])
        if op == "readiness":
            self.ready = not self.ready
            return ReadinessChanged(self.ready)
        agent_id = AGENTS[index % len(AGENTS)]
        if op == "login":
            return AgentLoggedIn(agent_id, f"PJSIP/{agent_id}")
        assert op == "logout"
        return AgentLoggedOut(agent_id)

    def blocking(self) -> set[str]:
        """Rejected callers who may still be on the line."""
        return {c for c in self.rejected if self.blocked_left.get(c) not in ("caller",)}

    def apply(self, op: str, index: int, seconds: float) -> None:
        if op == "advance":
            target = self.now + seconds
            while (deadline := self.acd.next_deadline()) is not None and deadline <= target:
                self.now = max(self.now, deadline)
                self.observe(self.acd.handle_timer(self.now))
            self.now = target
            return
        event = self.event_for(op, index)
        if event is None:
            return
        self.now += 0.5
        self.observe(self.acd.handle(event, self.now))

    def observe(self, out: list[Command]) -> None:
        config = self.acd.config
        for command in out:
            call_id = getattr(command, "call_id", "")
            if isinstance(command, CallScreened) and command.blocked:
                # Screening rejects a call only where the centre configured blocking.
                assert config.screening is not None
                assert config.screening.blocking is not None
                self.rejected.add(call_id)
            elif isinstance(command, CallBlocked):
                assert call_id in self.rejected
                self.blocked[call_id] += 1
                if call_id in self.hung_up_by_caller:
                    self.blocked_left[call_id] = "caller"
            elif isinstance(command, HangUpCaller) and call_id in self.rejected:
                assert self.blocked[call_id] == 1  # recorded BLOCKED first
                assert call_id not in self.blocked_left
                self.blocked_left[call_id] = "hang-up"
            elif isinstance(command, SendToDestination) and call_id in self.rejected:
                assert command.fallback
                assert self.blocked_left.get(call_id) == "hang-up"  # only a failed hang-up
                self.blocked_left[call_id] = "handed back"
            elif isinstance(command, CallEnded):
                self.ended[call_id] += 1
            elif isinstance(command, StartListening):
                assert call_id not in self.listening
                self.listening.add(call_id)
            elif isinstance(command, StopListening):
                assert call_id in self.listening
                assert call_id not in self.stopped
                self.stopped.add(call_id)
            elif isinstance(command, CallReclassified):
                # Only a call still in the core (it may end later in the same batch: the key
                # window and the max wait can fall due at once), never a blocked one.
                assert call_id in self.arrived
                assert not self.ended[call_id]
                assert call_id not in self.rejected
                # Waiting for a human at that point (as the notifications before it tell).
                waiting = (CallState.QUEUED, CallState.OFFERED, CallState.OVERFLOWING)
                assert self.states.get(call_id) in waiting, (call_id, self.states.get(call_id))
            elif isinstance(command, CallStateChanged):
                self.states[call_id] = command.new
            elif isinstance(command, PrepareCallback):
                assert self.ready
                self.attempts[call_id] += 1
            elif isinstance(command, RingAgent) and call_id in self.attempts:
                assert call_id in self.acd.calls
            elif isinstance(command, DialCallback):
                assert call_id in self.attempts
                self.dialled.add(call_id)
            elif isinstance(command, CancelCallback):
                assert call_id in self.attempts
        self.check()

    def check(self) -> None:
        acd = self.acd
        # No caller lost: each is in the core, blocked (then hung up, handed back or gone by
        # themselves), or ended exactly once.
        for call_id in self.arrived:
            alive = call_id in acd.calls
            rejected = call_id in self.rejected
            assert self.ended[call_id] + alive + rejected == 1, call_id
            assert self.blocked[call_id] <= 1, call_id
        for call_id, offered in self.attempts.items():
            assert (call_id in acd.calls) + self.ended[call_id] == offered, call_id
        # Attempts stay under the limit and never wait in the queue ahead of 112 callers.
        in_core = [c for c in self.attempts if c in acd.calls]
        policy = acd.config.callbacks
        assert policy is not None or not in_core
        assert policy is None or len(in_core) <= policy.max_concurrent
        assert all(acd.calls[c].state is not CallState.QUEUED for c in in_core)


@given(config=configs, staff=st.integers(0, len(AGENTS)), script=steps)
def test_random_sequences_never_drop_a_caller_and_keep_every_decision_invariant(
    config: AcdConfig, staff: int, script: list[tuple[str, int, float]]
) -> None:
    world = World(Acd(config))
    for index in range(staff):
        world.apply("login", index, 0.0)
    for op, index, seconds in script:
        world.apply(op, index, seconds)
    # Drain: every caller hangs up in the end; announcements end by their limit.
    for call_id in sorted({*world.acd.calls, *world.blocking()}):
        world.hung_up_by_caller.add(call_id)
        world.now += 1.0
        world.observe(world.acd.handle(CallerHungUp(call_id), world.now))
    world.apply("advance", 0, 10_000.0)
    for call_id in sorted(world.acd.calls):  # attempts offered during the drain
        world.now += 1.0
        world.observe(world.acd.handle(CallerHungUp(call_id), world.now))
    assert not world.acd.calls
    for call_id in world.arrived:
        assert world.ended[call_id] + world.blocked[call_id] == 1, call_id
    for call_id in world.rejected:
        # Every blocked caller was hung up, handed back, or had gone by themselves.
        assert world.blocked_left.get(call_id) in ("hang-up", "handed back", "caller"), call_id
    # Talk detection that was turned on is turned off, unless the call ended meanwhile.
    assert world.stopped <= world.listening
    for name, seen in (
        ("blocked", world.rejected),
        ("handed back", "handed back" in world.blocked_left.values()),
        ("watched", world.listening),
        ("callback attempt", world.attempts),
        ("callback dialled", world.dialled),
    ):
        if seen:
            event(name)
