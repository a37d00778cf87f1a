"""Browser sessions on the admin HTTP port: log in with a password, a session cookie, CSRF.

A page in a browser (the wallboard) cannot hold a token safely and should not use HTTP Basic
(the browser caches it and attaches it to any request to the port, whoever's page made it). So
a user of ``[auth]`` logs in once with ``POST /api/session`` and the browser carries a cookie.

**Why sessions in memory, not aiohttp-session.** The store is a dict in the daemon: the cookie
holds a random 256-bit id and nothing else, the server keeps who it is. That needs no
dependency and no key in the config (aiohttp-session's ``EncryptedCookieStorage`` would need
``cryptography`` and a secret to manage), and logging out or removing a user really ends the
session, where an encrypted cookie stays valid until it expires. Sessions are lost when the
daemon restarts: users log in again, which is acceptable for a daemon restarted seldom. The
store keeps a digest of each id, not the id, so nothing in memory or in a log is a cookie.

**Cookie.** ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page makes
the browser send it), ``Path=/``, no ``Max-Age`` (gone when the browser closes; the server ends
it anyway), and ``Secure`` when ``[ops] cookie_secure`` (the default) or when the request came
through the TLS proxy (``X-Forwarded-Proto: https``). A Secure cookie is named with the
``__Host-`` prefix, which browsers accept only over TLS, from this host, for ``Path=/``: another
host of the domain cannot plant one.

**CSRF.** A request authenticated by the cookie that changes something (any method but GET,
HEAD, OPTIONS) must carry ``X-CSRF-Token`` equal to its session's token (log-in and
``GET /api/session`` return it), else 403. A token or Basic credential needs none: a browser
does not attach a token by itself, and the JSON content type keeps a cross-site form from
sending a request with a cached Basic credential. Besides, any request whose ``Origin`` is not
this site is refused (:func:`foreign_origin`): behind the proxy, "this site" is what the proxy
passes as ``X-Forwarded-Proto`` and ``X-Forwarded-Host``.

**Failed log-ins** count in the one limiter of every credential the port checks
(:mod:`callgate.http.guessing`): too many from a client address, or for a name from an address
that failed too, and the answer is 429 with ``Retry-After``, before the password is checked, so
guessing costs no CPU either. Each failure is one log line, with the name and address, never the
password. The address is the proxy's ``X-Real-IP`` only when the connection comes from one of
``[ops] trusted_proxies``; ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` only say which site
the browser sees (the cookie's ``Secure``, the ``Origin`` check), which any local process could
claim to no gain.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from yarl import URL

from callgate.auth import Authenticator, Identity
from callgate.http.guessing import CredentialGate, CredentialLimiter, Refusal
from callgate.http.settings import OpsSettings
from callgate.logs import LogThrottle, clip

log = logging.getLogger(__name__)

#: Methods that change nothing and so need no CSRF token.
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER: Final = "X-CSRF-Token"
#: The cookie's name: with ``Secure``, the ``__Host-`` prefix (see the module's docstring).
COOKIE: Final = "callgate-session"
SECURE_COOKIE: Final = "__Host-callgate-session"
#: Random bytes in a session id and in a CSRF token (256 bits).
SESSION_BYTES: Final = 32
#: Sessions kept at most, and per user; past them the least recently used one ends. A centre has
#: tens of users, each with a browser or two.
MAX_SESSIONS: Final = 1000
MAX_SESSIONS_PER_USER: Final = 16
#: Longest name and password a log-in may send (names are at most 64 by auth.NAME_PATTERN).
MAX_NAME: Final = 64
MAX_PASSWORD: Final = 1024
HOUR: Final = 3600.0


def _digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).digest()


@dataclass
class Session:
    """One logged-in browser. ``name`` is the user: their role is looked up on each request
    (:meth:`BrowserSessions.identity`), so a user changed or removed from ``[auth]`` when the
    configuration is reloaded is changed or logged out at once."""

    name: str
    csrf_token: str
    created: float
    last_seen: float


class SessionStore:
    """The sessions, by a digest of their id; pure apart from the ``now`` its callers pass
    (monotonic seconds)."""

    def __init__(
        self,
        *,
        idle_timeout: float,
        lifetime: float,
        max_sessions: int = MAX_SESSIONS,
        max_per_user: int = MAX_SESSIONS_PER_USER,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.lifetime = lifetime
        self.max_sessions = max_sessions
        self.max_per_user = max_per_user
        # Least recently used first: the one to end when there are too many.
        self._sessions: OrderedDict[bytes, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def start(self, name: str, now: float) -> tuple[str, Session]:
        """A new session for user ``name``: its id (for the cookie only) and the session."""
        self._drop_expired(now)
        mine = [key for key, s in self._sessions.items() if s.name == name]
        for key in mine[: max(0, len(mine) - self.max_per_user + 1)]:
            del self._sessions[key]
        while len(self._sessions) >= self.max_sessions:
            self._sessions.popitem(last=False)
        session_id = secrets.token_urlsafe(SESSION_BYTES)
        session = Session(name, secrets.token_urlsafe(SESSION_BYTES), now, now)
        self._sessions[_digest(session_id)] = session
        return session_id, session

    def get(self, session_id: str, now: float) -> Session | None:
        """The live session of ``session_id``, now seen; None if unknown, idle too long or past
        its lifetime (then it is forgotten)."""
        key = _digest(session_id)
        session = self._sessions.get(key)
        if session is None:
            return None
        if self._expired(session, now):
            del self._sessions[key]
            return None
        session.last_seen = now
        self._sessions.move_to_end(key)
        return session

    def end(self, session_id: str) -> Session | None:
        """Forget ``session_id``'s session (log-out); the session, or None if there was none."""
        return self._sessions.pop(_digest(session_id), None)

    def end_user(self, name: str) -> int:
        """End every session of user ``name`` (removed or changed in ``[auth]``); how many."""
        keys = [key for key, s in self._sessions.items() if s.name == name]
        for key in keys:
            del self._sessions[key]
        return len(keys)

    def _expired(self, session: Session, now: float) -> bool:
        return (
            now - session.last_seen >= self.idle_timeout or now - session.created >= self.lifetime
        )

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]


