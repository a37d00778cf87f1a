"""Call-takers' own commands (feature codes on their softphones, later the CLI) as core events.

Implements the AGI feature codes' :class:`~callgate.asterisk.agent_codes.AgentControl`: each
command becomes a core event fed through the engine, and the answer the call-taker hears says
whether it changed anything.
"""

from __future__ import annotations

import logging

from callgate.asterisk.agent_codes import AgentCommandResult
from callgate.asterisk.ari.translate import agent_id_of
from callgate.core.agents import AgentState
from callgate.core.events import AgentLoggedIn, AgentLoggedOut, AgentPaused, AgentUnpaused
from callgate.engine import Engine
from callgate.logs import clip

log = logging.getLogger(__name__)


class CallTakerControl:
    """Log in, log out, pause and unpause, for the call-takers named in the config."""

    def __init__(self, engine: Engine, endpoints: list[str]) -> None:
        self.engine = engine
        self.endpoints = {agent_id_of(e): e for e in endpoints}

    def _state(self, endpoint: str) -> tuple[str, AgentState] | None:
        agent_id = agent_id_of(endpoint)
        if agent_id not in self.endpoints:
            return None
        agent = self.engine.acd.agents.get(agent_id)
        return agent_id, agent.state if agent is not None else AgentState.LOGGED_OUT

    async def login(self, endpoint: str) -> AgentCommandResult:
        found = self._state(endpoint)
        if found is None:
            log.warning("login from a phone that is not a call-taker", extra={"endpoint": endpoint})
            return AgentCommandResult.REFUSED
        agent_id, state = found
        if state is not AgentState.LOGGED_OUT:
            return AgentCommandResult.ALREADY
        await self.engine.feed(AgentLoggedIn(agent_id, self.endpoints[agent_id], name=endpoint))
        log.info("call-taker logged in", extra={"agent_id": agent_id})
        return AgentCommandResult.OK

    async def logout(self, endpoint: str) -> AgentCommandResult:
        found = self._state(endpoint)
        if found is None:
            return AgentCommandResult.REFUSED
        agent_id, state = found
        if state is AgentState.LOGGED_OUT:
            return AgentCommandResult.ALREADY
        await self.engine.feed(AgentLoggedOut(agent_id))
        log.info("call-taker logged out", extra={"agent_id": agent_id})
        return AgentCommandResult.OK

    async def pause(self, endpoint: str, reason: str) -> AgentCommandResult:
        found = self._state(endpoint)
        if found is None or found[1] is AgentState.LOGGED_OUT:
            return AgentCommandResult.REFUSED
        agent_id, state = found
        if state is AgentState.PAUSED:
            return AgentCommandResult.ALREADY
        await self.engine.feed(AgentPaused(agent_id, reason))
        log.info("call-taker paused", extra={"agent_id": agent_id, "reason": clip(reason)})
        return AgentCommandResult.OK

    async def unpause(self, endpoint: str) -> AgentCommandResult:
        found = self._state(endpoint)
        if found is None or found[1] is AgentState.LOGGED_OUT:
            return AgentCommandResult.REFUSED
        agent_id, state = found
        if state is not AgentState.PAUSED:
            return AgentCommandResult.ALREADY
        await self.engine.feed(AgentUnpaused(agent_id))
        log.info("call-taker unpaused", extra={"agent_id": agent_id})
        return AgentCommandResult.OK
