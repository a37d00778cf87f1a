"""FastAGI trusts only Asterisk: forged feature-code requests over a real TCP socket to a real
:class:`AgiServer`, whose handlers drive the daemon's real call-taker control and core.

What the tests stand in for is Asterisk's answer about a channel (:class:`Asterisk`, a test
double of the :class:`~callgate.ports.ChannelCheck` port, which the ARI adapter implements;
tests/unit/asterisk/test_channel_check.py tests that one) and the peer on the socket (a forger,
or Asterisk answering every command with success).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from callgate.asterisk.agent_codes import agent_code_handlers
from callgate.asterisk.agi.fastagi import AgiServer
from callgate.core.acd import Acd
from callgate.core.agents import AgentState
from callgate.core.config import AcdConfig
from callgate.daemon.engine import Engine
from tests.unit.daemon.conftest import Clock, NoPhones, control_of

SECRET = "the-centre-agi-secret-4f1c"
ENDPOINTS = ["PJSIP/1001", "PJSIP/1005"]
CHANNEL = "PJSIP/1005-00000001"
UNIQUEID = "1795388701.7"


@dataclass
class Asterisk:
    """What Asterisk says about channels: the ones it has, by id, with their names; None
    from ``channel_exists`` when ``reachable`` is False (ARI down); ``stuck`` never answers."""

    channels: dict[str, str] = field(default_factory=dict)
    reachable: bool = True
    stuck: bool = False
    asked: list[tuple[str, str]] = field(default_factory=list)

    async def channel_exists(self, channel_id: str, name: str) -> bool | None:
        self.asked.append((channel_id, name))
        if self.stuck:
            await asyncio.Event().wait()
        if not self.reachable:
            return None
        return self.channels.get(channel_id) == name if channel_id in self.channels else False


@dataclass
class Centre:
    server: AgiServer
    engine: Engine
    asterisk: Asterisk

    def state_of(self, agent_id: str) -> AgentState:
        agent = self.engine.acd.agents.get(agent_id)
        return AgentState.LOGGED_OUT if agent is None else agent.state


@asynccontextmanager
async def centre(asterisk: Asterisk) -> AsyncIterator[Centre]:
    engine = Engine(Acd(AcdConfig()), NoPhones(), clock=Clock())
    control = control_of(engine, ENDPOINTS)
    handlers = agent_code_handlers(control, channels=asterisk, control_timeout=0.3)
    server = AgiServer("127.0.0.1", 0, handlers, secret=SECRET, header_timeout=1.0)
    await server.start()
    try:
        yield Centre(server, engine, asterisk)
    finally:
        await server.stop()


def header(path: str, *, channel: str = CHANNEL, uniqueid: str = UNIQUEID) -> bytes:
    """A full header block as Asterisk 22 sends it for ``agi://127.0.0.1:4573/<path>``."""
    lines = {
        "agi_network": "yes",
        "agi_network_script": path,
        "agi_request": f"agi://127.0.0.1:4573/{path}",
        "agi_channel": channel,
        "agi_language": "id",
        "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid,
        "agi_version": "22.10.1",
        "agi_callerid": "1005",
        "agi_calleridname": "Call-taker 1005",
        "agi_callingpres": "0",
        "agi_context": "callgate-agents",
        "agi_extension": "agent-code",
        "agi_priority": "3",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140241372006080",
        "agi_arg_1": "",
    }
    return "".join(f"{key}: {value}\n" for key, value in lines.items()).encode() + b"\n"


