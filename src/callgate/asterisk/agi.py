"""A small asyncio FastAGI server that no client can stall.

Asterisk's ``AGI(agi://host:port/path)`` opens a TCP connection, sends a block of ``agi_*: value``
header lines ended by a blank line, then waits for commands (``SET VARIABLE ...``) and answers each
with ``200 result=N (data)`` or a ``5xx`` error. This module only translates between that wire
format and Python values; what a feature code means is decided by the handlers.

Why not panoramisk's FastAGI server: on Python 3.11 it fails at import of ``asyncio.coroutine``,
and a client that closes before sending its headers freezes the whole event loop (DEPS.md). Here
every read has a deadline, and whatever one client does (EOF, garbage, half a header then
silence, a handler that raises) ends only its own session, with one log line.

Nothing needs a credential to connect, so everything a peer can make the server hold is bounded:
bytes per line, per header block and per session; lines per answer; time for the header and for
each answer; sessions in all and per peer address. A connection that has not sent its header yet
holds no session slot, and when too many wait, the oldest is closed: Asterisk sends its header at
once, so a flood of idle connections cannot lock out the real feature codes. Warnings about
dropped clients are rate-limited, so a burst of bad clients costs a few log lines, not thousands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from callgate.asterisk.settings import AgiSettings
from callgate.logs import LogThrottle

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Errors, split by who is at fault (as h11 does).


class AgiProtocolError(Exception):
    """The peer sent something that is not FastAGI (garbage, oversized or truncated header).

    The message starts with a fixed text; anything the peer sent comes after a colon (warnings
    are rate-limited by that fixed text).
    """


class AgiLimitExceeded(AgiProtocolError):
    """The peer sent more than a limit allows (a line, an answer, a session); it is dropped."""


class AgiHangup(Exception):
    """The channel hung up or the connection closed: no further command can succeed."""


class AgiCommandError(Exception):
    """Asterisk answered a command with an error (5xx) or a failure result."""

    def __init__(self, command: str, response: AgiResponse) -> None:
        super().__init__(f"AGI {command.split(' ', 1)[0]!r} failed: {response.raw}")
        self.response = response


# --------------------------------------------------------------------------------------------
# Wire format.


@dataclass(frozen=True, slots=True)
class AgiRequest:
    """The header block Asterisk sends when a call reaches ``AGI(agi://...)``."""

    script: str
    """Script path without slashes at either end, e.g. ``agent/login``: the route."""
    query: Mapping[str, str]
    """Query string of the script (``agi://.../agent/pause?reason=2`` -> {"reason": "2"})."""
    channel: str
    """Channel name, e.g. ``PJSIP/1005-0000001a``."""
    uniqueid: str
    callerid: str
    calleridname: str
    extension: str
    context: str
    args: tuple[str, ...]
    """``agi_arg_1``, ``agi_arg_2``, ...: the AGI() application's arguments after the URL."""
    variables: Mapping[str, str]
    """Every ``agi_*`` line as sent, keyed by its full name (``agi_language``, ...)."""

    @property
    def log_context(self) -> dict[str, str]:
        return {"agi_script": self.script, "channel": self.channel, "uniqueid": self.uniqueid}


_HEADER_LINE: Final = re.compile(r"^(agi_[a-z0-9_]+):\s?(.*)$")


def parse_request(lines: list[str]) -> AgiRequest:
    """Build an :class:`AgiRequest` from the header lines (without the ending blank line)."""
    variables: dict[str, str] = {}
    for line in lines:
        match = _HEADER_LINE.match(line)
        if match is None:
            raise AgiProtocolError(f"not an agi_* header line: {line[:60]!r}")
        variables[match.group(1)] = match.group(2)
    if "agi_channel" not in variables:
        raise AgiProtocolError("header block has no agi_channel")
    raw_script = variables.get("agi_network_script")
    if raw_script is None:
        # Older peers only send agi_request (the full agi:// URL).
        raw_script = urlsplit(variables.get("agi_request", "")).path
        raw_query = urlsplit(variables.get("agi_request", "")).query
    else:
        raw_script, _, raw_query = raw_script.partition("?")
    args: list[str] = []
    while f"agi_arg_{len(args) + 1}" in variables:
        args.append(variables[f"agi_arg_{len(args) + 1}"])
    return AgiRequest(
        script=raw_script.strip("/"),
        query=dict(parse_qsl(raw_query, keep_blank_values=True)),
        channel=variables["agi_channel"],
        uniqueid=variables.get("agi_uniqueid", ""),
        callerid=variables.get("agi_callerid", ""),
        calleridname=variables.get("agi_calleridname", ""),
        extension=variables.get("agi_extension", ""),
        context=variables.get("agi_context", ""),
        args=tuple(args),
        variables=variables,
    )


@dataclass(frozen=True, slots=True)
class AgiResponse:
    """Asterisk's answer to one command."""

    code: int
    """200 on success; 510 unknown command, 511 dead channel, 520 usage error, ..."""
    result_text: str | None
    """The ``result=`` value as sent: GET DATA puts the keyed digits there ("0012", "*1", "")."""
    data: str | None
    """The text in parentheses after the result, e.g. GET VARIABLE's value or ``timeout``."""
    extra: Mapping[str, str]
    """``key=value`` pairs after the result, e.g. STREAM FILE's ``endpos``."""
    raw: str
    """The whole answer as received (several lines for a 520 usage text)."""

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def result(self) -> int | None:
        """``result=N`` as a number (its meaning depends on the command); None when not one."""
        text = self.result_text
        if text is None or not text.lstrip("-").isdigit():
            return None
        return int(text)


_RESPONSE: Final = re.compile(r"^200(?: result=(\S*))?(?: \((.*)\))?((?: \S+=\S*)*)\s*$")


def parse_response(line: str) -> AgiResponse:
    """Parse one response line (``200 result=1 (value) endpos=5``, ``510 Invalid ...``)."""
    if line[:3].isdigit() and line[3:4] in (" ", "") and line[:3] != "200":
        return AgiResponse(int(line[:3]), None, None, {}, line)
    match = _RESPONSE.match(line)
    if match is None:
        raise AgiProtocolError(f"unparsable AGI response: {line[:80]!r}")
    result, data, rest = match.groups()
    extra = dict(item.split("=", 1) for item in rest.split())
    return AgiResponse(200, result, data, extra, line)


_VARIABLE_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\([A-Za-z0-9_,]*\))?$")
_SOUND_NAME: Final = re.compile(r"^[A-Za-z0-9_./-]+$")
_DIGITS: Final = re.compile(r"^[0-9*#]*$")


