"""Browser sessions on the admin HTTP port: log in with a password, a session cookie, CSRF.

A page in a browser (the wallboard) cannot hold a token safely and should not use HTTP Basic
(the browser caches it and attaches it to any request to the port, whoever's page made it). So
a user of ``[auth]`` logs in once with ``POST /api/session`` and the browser carries a cookie.

**Why sessions kept in the journal, not signed cookies.** The cookie holds a random 256-bit
id and nothing else; the server keeps who it is, in memory and, when the daemon has a journal,
in its database (``browser_sessions``, :class:`~callgate.ports.SessionRecords`) as the SHA-256
of the id, never the id: a copy of the database opens no session. So a daemon restart or
upgrade logs nobody out (a session unknown in memory is looked up there once), and logging out,
removing or changing a user, or revoking a display really ends its sessions, where a signed
cookie stays valid until it expires unless the server keeps a list of revoked ones anyway, and
would need a key to manage in the config. The CSRF token is derived from the id (an HMAC keyed
by it), so it needs no storing either. A session's times are wall-clock seconds, since they
must mean the same to the next process (a step of the host's clock moves its age by as much);
its last sight is written at most once a minute, in the background (a call-taker's command
never waits on the database), and only to a row still there: one gone was ended elsewhere (a
revoke, a log-out), and ends in memory too. Each row keeps a fingerprint of its user (role,
call-taker, phone, secrets' hashes): a user changed in ``users.toml`` while the daemon was down
is not let back in. While the database is down sessions held in memory go on; one not in
memory waits at most :data:`RESTORE_TIMEOUT` for it, then is answered 503 (try again), not 401,
so a page keeps its screen through a failover.

**Wall screens** (role ``display``) open a session with a device token an admin made
(``callgate users display add``, :mod:`callgate.http.displays`), not a password. Theirs has no
lifetime, only a long idle limit (:data:`DISPLAY_IDLE`), and a persistent cookie (``Max-Age``),
so the screen survives its own browser's restart as well as the daemon's; revoking the token
ends them at once.

**Cookie.** ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page makes
the browser send it), ``Path=/``, no ``Max-Age`` for a person (gone when the browser closes;
the server ends it anyway; a wall screen's has one, above), and ``Secure`` when ``[ops]
cookie_secure`` (the default) or when the request came through the TLS proxy
(``X-Forwarded-Proto: https``). A Secure cookie is named with the
``__Host-`` prefix, which browsers accept only over TLS, from this host, for ``Path=/``: another
host of the domain cannot plant one.

**CSRF.** A request authenticated by the cookie that changes something (any method but GET,
HEAD, OPTIONS) must carry ``X-CSRF-Token`` equal to its session's token (log-in and
``GET /api/session`` return it), else 403. A token or Basic credential needs none: a browser
does not attach a token by itself, and the JSON content type keeps a cross-site form from
sending a request with a cached Basic credential. Besides, any request whose ``Origin`` is not
this site is refused (:func:`~callgate.http.origin.foreign_origin`): behind the proxy, "this
site" is what the proxy passes as ``X-Forwarded-Proto`` and ``X-Forwarded-Host``.

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

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, Final

from aiohttp import web

from callgate.auth import Authenticator, Identity, Role, UserSettings
from callgate.http.guessing import CredentialGate, CredentialLimiter, Refusal
from callgate.http.origin import forwarded_https
from callgate.http.session_store import (
    DISPLAY_IDLE,
    HOUR,
    SESSION_BYTES,
    Session,
    SessionStore,
    session_digest,
    utc_at,
)
from callgate.http.settings import OpsSettings
from callgate.logs import LogThrottle, clip
from callgate.ports import JournalError, SessionRecords

log = logging.getLogger(__name__)

#: Methods that change nothing and so need no CSRF token.
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER: Final = "X-CSRF-Token"
#: The cookie's name: with ``Secure``, the ``__Host-`` prefix (see the module's docstring).
COOKIE: Final = "callgate-session"
SECURE_COOKIE: Final = "__Host-callgate-session"
#: Longest name and password a log-in may send (names are at most 64 by auth.NAME_PATTERN).
MAX_NAME: Final = 64
MAX_PASSWORD: Final = 1024
#: Its cookie's ``Max-Age``: as long as browsers keep one (400 days), past any idle limit.
DISPLAY_COOKIE_AGE: Final = 400 * 24 * 3600
#: A display's audit name: ``display:<name>``, which no user name can be (auth.NAME_PATTERN).
DISPLAY_PREFIX: Final = "display:"
#: How often a session's last sight is written to the journal, at most.
WRITE_SEEN_EVERY: Final = 60.0
#: Longest wait for the journal to find a session not in memory (then 503, try again).
RESTORE_TIMEOUT: Final = 1.5
#: What a 503 for a journal that did not answer tells the browser to wait.
RETRY_AFTER: Final = "2"


def fingerprint(user: UserSettings | None) -> str:
    """What a session's user is (SHA-256 over role, call-taker, phone and secrets' hashes; ""
    for a display or no user), kept with the session: one that differs after a restart means
    the user was changed while the daemon was down, and the session ends."""
    if user is None:
        return ""
    parts = (user.role.value, user.agent_id, user.phone, user.password_hash, user.token_hash)
    text = "\0".join("" if part is None else part for part in parts)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def display_identity(name: str) -> Identity:
    """Who a wall screen's request is: the audit trail names it ``display:<name>``."""
    return Identity(DISPLAY_PREFIX + name, Role.DISPLAY)


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

    Sessions are timed on the wall clock (they outlive the process), the failed log-ins'
    limiter on the monotonic one; ``clock``, given (tests), is both. ``records`` keeps sessions
    through a restart (the journal); without it they live in memory only.
    """

    def __init__(
        self,
        authenticator: Authenticator,
        *,
        idle_timeout: float = 8 * HOUR,
        lifetime: float = 12 * HOUR,
        cookie_secure: bool = True,
        trusted_proxies: Iterable[str] = (),
        clock: Callable[[], float] | None = None,
        records: SessionRecords | None = None,
    ) -> None:
        self.authenticator = authenticator
        self.store = SessionStore(idle_timeout=idle_timeout, lifetime=lifetime)
        self.store.ended = self._forget_user
        self.store.keep_evicted = records is not None
        steady = clock or time.monotonic
        #: Monotonic seconds, for the limiter of failed credentials.
        self.steady = steady
        #: Every password and token the port checks, the log-in's and the API's, goes through it.
        self.gate = CredentialGate(authenticator, trusted_proxies=trusted_proxies, clock=steady)
        self.cookie_secure = cookie_secure
        self.records = records
        self._clock = clock or time.time
        self._throttle = LogThrottle(60.0, steady)
        self._writing: set[asyncio.Task[bool]] = set()
        self._pruned = float("-inf")

    @classmethod
    def from_settings(
        cls,
        settings: OpsSettings,
        authenticator: Authenticator,
        records: SessionRecords | None = None,
    ) -> BrowserSessions:
        return cls(
            authenticator,
            idle_timeout=settings.session_idle_hours * HOUR,
            lifetime=settings.session_lifetime_hours * HOUR,
            cookie_secure=settings.cookie_secure,
            trusted_proxies=settings.trusted_proxies,
            records=records,
        )

    async def _write(self, what: str, write: Coroutine[Any, Any, object]) -> bool:
        """Run one write of the journal; a failure is logged (throttled), never raised: the
        session goes on in memory, only a restart meanwhile would end it."""
        try:
            await write
        except JournalError as exc:
            self._unavailable(what, exc)
            return False
        return True

    def _unavailable(self, what: str, exc: Exception) -> None:
        held_back = self._throttle.admit("journal")
        if held_back is not None:
            log.warning(
                "admin API: browser sessions' journal unavailable",
                extra={"what": what, "reason": str(exc) or type(exc).__name__,
                       "similar_not_logged": held_back},
            )  # fmt: skip

    async def settled(self) -> None:
        """Wait for the journal's writes under way in the background."""
        await asyncio.gather(*self._writing)

    def _background(self, what: str, write: Coroutine[Any, Any, object]) -> None:
        """:meth:`_write` in a task of its own: a request never waits on the database."""
        task = asyncio.get_running_loop().create_task(self._write(what, write))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _seen(self, key: str, session: Session) -> None:
        """Write ``session``'s last sight: only to its row (gone: the session ended elsewhere,
        a revoke or a log-out, and ends here too), or the whole row if it never got there.
        Run in the background, so a slow journal may have several of a session's under way,
        landing in any order: the journal keeps the latest sight whatever the order
        (:class:`~callgate.ports.SessionRecords`)."""
        assert self.records is not None
        stored = session.stored(key)
        if not session.kept:
            await self.records.save_session(stored)
            session.kept = True
        elif not await self.records.touch_session(key, stored.last_seen):
            self.store.drop(key)

    def _forget_user(self, name: str) -> None:
        """A user removed or changed at a reload: their sessions in the journal go too (in the
        background: a reload is not async)."""
        if self.records is None:
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no loop: a test of the store alone
            return
        self._background("end user", self.records.drop_sessions(name, display=False))

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

    async def _session(self, request: web.Request) -> tuple[str, Session, Identity] | None:
        session_id = request.cookies.get(self._cookie_name(request))
        if not session_id or len(session_id) > 2 * SESSION_BYTES:
            return None
        now = self._clock()
        session = self.store.get(session_id, now)
        if session is None and self.records is not None:
            session = await self._restore(session_id, now)
        if session is None:
            return None
        identity = (
            display_identity(session.name)
            if session.display
            else self.authenticator.identity(session.name)
        )
        if identity is None:  # no longer a user
            await self.end(session_id)
            return None
        if self.records is not None and now - session.written >= WRITE_SEEN_EVERY:
            session.written = now
            self._background("seen", self._seen(session_digest(session_id), session))
        return session_id, session, identity

    async def _restore(self, session_id: str, now: float) -> Session | None:
        """The journal's session for ``session_id``, taken into memory (after a restart)."""
        assert self.records is not None
        try:
            async with asyncio.timeout(RESTORE_TIMEOUT):
                stored = await self.records.find_session(session_digest(session_id))
        except (JournalError, TimeoutError) as exc:
            # Not 401: the page would show its log-in form, a wall screen would lose its board,
            # while the session may well be there once the database is back (a failover).
            self._unavailable("restore", exc)
            raise web.HTTPServiceUnavailable(
                reason="the journal database is not answering; try again shortly",
                headers={"Retry-After": RETRY_AFTER},
            ) from None
        if stored is None:
            return None
        user = None if stored.display else self.authenticator.users.get(stored.name)
        if stored.fingerprint != fingerprint(user):
            log.info(
                "admin API: kept browser session ended: its user was changed meanwhile",
                extra={"by": stored.name},
            )
            self._background("changed", self.records.drop_session(stored.digest))
            return None
        session = self.store.restore(session_id, stored, now)
        if session is None:
            self._background("expired", self.records.drop_session(stored.digest))
        self._drop_evicted()
        return session

    def _drop_evicted(self) -> None:
        assert self.records is not None
        while self.store.evicted:
            self._background("evicted", self.records.drop_session(self.store.evicted.pop()))

    async def start(self, name: str, *, display: bool = False) -> tuple[str, Session]:
        """A new session (kept in the journal when there is one)."""
        now = self._clock()
        user = None if display else self.authenticator.users.get(name)
        session_id, session = self.store.start(
            name, now, display=display, fingerprint=fingerprint(user)
        )
        if self.records is not None:
            self._drop_evicted()
            if now - self._pruned >= HOUR:  # rows of browsers gone without logging out
                self._pruned = now
                idle = min(self.store.idle_timeout, self.store.lifetime)
                await self._write(
                    "prune",
                    self.records.prune_sessions(utc_at(now - idle), utc_at(now - DISPLAY_IDLE)),
                )
            session.kept = await self._write(
                "start", self.records.save_session(session.stored(session_digest(session_id)))
            )
        return session_id, session

    async def end_previous(self, request: web.Request) -> None:
        """End the browser's session, if it has one: a fresh id at each log-in or display
        opened (a session's id is never taken over by another user)."""
        try:
            previous = await self._session(request)
        except web.HTTPServiceUnavailable:  # the old one's row is left to the prune
            return
        if previous is not None:
            await self.end(previous[0])

    async def end(self, session_id: str) -> None:
        self.store.end(session_id)
        if self.records is not None:
            await self._write("end", self.records.drop_session(session_digest(session_id)))

    def set_cookie(
        self, request: web.Request, response: web.StreamResponse, session_id: str, session: Session
    ) -> None:
        """The session's cookie on ``response``; a display's outlives the browser."""
        response.set_cookie(
            self._cookie_name(request),
            session_id,
            path="/",
            secure=self._secure(request),
            httponly=True,
            samesite="Strict",
            max_age=DISPLAY_COOKIE_AGE if session.display else None,
        )

    def answer(self, identity: Identity, session: Session) -> web.Response:
        """What log-in and ``GET /api/session`` answer: who, and the CSRF token."""
        return _answer(_who(identity, session))

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

    async def identity(self, request: web.Request) -> Identity | None:
        """The user of the request's live session, or None; a request that changes something
        without the session's CSRF token raises 403 (:class:`aiohttp.web.HTTPForbidden`)."""
        found = await self._session(request)
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
        await self.end_previous(request)
        session_id, session = await self.start(identity.name)
        log.info(
            "admin API: browser session started",
            extra={"by": identity.name, "role": identity.role.value, "client": address},
        )
        response = _answer(_who(identity, session))
        self.set_cookie(request, response, session_id, session)
        return response

    async def current(self, request: web.Request) -> web.Response:
        """``GET /api/session``: who is logged in and the CSRF token (after a page reload)."""
        found = await self._session(request)
        if found is None:
            # No WWW-Authenticate: a page asks this to know whether to show its log-in form.
            return _answer({"error": "not logged in"}, 401)
        _, session, identity = found
        return _answer(_who(identity, session))

    async def log_out(self, request: web.Request) -> web.Response:
        """``DELETE /api/session``: end the session (with its CSRF token); logging out without a
        live session is answered 200 too, and clears the cookie."""
        found = await self._session(request)
        result = "not-logged-in"
        if found is not None:
            session_id, session, identity = found
            self._check_csrf(request, session)
            await self.end(session_id)
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
