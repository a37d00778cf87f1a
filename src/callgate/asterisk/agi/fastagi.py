"""The FastAGI server: accepts connections, reads each header block within its deadline, checks
the shared secret that begins the script path, routes the session to its handler by the rest of
the path, and bounds what every client can make it hold (see :mod:`callgate.asterisk.agi`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from callgate.asterisk.agi.protocol import (
    AgiCommandError,
    AgiHangup,
    AgiProtocolError,
    AgiRequest,
    AgiSession,
    Handler,
    parse_request,
    take_secret,
)
from callgate.asterisk.settings import AgiSettings
from callgate.logs import LogThrottle, clip

log = logging.getLogger(__name__)


@dataclass
class AgiStats:
    """Session counts since start (for metrics and tests)."""

    completed: int = 0
    """Handler returned, or the caller hung up during it."""
    dropped: int = 0
    """Client dropped before a request was read (EOF, garbage, too large, too slow, too many,
    evicted while waiting), or during its session for an answer over a limit or not AGI."""
    failed: int = 0
    """Unknown script or the handler raised."""
    refused: int = 0
    """Header read, but the script path did not begin with the shared secret: closed unanswered,
    before any handler ran."""


@dataclass(eq=False)
class _Connection:
    """One accepted connection, as the server's bookkeeping sees it."""

    host: str
    """The peer's IP address: per-peer limits count by it."""
    writer: asyncio.StreamWriter
    evicted: bool = False
    """Closed by the server while waiting for its header, to make room for a newer one."""


