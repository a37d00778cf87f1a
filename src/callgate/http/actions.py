"""A supervisor's and a call-taker's actions on a call, beside the admin API's own routes.

- ``POST /api/calls/{call_id}/callback`` (``{}``; supervisor, admin): ask for the caller to be
  called back, as CAD's MQTT ``request-callback`` does: the call's record notes who asked,
  CAD hears ``callback-requested`` and the callback worklist gets the request. The answer
  says whether the worklist made (or joined) a task: ``{"result": "ok", "call_id", "task"}``.
- ``POST /api/calls/{call_id}/handoff`` with ``{"agency", "mode"}`` (``three-way`` or
  ``hand-off``): call an agency of ``[agencies]`` into the call, as the call-taker's
  ``*<digit>``/``#<digit>`` keys do; a call-taker for a call they answered, a supervisor for
  any. ``GET /api/agencies`` (any user): ``{"agencies": [names]}`` for the screen's buttons.

The audit trail records the authenticated user; a client-written ``by`` is refused. Answers
are JSON as the rest of the port's (:mod:`callgate.http.server`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

from callgate.auth import Permission
from callgate.http.body import json_object
from callgate.http.server import AUTHENTICATED, IDENTITY, MAX_CALL_ID, Handler, Identify
from callgate.logs import clip

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
#: HTTP status of each result; anything else is 409 (refused as things stand).
STATUS = {
    "ok": 200,
    "unknown-call": 404,
    "unknown-agency": 404,
    "not-yours": 403,
    "invalid": 400,
    "failed": 502,
    "unavailable": 503,
}
MAX_AGENCY = 64


class CallActions(Protocol):
    """What the routes ask of the daemon (:mod:`callgate.daemon.call_actions`)."""

    async def request_callback(self, call_id: str, by: str) -> JsonDict:
        """``{"result": "ok"|"unknown-call"|"unavailable", "call_id", "task": bool}``."""
        ...

    def agencies(self) -> list[str]:
        """The configured agencies' names."""
        ...

    async def hand_off(
        self, call_id: str, agency: str, mode: str, by: str, *, connected_to: str | None
    ) -> JsonDict:
        """``{"result": "ok"|"unknown-agency"|"not-connected"|"not-yours"|"invalid"|"failed"|
        "unavailable", ...}``; with ``connected_to``, only a call that call-taker answered."""
        ...


class Actions:
    """The call actions' routes; an :class:`~callgate.http.server.Extension`."""

    def __init__(self, service: CallActions) -> None:
        self.service = service

    def routes(self, identify: Identify) -> Mapping[tuple[str, str], tuple[Any, Handler]]:
        return {
            ("POST", "/api/calls/{call_id}/callback"): (Permission.CALLBACK, self._callback),
            ("POST", "/api/calls/{call_id}/handoff"): (AUTHENTICATED, self._hand_off),
            ("GET", "/api/agencies"): (AUTHENTICATED, self._agencies),
        }

    async def close(self) -> None:
        return None

    async def _callback(self, request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        if len(call_id) > MAX_CALL_ID:
            return _answer({"error": f"call id longer than {MAX_CALL_ID} characters"}, 400)
        body = await json_object(request)
        if "by" in body:
            return _answer({"error": "by is not accepted: the audit trail records the user"}, 400)
        by = request[IDENTITY].name
        log.info(
            "admin command",
            extra={"action": "callback", "call_id": clip(call_id), "by": by, "via": "admin-api"},
        )
        answer = await self.service.request_callback(call_id, by)
        return _answer(answer, STATUS.get(answer.get("result", ""), 409))

    async def _hand_off(self, request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        who = request[IDENTITY]
        # A supervisor for any call; a call-taker for the call they answered; nobody else.
        connected_to = None if who.may(Permission.ANY_STATE) else who.agent_id
        if connected_to is None and not who.may(Permission.ANY_STATE):
            return _answer({"error": f"{who.name} is not a call-taker"}, 403)
        body = await json_object(request)
        agency, mode = body.get("agency"), body.get("mode")
        if "by" in body or len(call_id) > MAX_CALL_ID:
            return _answer({"error": "by is not accepted, nor a call id this long"}, 400)
        if not isinstance(agency, str) or not 0 < len(agency) <= MAX_AGENCY:
            return _answer({"error": f"agency (1-{MAX_AGENCY} characters) is required"}, 400)
        if not isinstance(mode, str):
            return _answer({"error": "mode (three-way or hand-off) is required"}, 400)
        log.info(
            "admin command",
            extra={"action": "handoff", "call_id": clip(call_id), "agency": clip(agency),
                   "mode": clip(mode, 16), "by": who.name, "via": "admin-api"},
        )  # fmt: skip
        answer = await self.service.hand_off(
            call_id, agency, mode, who.name, connected_to=connected_to
        )
        return _answer(answer, STATUS.get(answer.get("result", ""), 409))

    async def _agencies(self, _request: web.Request) -> web.Response:
        return _answer({"agencies": self.service.agencies()})


def _answer(body: JsonDict, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)
