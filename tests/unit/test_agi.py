"""The FastAGI server on a real socket, driven by a client speaking the protocol as Asterisk does.

Headers and answers are replayed from traffic recorded from the lab Asterisk 16
(tests/fixtures/agi/lab-asterisk16-sessions.json). These are codec and robustness tests; the
feature codes against the real Asterisk are in tests/integration/test_agent_codes.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from callgate.asterisk.agent_codes import endpoint_of
from callgate.asterisk.agi.fastagi import AgiServer
from callgate.asterisk.agi.protocol import (
    AgiCommandError,
    AgiHangup,
    AgiSession,
    Handler,
    parse_request,
    parse_response,
    quote,
    take_secret,
)
from callgate.asterisk.settings import AgiSettings

RECORDED = json.loads(
    (Path(__file__).parents[1] / "fixtures/agi/lab-asterisk16-sessions.json").read_text()
)
PAUSE_SESSION = RECORDED["sessions"][0]  # *132: agent/pause with agi_arg_1 = 2
LOGIN_SESSION = RECORDED["sessions"][1]  # *11: agent/login with an empty agi_arg_1
# What the lab Asterisk answered to each command, as recorded.
ANSWERS: dict[str, str] = dict(PAUSE_SESSION["exchanges"])
# The server logs as callgate.asterisk.agi.fastagi; its parent's level applies to it.
LOG_NAME = "callgate.asterisk.agi"
#: The shared secret the servers here are given, and the recorded headers are sent with (as the
#: dialplan sends it: the first element of the agi:// path).
SECRET = "unit-test-agi-secret"


def header_for(
    script: str, recorded: Mapping[str, Any] = LOGIN_SESSION, *, secret: str | None = SECRET
) -> bytes:
    """The recorded header block, with the script path swapped and, unless ``secret`` is None,
    the secret in front of it."""
    path = script if secret is None else f"{secret}/{script}"
    lines = []
    for line in recorded["header"].rstrip("\n").split("\n"):
        if line.startswith("agi_network_script:"):
            line = f"agi_network_script: {path}"
        elif line.startswith("agi_request:"):
            line = f"agi_request: agi://127.0.0.1:4573/{path}"
        lines.append(line)
    return ("\n".join(lines) + "\n\n").encode()


class FakeAsterisk:
    """The Asterisk side of one FastAGI connection, answering from the recorded traffic."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received: list[str] = []

    @classmethod
    async def connect(
        cls, port: int, payload: bytes = b"", *, source: str = "127.0.0.1"
    ) -> FakeAsterisk:
        """Connect to the server on 127.0.0.1 from ``source`` (any 127.x.y.z on Linux)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        if payload:
            writer.write(payload)
            await writer.drain()
        return cls(reader, writer)

    async def next_command(self) -> str:
        line = (await self.reader.readuntil(b"\n")).decode().rstrip("\n")
        self.received.append(line)
        return line

    async def answer_all(self, answers: Mapping[str, str] = ANSWERS) -> None:
        """Answer each command as the lab did, until the server closes the connection."""
        while True:
            try:
                command = await self.next_command()
            except asyncio.IncompleteReadError:
                return
            self.writer.write(answers.get(command, "200 result=1\n").encode())
            await self.writer.drain()

    async def closed_by_server(self) -> bool:
        try:
            return await self.reader.read() == b""
        except ConnectionResetError:
            return True  # dropped with abort(): nothing more to say to such a peer

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):  # the server aborted first
            await self.writer.wait_closed()


@asynccontextmanager
async def running(handlers: Mapping[str, Handler], **options: Any) -> AsyncIterator[AgiServer]:
    options = {"header_timeout": 0.3, "command_timeout": 1.0, "secret": SECRET} | options
    server = AgiServer("127.0.0.1", 0, handlers, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def recording_handler(seen: list[AgiSession]) -> Handler:
    async def handler(session: AgiSession) -> None:
        seen.append(session)
        await session.set_variable("CALLGATE_AGENT_RESULT", "OK")

    return handler


async def good_session(
    port: int, script: str = "agent/login", *, source: str = "127.0.0.1"
) -> list[str]:
    """One well-behaved Asterisk connection from header to close; returns the commands it got."""
    asterisk = await FakeAsterisk.connect(port, header_for(script), source=source)
    try:
        await asterisk.answer_all()
    finally:
        await asterisk.close()
    return asterisk.received


# ---------------------------------------------------------------------------------------------
# Codec: the recorded header and answers.


def test_recorded_lab_header_parses_into_a_typed_request() -> None:
    request = parse_request(PAUSE_SESSION["header"].rstrip("\n").split("\n"))

    assert request.script == "agent/pause"
    assert request.query == {}
    assert request.channel == "PJSIP/1005-00000001"
    assert request.uniqueid == "1795388696.1"
    assert request.callerid == "1005"
    assert request.calleridname == "Operator 1005"
    assert request.context == "callgate-agents"
    assert request.extension == "agent-code"
    assert request.args == ("2",)
    assert request.variables["agi_dnid"] == "*132"
    assert request.variables["agi_accountcode"] == ""


def test_script_path_query_string_is_parsed_and_slashes_trimmed() -> None:
    request = parse_request(
        ["agi_network_script: /agent/pause/?reason=2&x=", "agi_channel: PJSIP/1006-0000000a"]
    )
    assert request.script == "agent/pause"
    assert request.query == {"reason": "2", "x": ""}
    assert request.args == ()


def test_request_without_network_script_is_routed_by_the_agi_request_url() -> None:
    request = parse_request(
        ["agi_request: agi://127.0.0.1:4573/agent/login?a=b", "agi_channel: PJSIP/1006-0a"]
    )
    assert (request.script, request.query) == ("agent/login", {"a": "b"})


@pytest.mark.parametrize(
    ("line", "code", "result", "data", "extra"),
    [
        ("200 result=1", 200, 1, None, {}),
        ("200 result=1 (OK)", 200, 1, "OK", {}),
        ("200 result=0", 200, 0, None, {}),
        ("200 result=0 endpos=3520", 200, 0, None, {"endpos": "3520"}),
        ("200 result=-1 endpos=0", 200, -1, None, {"endpos": "0"}),
        ("200 result= (timeout)", 200, None, "timeout", {}),
        ("200 result=1 (a (nested) value)", 200, 1, "a (nested) value", {}),
        ("510 Invalid or unknown command", 510, None, None, {}),
        ("511 Command Not Permitted on a dead channel or intercept routine", 511, None, None, {}),
    ],
)
def test_response_lines_as_asterisk_sends_them_parse(
    line: str, code: int, result: int | None, data: str | None, extra: dict[str, str]
) -> None:
    response = parse_response(line)
    assert (response.code, response.result, response.data, dict(response.extra)) == (
        code,
        result,
        data,
        extra,
    )


def test_get_data_digits_keep_leading_zeros_and_star() -> None:
    assert parse_response("200 result=012 (timeout)").result_text == "012"
    assert parse_response("200 result=*1").result_text == "*1"


def test_every_recorded_answer_parses() -> None:
    for session in RECORDED["sessions"]:
        for _command, answer in session["exchanges"]:
            if not answer.startswith("520-"):  # multi-line usage text, read by the session
                assert parse_response(answer.rstrip("\n")).code in (200, 510)


@pytest.mark.parametrize(
    ("channel", "endpoint"),
    [
        ("PJSIP/1005-0000001a", "PJSIP/1005"),
        ("PJSIP/ops-east-00000001", "PJSIP/ops-east"),
        ("SIP/1006-0a1b2c3d", "SIP/1006"),
        ("Local/1005@callgate-agents-00000001;1", None),
        ("garbage", None),
    ],
)
def test_call_taker_endpoint_comes_from_the_channel_name(
    channel: str, endpoint: str | None
) -> None:
    assert endpoint_of(channel) == endpoint


def test_settings_refuse_a_pause_reason_key_that_is_not_one_digit() -> None:
    with pytest.raises(ValueError, match="single digit"):
        AgiSettings(pause_reasons={"12": "break"})
    assert AgiSettings().port == 4573


# ---------------------------------------------------------------------------------------------
# A good session end to end.


async def test_well_formed_session_runs_its_handler_and_commands_round_trip() -> None:
    outcomes: dict[str, object] = {}

    async def handler(session: AgiSession) -> None:
        await session.set_variable("CALLGATE_AGENT_RESULT", "OK")
        outcomes["get"] = await session.get_variable("CALLGATE_AGENT_RESULT")
        outcomes["unset"] = await session.get_variable("NOT_SET_ANYWHERE")
        outcomes["stream"] = await session.stream_file("beep")
        outcomes["digits"] = await session.get_data("beep", 1000, 1)
        await session.verbose("recorded by callgate")
        outcomes["unknown"] = (await session.command("NO SUCH COMMAND")).code
        outcomes["usage"] = (await session.command("STREAM FILE")).code
        with pytest.raises(AgiCommandError, match="result=-1"):
            await session.stream_file("no-such-sound-file")
        outcomes["request"] = session.request

    async with asyncio.timeout(5), running({"agent/pause": handler}) as server:
        asterisk = await FakeAsterisk.connect(server.port, header_for("agent/pause"))
        await asterisk.answer_all()
        await asterisk.close()

    # The commands went out exactly as the ones the lab answered when recorded.
    recorded = [command for command, _ in PAUSE_SESSION["exchanges"]]
    assert sorted(asterisk.received) == sorted(recorded)
    assert outcomes["get"] == "OK"
    assert outcomes["unset"] is None
    assert outcomes["stream"] is None
    assert outcomes["digits"] == ""
    assert outcomes["unknown"] == 510
    assert outcomes["usage"] == 520
    assert server.stats.completed == 1


async def test_keyed_digit_reaches_the_handler_from_get_data() -> None:
    got: list[str] = []

    async def handler(session: AgiSession) -> None:
        got.append(await session.get_data("beep", 4000, 1))

    async with asyncio.timeout(5), running({"agent/pause": handler}) as server:
        asterisk = await FakeAsterisk.connect(server.port, header_for("agent/pause"))
        await asterisk.answer_all({"GET DATA beep 4000 1": "200 result=2 (timeout)\n"})
        await asterisk.close()
    assert got == ["2"]


async def test_hangup_notice_from_asterisk_ends_the_handler_as_a_hangup_not_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(session: AgiSession) -> None:
        await session.stream_file("agent-loginok")

    async with asyncio.timeout(5), running({"agent/login": handler}) as server:
        asterisk = await FakeAsterisk.connect(server.port, header_for("agent/login"))
        await asterisk.next_command()
        asterisk.writer.write(
            b"HANGUP\n511 Command Not Permitted on a dead channel or intercept routine\n"
        )
        assert await asterisk.closed_by_server()
        await asterisk.close()
    assert (server.stats.completed, server.stats.failed) == (1, 0)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# ---------------------------------------------------------------------------------------------
# Clients that misbehave: each is dropped with one log line; a concurrent good session is not held.


async def _early_eof(port: int) -> FakeAsterisk:
    asterisk = await FakeAsterisk.connect(port)
    asterisk.writer.write_eof()
    return asterisk


async def _eof_mid_header(port: int) -> FakeAsterisk:
    asterisk = await FakeAsterisk.connect(port, header_for("agent/login")[:200])
    asterisk.writer.write_eof()
    return asterisk


async def _garbage(port: int) -> FakeAsterisk:
    return await FakeAsterisk.connect(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")


async def _binary(port: int) -> FakeAsterisk:
    return await FakeAsterisk.connect(port, b"agi_channel: \xff\xfe\x00\n\n")


async def _oversized_header(port: int) -> FakeAsterisk:
    return await FakeAsterisk.connect(port, b"agi_x: " + b"A" * 5000 + b"\n")


async def _endless_header(port: int) -> FakeAsterisk:
    return await FakeAsterisk.connect(port, b"".join(b"agi_x%d: y\n" % i for i in range(400)))


async def _half_header_then_silence(port: int) -> FakeAsterisk:
    return await FakeAsterisk.connect(port, header_for("agent/login")[:300])


async def _silent(port: int) -> FakeAsterisk:
    return await FakeAsterisk.connect(port)


ABUSE: dict[str, tuple[Callable[[int], Awaitable[FakeAsterisk]], str]] = {
    "early EOF": (_early_eof, "connection closed before any header"),
    "EOF mid-header": (_eof_mid_header, "connection closed mid-header"),
    "HTTP garbage": (_garbage, "not an agi_* header line"),
    "binary garbage": (_binary, "header is not UTF-8"),
    "one oversized line": (_oversized_header, "header line too long"),
    "too many lines": (_endless_header, "header block too large"),
    "half a header, then silence": (_half_header_then_silence, "header timeout"),
    "connect and say nothing": (_silent, "header timeout"),
}


@pytest.mark.parametrize("abuse", list(ABUSE))
async def test_misbehaving_client_is_dropped_while_a_concurrent_good_session_completes(
    abuse: str, caplog: pytest.LogCaptureFixture
) -> None:
    start, reason = ABUSE[abuse]
    seen: list[AgiSession] = []
    caplog.set_level(logging.INFO, LOG_NAME)
    async with running({"agent/login": recording_handler(seen)}, max_header_bytes=4096) as server:
        bad = await start(server.port)
        # The good session runs while the bad one is still open (or just closed): it must not
        # wait for the header timeout.
        async with asyncio.timeout(0.25):
            commands = await good_session(server.port)
        assert commands == ['SET VARIABLE CALLGATE_AGENT_RESULT "OK"']
        async with asyncio.timeout(2):
            assert await bad.closed_by_server()
        await bad.close()
    assert len(seen) == 1
    dropped = [r.getMessage() for r in caplog.records if "AGI client dropped" in r.getMessage()]
    assert dropped == [f"AGI client dropped: {reason}"] or (
        len(dropped) == 1 and reason in dropped[0]
    )
    assert server.stats.dropped == 1


async def test_handler_exception_is_logged_with_the_channel_and_only_that_session_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[AgiSession] = []

    async def broken(session: AgiSession) -> None:
        raise RuntimeError("bug in a handler")

    handlers = {"agent/broken": broken, "agent/login": recording_handler(seen)}
    async with asyncio.timeout(5), running(handlers) as server:
        asterisk = await FakeAsterisk.connect(server.port, header_for("agent/broken"))
        await asterisk.answer_all()
        await asterisk.close()
        await good_session(server.port)

    # The dialplan is told, so it can play its error prompt.
    assert asterisk.received == ['SET VARIABLE CALLGATE_AGI_ERROR "handler-failed"']
    [failure] = [r for r in caplog.records if r.getMessage() == "AGI handler failed"]
    assert failure.exc_info is not None
    assert failure.channel == "PJSIP/1005-00000002"  # type: ignore[attr-defined]
    assert failure.uniqueid == "1795388701.2"  # type: ignore[attr-defined]
    assert (server.stats.failed, len(seen)) == (1, 1)


async def test_unknown_script_path_gets_an_error_variable_and_a_closed_connection(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with asyncio.timeout(5), running({"agent/login": recording_handler([])}) as server:
        commands = await good_session(server.port, "agent/teleport")
    assert commands == ['SET VARIABLE CALLGATE_AGI_ERROR "unknown-script"']
    assert [r.agi_script for r in caplog.records if "unknown script" in r.getMessage()] == [  # type: ignore[attr-defined]
        "agent/teleport"
    ]


async def test_asterisk_that_stops_answering_mid_session_times_out_the_command() -> None:
    errors: list[BaseException] = []

    async def handler(session: AgiSession) -> None:
        try:
            await session.verbose("hello")
        except AgiHangup as exc:
            errors.append(exc)
            raise

    async with asyncio.timeout(5), running({"a": handler}, command_timeout=0.2) as server:
        asterisk = await FakeAsterisk.connect(server.port, header_for("a"))
        await asterisk.next_command()  # and never answer
        assert await asterisk.closed_by_server()
        await asterisk.close()
    assert "no answer" in str(errors[0])


async def test_connections_beyond_max_sessions_are_refused_at_once() -> None:
    release = asyncio.Event()

    async def slow(session: AgiSession) -> None:
        await release.wait()

    async with asyncio.timeout(5), running({"a": slow}, max_sessions=1) as server:
        first = await FakeAsterisk.connect(server.port, header_for("a"))
        await asyncio.sleep(0.05)  # let the first session reach its handler
        second = await FakeAsterisk.connect(server.port, header_for("a"))
        assert await second.closed_by_server()
        release.set()
        assert await first.closed_by_server()
        await first.close()
        await second.close()
    assert server.stats.dropped == 1


async def test_stop_ends_sessions_in_flight_and_closes_the_listener() -> None:
    async def waits_forever(session: AgiSession) -> None:
        await session.get_data("beep", 600_000, 1)

    async with asyncio.timeout(5):
        server = AgiServer("127.0.0.1", 0, {"a": waits_forever}, secret=SECRET)
        await server.start()
        port = server.port
        asterisk = await FakeAsterisk.connect(port, header_for("a"))
        assert await asterisk.next_command() == "GET DATA beep 600000 1"
        await server.stop()
        assert await asterisk.closed_by_server()
        await asterisk.close()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)


# ---------------------------------------------------------------------------------------------
# What a peer can make the server hold is bounded (issue #13): lines, bytes, time, sessions,
# and log lines.


def dropped_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "AGI client dropped" in r.getMessage()]


async def wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(2):
        while not condition():  # noqa: ASYNC110 (the server counts; it has no event to await)
            await asyncio.sleep(0.01)


async def keep_sending(asterisk: FakeAsterisk, first: bytes, then: bytes) -> None:
    """Answer the first command with ``first``, then send ``then`` again and again (up to
    about 20 MB) until the server closes the connection."""
    await asterisk.next_command()
    asterisk.writer.write(first)
    with contextlib.suppress(ConnectionError):
        for _ in range(20_000_000 // len(then)):
            asterisk.writer.write(then)
            await asterisk.writer.drain()


async def answer_every_command(asterisk: FakeAsterisk, answer: bytes) -> None:
    """Answer every command with ``answer`` until the server closes the connection."""
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while True:
            await asterisk.next_command()
            asterisk.writer.write(answer)
            await asterisk.writer.drain()


USAGE = b"Send the given file, allowing playback to be interrupted by the given digits.\n"
HOSTILE_ANSWERS: dict[str, tuple[Callable[[FakeAsterisk], Awaitable[None]], str]] = {
    "520- usage text that never ends": (
        lambda a: keep_sending(a, b"520-Invalid command syntax.  Proper usage follows:\n", USAGE),
        "answer of more than 64 lines",
    ),
    "HANGUP notices that never end": (
        lambda a: keep_sending(a, b"HANGUP\n", b"HANGUP\n" * 100),
        "answer of more than 64 lines",
    ),
    "one endless answer line": (
        lambda a: keep_sending(a, b"200 result=1 (", b"x" * 4096),
        "answer line longer than 8192 bytes",
    ),
    "answers too large in all": (
        lambda a: answer_every_command(a, b"200 result=1 (" + b"x" * 4000 + b")\n"),
        "answers over 262144 bytes in one session",
    ),
}


@pytest.mark.parametrize("hostile", list(HOSTILE_ANSWERS))
async def test_given_answers_over_a_limit_then_the_session_is_dropped_at_once_with_one_line(
    hostile: str, caplog: pytest.LogCaptureFixture
) -> None:
    answer, reason = HOSTILE_ANSWERS[hostile]
    seen: list[AgiSession] = []

    async def chatty(session: AgiSession) -> None:
        for _ in range(1000):
            await session.command("VERBOSE hello 1")

    handlers = {"a": chatty, "agent/login": recording_handler(seen)}
    # The command timeout is long: the session must end on the limit, not on the timeout
    # (before, all of it was read, and kept, until then).
    async with running(handlers, command_timeout=30) as server:
        async with asyncio.timeout(2):
            asterisk = await FakeAsterisk.connect(server.port, header_for("a"))
            await answer(asterisk)  # returns once the server has closed the connection
            assert await asterisk.closed_by_server()
            await asterisk.close()
        # The server still serves the next real session.
        async with asyncio.timeout(1):
            assert await good_session(server.port) == ['SET VARIABLE CALLGATE_AGENT_RESULT "OK"']
    assert dropped_lines(caplog) == [f"AGI client dropped: {reason}"]
    assert (server.stats.dropped, server.stats.failed, server.stats.completed) == (1, 0, 1)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_given_a_handler_that_catches_the_limit_error_then_the_session_is_dropped_anyway(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def swallows(session: AgiSession) -> None:
        with contextlib.suppress(Exception):
            await session.command("VERBOSE hello 1")
        with contextlib.suppress(Exception):
            await session.command("VERBOSE again 1")  # refused: the stream is out of step

    async with asyncio.timeout(2), running({"a": swallows}, max_reply_lines=2) as server:
        asterisk = await FakeAsterisk.connect(server.port, header_for("a"))
        await asterisk.next_command()
        asterisk.writer.write(b"HANGUP\nHANGUP\nHANGUP\n")
        assert await asterisk.closed_by_server()
        await asterisk.close()
    assert asterisk.received == ["VERBOSE hello 1"]
    assert dropped_lines(caplog) == ["AGI client dropped: answer of more than 2 lines"]
    assert (server.stats.dropped, server.stats.completed) == (1, 0)


async def test_given_settings_then_the_server_applies_their_limits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def chatty(session: AgiSession) -> None:
        await session.command("VERBOSE hello 1")

    settings = AgiSettings(listen_host="127.0.0.1", port=0, max_reply_lines=2, secret=SECRET)
    async with asyncio.timeout(2), AgiServer.from_settings(settings, {"a": chatty}) as server:
        asterisk = await FakeAsterisk.connect(server.port, header_for("a"))
        await keep_sending(asterisk, b"HANGUP\n", b"HANGUP\n" * 100)
        assert await asterisk.closed_by_server()
        await asterisk.close()
    assert dropped_lines(caplog) == ["AGI client dropped: answer of more than 2 lines"]


def test_idle_connections_are_closed_after_two_seconds_by_default() -> None:
    assert AgiSettings().header_timeout == 2.0


async def test_given_an_idle_connection_then_it_holds_no_session_slot_and_is_closed_in_time() -> (
    None
):
    seen: list[AgiSession] = []
    options = {"header_timeout": 0.3, "max_sessions": 1}
    async with (
        asyncio.timeout(2),
        running({"agent/login": recording_handler(seen)}, **options) as server,
    ):
        idle = await FakeAsterisk.connect(server.port)
        await asyncio.sleep(0.05)  # accepted, waiting for its header
        await good_session(server.port)
        assert await idle.closed_by_server()
        await idle.close()
    assert len(seen) == 1
    assert (server.stats.completed, server.stats.dropped) == (1, 1)


async def test_given_idle_floods_from_one_and_many_addresses_then_real_sessions_are_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[AgiSession] = []
    # Idle connections never time out during this test: only the caps make room.
    options = {"header_timeout": 30, "max_sessions": 4, "max_sessions_per_peer": 2}
    async with running({"agent/login": recording_handler(seen)}, **options) as server:
        async with asyncio.timeout(2):
            idle = [
                await FakeAsterisk.connect(server.port, source=f"127.0.0.{host}")
                for host in (1, 2, 3, 4)
                for _ in range(10)
            ]
            # At most 2 wait per address and 4 in all; the oldest are closed to make room.
            await wait_until(lambda: server.stats.dropped == 40 - 4)
        async with asyncio.timeout(1):
            for source in ("127.0.0.1", "127.0.0.2", "127.0.0.9"):
                commands = await good_session(server.port, source=source)
                assert commands == ['SET VARIABLE CALLGATE_AGENT_RESULT "OK"']
        # 36 drops, one line: the rest are counted, not logged.
        assert dropped_lines(caplog) == [
            "AGI client dropped: closed while waiting for its header, to make room"
        ]
        for connection in idle:
            await connection.close()
    assert len(seen) == 3


async def test_given_too_many_sessions_from_one_address_then_the_next_is_closed_and_others_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()
    entered: list[str] = []

    async def slow(session: AgiSession) -> None:
        entered.append(session.request.channel)
        await release.wait()

    async with asyncio.timeout(3), running({"a": slow}, max_sessions_per_peer=2) as server:
        first = [await FakeAsterisk.connect(server.port, header_for("a")) for _ in range(2)]
        await wait_until(lambda: len(entered) == 2)
        third = await FakeAsterisk.connect(server.port, header_for("a"))
        assert await third.closed_by_server()
        other = await FakeAsterisk.connect(server.port, header_for("a"), source="127.0.0.2")
        await wait_until(lambda: len(entered) == 3)
        release.set()
        for asterisk in [*first, third, other]:
            assert await asterisk.closed_by_server()
            await asterisk.close()
    [line] = dropped_lines(caplog)
    assert line == "AGI client dropped: too many AGI sessions from one address"
    assert (server.stats.completed, server.stats.dropped) == (3, 1)


async def test_given_a_burst_of_bad_clients_then_one_warning_per_interval_and_a_count_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    async with asyncio.timeout(3), running({}, warning_interval=10, clock=lambda: now[0]) as server:
        for _ in range(30):
            await (await _early_eof(server.port)).close()
        garbage = await _garbage(server.port)
        await wait_until(lambda: server.stats.dropped == 31)
        await garbage.close()
        assert dropped_lines(caplog) == [
            "AGI client dropped: connection closed before any header",
            "AGI client dropped: not an agi_* header line: 'GET / HTTP/1.1'",
        ]
        now[0] += 10  # the interval ends; the next line counts the 29 held back
        await (await _early_eof(server.port)).close()
        await wait_until(lambda: server.stats.dropped == 32)
    assert dropped_lines(caplog)[2:] == [
        "AGI client dropped: connection closed before any header (and 29 more like it not logged)"
    ]


# ---------------------------------------------------------------------------------------------
# The shared secret: the first element of the script path.


async def closed_unanswered(port: int, header: bytes) -> bool:
    """Send ``header``; True when the server closed the connection without a command."""
    asterisk = await FakeAsterisk.connect(port, header)
    try:
        return await asterisk.reader.read() == b""
    finally:
        await asterisk.close()


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the records carry (message, arguments and extra fields), as one text."""
    return "\n".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)


