"""What one client can hold on the admin HTTP port: deadlines and connection caps.

aiohttp alone keeps an idle or half-sent connection for an hour (its keep-alive default) and
accepts any number of them: enough slow clients would use up callgate's file descriptors, and
then FastAGI, ARI, the journal and recordings fail too. So every connection of the TCP port is
watched from the moment it is accepted:

- its request's headers must be complete within ``header_timeout`` of connecting, or of the
  first byte after its previous answer;
- between requests it may stay idle ``keepalive_timeout`` (counted from the end of the
  previous request's handler, so an answer the client does not read counts too);
- a request's body must arrive within ``body_timeout`` (:func:`callgate.http.body.json_object`,
  408 and the connection closed);
- at most ``max_connections`` are open, ``max_connections_per_peer`` from one address. A new
  connection past a cap closes the oldest one of that scope that is not in a request (idle or
  still sending its headers: a real client sends them at once, so the oldest waiting one is the
  likeliest to be a slow one); when every one is in a request, the new one is closed at once.

A connection in a request (a handler running: an API call, a live stream) is not timed here:
the body's deadline and the live streams' write timeout (:mod:`callgate.http.streams`) bound
those. Closed connections are aborted (no lingering in the kernel on a client that never reads).

The deadlines are enforced by a thin protocol in front of aiohttp's own, which sees the bytes
arrive; aiohttp's ``RequestHandler`` does the rest unchanged. Every answer says
``Server: callgate``, not aiohttp's and Python's versions.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from aiohttp import web, web_response
from aiohttp.typedefs import Handler, Middleware

from callgate.http.body import BODY_TIMEOUT
from callgate.logs import LogThrottle

if TYPE_CHECKING:
    from callgate.http.settings import OpsSettings

log = logging.getLogger(__name__)

#: What the ``Server`` header says: no versions for a scanner to match.
SERVER: Final = "callgate"
# aiohttp's own answers to a malformed request (400 before any handler or signal runs) take the
# header from this module global; without it they would still name aiohttp's and Python's
# versions.
setattr(web_response, "SERVER_SOFTWARE", SERVER)  # noqa: B010 - the name is not exported


@dataclass(frozen=True)
class HttpLimits:
    """The bounds of the admin HTTP port (``[ops] http_*``; see the README)."""

    header_timeout: float = 10.0
    body_timeout: float = 10.0
    keepalive_timeout: float = 60.0
    max_connections: int = 512
    max_connections_per_peer: int = 256

    @classmethod
    def from_settings(cls, ops: OpsSettings) -> HttpLimits:
        return cls(
            header_timeout=ops.http_header_timeout,
            body_timeout=ops.http_body_timeout,
            keepalive_timeout=ops.http_keepalive_timeout,
            max_connections=ops.http_max_connections,
            max_connections_per_peer=ops.http_max_connections_per_peer,
        )


@dataclass
class ConnectionStats:
    """Connections closed by the guard since start, by why (tests and figures)."""

    header_timeouts: int = 0
    idle_timeouts: int = 0
    evicted: int = 0
    """Closed to make room for a newer connection past a cap."""
    refused: int = 0
    """Closed at once: past a cap with every connection in a request."""


@dataclass(eq=False)
class _Connection:
    peer: str
    transport: asyncio.Transport
    inner: asyncio.Protocol | None = None
    busy: int = 0
    """Requests whose handler runs (aiohttp runs one at a time; counted to be safe)."""
    sending_headers: bool = True
    """Timed by the header deadline (else idle, by the keep-alive one)."""
    deadline: asyncio.TimerHandle | None = field(default=None, repr=False)


class _Guarded(asyncio.Protocol):
    """The protocol asyncio talks to: admits the connection, notes bytes arriving, and passes
    everything on to aiohttp's protocol."""

    def __init__(self, guard: ConnectionGuard, factory: web.Server) -> None:
        self._guard = guard
        self._factory = factory
        self._connection: _Connection | None = None
        self._inner: asyncio.Protocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._connection = self._guard.admit(transport)
        if self._connection is None:
            transport.abort()
            return
        self._inner = self._factory()
        self._guard.attach(self._connection, self._inner)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is None or self._connection is None:
            return
        self._guard.received(self._connection)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self._inner is None else self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._connection is not None:
            self._guard.lost(self._connection)
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()


