"""What one client can hold on the admin HTTP port (``http/bounds.py``, ``http/streams.py``):
header, body and idle deadlines, connection caps overall and per address, live streams capped
per user and dropped when their client stops reading, and no versions in ``Server:``. A real
server on 127.0.0.1; the slow clients are raw sockets."""

from __future__ import annotations

import asyncio
import re
import resource
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callgate.config import ConfigError, load_settings
from callgate.daemon.health import Health
from callgate.daemon.metrics import Metrics
from callgate.daemon.projection import Projection
from callgate.http.bounds import SERVER, ConnectionGuard, HttpLimits
from callgate.http.server import OpsHttp
from callgate.http.streams import LiveStreams
from tests.unit.auth_users import authenticator, bearer

FAST = HttpLimits(
    header_timeout=0.4,
    body_timeout=0.4,
    keepalive_timeout=0.6,
    max_connections=8,
    max_connections_per_peer=4,
)


class Source:
    def snapshot(self) -> dict[str, Any]:
        return {"type": "snapshot", "at": 1.0, "calls": [], "agents": []}

    async def my_call(self, agent_id: str) -> dict[str, Any]:
        return {"call": None, "history": []}


class View:
    def set_log_level(self, level: str) -> None:
        self.level = level


async def _served(limits: HttpLimits, streams: LiveStreams | None = None) -> OpsHttp:
    health = Health()
    http = OpsHttp(
        View(),  # type: ignore[arg-type]  # only set_log_level is used here
        health,
        Metrics(Projection(), health).registry,
        authenticator=authenticator(),
        port=0,
        extensions=() if streams is None else (streams,),
        limits=limits,
    )
    await http.start()
    return http


@pytest.fixture
async def http() -> AsyncIterator[OpsHttp]:
    served = await _served(FAST)
    yield served
    await served.stop()


#: The raw clients a test opened, closed after it.
_WRITERS: list[asyncio.StreamWriter] = []


@pytest.fixture(autouse=True)
async def _close_clients() -> AsyncIterator[None]:
    yield
    for writer in _WRITERS:
        writer.close()
    _WRITERS.clear()
    await asyncio.sleep(0)


