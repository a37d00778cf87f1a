"""Call-takers' own commands (feature codes on their softphones, the admin API) as core events,
and their phones' registrations.

A command from the admin API (a supervisor, the CLI, the wallboard) carries ``by``, the user who
asked; the core puts it on the state change it reports, and the call-takers' record
(``agent_events.by``) names them. A feature code is the call-taker's own phone: no ``by``.

Implements the AGI feature codes' :class:`~callgate.asterisk.agent_codes.AgentControl`: each
command becomes an ``AgentRequested`` fed into the engine through the one way in (an
:class:`~callgate.ports.EventSink`); the core decides whether it changes anything and answers
with an ``AgentRequestAnswered`` notification, which this class hears as one of the engine's
observers (:meth:`CallTakerControl.notification`) and relays to the asker: the prompt the
call-taker hears, the admin API's reply. Whether the phone is a configured call-taker's at all
is the configuration's, checked here.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

from callgate.asterisk.ami.messages import DeviceStatus
from callgate.core.agents import AgentRequest, RequestAnswer
from callgate.core.commands import AgentRequestAnswered
from callgate.core.events import AgentRequested
from callgate.logs import clip
from callgate.ports import AgentCommandResult, EventSink, Observed, agent_id_of

log = logging.getLogger(__name__)

_RESULTS = {
    RequestAnswer.OK: AgentCommandResult.OK,
    RequestAnswer.ALREADY: AgentCommandResult.ALREADY,
    RequestAnswer.REFUSED: AgentCommandResult.REFUSED,
}
_DONE = {
    AgentRequest.LOGIN: "call-taker logged in",
    AgentRequest.LOGOUT: "call-taker logged out",
    AgentRequest.PAUSE: "call-taker paused",
    AgentRequest.UNPAUSE: "call-taker unpaused",
}


class CallTakerControl:
    """Log in, log out, pause and unpause, for the call-takers named in the config.

    ``feed`` is the engine's way in; :meth:`notification` must be one of the engine's
    observers (the core's answers come back through it, before ``feed`` returns).
    """

    def __init__(self, feed: EventSink, endpoints: list[str]) -> None:
        self.feed = feed
        self.endpoints = {agent_id_of(e): e for e in endpoints}
        self._ids = itertools.count(1)
        self._answers: dict[str, RequestAnswer] = {}

    async def notification(self, note: Observed) -> None:
        """The engine's observer: the core's answer to one of our requests."""
        if isinstance(note, AgentRequestAnswered) and note.request_id.startswith("control-"):
            self._answers[note.request_id] = note.answer

    async def _ask(
        self, endpoint: str, request: AgentRequest, *, reason: str = "", by: str = ""
    ) -> AgentCommandResult:
        agent_id = agent_id_of(endpoint)
        if agent_id not in self.endpoints:
            if request is AgentRequest.LOGIN:
                log.warning(
                    "login from a phone that is not a call-taker", extra={"endpoint": endpoint}
                )
            return AgentCommandResult.REFUSED
        request_id = f"control-{next(self._ids)}"
        asked = AgentRequested(
            agent_id,
            request,
            request_id=request_id,
            endpoint=self.endpoints[agent_id] if request is AgentRequest.LOGIN else "",
            reason=reason,
            by=by,
        )
        await self.feed(asked)
        answer = self._answers.pop(request_id, None)
        if answer is None:
            # Only if this control is not among the engine's observers (a wiring mistake).
            raise RuntimeError(f"the core did not answer {request.value} of {agent_id}")
        if answer is RequestAnswer.OK:
            extra = _who(agent_id, by)
            if request is AgentRequest.PAUSE:
                extra["reason"] = clip(reason)
            log.info(_DONE[request], extra=extra)
        return _RESULTS[answer]

    async def login(self, endpoint: str, *, by: str = "") -> AgentCommandResult:
        return await self._ask(endpoint, AgentRequest.LOGIN, by=by)

    async def logout(self, endpoint: str, *, by: str = "") -> AgentCommandResult:
        return await self._ask(endpoint, AgentRequest.LOGOUT, by=by)

    async def pause(self, endpoint: str, reason: str, *, by: str = "") -> AgentCommandResult:
        return await self._ask(endpoint, AgentRequest.PAUSE, reason=reason, by=by)

    async def unpause(self, endpoint: str, *, by: str = "") -> AgentCommandResult:
        return await self._ask(endpoint, AgentRequest.UNPAUSE, by=by)


def _who(agent_id: str, by: str) -> dict[str, str]:
    return {"agent_id": agent_id, "by": by} if by else {"agent_id": agent_id}


class PhoneRegistrations:
    """Logs call-takers' phones registering and unregistering (AMI), once per change."""

    def __init__(
        self, endpoints: list[str], on_change: Callable[[str], None] = lambda _endpoint: None
    ) -> None:
        self.registered: dict[str, bool] = dict.fromkeys(endpoints, False)
        #: Told each change (the wallboard shows who has a phone that can ring).
        self.on_change = on_change

    def __call__(self, endpoint: str, status: DeviceStatus) -> None:
        if endpoint not in self.registered or self.registered[endpoint] == status.registered:
            return
        self.registered[endpoint] = status.registered
        if status.registered:
            log.info("call-taker phone registered", extra={"endpoint": endpoint})
        else:
            log.info("call-taker phone unregistered", extra={"endpoint": endpoint})
        self.on_change(endpoint)

    def follow(self, endpoints: list[str], status: Callable[[str], DeviceStatus | None]) -> None:
        """The call-takers changed (a reloaded configuration): follow ``endpoints`` from now on;
        ``status`` tells what AMI last said of a new one's phone, which is logged as a change."""
        kept = {e: self.registered[e] for e in endpoints if e in self.registered}
        self.registered = dict.fromkeys(endpoints, False) | kept
        for endpoint in endpoints:
            now = status(endpoint)
            if endpoint not in kept and now is not None:
                self(endpoint, now)
