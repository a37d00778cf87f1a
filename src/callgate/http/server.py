"""The admin HTTP port: health, Prometheus metrics and a small JSON API for ``callgate`` CLI.

It listens on loopback only (remote use goes through a TLS reverse proxy, see the README). Every
request of the API that changes something, and every read that shows callers' numbers, is
authenticated (``Authorization: Bearer <token>`` or HTTP Basic with a password, the users of
``[auth]``, or a browser's session cookie with its CSRF token: :mod:`callgate.http.sessions`)
and authorised by role (:data:`callgate.auth.GRANTS`): no or a wrong credential is
401, a role that may not is 403, both with a JSON error. The audit trail (blocks, unblocks,
dispositions, call-taker commands) records the authenticated user's name; a client-written
``by`` is refused. Three cheap checks keep a web page in a browser from using a credential the
browser holds: a ``Host`` header that is not loopback is refused (DNS rebinding), so is an
``Origin`` that is not this site, and every POST must carry ``Content-Type: application/json``,
which a cross-site form cannot send.

The same API is served on a Unix socket too (``[ops] socket_path``, :mod:`callgate.http.local`),
where a request without a credential is the user ``[auth] local_users`` maps the peer's Unix
user to.

Endpoints:

- ``GET /healthz``: 200 while the process and its event loop answer.
- ``GET /readyz``: 200 when ARI and AMI are connected and the daemon is not stopping, else
  503; the body names each component with since when it is up or down (MQTT is reported, not
  required) and lists under ``degraded`` the ones whose outage calls survive: the database,
  whose records wait in memory meanwhile.
- ``GET /metrics``: Prometheus text format.
- ``GET /api/status`` (open: counts, no numbers); ``GET /api/whoami`` (any user).
- ``GET /api/agents`` (any user); ``GET /api/calls?recent=N`` (supervisor: callers' numbers).
- ``POST /api/agents/{id}/login|logout|pause|unpause`` (pause: ``{"reason": "..."}``): a
  call-taker for themselves, a supervisor for anyone.
- ``POST /api/log-level`` with ``{"level": "DEBUG"}`` (admin).
- ``POST /api/reload`` (admin): read the config file again and apply what changes live;
  ``{"result", "applied", "restart_needed"}``, or 400 naming the bad key (nothing changed).
- ``POST /api/calls/{call_id}/disposition`` with ``{"disposition": "prank"}``: a call-taker for
  a call they answered, a supervisor for any.
- ``GET /api/blocks`` (in force now), ``GET /api/blocks?all=1`` (the whole audit trail)
  (supervisor).
- ``POST /api/blocks`` with ``{"number", "hours", "reason"}``; ``POST /api/unblock`` with
  ``{"number", "reason"}`` (supervisor).
- ``POST /api/session`` with ``{"name", "password"}``: a browser logs in; a session cookie
  and ``{"name", "role", "agent_id", "csrf_token"}`` (failed log-ins: 401, too many: 429).
  ``GET /api/session``: the same for the current session (401 without one);
  ``DELETE /api/session`` (with ``X-CSRF-Token``): log out.
- ``POST /api/session/display`` with ``{"token"}``: a wall screen's device token opens a
  read-only session (role ``display``); ``GET|POST /api/displays``, ``DELETE
  /api/displays/{name}`` (admin) (:mod:`callgate.http.displays`).
- ``GET /api/live`` (any user): Server-Sent Events, a snapshot then deltas, filtered by role
  (:mod:`callgate.http.streams`); ``GET /api/my-call`` (a call-taker; a supervisor with
  ``?agent=ID``): the call ringing or connected on the phone and its caller's history.
- ``POST /api/calls/{call_id}/callback`` (supervisor): request a callback, as CAD's
  ``request-callback``; ``POST /api/calls/{call_id}/handoff`` with ``{"agency", "mode"}``: a
  call-taker for a call they answered, a supervisor for any; ``GET /api/agencies`` (any user)
  (:mod:`callgate.http.actions`).
- ``GET /wallboard``, ``GET /screen``, ``GET /assets/{name}`` (open: static pages that log in
  with ``POST /api/session``; :mod:`callgate.http.pages`).

Every answer is JSON, errors included: ``{"error": "..."}``. Whatever a client sends, a
malformed request is a 4xx, never a 500: bodies larger than ``[ops] http_max_body_bytes`` are
413; bodies that are not UTF-8 JSON objects, nest deeper than
:data:`~callgate.http.body.MAX_NESTING`, or carry a field of the wrong type, length or range are
400. Client text reaches the log only through :func:`callgate.logs.clip`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from callgate.auth import Authenticator, Identity, Permission, Role
from callgate.http.bad_requests import server_log
from callgate.http.body import json_object
from callgate.http.bounds import ConnectionGuard, GuardedSite, HttpLimits, bounded, runner
from callgate.http.local import AdminSocket
from callgate.http.origin import foreign_origin
from callgate.http.sessions import BrowserSessions
from callgate.http.settings import is_loopback
from callgate.logs import LogThrottle, clip
from callgate.ports import MAX_BLOCK_HOURS, MAX_REASON

log = logging.getLogger(__name__)

AGENT_ACTIONS = ("login", "logout", "pause", "unpause")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
#: Most recent calls the API returns in one answer.
MAX_RECENT = 1000
#: Longest texts the API takes besides the services' own (as the MQTT commands in
#: events/schema.py).
MAX_NUMBER = 96
MAX_PAUSE_REASON = 64
MAX_DISPOSITION = 64
MAX_CALL_ID = 128
#: Largest request body by default (``[ops] http_max_body_bytes``); ours are a few hundred bytes.
MAX_BODY_BYTES = 65_536

JsonDict = dict[str, Any]


class Readiness(Protocol):
    """The ``/readyz`` body (the daemon's :class:`~callgate.daemon.health.Health`)."""

    def to_json(self) -> dict[str, object]:
        """``{"ready": bool, ...}``: whether the daemon takes calls, and why not."""
        ...


class DaemonView(Protocol):
    """What the admin API reads from and asks of the running daemon."""

    def status(self) -> JsonDict:
        """Connections, waiting calls, longest wait, calls and call-takers by state."""
        ...

    def agents(self) -> list[JsonDict]:
        """Every configured call-taker and their state."""
        ...

    async def agent_command(
        self, agent_id: str, action: str, reason: str | None, *, by: str
    ) -> str:
        """Apply ``action`` (one of :data:`AGENT_ACTIONS`) asked by user ``by`` (the journal
        names them); return ``OK``, ``ALREADY``, ``REFUSED`` or ``UNKNOWN`` (no such
        call-taker)."""
        ...

    def live_calls(self) -> list[JsonDict]:
        """Calls in the ACD now, longest-waiting first."""
        ...

    async def recent_calls(self, limit: int) -> list[JsonDict]:
        """Up to ``limit`` calls from the journal, newest first."""
        ...

    def set_log_level(self, level: str) -> None:
        """Change the log level of the running daemon (one of :data:`LOG_LEVELS`)."""
        ...

    async def reload(self, by: str) -> JsonDict:
        """Reload the configuration (:mod:`callgate.daemon.reload`): ``{"result": "ok"|
        "refused"|"unavailable", "applied", "restart_needed", "error"}``."""
        ...

    async def set_disposition(
        self, call_id: str, disposition: str, by: str, *, answered_by: str | None = None
    ) -> JsonDict:
        """Classify a call; ``{"result": "ok"|"unknown-call"|"invalid-disposition"|
        "not-yours"|"unavailable", ...}``. With ``answered_by``, only a call that call-taker
        answered (else ``not-yours``)."""
        ...

    async def blocks(self, include_all: bool) -> JsonDict:
        """``{"blocks": [...]}``: in force now, or the whole trail; ``{"result": "unavailable"}``
        when the daemon has no journal."""
        ...

    async def block(self, number: str, hours: float, reason: str, by: str) -> JsonDict:
        """Block a caller; ``{"result": "ok"|"invalid"|"blocking-disabled"|"unavailable",
        "key", "blocks", "detail"}``."""
        ...

    async def unblock(self, number: str, reason: str, by: str) -> JsonDict:
        """Lift a caller's blocks; ``{"result": "ok"|"not-blocked"|"invalid"|"unavailable",
        ...}``."""
        ...


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Finds the user of a request again (a long-lived stream checks its session is still live).
Identify = Callable[[web.Request], Awaitable["Identity | None"]]


class Extension(Protocol):
    """More routes on the port, each with who may call it as in :data:`ROUTES` (the live feed
    and the pages, ``http/streams.py``, ``http/pages.py``): kept beside this module, registered
    here so that one middleware authenticates them all."""

    def routes(self, identify: Identify) -> Mapping[tuple[str, str], tuple[Any, Handler]]:
        """``(method, path) -> (who may call it, handler)``; ``identify`` re-checks a user."""
        ...

    async def close(self) -> None:
        """End what outlives a request (open streams), before the port closes."""
        ...


#: Where the request's authenticated user is kept (set by :meth:`OpsHttp._authenticate`).
IDENTITY: Final = web.RequestKey("identity", Identity)
#: Who may call each route: None is open (health, metrics, status); a permission needs a user
#: who holds it; ``AUTHENTICATED`` any user. Call-taker commands and dispositions are checked
#: further in their handlers (their own call-taker, their own calls).
AUTHENTICATED: Final = "authenticated"
ROUTES: Final[dict[tuple[str, str], Permission | str | None]] = {
    ("GET", "/healthz"): None,
    ("GET", "/readyz"): None,
    ("GET", "/metrics"): None,
    ("GET", "/api/status"): None,
    ("GET", "/api/whoami"): AUTHENTICATED,
    ("GET", "/api/agents"): Permission.VIEW_AGENTS,
    ("POST", "/api/agents/{agent_id}/{action}"): AUTHENTICATED,
    ("GET", "/api/calls"): Permission.VIEW_CALLS,
    ("POST", "/api/log-level"): Permission.LOG_LEVEL,
    ("POST", "/api/reload"): Permission.RELOAD,
    ("POST", "/api/calls/{call_id}/disposition"): AUTHENTICATED,
    ("GET", "/api/blocks"): Permission.VIEW_CALLS,
    ("POST", "/api/blocks"): Permission.BLOCK,
    ("POST", "/api/unblock"): Permission.BLOCK,
    # Browser sessions: log-in is open; the other two find the session themselves (sessions.py).
    ("POST", "/api/session"): None,
    ("GET", "/api/session"): None,
    ("DELETE", "/api/session"): None,
}
#: The one route a CAD client's token may call: the URL of its ``recording-ready`` events
#: (:mod:`callgate.http.inquiry`). Anything else (the live feed's slots, the agencies, whoami)
#: is 403 whatever the route's own rule, so no route added later opens to CAD by accident.
CAD_ROUTE: Final = ("GET", "/api/calls/{call_id}/recording")
#: The routes a wall screen (role ``display``) may call: the board's reads. Anything else, and
#: every request that changes something, is 403 and logged with the display's name, whatever
#: the route's own rule (a route added later stays closed to it unless listed here).
DISPLAY_ROUTES: Final = frozenset(
    {("GET", "/api/live"), ("GET", "/api/whoami"), ("GET", "/api/agents")}
)
_BY_REFUSED: Final = (
    "by is not accepted: the audit trail records the authenticated user (see callgate auth)"
)


def _json(body: object, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, default=str))


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    response = _json({"error": message}, status)
    if headers:
        response.headers.update(headers)
    return response