def quote(value: str) -> str:
    """One AGI argument, so a caller-controlled string cannot add a second command.

    A newline ends an AGI command, so CR, LF and NUL are removed; Asterisk's argument parser
    honours double quotes and backslash escapes, so both are escaped inside the quotes.
    """
    cleaned = value.replace("\r", "").replace("\n", "").replace("\0", "")
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _checked(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not allowed in an AGI command")
    return value


# --------------------------------------------------------------------------------------------
# Sessions and the server.


class AgiSession:
    """One AGI conversation: the request and typed commands for handlers."""

    def __init__(
        self,
        request: AgiRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        command_timeout: float,
        max_line_bytes: int = 8192,
        max_reply_lines: int = 64,
        max_session_bytes: int = 262_144,
    ) -> None:
        self.request = request
        self._reader = reader
        self._writer = writer
        self._command_timeout = command_timeout
        self._max_line_bytes = max_line_bytes
        self._max_reply_lines = max_reply_lines
        self._max_session_bytes = max_session_bytes
        self._received = 0
        self.broken: str | None = None
        """Why the connection can no longer be used (an answer over a limit or not AGI); the
        server drops such a session even if the handler caught the error."""
        self.hung_up = False
        """True once Asterisk said ``HANGUP`` (the channel is gone; the socket may still be up)."""
        self.history: list[tuple[str, AgiResponse]] = []
        """Every command sent and its answer, in order (for logs and tests)."""

    async def command(self, text: str, *, answer_within: float | None = None) -> AgiResponse:
        """Send one raw command line and return the answer; 5xx answers are returned, not raised.

        ``text`` must already be quoted (see :func:`quote`); a line break in it is refused.
        """
        if "\n" in text or "\r" in text:
            raise ValueError("an AGI command is one line")
        if self.broken is not None:
            # The rest of the stream cannot be trusted to line up with our commands.
            raise AgiProtocolError(self.broken)
        self._writer.write(text.encode() + b"\n")
        limit = self._command_timeout if answer_within is None else answer_within
        try:
            async with asyncio.timeout(limit):
                await self._writer.drain()
                response = await self._read_response()
        except TimeoutError:
            raise AgiHangup(f"no answer to {text.split(' ', 1)[0]!r} within {limit:g} s") from None
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            raise AgiHangup(f"connection lost during {text.split(' ', 1)[0]!r}") from exc
        except asyncio.LimitOverrunError:
            self.broken = f"answer line longer than {self._max_line_bytes} bytes"
            raise AgiLimitExceeded(self.broken) from None
        except AgiProtocolError as exc:
            self.broken = str(exc)
            raise
        self.history.append((text, response))
        return response

    async def _read_response(self) -> AgiResponse:
        # Every line of one answer counts against max_reply_lines, HANGUP notices too: a peer
        # sending endless usage lines (or HANGUPs) must not be read, and kept, until the
        # command timeout.
        usage: list[str] = []
        for _ in range(self._max_reply_lines):
            line = await self._readline()
            if usage:
                usage.append(line)
                if line.startswith("520 "):
                    return AgiResponse(520, None, None, {}, "\n".join(usage))
            elif line == "HANGUP":
                # FastAGI tells us the channel hung up out of band; the command still gets an
                # answer (511 on a dead channel) on the next line.
                self.hung_up = True
            elif line.startswith("520-"):
                # Usage text follows, up to "520 End of proper usage."
                usage.append(line)
            else:
                return parse_response(line)
        raise AgiLimitExceeded(f"answer of more than {self._max_reply_lines} lines")

    async def _readline(self) -> str:
        raw = await self._reader.readuntil(b"\n")
        self._received += len(raw)
        if self._received > self._max_session_bytes:
            raise AgiLimitExceeded(f"answers over {self._max_session_bytes} bytes in one session")
        return raw.decode("utf-8", errors="replace").rstrip("\r\n")

    async def _checked_command(
        self, text: str, *, answer_within: float | None = None
    ) -> AgiResponse:
        response = await self.command(text, answer_within=answer_within)
        if response.code == 511:
            raise AgiHangup(f"channel {self.request.channel} is gone")
        if not response.ok:
            raise AgiCommandError(text, response)
        return response

    async def set_variable(self, name: str, value: str) -> None:
        name = _checked(_VARIABLE_NAME, name, "variable name")
        await self._checked_command(f"SET VARIABLE {name} {quote(value)}")

    async def get_variable(self, name: str) -> str | None:
        """The channel variable's value, or None when it is not set."""
        name = _checked(_VARIABLE_NAME, name, "variable name")
        response = await self._checked_command(f"GET VARIABLE {quote(name)}")
        return response.data if response.result == 1 else None

    async def stream_file(
        self, name: str, escape_digits: str = "", *, answer_within: float = 60.0
    ) -> str | None:
        """Play a sound (without extension); return the digit that interrupted it, if any."""
        name = _checked(_SOUND_NAME, name, "sound file")
        escape_digits = _checked(_DIGITS, escape_digits, "escape digits")
        text = f"STREAM FILE {name} {quote(escape_digits)}"
        response = await self._checked_command(text, answer_within=answer_within)
        if response.result is None or response.result < 0:
            # -1: the channel hung up, or the file does not exist (Asterisk logs which).
            raise AgiCommandError(text, response)
        return chr(response.result) if response.result > 0 else None

    async def get_data(self, file: str, timeout_ms: int, max_digits: int) -> str:
        """Play ``file`` and collect up to ``max_digits`` keyed digits ("" when none)."""
        file = _checked(_SOUND_NAME, file, "sound file")
        if not (0 < timeout_ms <= 600_000 and 0 < max_digits <= 255):
            raise ValueError("get_data: timeout_ms 1..600000, max_digits 1..255")
        text = f"GET DATA {file} {timeout_ms} {max_digits}"
        # The answer comes only after the prompt and the digit timeout.
        response = await self._checked_command(
            text, answer_within=self._command_timeout + timeout_ms / 1000
        )
        if response.result_text is None or response.result_text.startswith("-"):
            raise AgiHangup(f"channel {self.request.channel} hung up during GET DATA")
        # Digits are in result= ("200 result=2 (timeout)" when keyed before the timeout ran out,
        # "200 result= (timeout)" when none).
        return response.result_text

    async def verbose(self, message: str, level: int = 1) -> None:
        await self._checked_command(f"VERBOSE {quote(message)} {int(level)}")


Handler = Callable[[AgiSession], Awaitable[None]]


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


@dataclass(eq=False)
class _Connection:
    """One accepted connection, as the server's bookkeeping sees it."""

    host: str
    """The peer's IP address: per-peer limits count by it."""
    writer: asyncio.StreamWriter
    evicted: bool = False
    """Closed by the server while waiting for its header, to make room for a newer one."""


class AgiServer:
    """FastAGI over TCP: one task per connection, routed by the script path."""

    def __init__(
        self,
        host: str,
        port: int,
        handlers: Mapping[str, Handler],
        *,
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

    @classmethod
    def from_settings(cls, settings: AgiSettings, handlers: Mapping[str, Handler]) -> AgiServer:
        return cls(
            settings.listen_host,
            settings.port,
            handlers,
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