class AgiServer:
    """FastAGI over TCP: one task per connection, routed by the script path after the secret.

    Every request's script path must begin with ``secret``
    (``agi://127.0.0.1:4573/<secret>/agent/login`` routes to ``agent/login``). Anyone on the host
    can connect to a loopback port; only Asterisk, which reads the secret from a file only it
    can read, knows what to send first.
    """

    def __init__(
        self,
        host: str,
        port: int,
        handlers: Mapping[str, Handler],
        *,
        secret: str,
        header_timeout: float = 2.0,
        command_timeout: float = 10.0,
        max_header_bytes: int = 16384,
        max_line_bytes: int = 8192,
        max_reply_lines: int = 64,
        max_session_bytes: int = 262_144,
        max_sessions: int = 200,
        max_sessions_per_peer: int = 16,
        warning_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` (monotonic seconds) times the rate limit on warnings; tests set it."""
        if not secret or "/" in secret:
            raise ValueError("the AGI secret must be one non-empty path element")
        self._secret = secret.encode()
        self._host = host
        self._requested_port = port
        self._handlers = {path.strip("/"): handler for path, handler in handlers.items()}
        self._header_timeout = header_timeout
        self._command_timeout = command_timeout
        self._max_header_bytes = max_header_bytes
        # One header line may not exceed the whole block's limit either.
        self._max_line_bytes = min(max_line_bytes, max_header_bytes)
        self._max_reply_lines = max_reply_lines
        self._max_session_bytes = max_session_bytes
        self._max_sessions = max_sessions
        self._max_sessions_per_peer = max_sessions_per_peer
        self._warnings = LogThrottle(warning_interval, clock)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        """Every connection's task, waiting or in session (stop() ends them all)."""
        self._waiting: dict[_Connection, None] = {}
        """Connections still waiting for their header, oldest first."""
        self._sessions: dict[_Connection, None] = {}
        """Connections whose header was read: these hold the session slots."""
        self._stopping = False
        self.stats = AgiStats()

    def route(self, handlers: Mapping[str, Handler]) -> None:
        """Serve ``handlers`` from the next request on (a reloaded configuration: prompts,
        pause reasons); sessions already running finish with the handler they had."""
        self._handlers = {path.strip("/"): handler for path, handler in handlers.items()}

    @classmethod
    def from_settings(cls, settings: AgiSettings, handlers: Mapping[str, Handler]) -> AgiServer:
        return cls(
            settings.listen_host,
            settings.port,
            handlers,
            secret=settings.secret.get_secret_value(),
            header_timeout=settings.header_timeout,
            command_timeout=settings.command_timeout,
            max_header_bytes=settings.max_header_bytes,
            max_line_bytes=settings.max_line_bytes,
            max_reply_lines=settings.max_reply_lines,
            max_session_bytes=settings.max_session_bytes,
            max_sessions=settings.max_sessions,
            max_sessions_per_peer=settings.max_sessions_per_peer,
            warning_interval=settings.warning_interval,
        )

    @property
    def port(self) -> int:
        """The bound port (the real one when started with port 0)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("AGI server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept,
            self._host,
            self._requested_port,
            # readuntil refuses a longer line, and the reader stops reading from the socket
            # once about twice this is buffered: what one line can cost is bounded.
            limit=self._max_line_bytes,
            reuse_address=True,
        )
        log.info("AGI server listening", extra={"host": self._host, "port": self.port})

    async def stop(self) -> None:
        """Stop accepting, end every session in flight, and wait for them."""
        if self._server is None:
            return
        self._stopping = True
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        self._stopping = False
        log.info("AGI server stopped")

    async def __aenter__(self) -> AgiServer:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peer = writer.get_extra_info("peername")
        connection = _Connection(peer[0] if isinstance(peer, tuple) else str(peer), writer)
        self._connections.add(task)
        try:
            await self._serve(connection, reader, writer)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # Cancelled by stop(): end quietly (asyncio would log a cancelled connection task
            # as an error on 3.11).
        finally:
            self._connections.discard(task)
            self._waiting.pop(connection, None)
            self._sessions.pop(connection, None)
            # No wait_closed(): a peer that never reads must not hold this task.
            writer.close()

    async def _serve(
        self, connection: _Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        context = {"peer": f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)}
        self._make_room_to_wait(connection)
        self._waiting[connection] = None
        try:
            request = await self._read_request(reader)
        except (AgiProtocolError, TimeoutError, ConnectionError) as exc:
            reason = "header timeout" if isinstance(exc, TimeoutError) else str(exc)
            if connection.evicted:
                reason = "closed while waiting for its header, to make room"
            self._drop(writer, reason or type(exc).__name__, context)
            return
        finally:
            self._waiting.pop(connection, None)
        if connection.evicted:
            # Evicted just as its last header line came in: the socket is already closed.
            self._drop(writer, "closed while waiting for its header, to make room", context)
            return
        # Before anything else is done for it, and before it may take a session slot. From here
        # on only the request without its secret exists: nothing below can log it.
        presented, request = take_secret(request)
        if not hmac.compare_digest(presented.encode(), self._secret):
            self.stats.refused += 1
            # Neither the path (its first element is the wrong secret, or a real one sent by a
            # dialplan that lacks it) nor the presented value is logged; the channel the peer
            # claims helps an operator find a dialplan that sends no or an old secret.
            self._warn(
                "AGI request refused: no or wrong secret (the dialplan's agi:// URL must begin"
                " with [agi] secret, from /etc/asterisk/callgate-agi-secret.conf)",
                "refused",
                context | {"channel": clip(request.channel, 80)},
            )
            # Closed without a word: the dialplan finds CALLGATE_AGENT_RESULT empty and plays
            # the error prompt; a forger learns nothing.
            return
        if len(self._sessions) >= self._max_sessions:
            self._drop(writer, "too many AGI sessions", context)
            return
        from_peer = sum(1 for other in self._sessions if other.host == connection.host)
        if from_peer >= self._max_sessions_per_peer:
            self._drop(writer, "too many AGI sessions from one address", context)
            return
        self._sessions[connection] = None
        context |= request.log_context
        session = AgiSession(
            request,
            reader,
            writer,
            command_timeout=self._command_timeout,
            max_line_bytes=self._max_line_bytes,
            max_reply_lines=self._max_reply_lines,
            max_session_bytes=self._max_session_bytes,
        )
        await self._run(session, context)
        if session.broken is not None:
            self._drop(writer, session.broken, context)

    async def _run(self, session: AgiSession, context: dict[str, str]) -> None:
        """Run the session's handler; a session left ``broken`` is the caller's to drop."""
        handler = self._handlers.get(session.request.script)
        if handler is None:
            self.stats.failed += 1
            self._warn("AGI request for an unknown script", "unknown script", context)
            # Tell the dialplan why, so it can play its error prompt; best effort.
            with contextlib.suppress(AgiHangup, AgiCommandError, AgiProtocolError):
                await session.set_variable("CALLGATE_AGI_ERROR", "unknown-script")
            return
        try:
            await handler(session)
        except AgiHangup as exc:
            # A call-taker hanging up mid-prompt is normal, not an error.
            self.stats.completed += 1
            log.info("AGI session ended by hangup: %s", exc, extra=context)
        except Exception:
            if session.broken is not None:
                return  # the peer's fault, not the handler's: dropped with one line
            self.stats.failed += 1
            log.exception("AGI handler failed", extra=context)
            with contextlib.suppress(Exception):
                await session.set_variable("CALLGATE_AGI_ERROR", "handler-failed")
        else:
            if session.broken is None:
                self.stats.completed += 1

    def _make_room_to_wait(self, connection: _Connection) -> None:
        """Close the oldest connection still waiting for its header, from the same address or
        from any, when too many wait. Asterisk sends its header as soon as it connects, so the
        oldest waiting one is the likeliest to be idle, and a real one never waits long enough
        to be chosen."""
        same_peer = [other for other in self._waiting if other.host == connection.host]
        if len(same_peer) >= self._max_sessions_per_peer:
            self._evict(same_peer[0])
        if len(self._waiting) >= self._max_sessions:
            self._evict(next(iter(self._waiting)))

    def _evict(self, connection: _Connection) -> None:
        connection.evicted = True
        del self._waiting[connection]
        # Its task wakes with EOF and drops it (one rate-limited line).
        connection.writer.transport.abort()

    async def _read_request(self, reader: asyncio.StreamReader) -> AgiRequest:
        lines: list[str] = []
        size = 0
        # One deadline for the whole block: a client trickling a byte a second must not be able
        # to hold a session open forever.
        async with asyncio.timeout(self._header_timeout):
            while True:
                try:
                    raw = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    what = "before any header" if not lines and not exc.partial else "mid-header"
                    raise AgiProtocolError(f"connection closed {what}") from None
                except asyncio.LimitOverrunError:
                    raise AgiProtocolError("header line too long") from None
                size += len(raw)
                if size > self._max_header_bytes:
                    raise AgiProtocolError("header block too large")
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    raise AgiProtocolError("header is not UTF-8") from None
                if not line:
                    if not lines:
                        raise AgiProtocolError("empty header block")
                    return parse_request(lines)
                if not line.startswith("agi_"):
                    # Fail fast on garbage rather than waiting for a blank line that never comes.
                    raise AgiProtocolError(f"not an agi_* header line: {line[:60]!r}")
                lines.append(line)

    def _drop(self, writer: asyncio.StreamWriter, reason: str, context: dict[str, str]) -> None:
        self.stats.dropped += 1
        # Rate-limited by the reason's fixed part (what the peer sent follows a colon), so the
        # throttle remembers a handful of kinds however many clients come.
        self._warn(f"AGI client dropped: {reason}", reason.partition(":")[0], context)
        writer.transport.abort()

    def _warn(self, message: str, kind: str, context: dict[str, str]) -> None:
        """One warning line, unless one of the same kind was logged within warning_interval;
        the next one logged says how many were held back."""
        held_back = self._warnings.admit(kind)
        if held_back is None:
            return
        if held_back:
            message += f" (and {held_back} more like it not logged)"
            context = context | {"not_logged": str(held_back)}
        log.warning("%s", message, extra=context)
