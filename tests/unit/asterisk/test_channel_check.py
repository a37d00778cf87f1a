"""The ARI channel check (``ports.ChannelCheck``) against the recorded ARI fake served on
loopback, answering ``GET /ari/channels/{id}`` with a channel as Asterisk describes one, or its
404 (a codec test, not Asterisk: the lab's feature-code tests run it against the real one)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from callgate.asterisk.ari.channel_check import AriChannelCheck
from callgate.asterisk.ari.client import AriClient
from tests.unit.asterisk.recorded_ari import RecordedAri

#: id -> (name, dialplan context, extension), as Asterisk would report them.
CHANNELS = {
    "1795388701.7": ("PJSIP/1005-00000001", "callgate-agents", "agent-code"),
    # 1005 on the echo test (600), in the same context: a real channel, not at a feature code.
    "1795388701.8": ("PJSIP/1005-00000002", "callgate-agents", "600"),
    # A caller's channel in the 112 context.
    "1795388701.10": ("PJSIP/jasnita-00000003", "callgate-112", "112"),
    # No dialplan at all in the answer.
    "1795388701.11": ("PJSIP/1005-00000004", None, None),
}


@pytest.fixture
async def ari() -> AsyncIterator[AriClient]:
    asterisk = RecordedAri()
    for channel_id, (name, context, exten) in CHANNELS.items():
        channel = RecordedAri.channel(id=channel_id, name=name, state="Up", language="id")
        if context is None:
            channel.pop("dialplan", None)
        else:
            channel["dialplan"] = {"context": context, "exten": exten, "priority": 3}
        asterisk.known[channel_id] = channel
    asterisk.fail("GET", "/channels/broken", 500)
    asterisk.slow[("GET", "/channels/slow")] = 1.0  # then 404: Asterisk has no such channel
    async with (
        asterisk.serve() as url,
        AriClient(url, "u", "p", "callgate") as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("channel_id", "name", "answer"),
    [
        ("1795388701.7", "PJSIP/1005-00000001", True),
        ("1795388701.7", "PJSIP/1001-00000001", False),  # the id, by another name
        ("1795388701.9", "PJSIP/1005-00000001", False),  # Asterisk has no such channel
        ("", "PJSIP/1005-00000001", False),  # no agi_uniqueid at all
        ("../asterisk/info", "PJSIP/1005-00000001", False),  # quoted: one path element
        ("broken", "PJSIP/1005-00000001", None),  # 5xx: Asterisk did not say no
        # True name, but not where the feature codes run: refused.
        ("1795388701.8", "PJSIP/1005-00000002", False),
        ("1795388701.10", "PJSIP/jasnita-00000003", False),
        ("1795388701.11", "PJSIP/1005-00000004", False),
    ],
)
async def test_asterisk_says_whether_it_has_the_channel_under_that_id_and_name(
    ari: AriClient, channel_id: str, name: str, answer: bool | None
) -> None:
    assert await AriChannelCheck(ari).channel_exists(channel_id, name) is answer


async def test_a_slow_asterisk_is_not_asked_for_longer_than_the_bound(ari: AriClient) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await AriChannelCheck(ari, timeout=0.2).channel_exists("slow", "x") is None
    assert loop.time() - started < 0.8


async def test_an_unreachable_asterisk_is_could_not_ask() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with AriClient(f"http://127.0.0.1:{port}", "u", "p", "callgate") as ari:
        assert await AriChannelCheck(ari).channel_exists("1795388701.7", "x") is None