class ConnectionGuard:
    """The connections of one TCP site, their deadlines and caps (see the module)."""

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        self.stats = ConnectionStats()
        self._open: dict[_Connection, None] = {}
        """Oldest first."""
        self._by_inner: dict[asyncio.Protocol, _Connection] = {}
        self._throttle = LogThrottle(60.0)

    def __len__(self) -> int:
        return len(self._open)

    def protocol(self, server: web.Server) -> asyncio.Protocol:
        return _Guarded(self, server)

    def admit(self, transport: asyncio.Transport) -> _Connection | None:
        """The new connection's record, or None: it is to be closed at once."""
        peername = transport.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) else str(peername)
        same_peer = [c for c in self._open if c.peer == peer]
        if len(same_peer) >= self.limits.max_connections_per_peer and not self._make_room(
            same_peer, peer, "per peer"
        ):
            return None
        if len(self._open) >= self.limits.max_connections and not self._make_room(
            self._open, peer, "overall"
        ):
            return None
        connection = _Connection(peer, transport)
        self._open[connection] = None
        self._time(connection, self.limits.header_timeout, "header")
        return connection

    def received(self, connection: _Connection) -> None:
        if connection.busy or connection.sending_headers:
            return  # a body, or more of the headers: the deadline set stands
        connection.sending_headers = True
        self._time(connection, self.limits.header_timeout, "header")

    def lost(self, connection: _Connection) -> None:
        self._open.pop(connection, None)
        if connection.inner is not None:
            self._by_inner.pop(connection.inner, None)
        if connection.deadline is not None:
            connection.deadline.cancel()
            connection.deadline = None

    def started(self, request: web.BaseRequest) -> _Connection | None:
        """A request's handler starts: its connection is not timed meanwhile."""
        connection = self._find(request)
        if connection is not None:
            connection.busy += 1
            connection.sending_headers = False
            if connection.deadline is not None:
                connection.deadline.cancel()
                connection.deadline = None
        return connection

    def ended(self, connection: _Connection) -> None:
        connection.busy -= 1
        if connection.busy == 0 and connection in self._open:
            self._time(connection, self.limits.keepalive_timeout, "idle")

    def attach(self, connection: _Connection, inner: asyncio.Protocol) -> None:
        connection.inner = inner
        self._by_inner[inner] = connection

    def _find(self, request: web.BaseRequest) -> _Connection | None:
        # A request on the admin socket (another site of the same runner) is not ours: None.
        return self._by_inner.get(request.protocol)

    def _make_room(self, among: Iterable[_Connection], peer: str, scope: str) -> bool:
        victim = next((c for c in among if not c.busy), None)
        if victim is None:
            self.stats.refused += 1
            self._warn(f"admin HTTP connection refused: too many ({scope}), all in requests", peer)
            return False
        self.stats.evicted += 1
        self._warn(f"admin HTTP connection closed to make room: too many ({scope})", victim.peer)
        self._close(victim)
        return True

    def _time(self, connection: _Connection, seconds: float, what: str) -> None:
        if connection.deadline is not None:
            connection.deadline.cancel()
        loop = asyncio.get_running_loop()
        connection.deadline = loop.call_later(seconds, self._expired, connection, what)

    def _expired(self, connection: _Connection, what: str) -> None:
        connection.deadline = None
        if connection.busy or connection not in self._open:
            return
        if what == "header":
            self.stats.header_timeouts += 1
            self._warn("admin HTTP connection closed: request headers too slow", connection.peer)
        else:
            self.stats.idle_timeouts += 1  # a keep-alive connection at rest: not worth a line
        self._close(connection)

    def _close(self, connection: _Connection) -> None:
        self.lost(connection)
        connection.transport.abort()  # connection_lost follows: aiohttp cleans up its side

    def _warn(self, message: str, peer: str) -> None:
        held_back = self._throttle.admit(message)
        if held_back is not None:
            log.warning(message, extra={"peer": peer, "similar_not_logged": held_back})


def guard_middleware(guard: ConnectionGuard) -> Middleware:
    """Marks a request of a guarded connection busy while its handler runs; a 408 (body too
    slow) closes the connection, whose unread body would otherwise be lingered on."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        connection = guard.started(request)
        try:
            response = await handler(request)
        finally:
            if connection is not None:
                guard.ended(connection)
        if response.status == 408 and not response.prepared:
            response.force_close()
        return response

    return middleware


def bounded(app: web.Application, guard: ConnectionGuard) -> None:
    """Bound ``app``'s requests by ``guard`` (outermost middleware) and its bodies by the
    guard's body deadline; say ``Server: callgate``."""
    app.middlewares.insert(0, guard_middleware(guard))
    app[BODY_TIMEOUT] = guard.limits.body_timeout
    app.on_response_prepare.append(server_header)


def runner(app: web.Application, limits: HttpLimits, logger: logging.Logger) -> web.AppRunner:
    """aiohttp's runner for ``app`` with its own keep-alive and lingering (reading a body no
    handler read) bounded too. No access log: Prometheus scrapes every few seconds and would
    drown the call log."""
    return web.AppRunner(
        app,
        access_log=None,
        logger=logger,
        keepalive_timeout=limits.keepalive_timeout,
        lingering_time=min(limits.body_timeout, 10.0),
    )


async def server_header(_request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: no versions in the ``Server`` header."""
    response.headers["Server"] = SERVER


#: Descriptors callgate needs besides the admin port's connections: FastAGI's (400 at its
#: defaults), ARI, AMI, MQTT, the database, recordings, logs.
OTHER_DESCRIPTORS: Final = 1024


def _check_descriptors(limits: HttpLimits) -> None:
    """A WARNING when the process may open fewer files than the caps let clients hold."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = limits.max_connections + OTHER_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            "file descriptor limit below what [ops] http_max_connections may use: raise"
            " LimitNOFILE= in the unit (systemd/callgate.service sets 8192)",
            extra={"limit": soft, "needed": needed},
        )


class GuardedSite(web.TCPSite):
    """aiohttp's TCP site with every connection passed through a :class:`ConnectionGuard`."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, guard: ConnectionGuard) -> None:
        super().__init__(runner, host, port, reuse_address=True)
        self._guard = guard

    async def start(self) -> None:
        _check_descriptors(self._guard.limits)
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: self._guard.protocol(server),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=True,
        )
