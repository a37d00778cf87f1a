"""The ARI client's wire handling, against a local aiohttp server (a codec test, not Asterisk)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from callgate.asterisk.ari.client import (
    AriClient,
    AriError,
    Connected,
    Disconnected,
    basic_auth_header,
)


@pytest.fixture
async def server() -> AsyncIterator[str]:
    connections = 0

    async def events(request: web.Request) -> web.WebSocketResponse:
        nonlocal connections
        connections += 1
        assert request.headers["Authorization"] == basic_auth_header("u", "p")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        # Garbage first: the stream must skip it and go on.
        await ws.send_str("not json")
        await ws.send_str('["a", "list"]')
        await ws.send_str('{"no_type": 1}')
        # Nested deeper than Python's recursion limit: json.loads raises RecursionError.
        await ws.send_str('{"type": "X", "a": ' + "[" * 100_000 + "]" * 100_000 + "}")
        await ws.send_str(f'{{"type": "StasisStart", "n": {connections}}}')
        await ws.close()  # Asterisk went away: the client must reconnect
        return ws

    async def missing(_request: web.Request) -> web.Response:
        return web.json_response({"message": "Channel not found"}, status=404)

    app = web.Application()
    app.router.add_get("/ari/events", events)
    app.router.add_post("/ari/channels/{id}/answer", missing)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_given_garbage_frames_and_a_closed_socket_then_events_skip_and_reconnect(
    server: str,
) -> None:
    seen: list[object] = []
    async with AriClient(server, "u", "p", "callgate", backoff_initial=0.01) as ari:

        async def collect() -> None:
            async for event in ari.events():
                seen.append(event)
                if sum(isinstance(e, dict) for e in seen) == 2:
                    return

        await asyncio.wait_for(collect(), timeout=10)
    assert seen == [
        Connected(1),
        {"type": "StasisStart", "n": 1},
        Disconnected("closed by Asterisk"),
        Connected(2),
        {"type": "StasisStart", "n": 2},
    ]


async def test_given_a_404_then_ari_error_carries_status_and_message(server: str) -> None:
    async with AriClient(server, "u", "p", "callgate") as ari:
        with pytest.raises(AriError, match="Channel not found") as info:
            await ari.answer("gone")
    assert info.value.status == 404
