"""A supervisor's and a call-taker's actions on a call, beside the admin API's own routes.

- ``POST /api/calls/{call_id}/callback`` (``{}``; supervisor, admin): ask for the caller to be
  called back, as CAD's MQTT ``request-callback`` does: the call's record notes who asked,
  CAD hears ``callback-requested`` and the callback worklist gets the request. The answer
  says whether the worklist made (or joined) a task: ``{"result": "ok", "call_id", "task"}``.

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
from callgate.http.server import IDENTITY, MAX_CALL_ID, Handler, Identify
from callgate.logs import clip

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
#: HTTP status of each result; anything else is 409 (refused as things stand).
STATUS = {"ok": 200, "unknown-call": 404, "not-yours": 403, "invalid": 400, "unavailable": 503}


class CallActions(Protocol):
    """What the routes ask of the daemon (:mod:`callgate.daemon.call_actions`)."""

    async def request_callback(self, call_id: str, by: str) -> JsonDict:
        """``{"result": "ok"|"unknown-call"|"unavailable", "call_id", "task": bool}``."""
        ...


class Actions:
    """The call actions' routes; an :class:`~callgate.http.server.Extension`."""

    def __init__(self, service: CallActions) -> None:
        self.service = service

    def routes(self, identify: Identify) -> Mapping[tuple[str, str], tuple[Any, Handler]]:
        return {
            ("POST", "/api/calls/{call_id}/callback"): (Permission.CALLBACK, self._callback),
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


def _answer(body: JsonDict, status: int = 200) -> web.Response:
    return web.json_response(body, status=status)