def forwarded_https(request: web.Request) -> bool:
    """The browser reached the TLS reverse proxy over https (the proxy says so)."""
    return request.headers.get("X-Forwarded-Proto", "").strip().lower() == "https"


def _origin_of(url: str) -> tuple[str, str, int | None] | None:
    """``(scheme, host, port)`` with the scheme's default port filled in, or None."""
    try:
        parsed = URL(url)
    except ValueError:
        return None
    if not parsed.scheme or not parsed.host:
        return None
    return parsed.scheme.lower(), parsed.host.lower(), parsed.port


def foreign_origin(request: web.Request) -> str | None:
    """Why the request's ``Origin`` is another site's, or None (no Origin, or this site's).

    Browsers send ``Origin`` with every cross-site request they make on a page's behalf and with
    same-site POSTs; a page of another site must not act here even with a credential the browser
    holds. This site is the one the proxy names (``X-Forwarded-Proto``, ``X-Forwarded-Host``),
    else the request's own scheme and ``Host``.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    scheme = "https" if forwarded_https(request) else request.scheme
    host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip() or request.host
    # "null" (a sandboxed frame, a file) parses to None: never this site.
    sent = _origin_of(origin)
    if sent is not None and sent == _origin_of(f"{scheme}://{host}"):
        return None
    return (
        f"Origin {clip(origin, 80)} is not this site ({clip(f'{scheme}://{host}', 80)}); behind"
        " a reverse proxy, it must pass X-Forwarded-Host and X-Forwarded-Proto"
    )


def _answer(
    body: Mapping[str, object], status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    response = web.json_response(dict(body), status=status)
    # Answers that carry a CSRF token, or end a session, belong to no cache.
    response.headers["Cache-Control"] = "no-store"
    if headers:
        response.headers.update(headers)
    return response


def _who(identity: Identity, session: Session) -> dict[str, object]:
    return {
        "name": identity.name,
        "role": identity.role.value,
        "agent_id": identity.agent_id,
        "csrf_token": session.csrf_token,
    }


class BrowserSessions:
    """Log-in, log-out, and the identity of a request carrying a session cookie.

    ``clock`` gives monotonic seconds: a session's idle time and lifetime are durations, which a
    change of the wall clock must not stretch.
    """

    def __init__(
        self,
        authenticator: Authenticator,
        *,
        idle_timeout: float = 8 * HOUR,
        lifetime: float = 12 * HOUR,
        cookie_secure: bool = True,
        trusted_proxies: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.authenticator = authenticator
        self.store = SessionStore(idle_timeout=idle_timeout, lifetime=lifetime)
        #: Every password and token the port checks, the log-in's and the API's, goes through it.
        self.gate = CredentialGate(authenticator, trusted_proxies=trusted_proxies, clock=clock)
        self.cookie_secure = cookie_secure
        self._clock = clock
        self._throttle = LogThrottle(60.0, clock)

    @classmethod
    def from_settings(cls, settings: OpsSettings, authenticator: Authenticator) -> BrowserSessions:
        return cls(
            authenticator,
            idle_timeout=settings.session_idle_hours * HOUR,
            lifetime=settings.session_lifetime_hours * HOUR,
            cookie_secure=settings.cookie_secure,
            trusted_proxies=settings.trusted_proxies,
        )

    @property
    def limiter(self) -> CredentialLimiter:
        return self.gate.limiter

    def _secure(self, request: web.Request) -> bool:
        return self.cookie_secure or forwarded_https(request)

    def _cookie_name(self, request: web.Request) -> str:
        return SECURE_COOKIE if self._secure(request) else COOKIE

    def has_cookie(self, request: web.Request) -> bool:
        """The request carries a session cookie, live or not: a browser, which must not be
        answered with a Basic challenge (it would pop up the browser's own log-in dialog)."""
        return self._cookie_name(request) in request.cookies

    def _session(self, request: web.Request) -> tuple[str, Session, Identity] | None:
        session_id = request.cookies.get(self._cookie_name(request))
        if not session_id:
            return None
        session = self.store.get(session_id, self._clock())
        if session is None:
            return None
        identity = self.authenticator.identity(session.name)
        if identity is None:  # no longer a user
            self.store.end(session_id)
            return None
        return session_id, session, identity

    def _check_csrf(self, request: web.Request, session: Session) -> None:
        if request.method in SAFE_METHODS:
            return
        sent = request.headers.get(CSRF_HEADER, "")
        if hmac.compare_digest(sent.encode("utf-8", "replace"), session.csrf_token.encode("ascii")):
            return
        held_back = self._throttle.admit("csrf")
        if held_back is not None:
            log.warning(
                "admin API: browser request without its CSRF token refused",
                extra={
                    "by": session.name,
                    "path": clip(request.path),
                    "sent": bool(sent),
                    "similar_not_logged": held_back,
                },
            )
        raise web.HTTPForbidden(
            reason=f"a request that changes something needs the session's {CSRF_HEADER} header"
            " (POST or GET /api/session returns it)"
        )

    def identity(self, request: web.Request) -> Identity | None:
        """The user of the request's live session, or None; a request that changes something
        without the session's CSRF token raises 403 (:class:`aiohttp.web.HTTPForbidden`)."""
        found = self._session(request)
        if found is None:
            return None
        _, session, identity = found
        self._check_csrf(request, session)
        return identity

    async def log_in(self, request: web.Request, body: Mapping[str, object]) -> web.Response:
        """``POST /api/session`` with ``{"name", "password"}`` (the body already parsed)."""
        name, password = body.get("name"), body.get("password")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            return _answer({"error": f"name must be 1 to {MAX_NAME} characters"}, 400)
        if not isinstance(password, str) or len(password) > MAX_PASSWORD:
            return _answer({"error": f"password must be at most {MAX_PASSWORD} characters"}, 400)
        address = self.gate.peer(request)
        result = await self.gate.check("password", name, password, address)
        if isinstance(result, Refusal):
            refused = self.gate.refused(result, address, name)
            retry_after = {"Retry-After": str(result.retry_after)}
            return _answer({"error": refused.reason}, refused.status, retry_after)
        if result is None:
            log.warning("admin API: log-in failed", extra={"user": clip(name), "client": address})
            return _answer({"error": "wrong name or password"}, 401)
        identity = result
        previous = self._session(request)
        if previous is not None:  # a fresh id at each log-in; the old one ends now
            self.store.end(previous[0])
        session_id, session = self.store.start(identity.name, self._clock())
        log.info(
            "admin API: browser session started",
            extra={"by": identity.name, "role": identity.role.value, "client": address},
        )
        response = _answer(_who(identity, session))
        response.set_cookie(
            self._cookie_name(request),
            session_id,
            path="/",
            secure=self._secure(request),
            httponly=True,
            samesite="Strict",
        )
        return response

    async def current(self, request: web.Request) -> web.Response:
        """``GET /api/session``: who is logged in and the CSRF token (after a page reload)."""
        found = self._session(request)
        if found is None:
            # No WWW-Authenticate: a page asks this to know whether to show its log-in form.
            return _answer({"error": "not logged in"}, 401)
        _, session, identity = found
        return _answer(_who(identity, session))

    async def log_out(self, request: web.Request) -> web.Response:
        """``DELETE /api/session``: end the session (with its CSRF token); logging out without a
        live session is answered 200 too, and clears the cookie."""
        found = self._session(request)
        result = "not-logged-in"
        if found is not None:
            session_id, session, identity = found
            self._check_csrf(request, session)
            self.store.end(session_id)
            result = "logged-out"
            log.info(
                "admin API: browser session ended",
                extra={"by": identity.name, "client": self.gate.peer(request)},
            )
        response = _answer({"result": result})
        response.del_cookie(
            self._cookie_name(request),
            path="/",
            secure=self._secure(request),
            httponly=True,
            samesite="Strict",
        )
        return response
