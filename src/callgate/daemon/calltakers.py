"""Call-takers' own commands (feature codes on their softphones, the admin API) as core events,
and their phones' registrations.

A command from the admin API (a supervisor, the CLI, the wallboard) carries ``by``, the user who
asked; the core puts it on the state change it reports, and the call-takers' record
(``agent_events.by``) names them. A feature code is the call-taker's own phone: no ``by``.

Implements the AGI feature codes' :class:`~callgate.asterisk.agent_codes.AgentControl`: each
command becomes a core event fed into the engine through the one way in (an
:class:`~callgate.ports.EventSink`), and the answer the call-taker hears says whether it changed
anything. Whether it would is read from the core's own view of the call-takers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from callgate.asterisk.ami.messages import DeviceStatus
from callgate.core.acd import Acd
from callgate.core.agents import AgentState
from callgate.core.events import AgentLoggedIn, AgentLoggedOut, AgentPaused, AgentUnpaused
from callgate.logs import clip
from callgate.ports import AgentCommandResult, EventSink, agent_id_of

log = logging.getLogger(__name__)


class CallTakerControl:
    """Log in, log out, pause and unpause, for the call-takers named in the config.

    ``feed`` is the engine's way in; ``acd`` is read only, to tell a change from a repeat.
    """

    def __init__(self, feed: EventSink, acd: Acd, endpoints: list[str]) -> None:
        self.feed = feed
        self.acd = acd
        self.endpoints = {agent_id_of(e): e for e in endpoints}

    def _state(self, endpoint: str) -> tuple[str, AgentState] | None:
        agent_id = agent_id_of(endpoint)
        if agent_id not in self.endpoints:
            return None
        agent = self.acd.agents.get(agent_id)
        return agent_id, agent.state if agent is not None else AgentState.LOGGED_OUT

    async def login(self, endpoint: str, *, by: str = "") -> AgentCommandResult:
        found = self._state(endpoint)
        if found is None:
            log.warning("login from a phone that is not a call-taker", extra={"endpoint": endpoint})
            return AgentCommandResult.REFUSED
        agent_id, state = found
        if state is not AgentState.LOGGED_OUT:
            return AgentCommandResult.ALREADY
        await self.feed(AgentLoggedIn(agent_id, self.endpoints[agent_id], name=endpoint, by=by))
        log.info("call-taker logged in", extra=_who(agent_id, by))
        return AgentCommandResult.OK

    async def logout(self, endpoint: str, *, by: str = "") -> AgentCommandResult:
        found = self._state(endpoint)
        if found is None:
            return AgentCommandResult.REFUSED
        agent_id, state = found
        if state is AgentState.LOGGED_OUT:
            return AgentCommandResult.ALREADY
        await self.feed(AgentLoggedOut(agent_id, by=by))
        log.info("call-taker logged out", extra=_who(agent_id, by))
        return AgentCommandResult.OK

    async def pause(self, endpoint: str, reason: str, *, by: str = "") -> AgentCommandResult:
        found = self._state(endpoint)
        if found is None or found[1] is AgentState.LOGGED_OUT:
            return AgentCommandResult.REFUSED
        agent_id, state = found
        if state is AgentState.PAUSED:
            return AgentCommandResult.ALREADY
        await self.feed(AgentPaused(agent_id, reason, by=by))
        log.info("call-taker paused", extra=_who(agent_id, by) | {"reason": clip(reason)})
        return AgentCommandResult.OK

    async def unpause(self, endpoint: str, *, by: str = "") -> AgentCommandResult:
        found = self._state(endpoint)
        if found is None or found[1] is AgentState.LOGGED_OUT:
            return AgentCommandResult.REFUSED
        agent_id, state = found
        if state is not AgentState.PAUSED:
            return AgentCommandResult.ALREADY
        await self.feed(AgentUnpaused(agent_id, by=by))
        log.info("call-taker unpaused", extra=_who(agent_id, by))
        return AgentCommandResult.OK


def _who(agent_id: str, by: str) -> dict[str, str]:
    return {"agent_id": agent_id, "by": by} if by else {"agent_id": agent_id}


class PhoneRegistrations:
    """Logs call-takers' phones registering and unregistering (AMI), once per change."""

    def __init__(self, endpoints: list[str]) -> None:
        self.registered: dict[str, bool] = dict.fromkeys(endpoints, False)

    def __call__(self, endpoint: str, status: DeviceStatus) -> None:
        if endpoint not in self.registered or self.registered[endpoint] == status.registered:
            return
        self.registered[endpoint] = status.registered
        if status.registered:
            log.info("call-taker phone registered", extra={"endpoint": endpoint})
        else:
            log.info("call-taker phone unregistered", extra={"endpoint": endpoint})

    def follow(self, endpoints: list[str], status: Callable[[str], DeviceStatus | None]) -> None:
        """The call-takers changed (a reloaded configuration): follow ``endpoints`` from now on;
        ``status`` tells what AMI last said of a new one's phone, which is logged as a change."""
        kept = {e: self.registered[e] for e in endpoints if e in self.registered}
        self.registered = dict.fromkeys(endpoints, False) | kept
        for endpoint in endpoints:
            now = status(endpoint)
            if endpoint not in kept and now is not None:
                self(endpoint, now)
