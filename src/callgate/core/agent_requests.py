"""Call-takers' requests: log in, log out, pause, unpause, answered by the core.

A feature code on the call-taker's phone or a user of the admin API asks
(``AgentRequested``); the core decides from its own view of the call-taker whether anything
changes, answers with ``AgentRequestAnswered`` (the asker relays it: a prompt, a reply), and
makes the move through the call-takers' sub-machine as for the plain events.

=======================  ===========================================================
Request                  Answer (and the move when ``OK``)
=======================  ===========================================================
LOGIN                    ``ALREADY`` unless logged out; else ``OK``, as AgentLoggedIn
LOGOUT                   ``ALREADY`` if logged out; else ``OK``, as AgentLoggedOut
PAUSE                    ``REFUSED`` if logged out, ``ALREADY`` if paused; else ``OK``,
                         as AgentPaused
UNPAUSE                  ``REFUSED`` if logged out, ``ALREADY`` unless paused; else
                         ``OK``, as AgentUnpaused
=======================  ===========================================================
"""

from __future__ import annotations

from callgate.core.agents import AgentRequest, AgentState, RequestAnswer
from callgate.core.calltakers import CallTakers
from callgate.core.commands import AgentRequestAnswered
from callgate.core.events import (
    AgentLoggedIn,
    AgentLoggedOut,
    AgentPaused,
    AgentRequested,
    AgentUnpaused,
)
from callgate.core.floor import Floor, Out, Table

_OUT = AgentState.LOGGED_OUT


def answer(request: AgentRequest, state: AgentState) -> RequestAnswer:
    """Whether ``request`` changes anything for a call-taker in ``state``."""
    if request is AgentRequest.LOGIN:
        done = state is _OUT
    elif request is AgentRequest.LOGOUT:
        done = state is not _OUT
    elif state is _OUT:
        return RequestAnswer.REFUSED
    else:
        done = (state is AgentState.PAUSED) == (request is AgentRequest.UNPAUSE)
    return RequestAnswer.OK if done else RequestAnswer.ALREADY


class AgentRequests:
    """Answers call-takers' requests and carries out the ones that change something."""

    def __init__(self, floor: Floor, calltakers: CallTakers) -> None:
        self.floor = floor
        self.calltakers = calltakers

    def table(self) -> Table:
        return {AgentRequested: self.requested}

    def requested(self, event: AgentRequested, now: float, out: Out) -> None:
        agent = self.floor.agents.get(event.agent_id)
        state = _OUT if agent is None else agent.state
        said = answer(event.request, state)
        out.append(
            AgentRequestAnswered(
                event.agent_id, event.request, said, request_id=event.request_id, by=event.by
            )
        )
        if said is not RequestAnswer.OK:
            return
        c, agent_id, by = self.calltakers, event.agent_id, event.by
        if event.request is AgentRequest.LOGIN:
            login = AgentLoggedIn(agent_id, event.endpoint, name=event.endpoint, by=by)
            c.logged_in(login, now, out)
        elif event.request is AgentRequest.LOGOUT:
            c.logged_out(AgentLoggedOut(agent_id, by=by), now, out)
        elif event.request is AgentRequest.PAUSE:
            c.paused(AgentPaused(agent_id, event.reason, by=by), now, out)
        else:
            c.unpaused(AgentUnpaused(agent_id, by=by), now, out)
