"""Call-takers' commands relay the core's answer (#20): the daemon no longer reads the core's
state to tell a change from a repeat or a refusal."""

from __future__ import annotations

import pytest

from callgate.core.acd import Acd
from callgate.core.agents import AgentState
from callgate.core.commands import AgentRequestAnswered, Notification
from callgate.core.config import AcdConfig
from callgate.daemon.calltakers import CallTakerControl
from callgate.daemon.engine import Engine
from callgate.ports import AgentCommandResult
from tests.unit.daemon.conftest import NoPhones, control_of

OK, ALREADY, REFUSED = AgentCommandResult.OK, AgentCommandResult.ALREADY, AgentCommandResult.REFUSED


async def test_each_command_gets_the_cores_answer_and_who_asked_reaches_the_core() -> None:
    engine = Engine(Acd(AcdConfig()), NoPhones())
    heard: list[Notification] = []

    async def hear(note: Notification) -> None:
        heard.append(note)

    engine.observers.append(hear)
    control = control_of(engine, ["PJSIP/1001"])
    assert await control.pause("PJSIP/1001", "break") == REFUSED  # logged out
    assert await control.unpause("PJSIP/1001") == REFUSED
    assert await control.logout("PJSIP/1001") == ALREADY
    assert await control.login("PJSIP/1001") == OK
    assert engine.acd.agents["1001"].endpoint == "PJSIP/1001"
    assert await control.login("PJSIP/1001") == ALREADY
    assert await control.unpause("PJSIP/1001") == ALREADY
    assert await control.pause("PJSIP/1001", "prayer", by="sv") == OK
    assert engine.acd.agents["1001"].pause_reason == "prayer"
    assert await control.pause("PJSIP/1001", "break") == ALREADY
    assert await control.unpause("PJSIP/1001") == OK
    assert await control.logout("PJSIP/1001", by="sv") == OK
    assert engine.acd.agents["1001"].state is AgentState.LOGGED_OUT
    answers = [n for n in heard if isinstance(n, AgentRequestAnswered)]
    assert len(answers) == 10
    assert [a.by for a in answers if a.by] == ["sv", "sv"]


async def test_a_phone_that_is_no_call_taker_is_refused_without_asking_the_core() -> None:
    engine = Engine(Acd(AcdConfig()), NoPhones())
    control = control_of(engine, ["PJSIP/1001"])
    for ask in (control.login("PJSIP/9"), control.logout("PJSIP/9"), control.unpause("PJSIP/9")):
        assert await ask == REFUSED
    assert await control.pause("PJSIP/9", "break") == REFUSED
    assert engine.acd.agents == {}


async def test_a_control_the_engine_does_not_tell_its_answers_fails_loudly() -> None:
    engine = Engine(Acd(AcdConfig()), NoPhones())
    control = CallTakerControl(engine.feed, ["PJSIP/1001"])  # not among the observers
    with pytest.raises(RuntimeError, match="did not answer login of 1001"):
        await control.login("PJSIP/1001")