async def session(port: int, block: bytes) -> list[str]:
    """Send ``block``, answer every command as a live channel would, and return the commands
    until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    commands: list[str] = []
    try:
        writer.write(block)
        await writer.drain()
        while line := (await reader.readline()).decode().rstrip("\n"):
            commands.append(line)
            answer = "200 result=0 endpos=8000\n" if line.startswith("STREAM") else "200 result=1\n"
            writer.write(answer.encode())
            await writer.drain()
    except ConnectionResetError:
        pass  # closed by the server with a reset: the same as EOF here
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return commands


ERROR_ANSWERED = [
    'SET VARIABLE CALLGATE_AGENT_RESULT "ERROR"',
    'STREAM FILE custom/callgate/agent-error ""',
]


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(f"{record.getMessage()} {vars(record)}" for record in caplog.records)


@pytest.fixture(autouse=True)
def every_record(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("agent/login", "no secret"),
        ("not-the-centre-secret-0000/agent/login", "a wrong secret"),
        (f"{SECRET[:-1]}/agent/login", "the secret but its last character"),
    ],
)
async def test_given_no_or_a_wrong_secret_when_a_login_is_forged_then_it_is_closed_unanswered_and_nothing_changes(  # noqa: E501
    caplog: pytest.LogCaptureFixture, path: str, why: str
) -> None:
    asterisk = Asterisk(channels={UNIQUEID: CHANNEL})
    async with asyncio.timeout(5), centre(asterisk) as c:
        commands = await session(c.server.port, header(path))
        assert c.state_of("1005") is AgentState.LOGGED_OUT, why
        assert c.server.stats.refused == 1
    assert commands == []  # no answer at all: the dialplan would play the error prompt
    assert asterisk.asked == []  # refused before anything else is done for it
    text = logged(caplog)
    assert "refused: no or wrong secret" in text
    assert SECRET not in text
    assert "not-the-centre-secret" not in text


@pytest.mark.parametrize(
    ("asterisk", "why"),
    [
        (Asterisk(), "no such channel"),
        (Asterisk(channels={"1795388701.9": CHANNEL}), "the name, under another unique id"),
        (Asterisk(channels={UNIQUEID: "PJSIP/1001-00000001"}), "the id, under another name"),
        (Asterisk(channels={UNIQUEID: CHANNEL}, reachable=False), "ARI could not be asked"),
        (Asterisk(channels={UNIQUEID: CHANNEL}, stuck=True), "ARI never answers"),
    ],
)
async def test_given_the_secret_but_a_channel_asterisk_does_not_confirm_then_error_and_nothing_changes(  # noqa: E501
    caplog: pytest.LogCaptureFixture, asterisk: Asterisk, why: str
) -> None:
    async with asyncio.timeout(5), centre(asterisk) as c:
        commands = await session(c.server.port, header(f"{SECRET}/agent/login"))
        assert c.state_of("1005") is AgentState.LOGGED_OUT, why
        assert (c.server.stats.refused, c.server.stats.completed) == (0, 1)
    assert commands == ERROR_ANSWERED, why
    assert asterisk.asked == [(UNIQUEID, CHANNEL)]
    assert "agent code refused" in logged(caplog)
    assert SECRET not in logged(caplog)


async def test_given_the_secret_and_a_channel_asterisk_has_then_the_call_taker_logs_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    asterisk = Asterisk(channels={UNIQUEID: CHANNEL})
    async with asyncio.timeout(5), centre(asterisk) as c:
        commands = await session(c.server.port, header(f"{SECRET}/agent/login"))
        assert c.state_of("1005") is AgentState.AVAILABLE
        again = await session(c.server.port, header(f"{SECRET}/agent/login"))
    assert commands == [
        'SET VARIABLE CALLGATE_AGENT_RESULT "OK"',
        'STREAM FILE custom/callgate/agent-login-ok ""',
    ]
    assert again[0] == 'SET VARIABLE CALLGATE_AGENT_RESULT "ALREADY"'
    assert asterisk.asked == [(UNIQUEID, CHANNEL)] * 2
    # The script is logged without its secret; the secret nowhere.
    text = logged(caplog)
    assert "'agi_script': 'agent/login'" in text
    assert SECRET not in text


async def test_a_forged_pause_or_logout_of_a_logged_in_call_taker_changes_nothing() -> None:
    asterisk = Asterisk(channels={UNIQUEID: CHANNEL})
    async with asyncio.timeout(5), centre(asterisk) as c:
        await session(c.server.port, header(f"{SECRET}/agent/login"))
        assert c.state_of("1005") is AgentState.AVAILABLE
        # The real call ended: Asterisk no longer has the channel a forger replays.
        asterisk.channels.clear()
        for code in ("agent/pause", "agent/logout"):
            commands = await session(c.server.port, header(f"{SECRET}/{code}"))
            # (*13 asks for its digit first: the forger's own line, nothing changes by it.)
            assert commands[-2:] == ERROR_ANSWERED, commands
            assert c.state_of("1005") is AgentState.AVAILABLE
        # Without the secret, the same requests do not even reach the check.
        asked = len(asterisk.asked)
        assert await session(c.server.port, header("agent/logout")) == []
        assert len(asterisk.asked) == asked
        assert c.state_of("1005") is AgentState.AVAILABLE
