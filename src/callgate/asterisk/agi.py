"""A small asyncio FastAGI server that no client can stall.

Asterisk's ``AGI(agi://host:port/path)`` opens a TCP connection, sends a block of ``agi_*: value``
header lines ended by a blank line, then waits for commands (``SET VARIABLE ...``) and answers each
with ``200 result=N (data)`` or a ``5xx`` error. This module only translates between that wire
format and Python values; what a feature code means is decided by the handlers.

Why not panoramisk's FastAGI server: on Python 3.11 it fails at import of ``asyncio.coroutine``,
and a client that closes before sending its headers freezes the whole event loop (DEPS.md). Here
every read has a deadline, the header block has a size limit, and whatever one client does
(EOF, garbage, half a header then silence, a handler that raises) ends only its own session,
with one log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Final
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

log = logging.getLogger(__name__)

DEFAULT_PAUSE_REASONS: Final[Mapping[str, str]] = {
    # Digit a call-taker keys after *13 (or dials as *13X) -> reason recorded for reports.
    "1": "break",  # istirahat: a short rest between calls
    "2": "prayer",  # sholat: the five daily prayers fall inside every shift
    "3": "toilet",
    "4": "meal",  # makan
    "5": "training",  # pelatihan / briefing
    "6": "admin",  # paperwork, incident reports
    "7": "debrief",  # after a distressing call, so a supervisor can see it
}


class AgiSettings(BaseModel):
    """The FastAGI server the dialplan's feature codes call (``AGI(agi://host:port/...)``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen_host: str = "127.0.0.1"
    """Address to listen on; must match the host in the dialplan's agi:// URLs."""
    port: Annotated[int, Field(ge=0, le=65535)] = 4573
    """TCP port (4573 is the FastAGI default); 0 picks a free one (tests)."""
    header_timeout: Annotated[float, Field(gt=0, le=60)] = 5.0
    """Seconds a client has to send its whole agi_* header block before it is dropped."""
    command_timeout: Annotated[float, Field(gt=0, le=300)] = 10.0
    """Seconds to wait for Asterisk's answer to one command (prompts add their own time)."""
    max_header_bytes: Annotated[int, Field(ge=1024, le=1_048_576)] = 16384
    """A header block larger than this is refused (Asterisk sends about 1 KiB)."""
    max_sessions: Annotated[int, Field(ge=1, le=10_000)] = 200
    """Concurrent AGI sessions; a connection beyond this is closed at once."""
    pause_reasons: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PAUSE_REASONS))
    """Pause reason by the digit keyed after *13 (0-9), e.g. {"1" = "break", "2" = "prayer"}."""
    default_pause_reason: str = "unspecified"
    """Reason recorded when the call-taker keys no digit after *13."""

    @field_validator("pause_reasons")
    @classmethod
    def _single_digits(cls, value: dict[str, str]) -> dict[str, str]:
        for digit, reason in value.items():
            if len(digit) != 1 or not digit.isdigit():
                raise ValueError(f"key {digit!r} must be a single digit 0-9")
            if not reason.strip():
                raise ValueError(f"reason for digit {digit} is empty")
        return value


# --------------------------------------------------------------------------------------------
# Errors, split by who is at fault (as h11 does).


class AgiProtocolError(Exception):
    """The peer sent something that is not FastAGI (garbage, oversized or truncated header)."""


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
    ) -> None:
        self.request = request
        self._reader = reader
        self._writer = writer
        self._command_timeout = command_timeout
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
            raise AgiProtocolError("AGI response line too long") from None
        self.history.append((text, response))
        return response

    async def _read_response(self) -> AgiResponse:
        while True:
            line = await self._readline()
            if line == "HANGUP":
                # FastAGI tells us the channel hung up out of band; the command still gets an
                # answer (511 on a dead channel) on the next line.
                self.hung_up = True
                continue
            if line.startswith("520-"):
                # Usage text follows, up to "520 End of proper usage."
                lines = [line]
                while not line.startswith("520 "):
                    line = await self._readline()
                    lines.append(line)
                return AgiResponse(520, None, None, {}, "\n".join(lines))
            return parse_response(line)

    async def _readline(self) -> str:
        raw = await self._reader.readuntil(b"\n")
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
    """Client dropped before a request was read (EOF, garbage, too large, too slow, too many)."""
    failed: int = 0
    """Unknown script or the handler raised."""


class AgiServer:
    """FastAGI over TCP: one task per connection, routed by the script path."""

    def __init__(
        self,
        host: str,
        port: int,
        handlers: Mapping[str, Handler],
        *,
        header_timeout: float = 5.0,
        command_timeout: float = 10.0,
        max_header_bytes: int = 16384,
        max_sessions: int = 200,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._handlers = {path.strip("/"): handler for path, handler in handlers.items()}
        self._header_timeout = header_timeout
        self._command_timeout = command_timeout
        self._max_header_bytes = max_header_bytes
        self._max_sessions = max_sessions
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
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
            max_sessions=settings.max_sessions,
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
            # One header line may not exceed the whole block's limit; readuntil enforces it.
            limit=self._max_header_bytes,
            reuse_address=True,
        )
        log.info("AGI server listening", extra={"host": self._host, "port": self.port})

    async def stop(self) -> None:
        """Stop accepting, end every session in flight, and wait for them."""
        if self._server is None:
            return
        self._stopping = True
        self._server.close()
        for task in list(self._sessions):
            task.cancel()
        if self._sessions:
            await asyncio.gather(*self._sessions, return_exceptions=True)
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
        if len(self._sessions) >= self._max_sessions:
            self._drop(writer, "too many AGI sessions", {})
            return
        self._sessions.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            # Cancelled by stop(): end quietly (asyncio would log a cancelled connection task
            # as an error on 3.11).
        finally:
            self._sessions.discard(task)
            # No wait_closed(): a peer that never reads must not hold this task.
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        context = {"peer": f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)}
        try:
            request = await self._read_request(reader)
        except (AgiProtocolError, TimeoutError, ConnectionError) as exc:
            reason = "header timeout" if isinstance(exc, TimeoutError) else str(exc)
            self._drop(writer, reason or type(exc).__name__, context)
            return
        context |= request.log_context
        session = AgiSession(request, reader, writer, command_timeout=self._command_timeout)
        handler = self._handlers.get(request.script)
        if handler is None:
            self.stats.failed += 1
            log.warning("AGI request for an unknown script", extra=context)
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
            self.stats.failed += 1
            log.exception("AGI handler failed", extra=context)
            with contextlib.suppress(Exception):
                await session.set_variable("CALLGATE_AGI_ERROR", "handler-failed")
        else:
            self.stats.completed += 1

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
        log.warning("AGI client dropped: %s", reason, extra=context)
        writer.transport.abort()
