"""FastAGI's wire format and one session's commands: the header block Asterisk sends, the
``200 result=N (data)`` answers, quoting, and :class:`AgiSession`, which a handler uses to talk
to the channel (see :mod:`callgate.asterisk.agi` for the limits that keep a client from stalling
the server). Errors are split by who is at fault, as h11 does.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Final
from urllib.parse import parse_qsl, urlsplit, urlunsplit

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


def take_secret(request: AgiRequest) -> tuple[str, AgiRequest]:
    """Split off the first element of the script path, where the dialplan puts the shared
    secret (``agi://host:port/<secret>/agent/login``): returns what the peer presented there,
    and the request as if its URL had not carried it (script ``agent/login``, and
    ``agi_network_script`` and ``agi_request`` rewritten), so that nothing logged or handed to
    a handler afterwards holds the secret.
    """
    presented, _, route = request.script.partition("/")
    variables = dict(request.variables)
    script = variables.get("agi_network_script")
    if script is not None:
        variables["agi_network_script"] = script.lstrip("/").partition("/")[2]
    url = variables.get("agi_request")
    if url is not None:
        parts = urlsplit(url)
        path = "/" + parts.path.lstrip("/").partition("/")[2]
        variables["agi_request"] = urlunsplit(parts._replace(path=path))
    return presented, replace(request, script=route, variables=variables)


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
# A session.


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
"""What serves one script path (``agi://host:port/<path>``): given the session, it talks to
the channel and returns when done."""