async def _connect(
    http: OpsHttp, sent: bytes = b"", source: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", http.port, local_addr=(source, 0))
    _WRITERS.append(writer)
    if sent:
        writer.write(sent)
        await writer.drain()
    return reader, writer


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sent until it closed the connection (fails if it did not)."""
    async with asyncio.timeout(seconds):
        return await reader.read()


async def _until(condition: Any, seconds: float = 3.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - nothing to wait on but the server's state
            await asyncio.sleep(0.01)


HALF = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


async def test_half_sent_headers_are_closed_at_the_header_deadline(http: OpsHttp) -> None:
    started = time.monotonic()
    half, _ = await _connect(http, HALF)
    silent, _ = await _connect(http)
    assert await _closed_within(half, 2) == b""
    assert await _closed_within(silent, 2) == b""
    assert 0.3 < time.monotonic() - started < 1.5
    assert http.guard.stats.header_timeouts == 2
    assert len(http.guard) == 0


async def _trickle(writer: asyncio.StreamWriter, line: bytes, every: float, times: int) -> None:
    for _ in range(times):
        writer.write(line)
        await writer.drain()
        await asyncio.sleep(every)


async def test_trickled_headers_do_not_extend_the_deadline(http: OpsHttp) -> None:
    _, writer = await _connect(http, b"GET /healthz HTTP/1.1\r\n")
    started = time.monotonic()
    with pytest.raises(ConnectionError):  # reset by the server
        await _trickle(writer, b"X-A: b\r\n", every=0.1, times=20)  # past 0.4 s all the same
    assert time.monotonic() - started < 1.2
    assert http.guard.stats.header_timeouts == 1


async def test_a_keep_alive_connection_is_served_then_closed_when_idle(http: OpsHttp) -> None:
    reader, writer = await _connect(http)
    for _ in range(3):  # each request within the deadline: served on the same connection
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
        await reader.readexactly(length)
        await asyncio.sleep(0.3)
    started = time.monotonic()
    assert await _closed_within(reader, 2) == b""
    assert time.monotonic() - started < 1.0
    assert http.guard.stats.idle_timeouts == 1


async def test_a_trickled_body_is_answered_408_and_closed(http: OpsHttp) -> None:
    headers = "".join(f"{k}: {v}\r\n" for k, v in bearer("root").items())
    reader, _ = await _connect(
        http,
        b"POST /api/log-level HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + headers.encode()
        + b'Content-Length: 100\r\n\r\n{"level": ',
    )
    answer = await _closed_within(reader, 2)
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"body not received within 0.4 s" in answer


async def test_past_the_per_peer_cap_the_oldest_waiting_connection_makes_room(
    http: OpsHttp,
) -> None:
    first, _ = await _connect(http, HALF)
    for _ in range(3):
        await _connect(http, HALF)
    other, _ = await _connect(http, HALF, source="127.0.0.2")  # another address: its own share
    await _until(lambda: len(http.guard) == 5)
    await _connect(http, HALF)  # the fifth from 127.0.0.1
    assert await _closed_within(first, 0.3) == b""
    assert http.guard.stats.evicted == 1
    # The newcomer is served, and the other address was not touched.
    async with aiohttp.ClientSession() as client, client.get(f"{http.url}/healthz") as r:
        assert r.status == 200
        assert r.headers["Server"] == SERVER
    assert not other.at_eof()


async def test_past_the_cap_with_every_connection_in_a_request_the_new_one_is_closed() -> None:
    streams = LiveStreams(Source(), max_streams=4, heartbeat=5)
    http = await _served(HttpLimits(max_connections=2, max_connections_per_peer=2), streams=streams)
    try:
        async with aiohttp.ClientSession() as client:
            opened = [await client.get(f"{http.url}/api/live", headers=bearer("sup"))]
            opened.append(await client.get(f"{http.url}/api/live", headers=bearer("root")))
            await _until(lambda: len(streams) == 2)
            reader, _ = await _connect(http)
            assert await _closed_within(reader, 0.5) == b""
            assert http.guard.stats.refused == 1
            for response in opened:
                response.close()
    finally:
        await http.stop()


async def test_no_answer_names_aiohttp_or_python(http: OpsHttp) -> None:
    async with aiohttp.ClientSession() as client:
        for path in ("/healthz", "/nope", "/api/whoami"):
            async with client.get(f"{http.url}{path}") as r:
                assert r.headers["Server"] == SERVER, path
    # A request aiohttp refuses itself, before any handler.
    reader, _ = await _connect(http, b"GARBAGE\r\n\r\n")
    answer = await _closed_within(reader, 2)
    assert answer.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400"))
    assert b"\r\nServer: callgate\r\n" in answer
    assert b"aiohttp" not in answer
    assert b"Python" not in answer


# -- live streams ----------------------------------------------------------------------------


async def test_one_more_stream_of_a_user_closes_their_oldest_and_others_keep_theirs() -> None:
    streams = LiveStreams(Source(), max_streams=4, max_per_user=2, heartbeat=5)
    http = await _served(HttpLimits(), streams=streams)
    try:
        async with aiohttp.ClientSession() as client:
            mine = [
                await client.get(f"{http.url}/api/live", headers=bearer("ct1001")) for _ in range(3)
            ]
            await _until(lambda: len(streams) == 2)
            async with asyncio.timeout(2):
                await mine[0].content.read()  # the oldest ended
            # The supervisor's wallboard still gets a slot.
            wallboard = await client.get(f"{http.url}/api/live", headers=bearer("sup"))
            assert wallboard.status == 200
            await _until(lambda: len(streams) == 3)
            for response in (*mine, wallboard):
                response.close()
    finally:
        await http.stop()


async def test_a_stream_whose_client_stops_reading_is_dropped_at_the_write_timeout() -> None:
    streams = LiveStreams(Source(), queue_size=10_000, heartbeat=5, write_timeout=0.5)
    http = await _served(HttpLimits(), streams=streams)
    try:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", http.port))
        token = bearer("sup")["Authorization"]
        sock.sendall(
            f"GET /api/live HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {token}\r\n\r\n".encode()
        )
        await _until(lambda: len(streams) == 1)
        big = {"type": "today", "pad": "x" * 60_000}
        started = time.monotonic()
        for _ in range(400):  # ~24 MB, never read: the write blocks, then times out
            streams.publish(big)
            await asyncio.sleep(0)
            if not len(streams):
                break
        await _until(lambda: len(streams) == 0, 5)
        assert time.monotonic() - started < 3
        sock.close()
    finally:
        await http.stop()


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("http_header_timeout = 0", "ops.http_header_timeout: Input should be"),
        ("http_body_timeout = -1", "ops.http_body_timeout: Input should be"),
        ("http_keepalive_timeout = 4000", "ops.http_keepalive_timeout: Input should be"),
        ("http_max_connections = 1", "ops.http_max_connections: Input should be"),
        ("http_max_connections_per_peer = 0", "ops.http_max_connections_per_peer: Input"),
        ("live_max_streams = 0", "ops.live_max_streams: Input should be"),
        ("live_max_streams_per_user = 0", "ops.live_max_streams_per_user: Input should be"),
        ("live_write_timeout = 0", "ops.live_write_timeout: Input should be"),
        (
            "http_max_connections = 100\nhttp_max_connections_per_peer = 200",
            "http_max_connections_per_peer (200) must not exceed http_max_connections (100)",
        ),
        (
            "live_max_streams = 4\nlive_max_streams_per_user = 5",
            "live_max_streams_per_user (5) must not exceed live_max_streams (4)",
        ),
        (
            "http_max_connections = 64\nhttp_max_connections_per_peer = 64",
            "live_max_streams (64) must be below http_max_connections (64)",
        ),
    ],
)
def test_a_bad_bound_stops_start_up_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "callgate.toml"
    path.write_text(f"[ops]\n{text}\n")
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_settings(path)


def test_the_defaults_reach_the_server_and_the_streams() -> None:
    ops = load_settings(None).ops
    limits = HttpLimits.from_settings(ops)
    assert limits == HttpLimits()
    assert (ops.live_max_streams, ops.live_max_streams_per_user) == (64, 8)


async def test_a_descriptor_limit_below_the_caps_is_warned_of_at_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (1024, 524288))
    http = await _served(HttpLimits())
    await http.stop()
    assert "raise LimitNOFILE=" in caplog.text
    caplog.clear()
    monkeypatch.setattr(resource, "getrlimit", lambda _which: (8192, 524288))
    http = await _served(HttpLimits())
    await http.stop()
    assert "LimitNOFILE" not in caplog.text


class FakeTransport:
    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.aborted = False

    def get_extra_info(self, name: str) -> Any:
        return (self.peer, 40000) if name == "peername" else None

    def abort(self) -> None:
        self.aborted = True


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["open", "request", "end", "lost"]), st.integers(0, 2)),
        max_size=60,
    )
)
def test_the_caps_hold_and_a_connection_in_a_request_is_never_closed_for_room(
    steps: list[tuple[str, int]],
) -> None:
    limits = HttpLimits(max_connections=4, max_connections_per_peer=2)

    async def run() -> None:
        guard = ConnectionGuard(limits)
        live: list[tuple[Any, FakeTransport]] = []
        for action, n in steps:
            if action == "open":
                transport = FakeTransport(f"127.0.0.{n + 1}")
                connection = guard.admit(transport)  # type: ignore[arg-type]
                if connection is not None:
                    live.append((connection, transport))
            elif live and action == "request" and not live[n % len(live)][0].busy:
                live[n % len(live)][0].busy = 1  # as guard.started() marks it
            elif live and action == "end" and live[n % len(live)][0].busy:
                guard.ended(live[n % len(live)][0])
            elif live and action == "lost":
                guard.lost(live.pop(n % len(live))[0])
            assert all(not c.busy for c, t in live if t.aborted), "closed in a request"
            live = [(c, t) for c, t in live if not t.aborted]
            assert len(guard) == len(live) <= limits.max_connections
            for peer in {c.peer for c, _ in live}:
                assert sum(c.peer == peer for c, _ in live) <= limits.max_connections_per_peer
        for connection, _ in live:
            guard.lost(connection)

    asyncio.run(run())
