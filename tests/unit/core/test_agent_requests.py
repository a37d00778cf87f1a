"""Call-takers' requests answered by the core (#20): log in, log out, pause, unpause."""

from __future__ import annotations

import pytest
from conftest import Harness, of

from callgate.core import (
    AgentAnswered,
    AgentRequest,
    AgentRequestAnswered,
    AgentRequested,
    AgentStateChanged,
    RequestAnswer,
)

OK, ALREADY, REFUSED = RequestAnswer.OK, RequestAnswer.ALREADY, RequestAnswer.REFUSED
LOGIN, LOGOUT = AgentRequest.LOGIN, AgentRequest.LOGOUT
PAUSE, UNPAUSE = AgentRequest.PAUSE, AgentRequest.UNPAUSE


def ask(h: Harness, request: AgentRequest, **kwargs: str) -> RequestAnswer:
    out = h.send(AgentRequested("a1", request, request_id="r1", **kwargs))
    (answered,) = of(AgentRequestAnswered, out)
    assert (answered.agent_id, answered.request, answered.request_id) == ("a1", request, "r1")
    assert answered.by == kwargs.get("by", "")
    assert out[0] == answered  # the answer comes before the move it makes
    return answered.answer


@pytest.mark.parametrize(
    ("request_", "logged_out", "available", "paused"),
    [
        (LOGIN, OK, ALREADY, ALREADY),
        (LOGOUT, ALREADY, OK, OK),
        (PAUSE, REFUSED, OK, ALREADY),
        (UNPAUSE, REFUSED, ALREADY, OK),
    ],
)
def test_each_request_is_answered_from_the_call_takers_state(
    request_: AgentRequest,
    logged_out: RequestAnswer,
    available: RequestAnswer,
    paused: RequestAnswer,
) -> None:
    h = Harness()
    assert ask(h, request_) == logged_out  # never seen: logged out
    h = Harness()
    h.login("a1")
    assert ask(h, request_) == available
    h = Harness()
    h.login("a1")
    ask(h, PAUSE, reason="break")
    assert ask(h, request_) == paused


def test_an_accepted_request_moves_the_call_taker_with_who_asked() -> None:
    h = Harness()
    assert ask(h, LOGIN, endpoint="PJSIP/1001", by="sv") == OK
    assert h.agent("a1") == "AVAILABLE"
    assert (h.acd.agents["a1"].endpoint, h.acd.agents["a1"].name) == ("PJSIP/1001", "PJSIP/1001")
    assert ask(h, PAUSE, reason="prayer") == OK
    assert (h.agent("a1"), h.acd.agents["a1"].pause_reason) == ("PAUSED", "prayer")
    assert ask(h, UNPAUSE) == OK
    assert h.agent("a1") == "AVAILABLE"
    assert ask(h, LOGOUT, by="sv") == OK
    assert h.agent("a1") == "LOGGED_OUT"
    assert [c.by for c in of(AgentStateChanged, h.log)] == ["sv", "", "", "sv"]


def test_a_refused_or_repeated_request_moves_nothing() -> None:
    h = Harness()
    h.login("a1")
    before = len(of(AgentStateChanged, h.log))
    assert ask(h, LOGIN) == ALREADY
    assert ask(h, UNPAUSE) == ALREADY
    assert len(of(AgentStateChanged, h.log)) == before


def test_a_pause_asked_during_a_call_is_accepted_and_waits_for_its_end() -> None:
    h = Harness()
    h.login("a1")
    h.arrive("c1")
    h.send(AgentAnswered("c1", "a1"))
    assert ask(h, PAUSE, reason="break") == OK
    assert h.agent("a1") == "ON_CALL"
    assert h.acd.agents["a1"].pending_pause == "break"