def _forbidden(identity: Identity, what: str) -> web.Response:
    log.warning(
        "admin API: refused by role",
        extra={"by": identity.name, "role": identity.role.value, "wanted": what},
    )
    return _error(403, f"{identity.name} ({identity.role.value}) may not {what}")


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    host = request.host.rsplit(":", 1)[0].strip("[]") if request.host else ""
    if not is_loopback(host):
        return _error(403, "admin port answers only requests addressed to a loopback host")
    foreign = foreign_origin(request)
    if foreign is not None:
        return _error(403, foreign)
    if request.method == "POST" and request.content_type != "application/json":
        return _error(415, "POST needs Content-Type: application/json")
    try:
        return await handler(request)
    except web.HTTPException as exc:
        retry_after = exc.headers.get("Retry-After")  # a 429 or 503 says when to come back
        return _error(exc.status, exc.reason, {"Retry-After": retry_after} if retry_after else None)
    except Exception:
        # A bug of ours, not the client's: still a JSON answer, and the daemon goes on.
        log.exception("admin API request failed", extra={"path": clip(request.path)})
        return _error(500, "internal error; see callgate's log")


class OpsHttp:
    """The admin HTTP server; ``await start()`` binds, ``await stop()`` closes."""

    def __init__(
        self,
        view: DaemonView,
        health: Readiness,
        registry: CollectorRegistry,
        *,
        authenticator: Authenticator,
        host: str = "127.0.0.1",
        port: int = 8089,
        max_body_bytes: int = MAX_BODY_BYTES,
        sessions: BrowserSessions | None = None,
        local: AdminSocket | None = None,
        extensions: Sequence[Extension] = (),
        limits: HttpLimits | None = None,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"admin HTTP host {host!r} is not a loopback address")
        self.view = view
        self.health = health
        self.registry = registry
        self.host = host
        self.port = port
        self.max_body_bytes = max_body_bytes
        self.authenticator = authenticator
        self.sessions = sessions if sessions is not None else BrowserSessions(authenticator)
        self.local = local
        self.extensions = tuple(extensions)
        self.limits = limits if limits is not None else HttpLimits()
        self.guard = ConnectionGuard(self.limits)  # deadlines and caps of the TCP port (bounds.py)
        self._needed: dict[tuple[str, str], Permission | str | None] = dict(ROUTES)
        self._runner: web.AppRunner | None = None
        self._throttle = LogThrottle(60.0)

    def app(self) -> web.Application:
        # aiohttp answers 413 itself once a body passes client_max_size, before it is all read.
        app = web.Application(
            middlewares=[_guard, self._authenticate], client_max_size=self.max_body_bytes
        )
        bounded(app, self.guard)  # deadlines, no versions in Server: (bounds.py)
        handlers: dict[tuple[str, str], Handler] = {
            ("GET", "/healthz"): self._healthz,
            ("GET", "/readyz"): self._readyz,
            ("GET", "/metrics"): self._metrics,
            ("GET", "/api/status"): self._status,
            ("GET", "/api/whoami"): self._whoami,
            ("GET", "/api/agents"): self._agents,
            ("POST", "/api/agents/{agent_id}/{action}"): self._agent_command,
            ("GET", "/api/calls"): self._calls,
            ("POST", "/api/log-level"): self._log_level,
            ("POST", "/api/reload"): self._reload,
            ("POST", "/api/calls/{call_id}/disposition"): self._disposition,
            ("GET", "/api/blocks"): self._blocks,
            ("POST", "/api/blocks"): self._block,
            ("POST", "/api/unblock"): self._unblock,
            ("POST", "/api/session"): self._log_in,
            ("GET", "/api/session"): self.sessions.current,
            ("DELETE", "/api/session"): self.sessions.log_out,
        }
        assert handlers.keys() == ROUTES.keys(), "every route says who may call it"
        for extension in self.extensions:
            for key, (needed, handler) in extension.routes(self._recheck).items():
                assert key not in handlers, f"{key} is registered twice"
                self._needed[key], handlers[key] = needed, handler
        for (method, path), handler in handlers.items():
            app.router.add_route(method, path, handler)
        return app

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.resource
        key = (request.method, route.canonical if route is not None else "")
        needed = self._needed.get(key)
        if needed is None:
            return await handler(request)  # open, or no such route (aiohttp's 404/405)
        identity = await self._identity(request)
        if identity is None:
            # A browser whose session ended logs in again on its page, not in a Basic dialog.
            challenge = {"WWW-Authenticate": 'Basic realm="callgate", charset="UTF-8"'}
            return _error(
                401,
                "authentication required: Authorization: Bearer <token> or Basic (see callgate"
                " auth), or a browser session (POST /api/session)",
                headers=None if self.sessions.has_cookie(request) else challenge,
            )
        if identity.role is Role.CAD and key != CAD_ROUTE:
            return _forbidden(identity, f"{key[0]} {key[1]} (a CAD token fetches recordings only)")
        if identity.role is Role.DISPLAY and key not in DISPLAY_ROUTES:
            return _forbidden(identity, f"{key[0]} {key[1]} (a wall screen only shows the board)")
        if isinstance(needed, Permission) and not identity.may(needed):
            return _forbidden(identity, needed.value)
        request[IDENTITY] = identity
        return await handler(request)

    async def _identity(self, request: web.Request) -> Identity | None:
        """The user the request's credential names, or None (never says why: no oracle)."""
        header = request.headers.get("Authorization", "")
        if not header:
            if self.local is not None and not self.sessions.has_cookie(request):
                # No credential at all: on the admin socket the peer's Unix user may name one
                # (and on TCP nobody). A cookie, like a header, is judged alone.
                return await self.local.identity(request, self.authenticator)
            # A browser's session cookie; one that changes something without its CSRF token
            # is refused here (403).
            return await self.sessions.identity(request)
        # Bearer or Basic: counted by the one limiter of every credential (guessing.py); too
        # many failures raise 429 (503 when too many are being checked), before any hash.
        return await self.sessions.gate.authorization(request, header)

    async def _recheck(self, request: web.Request) -> Identity | None:
        """:meth:`_identity` for a long-lived stream: a refusal (429) is no user, not an error
        in a response already under way."""
        try:
            return await self._identity(request)
        except web.HTTPException:
            return None

    async def start(self) -> None:
        self._runner = runner(self.app(), self.limits, server_log)
        await self._runner.setup()
        site = GuardedSite(self._runner, self.host, self.port, self.guard)
        try:
            await site.start()
        except OSError:
            # The port is taken: leave nothing half-built, the daemon tries again later.
            await self._runner.cleanup()
            self._runner = None
            raise
        if self._runner.addresses:
            # The port really bound, which differs from the setting when port 0 was asked for.
            self.port = int(self._runner.addresses[0][1])
        log.info("admin HTTP port listening", extra={"host": self.host, "port": self.port})
        if self.local is not None:
            await self.local.start(self._runner)  # a WARNING if it cannot: TCP serves on

    async def stop(self) -> None:
        for extension in self.extensions:
            await extension.close()  # else the runner waits for open streams to end
        if self.local is not None:
            self.local.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- handlers ---------------------------------------------------------------------------

    async def _healthz(self, _request: web.Request) -> web.Response:
        return _json({"alive": True})

    async def _readyz(self, _request: web.Request) -> web.Response:
        body = self.health.to_json()
        return _json(body, 200 if body["ready"] else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def _status(self, _request: web.Request) -> web.Response:
        return _json(self.view.status())

    async def _whoami(self, request: web.Request) -> web.Response:
        who = request[IDENTITY]
        return _json({"name": who.name, "role": who.role.value, "agent_id": who.agent_id})

    async def _agents(self, _request: web.Request) -> web.Response:
        return _json({"agents": self.view.agents()})

    async def _agent_command(self, request: web.Request) -> web.Response:
        agent_id = request.match_info["agent_id"]
        action = request.match_info["action"]
        if action not in AGENT_ACTIONS:
            return _error(404, f"unknown action {action!r}; one of {', '.join(AGENT_ACTIONS)}")
        who = request[IDENTITY]
        if not who.may_act_for(agent_id):
            return _forbidden(who, f"{action} call-taker {clip(agent_id, 32)}")
        body = await json_object(request)
        reason = body.get("reason")
        if reason is not None and not _text(reason, MAX_PAUSE_REASON):
            return _error(400, f"reason must be 1 to {MAX_PAUSE_REASON} characters")
        log.info(
            "admin command",
            extra={
                "agent_id": clip(agent_id),
                "action": action,
                "reason": clip(reason),
                "by": who.name,
                "via": "admin-api",
            },
        )
        result = await self.view.agent_command(agent_id, action, reason, by=who.name)
        status = {"OK": 200, "ALREADY": 200, "UNKNOWN": 404}.get(result, 409)
        return _json({"agent_id": agent_id, "action": action, "result": result}, status)

    async def _calls(self, request: web.Request) -> web.Response:
        raw = request.query.get("recent", "0")
        try:
            recent = int(raw)
        except ValueError:
            return _error(400, f"recent must be a whole number, not {clip(raw, 20)!r}")
        if not 0 <= recent <= MAX_RECENT:
            return _error(400, f"recent must be between 0 and {MAX_RECENT}")
        body: JsonDict = {"live": self.view.live_calls()}
        if recent:
            body["recent"] = await self.view.recent_calls(recent)
        return _json(body)

    async def _log_level(self, request: web.Request) -> web.Response:
        level = (await json_object(request)).get("level")
        if not isinstance(level, str) or level.upper() not in LOG_LEVELS:
            return _error(400, f"level must be one of {', '.join(LOG_LEVELS)}")
        self.view.set_log_level(level.upper())
        log.warning(
            "log level changed",
            extra={"level": level.upper(), "by": request[IDENTITY].name, "via": "admin-api"},
        )
        return _json({"level": level.upper()})

    async def _reload(self, request: web.Request) -> web.Response:
        by = request[IDENTITY].name
        log.info("admin command", extra={"action": "reload", "by": by, "via": "admin-api"})
        answer = await self.view.reload(by)
        return _json(answer, {"ok": 200, "refused": 400}.get(answer.get("result", ""), 503))

    async def _disposition(self, request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        if len(call_id) > MAX_CALL_ID:
            return _error(400, f"call id longer than {MAX_CALL_ID} characters")
        who = request[IDENTITY]
        if not who.may(Permission.OWN_DISPOSITION):
            return _forbidden(who, "set dispositions")
        body = await json_object(request)
        if "by" in body:
            return _error(400, _BY_REFUSED)
        disposition = body.get("disposition")
        if not _text(disposition, MAX_DISPOSITION):
            return _error(400, f"disposition (1-{MAX_DISPOSITION} characters) is required")
        assert isinstance(disposition, str)
        # A call-taker classifies only calls they answered; a supervisor any call.
        own = None if who.may(Permission.ANY_DISPOSITION) else who.agent_id
        answer = await self.view.set_disposition(call_id, disposition, who.name, answered_by=own)
        return _json(answer, _STATUS.get(answer.get("result", ""), 409))

    async def _log_in(self, request: web.Request) -> web.Response:
        return await self.sessions.log_in(request, await json_object(request))

    async def _blocks(self, request: web.Request) -> web.Response:
        include_all = request.query.get("all", "0") not in ("", "0", "false", "no")
        answer = await self.view.blocks(include_all)
        return _json(answer, _STATUS.get(answer.get("result", "ok"), 409))

    async def _block(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        number, hours, reason = body.get("number"), body.get("hours"), body.get("reason")
        problem = _who_and_why(body, number, reason)
        if problem is not None:
            return _error(400, problem)
        assert isinstance(number, str)
        assert isinstance(reason, str)
        # Compared here, before float(): a 400-digit integer is a valid JSON number that float()
        # cannot hold (OverflowError), and NaN or Infinity never reach this far.
        if (
            isinstance(hours, bool)
            or not isinstance(hours, int | float)
            or not (0 < hours <= MAX_BLOCK_HOURS)
        ):
            return _error(400, f"hours must be a number above 0 and at most {MAX_BLOCK_HOURS:g}")
        by = request[IDENTITY].name
        log.info("admin command", extra={"action": "block", "by": by, "via": "admin-api"})
        answer = await self.view.block(number, float(hours), reason, by)
        return _json(answer, _STATUS.get(answer.get("result", ""), 409))

    async def _unblock(self, request: web.Request) -> web.Response:
        body = await json_object(request)
        number, reason = body.get("number"), body.get("reason")
        problem = _who_and_why(body, number, reason)
        if problem is not None:
            return _error(400, problem)
        assert isinstance(number, str)
        assert isinstance(reason, str)
        by = request[IDENTITY].name
        log.info("admin command", extra={"action": "unblock", "by": by, "via": "admin-api"})
        answer = await self.view.unblock(number, reason, by)
        return _json(answer, _STATUS.get(answer.get("result", ""), 409))


#: HTTP status of each service result; anything else is 409 (refused as things stand).
_STATUS = {
    "ok": 200,
    "not-blocked": 200,  # nothing to lift: the caller can call, which is what was wanted
    "unknown-call": 404,
    "invalid-disposition": 400,
    "invalid": 400,
    "not-yours": 403,
    "blocking-disabled": 409,
    "unavailable": 503,
}


def _text(value: object, longest: int) -> bool:
    return isinstance(value, str) and len(value.strip()) > 0 and len(value) <= longest


def _who_and_why(body: JsonDict, number: object, reason: object) -> str | None:
    """What is wrong with a block's or unblock's texts, or None."""
    if "by" in body:
        return _BY_REFUSED
    if not _text(number, MAX_NUMBER):
        return f"number must be 1 to {MAX_NUMBER} characters"
    if not _text(reason, MAX_REASON):
        return f"reason must be 1 to {MAX_REASON} characters (it goes into the audit trail)"
    return None
