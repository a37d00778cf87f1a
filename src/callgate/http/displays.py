"""Wall screens: the ``display`` role's device tokens and the session a token opens.

A wall screen must show the centre for months without anyone logging in, and must offer
nobody walking past a button. So an admin makes one token per screen, by name (``callgate
users display add LOBBY``, which prints it once); opening ``/wallboard#display=TOKEN`` once
trades it for a session cookie (:mod:`callgate.http.sessions`: kept in the journal, through
daemon and browser restarts). The token travels in the URL's fragment, which a browser sends to
no server and in no ``Referer``: the page reads it, posts it here and wipes it from the
address bar. Only its SHA-256 is stored (:mod:`callgate.storage.browser_sessions` says why that is
enough for 256 random bits). The session's user is ``display:<name>`` in every log line and
audit row, with role ``display``: the board read-only (:data:`callgate.http.server.
DISPLAY_ROUTES`; everything else is 403 and logged). Revoking the token ends its sessions at
once, in memory and in the journal.

- ``POST /api/session/display`` with ``{"token"}`` (open; a wrong token counts in the port's
  limiter of failed credentials): the session cookie and ``{"name", "role", "csrf_token"}``.
- ``GET /api/displays`` (admin): ``{"displays": [{"name", "created", "created_by",
  "sessions", "last_seen"}]}``.
- ``POST /api/displays`` with ``{"name"}`` (admin): ``{"name", "token", "path"}``, the token
  shown this once; 409 when the name is taken.
- ``DELETE /api/displays/{name}`` (admin): revoke; 404 when there is none.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from callgate.auth import NAME_PATTERN, TOKEN_BYTES, Permission
from callgate.http.body import json_object
from callgate.http.server import IDENTITY, Handler, Identify
from callgate.http.sessions import BrowserSessions, display_identity
from callgate.logs import clip
from callgate.ports import DisplayRecords, JournalError

log = logging.getLogger(__name__)

#: What a display token looks like: URL-safe, 43 characters for 256 bits (longer is refused
#: unread).
MAX_TOKEN: Final = 64
#: The name every failed display token counts under in the limiter (there is no user name).
LIMITER_NAME: Final = "display-token"
#: Longest wait at stop for the sessions' journal writes under way.
SETTLE_TIMEOUT: Final = 2.0


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _answer(body: Mapping[str, object], status: int = 200) -> web.Response:
    response = web.json_response(dict(body), status=status)
    response.headers["Cache-Control"] = "no-store"  # a token or a CSRF token: no cache keeps it
    return response


def _unavailable(exc: JournalError) -> web.Response:
    log.warning("admin API: display tokens unavailable", extra={"reason": str(exc)})
    return _answer({"error": "the journal database is unavailable; try again shortly"}, 503)


class Displays:
    """The displays' routes; an :class:`~callgate.http.server.Extension`."""

    def __init__(
        self,
        records: DisplayRecords,
        sessions: BrowserSessions,
        end_streams: Callable[[str], int] | None = None,
    ) -> None:
        self.records = records
        self.sessions = sessions
        #: Ends a user's open live streams (:meth:`~callgate.http.streams.LiveStreams.
        #: end_streams`): a revoked screen stops showing the centre now, not at its next check.
        self.end_streams = end_streams

    def routes(self, identify: Identify) -> Mapping[tuple[str, str], tuple[Any, Handler]]:
        return {
            ("POST", "/api/session/display"): (None, self._open),
            ("GET", "/api/displays"): (Permission.DISPLAYS, self._list),
            ("POST", "/api/displays"): (Permission.DISPLAYS, self._add),
            ("DELETE", "/api/displays/{name}"): (Permission.DISPLAYS, self._revoke),
        }

    async def close(self) -> None:
        """At stop: let the sessions' journal writes under way end (a session ended to make
        room must stay ended after the restart), waiting a little at most."""
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT):
                await self.sessions.settled()
        except TimeoutError:
            log.warning("admin API: browser sessions' journal writes left unfinished at stop")

    async def _open(self, request: web.Request) -> web.Response:
        token = (await json_object(request)).get("token")
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN:
            return _answer({"error": f"token must be 1 to {MAX_TOKEN} characters"}, 400)
        gate, now = self.sessions.gate, self.sessions.steady()
        peer = gate.peer(request)
        refusal = gate.limiter.refusal(LIMITER_NAME, peer, now)
        if refusal is not None:
            raise gate.refused(refusal, peer, LIMITER_NAME)
        try:
            name = await self.records.display_of(token_digest(token))
        except JournalError as exc:
            return _unavailable(exc)
        if name is None:
            gate.limiter.failed(LIMITER_NAME, peer, now)
            log.warning("admin API: unknown display token", extra={"client": peer})
            return _answer({"error": "unknown or revoked display token"}, 401)
        await self.sessions.end_previous(request)  # a person's, logged in on the wall PC
        session_id, session = await self.sessions.start(name, display=True)
        identity = display_identity(name)
        log.info("admin API: display session started", extra={"by": identity.name, "client": peer})
        response = self.sessions.answer(identity, session)
        self.sessions.set_cookie(request, response, session_id, session)
        return response

    async def _list(self, _request: web.Request) -> web.Response:
        try:
            found = await self.records.displays()
        except JournalError as exc:
            return _unavailable(exc)
        return _answer(
            {
                "displays": [
                    {
                        "name": d.name,
                        "created": d.created.isoformat(),
                        "created_by": d.created_by,
                        "sessions": d.sessions,
                        "last_seen": None if d.last_seen is None else d.last_seen.isoformat(),
                    }
                    for d in found
                ]
            }
        )

    async def _add(self, request: web.Request) -> web.Response:
        name = (await json_object(request)).get("name")
        if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
            return _answer(
                {"error": "name: 1 to 64 letters, digits, _ @ - (a letter or digit first)"}, 400
            )
        by = request[IDENTITY].name
        token = secrets.token_urlsafe(TOKEN_BYTES)
        try:
            added = await self.records.add_display(name, token_digest(token), by, datetime.now(UTC))
        except JournalError as exc:
            return _unavailable(exc)
        if not added:
            return _answer({"error": f"display {name} exists; revoke it first"}, 409)
        log.info(
            "admin command",
            extra={"action": "display-add", "display": name, "by": by, "via": "admin-api"},
        )
        return _answer({"name": name, "token": token, "path": f"wallboard#display={token}"})

    async def _revoke(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if len(name) > 64:
            return _answer({"error": "no such display"}, 404)
        by = request[IDENTITY].name
        try:
            revoked = await self.records.revoke_display(name)
        except JournalError as exc:
            return _unavailable(exc)
        # Its sessions in memory end whatever the journal held: a screen must not outlive this.
        ended = self.sessions.store.end_user(name, display=True)
        if self.end_streams is not None:
            self.end_streams(display_identity(name).name)
        if not revoked:
            return _answer({"error": f"no display {clip(name, 64)}"}, 404)
        log.info(
            "admin command",
            extra={"action": "display-revoke", "display": name, "sessions": ended, "by": by,
                   "via": "admin-api"},
        )  # fmt: skip
        return _answer({"result": "revoked", "name": name, "sessions": ended})