def test_take_secret_splits_the_first_path_element_off_every_field_that_carries_it() -> None:
    request = parse_request(
        [
            "agi_channel: PJSIP/1005-0000001a",
            "agi_network_script: s3cret-s3cret-s3cret/agent/pause?reason=2",
            "agi_request: agi://127.0.0.1:4573/s3cret-s3cret-s3cret/agent/pause?reason=2",
        ]
    )
    presented, stripped = take_secret(request)
    assert presented == "s3cret-s3cret-s3cret"
    assert (stripped.script, dict(stripped.query)) == ("agent/pause", {"reason": "2"})
    assert stripped.variables["agi_network_script"] == "agent/pause?reason=2"
    assert stripped.variables["agi_request"] == "agi://127.0.0.1:4573/agent/pause?reason=2"
    assert "s3cret" not in repr(stripped)
    # Older peers send only agi_request: routed and stripped all the same.
    presented, stripped = take_secret(
        parse_request(["agi_channel: PJSIP/1005-1b", "agi_request: agi://h:4573/s3/agent/login"])
    )
    assert (presented, stripped.script, stripped.variables["agi_request"]) == (
        "s3",
        "agent/login",
        "agi://h:4573/agent/login",
    )


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (header_for("agent/login", secret=None), "no secret: the dialplan of before"),
        (header_for("agent/login", secret="wrong-secret-wrong-secret"), "a wrong secret"),
        (header_for("agent/login", secret=SECRET[:-1]), "all but the last character"),
        (header_for("agent/login", secret=SECRET + "x"), "one character more"),
        (header_for(f"agent/{SECRET}/login", secret=None), "not first"),
    ],
)
async def test_given_a_request_without_the_secret_then_no_handler_runs_and_it_is_closed_unanswered(
    caplog: pytest.LogCaptureFixture, header: bytes, why: str
) -> None:
    seen: list[AgiSession] = []
    async with asyncio.timeout(5), running({"agent/login": recording_handler(seen)}) as server:
        asterisk = await FakeAsterisk.connect(server.port, header)
        await asterisk.answer_all()  # returns when the server closes
        await asterisk.close()
        await wait_until(lambda: server.stats.refused == 1)
    assert asterisk.received == [], why  # not one command: nothing to learn from
    assert seen == []
    assert (server.stats.completed, server.stats.failed, server.stats.dropped) == (0, 0, 0)
    [line] = [r for r in caplog.records if "refused" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert line.getMessage().startswith("AGI request refused: no or wrong secret")
    assert line.channel == "PJSIP/1005-00000002"  # type: ignore[attr-defined]
    assert not hasattr(line, "agi_script")  # the path holds the wrong secret (or a real one)
    text = logged(caplog)
    assert SECRET not in text
    assert "wrong-secret" not in text
    assert "agent/login" not in text


async def test_given_the_secret_then_the_handler_runs_on_the_path_after_it_and_never_sees_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[AgiSession] = []
    async with asyncio.timeout(5), running({"agent/login": recording_handler(seen)}) as server:
        commands = await good_session(server.port, "agent/login")
    assert commands == ['SET VARIABLE CALLGATE_AGENT_RESULT "OK"']
    [session] = seen
    assert session.request.script == "agent/login"
    assert SECRET not in repr(session.request)
    assert (server.stats.completed, server.stats.refused) == (1, 0)
    assert SECRET not in logged(caplog)


async def test_given_a_burst_of_requests_without_the_secret_then_one_warning_and_a_count_after(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    header = header_for("agent/login", secret="guess-guess-guess-guess")
    async with asyncio.timeout(5), running({}, warning_interval=10, clock=lambda: now[0]) as server:
        for _ in range(20):
            assert await closed_unanswered(server.port, header)
        await wait_until(lambda: server.stats.refused == 20)
        now[0] += 10
        assert await closed_unanswered(server.port, header)
        await wait_until(lambda: server.stats.refused == 21)
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 2
    assert lines[1].endswith("(and 19 more like it not logged)")
    assert "guess" not in logged(caplog)


async def test_a_request_refused_for_its_secret_holds_no_session_slot() -> None:
    seen: list[AgiSession] = []
    handlers = {"agent/login": recording_handler(seen)}
    async with asyncio.timeout(5), running(handlers, max_sessions_per_peer=1) as server:
        for _ in range(5):
            assert await closed_unanswered(server.port, header_for("x", secret=None))
        await good_session(server.port)
    assert (server.stats.refused, len(seen)) == (5, 1)


def test_the_server_refuses_an_empty_secret_or_one_that_is_not_one_path_element() -> None:
    for secret in ("", "a/b"):
        with pytest.raises(ValueError, match="one non-empty path element"):
            AgiServer("127.0.0.1", 0, {}, secret=secret)


@pytest.mark.parametrize(
    "secret",
    ["too-short", "has/a-slash-in-it-0123", "has,a,comma,in,it,0123", "${EXPR}-in-a-secret-0"],
)
def test_settings_refuse_a_secret_that_cannot_travel_in_the_url_without_repeating_it(
    secret: str,
) -> None:
    with pytest.raises(ValidationError) as caught:
        AgiSettings(secret=secret)  # type: ignore[arg-type]
    assert "16 to 256 characters" in str(caught.value)
    assert secret not in str(caught.value)


# ---------------------------------------------------------------------------------------------
# Values from callers cannot inject a second command.


def asterisk_parse_args(line: str) -> list[str]:
    """res_agi.c parse_args(): whitespace-separated, double quotes group, backslash escapes."""
    args: list[str] = []
    cur: list[str] | None = None
    quoted = escaped = False
    for ch in line:
        if escaped:
            cur = (cur or []) + [ch]
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            cur = cur or []
        elif ch in " \t" and not quoted:
            if cur is not None:
                args.append("".join(cur))
            cur = None
        else:
            cur = (cur or []) + [ch]
    if cur is not None:
        args.append("".join(cur))
    return args


@pytest.mark.parametrize(
    "value",
    [
        'x"\nEXEC System "touch /tmp/pwned"',
        "x\r\nHANGUP",
        'a\\" "b',
        "\\",
        'quote " and back\\slash',
    ],
)
async def test_caller_controlled_value_goes_out_as_one_argument_of_one_command(
    value: str,
) -> None:
    async def handler(session: AgiSession) -> None:
        await session.set_variable("CALLGATE_NOTE", value)

    async with asyncio.timeout(5), running({"a": handler}) as server:
        asterisk = await FakeAsterisk.connect(server.port, header_for("a"))
        await asterisk.answer_all()
        await asterisk.close()
    [line] = asterisk.received
    stripped = value.replace("\r", "").replace("\n", "")
    assert asterisk_parse_args(line) == ["SET", "VARIABLE", "CALLGATE_NOTE", stripped]


def test_quote_escapes_quotes_and_backslashes_and_drops_line_breaks() -> None:
    assert quote('a"b\\c\r\nd\0') == '"a\\"b\\\\cd"'


async def test_names_that_are_not_plain_identifiers_are_refused_before_sending() -> None:
    async def handler(session: AgiSession) -> None:
        with pytest.raises(ValueError, match="variable name"):
            await session.set_variable("X Y", "1")
        with pytest.raises(ValueError, match="sound file"):
            await session.stream_file("beep\nEXEC System x")
        with pytest.raises(ValueError, match="escape digits"):
            await session.stream_file("beep", escape_digits='1" x')
        with pytest.raises(ValueError, match="one line"):
            await session.command("VERBOSE x\nEXEC System y")

    async with asyncio.timeout(5), running({"a": handler}) as server:
        asterisk = await FakeAsterisk.connect(server.port, header_for("a"))
        await asterisk.answer_all()
        await asterisk.close()
    assert asterisk.received == []
    assert server.stats.completed == 1
