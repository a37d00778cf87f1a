"""A supervisor's tools on the wallboard (issue #24): give a waiting caller to a chosen
call-taker; listen to, whisper to or barge into a call-taker's conversation on one's own phone.

- ``POST /api/calls/{call_id}/assign`` with ``{"agent_id"}`` (supervisor, admin): the core
  offers that waiting caller to that call-taker now; ``409`` with ``not-waiting`` (the caller
  is connected, gone or a callback attempt) or ``not-free`` (the call-taker is not available).
- ``POST /api/monitor/{agent_id}`` with ``{"mode"}`` (``listen``, ``whisper``: to the
  call-taker only, ``barge``) (supervisor, admin with a ``phone`` in ``[[auth.users]]``): the
  supervisor's phone rings and, answered, hears (and speaks into) the call-taker's
  conversation until they hang up or the conversation ends; ``409`` ``not-connected`` when
  the call-taker is on no connected call (or it ended before the phone was rung), ``409``
  ``phone-failed`` when Asterisk could not ring the phone, ``409`` ``no-phone`` for a user
  without a phone.

Logging a call-taker in or out from the board is the port's own
``POST /api/agents/{id}/login|logout``. The audit trail records the authenticated user; a
client-written ``by`` is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

from callgate.auth import Permission
from callgate.http.body import json_object
from callgate.http.server import IDENTITY, MAX_CALL_ID, Handler, Identify
from callgate.logs import clip

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
MAX_AGENT_ID = 32
MODES = ("listen", "whisper", "barge")
#: HTTP status of each result; anything else is 409 (refused as things stand).
STATUS = {"ok": 200, "invalid": 400}


class Supervising(Protocol):
    """What the routes ask of the daemon (:mod:`callgate.daemon.supervisor_tools`)."""

    async def assign(self, call_id: str, agent_id: str, by: str) -> JsonDict:
        """``{"result": "ok"|"not-waiting"|"not-free", "call_id", "agent_id"}``."""
        ...

    async def monitor(self, agent_id: str, mode: str, phone: str, by: str) -> JsonDict:
        """``{"result": "ok"|"not-connected"|"phone-failed"|"invalid", "call_id", "agent_id",
        "mode"}``."""
        ...


class SupervisorRoutes:
    """The supervisor's tools' routes; an :class:`~callgate.http.server.Extension`."""

    def __init__(self, tools: Supervising) -> None:
        self.tools = tools

    def routes(self, identify: Identify) -> Mapping[tuple[str, str], tuple[Any, Handler]]:
        return {
            ("POST", "/api/calls/{call_id}/assign"): (Permission.SUPERVISE, self._assign),
            ("POST", "/api/monitor/{agent_id}"): (Permission.SUPERVISE, self._monitor),
        }

    async def close(self) -> None:
        return None

    async def _assign(self, request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        body = await json_object(request)
        agent_id = body.get("agent_id")
        if "by" in body or len(call_id) > MAX_CALL_ID:
            return _answer({"error": "by is not accepted, nor a call id this long"}, 400)
        if not isinstance(agent_id, str) or not 0 < len(agent_id) <= MAX_AGENT_ID:
            return _answer({"error": f"agent_id (1-{MAX_AGENT_ID} characters) is required"}, 400)
        by = request[IDENTITY].name
        log.info(
            "admin command",
            extra={"action": "assign", "call_id": clip(call_id), "agent_id": clip(agent_id),
                   "by": by, "via": "admin-api"},
        )  # fmt: skip
        answer = await self.tools.assign(call_id, agent_id, by)
        return _answer(answer, STATUS.get(answer.get("result", ""), 409))

    async def _monitor(self, request: web.Request) -> web.Response:
        agent_id = request.match_info["agent_id"]
        who = request[IDENTITY]
        body = await json_object(request)
        mode = body.get("mode")
        if "by" in body or len(agent_id) > MAX_AGENT_ID:
            return _answer({"error": "by is not accepted, nor an agent id this long"}, 400)
        if mode not in MODES:
            return _answer({"error": f"mode is one of {', '.join(MODES)}"}, 400)
        assert isinstance(mode, str)
        if who.phone is None:
            error = f"{who.name} has no phone to ring ([[auth.users]] phone)"
            return _answer({"result": "no-phone", "error": error}, 409)
        log.info(
            "admin command",
            extra={"action": mode, "agent_id": clip(agent_id), "by": who.name,
                   "via": "admin-api"},
        )  # fmt: skip
        answer = await self.tools.monitor(agent_id, mode, who.phone, who.name)
        return _answer(answer, STATUS.get(answer.get("result", ""), 409))


def _answer(body: JsonDict, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)
