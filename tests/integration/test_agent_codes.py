"""Call-takers' feature codes against the real lab Asterisk: a baresip softphone (extension 1005)
dials *11..*14, the dialplan's [callgate-agents] context calls our FastAGI server, and the
server's handlers drive an in-memory AgentControl (a test double of callgate's own interface,
not of Asterisk).

Each code's outcome is read from AMI: the dialplan raises UserEvent(CallgateAgentCode) after
AGI() returns, with CALLGATE_AGENT_RESULT and AGISTATUS as Asterisk saw them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import labpeers
import pytest

from callgate.asterisk.agent_codes import (
    RESULT_VARIABLE,
    agent_code_handlers,
)
from callgate.asterisk.agi.fastagi import AgiServer
from callgate.asterisk.agi.protocol import AgiSession, Handler
from callgate.asterisk.ari.channel_check import AriChannelCheck
from callgate.asterisk.ari.client import AriClient
from callgate.ports import AgentCommandResult

EXTENSION = "1005"
ENDPOINT = f"PJSIP/{EXTENSION}"
AMI = ("127.0.0.1", 5038)


@dataclass
class InMemoryAgents:
    """AgentControl as the daemon will offer it, kept in memory."""

    calls: list[tuple[str, ...]] = field(default_factory=list)
    logged_in: set[str] = field(default_factory=set)
    paused: dict[str, str] = field(default_factory=dict)

    async def login(self, endpoint: str) -> AgentCommandResult:
        self.calls.append(("login", endpoint))
        if endpoint in self.logged_in:
            return AgentCommandResult.ALREADY
        self.logged_in.add(endpoint)
        return AgentCommandResult.OK

    async def logout(self, endpoint: str) -> AgentCommandResult:
        self.calls.append(("logout", endpoint))
        self.paused.pop(endpoint, None)
        if endpoint not in self.logged_in:
            return AgentCommandResult.ALREADY
        self.logged_in.discard(endpoint)
        return AgentCommandResult.OK

    async def pause(self, endpoint: str, reason: str) -> AgentCommandResult:
        self.calls.append(("pause", endpoint, reason))
        if endpoint not in self.logged_in:
            return AgentCommandResult.REFUSED
        self.paused[endpoint] = reason
        return AgentCommandResult.OK

    async def unpause(self, endpoint: str) -> AgentCommandResult:
        self.calls.append(("unpause", endpoint))
        if self.paused.pop(endpoint, None) is None:
            return AgentCommandResult.ALREADY
        return AgentCommandResult.OK


class AmiUserEvents:
    """A raw AMI connection that collects UserEvents (the lab's read-only use of AMI)."""

    def __init__(self) -> None:
        self.events: list[dict[str, str]] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def start(self) -> None:
        reader, self._writer = await asyncio.open_connection(*AMI)
        await reader.readline()  # "Asterisk Call Manager/x.y"
        self._writer.write(
            b"Action: Login\r\nUsername: callgate\r\nSecret: lab-ami-secret\r\nEvents: user\r\n\r\n"
        )
        self._task = asyncio.create_task(self._read(reader))
        await self.wait_for(lambda e: e.get("Response") == "Success", 5, "AMI login")

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            block = await reader.readuntil(b"\r\n\r\n")
            message = {}
            for line in block.decode(errors="replace").split("\r\n"):
                key, sep, value = line.partition(": ")
                if sep:
                    message[key] = value
            self.events.append(message)
            self._changed.set()

    async def wait_for(
        self, predicate: Callable[[dict[str, str]], bool], within: float, what: str
    ) -> dict[str, str]:
        async with asyncio.timeout(within):
            while True:
                for event in self.events:
                    if predicate(event):
                        self.events.remove(event)
                        return event
                self._changed.clear()
                await self._changed.wait()
        raise AssertionError(what)  # pragma: no cover - the timeout raises first

    async def agent_code(self, code: str, within: float = 15) -> dict[str, str]:
        """The dialplan's report of one feature code dialled from our extension."""
        return await self.wait_for(
            lambda e: (
                e.get("UserEvent") == "CallgateAgentCode"
                and e.get("Channel", "").startswith(f"{ENDPOINT}-")
                and e.get("Code") == code
            ),
            within,
            f"UserEvent CallgateAgentCode {code} from {ENDPOINT}",
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncio.IncompleteReadError):
                await self._task
        if self._writer is not None:
            self._writer.close()


@pytest.fixture
async def ami() -> AsyncIterator[AmiUserEvents]:
    events = AmiUserEvents()
    await events.start()
    yield events
    await events.stop()


def my_channels() -> list[str]:
    """Channels of our own extension only (others place calls in the lab at the same time)."""
    channels = labpeers.ari_get("/channels")
    assert isinstance(channels, list)
    return [c["name"] for c in channels if c["name"].startswith(f"{ENDPOINT}-")]


async def wait_call_ended(within: float = 10) -> None:
    deadline = time.monotonic() + within
    while my_channels():
        assert time.monotonic() < deadline, f"call from {ENDPOINT} still up: {my_channels()}"
        await asyncio.sleep(0.1)


async def dial(phone: labpeers.Softphone, number: str) -> None:
    response = await asyncio.to_thread(phone.command, "dial", number)
    assert response.get("ok"), response


@dataclass
class Observed:
    """Sessions the server ran, with the result variable read back from the channel."""

    sessions: list[AgiSession] = field(default_factory=list)
    results: list[str | None] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a session reaches its handler."""


def observed(handlers: dict[str, Handler], seen: Observed) -> dict[str, Handler]:
    def wrap(handler: Handler) -> Handler:
        async def run(session: AgiSession) -> None:
            seen.sessions.append(session)
            seen.started.set()
            await handler(session)
            # Read back what Asterisk now holds, not what we think we sent.
            seen.results.append(await session.get_variable(RESULT_VARIABLE))

        return run

    return {path: wrap(handler) for path, handler in handlers.items()}


def played(session: AgiSession) -> list[tuple[str, int]]:
    """(sound, endpos) of every prompt the session played to the softphone."""
    return [
        (command.split()[2], int(response.extra.get("endpos", "0")))
        for command, response in session.history
        if command.startswith("STREAM FILE")
    ]


@pytest.fixture
async def channels() -> AsyncIterator[AriChannelCheck]:
    """The daemon's own channel check, asking the lab Asterisk over ARI: every feature code
    below passes it, so a real softphone's agi_uniqueid is its ARI channel id."""
    async with AriClient("http://127.0.0.1:8088", "callgate", "lab-ari-secret", "callgate") as ari:
        yield AriChannelCheck(ari)


@pytest.fixture
async def agi_server(
    channels: AriChannelCheck,
) -> AsyncIterator[tuple[AgiServer, InMemoryAgents, Observed]]:
    agents = InMemoryAgents()
    seen = Observed()
    server = AgiServer(
        "127.0.0.1",
        4573,
        observed(agent_code_handlers(agents, channels=channels), seen),
        secret=labpeers.LAB_AGI_SECRET,  # the dialplan sends the lab's (scripts/lab writes it)
    )
    await server.start()
    yield server, agents, seen
    await server.stop()


@pytest.mark.smoke
async def test_call_taker_logs_in_pauses_with_reason_unpauses_and_logs_out_by_feature_codes(
    phones: Callable[..., list[labpeers.Softphone]],
    ami: AmiUserEvents,
    agi_server: tuple[AgiServer, InMemoryAgents, Observed],
) -> None:
    _server, agents, seen = agi_server
    [phone] = phones(EXTENSION)

    for number, code in [
        ("*11", "login"),
        ("*132", "pause"),
        ("*14", "unpause"),
        ("*12", "logout"),
    ]:
        await dial(phone, number)
        event = await ami.agent_code(code)
        assert (event["Result"], event["AgiStatus"]) == ("OK", "SUCCESS"), event
        await wait_call_ended()

    assert agents.calls == [
        ("login", ENDPOINT),
        ("pause", ENDPOINT, "prayer"),
        ("unpause", ENDPOINT),
        ("logout", ENDPOINT),
    ]
    assert seen.results == ["OK"] * 4
    channels = [session.request.channel for session in seen.sessions]
    assert all(channel.startswith(f"{ENDPOINT}-") for channel in channels), channels
    # Each prompt was found and played in full (endpos > 0 frames), not skipped.
    prompts = [played(session) for session in seen.sessions]
    assert [p[0][0] for p in prompts] == [
        "custom/callgate/agent-login-ok",
        "custom/callgate/agent-paused",
        "custom/callgate/agent-unpaused",
        "custom/callgate/agent-logout-ok",
    ]
    assert all(p[0][1] > 0 for p in prompts), prompts


async def test_pause_reason_keyed_when_asked_and_pause_while_logged_out_is_refused(
    phones: Callable[..., list[labpeers.Softphone]],
    ami: AmiUserEvents,
    agi_server: tuple[AgiServer, InMemoryAgents, Observed],
) -> None:
    _server, agents, seen = agi_server
    [phone] = phones(EXTENSION)

    # Logged out: the pause is refused, and the call-taker hears why.
    await dial(phone, "*135")
    assert (await ami.agent_code("pause"))["Result"] == "REFUSED"
    await wait_call_ended()
    assert played(seen.sessions[-1])[0][0] == "custom/callgate/agent-refused"

    agents.logged_in.add(ENDPOINT)
    seen.started.clear()
    await dial(phone, "*13")
    # Key "3" (toilet) once the AGI session is asking for it.
    async with asyncio.timeout(10):
        await seen.started.wait()
    # GET DATA takes the digit during the "press a digit" prompt as well as after it.
    await asyncio.sleep(1.0)
    await asyncio.to_thread(phone.command, "sndcode", "3")
    event = await ami.agent_code("pause")
    assert event["Result"] == "OK", event
    await wait_call_ended()
    assert agents.calls[-1] == ("pause", ENDPOINT, "toilet")

    # A digit with no reason configured: not paused, "unknown digit".
    await dial(phone, "*139")
    assert (await ami.agent_code("pause"))["Result"] == "INVALID_REASON"
    await wait_call_ended()
    assert agents.calls[-1] == ("pause", ENDPOINT, "toilet")


async def test_with_the_agi_server_down_a_feature_code_plays_the_error_and_the_call_ends(
    phones: Callable[..., list[labpeers.Softphone]], ami: AmiUserEvents
) -> None:
    [phone] = phones(EXTENSION)
    started = time.monotonic()
    await dial(phone, "*11")
    event = await ami.agent_code("login")
    assert (event["Result"], event["AgiStatus"]) == ("ERROR", "FAILURE"), event
    await wait_call_ended()
    # Playback(beeperr&custom/callgate/agent-error) ran (about 5 s), then Hangup(): no silence,
    # no call left hanging.
    assert 1.0 < time.monotonic() - started < 15


async def test_a_real_login_completes_while_a_raw_client_holds_a_half_written_header(
    phones: Callable[..., list[labpeers.Softphone]],
    ami: AmiUserEvents,
    channels: AriChannelCheck,
) -> None:
    agents = InMemoryAgents()
    # A long header timeout, so the stalled client is still held while the real call runs.
    server = AgiServer(
        "127.0.0.1",
        4573,
        agent_code_handlers(agents, channels=channels),
        secret=labpeers.LAB_AGI_SECRET,
        header_timeout=60,
    )
    await server.start()
    stall_reader, stall_writer = await asyncio.open_connection("127.0.0.1", 4573)
    try:
        stall_writer.write(b"agi_network: yes\nagi_network_script: agent/login\nagi_chan")
        await stall_writer.drain()
        [phone] = phones(EXTENSION)
        await dial(phone, "*11")
        event = await ami.agent_code("login", within=10)
        assert event["Result"] == "OK", event
        assert agents.calls == [("login", ENDPOINT)]
        await wait_call_ended()
        assert not stall_reader.at_eof()  # still held: it did not block the real call
    finally:
        stall_writer.close()
        await server.stop()
    assert server.stats.completed == 1


@pytest.mark.smoke
def test_lab_asterisk_runs_app_userevent_that_reports_feature_codes() -> None:
    # modules.conf loads it; a lab started before that line (reload does not load new modules)
    # would fail the tests above in a confusing way, so say it plainly.
    request = urllib.request.Request(
        labpeers.ARI + "/asterisk/modules/app_userevent.so",
        headers={"Authorization": labpeers.ARI_AUTH},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read())["status"] == "Running"
