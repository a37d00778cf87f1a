"""One way in, one way out: the engine's feed takes the core's events and the daemon's records,
and its observers hear both in one order, each through its one method."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from callgate.core import (
    Acd,
    AcdConfig,
    AgentLoggedIn,
    CallArrived,
    CallerHungUp,
    Command,
    Event,
    ForgetCall,
    KeepClass,
    Notification,
)
from callgate.core.commands import AgentDetails, AgentStateChanged, CallStateChanged
from callgate.daemon.engine import Engine
from callgate.ports import (
    AgentConnected,
    CallEndedOutsideCore,
    CallRecorded,
    CallStarted,
    Observed,
    RecordingFailed,
    RecordingInfo,
)

T0 = 1_800_000_000.0


class Phones:
    def __init__(self) -> None:
        self.done: list[Command] = []

    async def execute(self, command: Command) -> Sequence[Event]:
        self.done.append(command)
        return ()


async def test_records_reach_every_observer_in_their_place_and_never_the_core() -> None:
    heard: list[Observed] = []
    second: list[Observed] = []

    async def failing(note: Observed) -> None:
        raise RuntimeError("one observer's fault stops no other")

    async def observer(note: Observed) -> None:
        heard.append(note)

    async def other(note: Observed) -> None:
        second.append(note)

    phones = Phones()
    engine = Engine(
        Acd(AcdConfig()), phones, clock=lambda: T0, observers=[observer, failing, other]
    )
    started = CallStarted("c0", "+62812", "0812", "112", 1, T0, restored=True)
    recorded = CallRecorded(RecordingInfo("c0", Path("/r/c0.wav"), "ab", 1, 2.0), T0)
    await engine.feed(
        started,
        AgentLoggedIn("1001", "PJSIP/1001"),
        AgentConnected("c0", "1001", T0),
        recorded,
        RecordingFailed("c9", "no file", T0),
        CallEndedOutsideCore("c0", "COMPLETED", T0),
    )
    engine.close()
    kinds = [type(n) for n in heard]
    assert kinds[0] is CallStarted
    # The login's notifications: its state change, then the call-taker's details.
    login = kinds.index(AgentDetails)
    assert kinds[login - 1] is AgentStateChanged
    assert kinds[login + 1 :] == [
        AgentConnected,
        CallRecorded,
        RecordingFailed,
        CallEndedOutsideCore,
    ]
    assert second == heard
    # The core never heard of c0; the executor got no record and no notification.
    assert "c0" not in engine.acd.calls
    assert all(not isinstance(c, CallStarted | AgentConnected) for c in phones.done)
    assert all(isinstance(c, Command) and not isinstance(c, Notification) for c in phones.done)


async def test_a_record_fed_after_an_event_follows_that_event_s_notifications() -> None:
    heard: list[Observed] = []

    async def observer(note: Observed) -> None:
        heard.append(note)

    engine = Engine(Acd(AcdConfig()), Phones(), clock=lambda: T0, observers=[observer])
    await engine.feed(CallArrived("c1", "+62812"), CallEndedOutsideCore("c2", "BLOCKED", T0))
    engine.close()
    assert isinstance(heard[-1], CallEndedOutsideCore)
    assert any(isinstance(n, CallStateChanged) and n.call_id == "c1" for n in heard[:-1])


async def test_the_executor_gets_the_commands_that_follow_notifications_never_the_notes() -> None:
    phones = Phones()
    engine = Engine(Acd(AcdConfig()), phones, clock=lambda: T0)
    await engine.feed(AgentLoggedIn("1001", "PJSIP/1001"), CallArrived("c1", "+62812"))
    await engine.feed(CallerHungUp("c1"))
    engine.close()
    kinds = [type(c).__name__ for c in phones.done]
    assert kinds == ["KeepClass", "RingAgent", "CancelRing", "ForgetCall"]
    assert (phones.done[0], phones.done[-1]) == (KeepClass("c1", 1, new=True), ForgetCall("c1"))
