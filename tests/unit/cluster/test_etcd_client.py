"""The etcd client over the JSON gateway: the calls' shapes, and a member down costs nothing."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from callgate.cluster.etcd import EtcdClient, EtcdUnavailable


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Gateway:
    """Answers as etcd 3.4's gateway does (recorded from etcd 3.4.23)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self.held = False

    async def handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text())
        self.seen.append((request.path, body))
        header = {"revision": "7"}
        if request.path == "/v3/lease/grant":
            return web.json_response({"header": header, "ID": "42", "TTL": str(body["TTL"])})
        if request.path == "/v3/lease/keepalive":
            if body["ID"] == "42":
                return web.json_response({"result": {"header": header, "ID": "42", "TTL": "3"}})
            return web.json_response({"result": {"header": header, "ID": body["ID"]}})
        if request.path == "/v3/lease/revoke":
            return web.json_response({"header": header})
        kv = {"key": _b64("k"), "create_revision": "5", "value": _b64("other"), "lease": "9"}
        if request.path == "/v3/kv/txn":
            if not self.held:
                self.held = True
                return web.json_response({"header": header, "succeeded": True, "responses": []})
            rng = {"response_range": {"kvs": [kv], "count": "1"}}
            return web.json_response({"header": header, "responses": [rng]})
        if request.path == "/v3/kv/range":
            return web.json_response({"header": header, "kvs": [kv] if self.held else []})
        return web.json_response({"error": "unknown"}, status=404)


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Gateway, str]]:
    fake = Gateway()
    app = web.Application()
    app.router.add_post("/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield fake, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_given_the_first_member_down_then_every_call_goes_to_the_next(
    gateway: tuple[Gateway, str],
) -> None:
    fake, url = gateway
    etcd = EtcdClient([_closed_port(), url])
    try:
        assert await etcd.grant(3) == (42, 3)
        assert await etcd.keep_alive(42) == 3
        assert await etcd.keep_alive(43) == 0  # gone: no TTL in the answer
        won, holder = await etcd.create("k", "me", 42)
        assert won
        assert holder is not None
        assert holder.create_revision == 7
        won, holder = await etcd.create("k", "me", 42)
        assert not won
        assert holder is not None
        assert (holder.value, holder.create_revision, holder.lease) == ("other", 5, 9)
        got = await etcd.get("k")
        assert got == holder
        await etcd.revoke(42)
    finally:
        await etcd.close()
    txn = next(body for path, body in fake.seen if path == "/v3/kv/txn")
    assert txn["compare"] == [{"key": _b64("k"), "target": "CREATE", "createRevision": "0"}]
    assert txn["success"][0]["requestPut"]["lease"] == "42"


async def test_given_no_member_then_unavailable_names_the_last_error() -> None:
    etcd = EtcdClient([_closed_port(), _closed_port()], timeout=0.5)
    try:
        with pytest.raises(EtcdUnavailable, match="/v3/lease/grant"):
            await etcd.grant(3)
    finally:
        await etcd.close()


async def test_given_a_client_error_answer_then_it_is_not_retried_elsewhere(
    gateway: tuple[Gateway, str],
) -> None:
    _, url = gateway
    etcd = EtcdClient([url])
    try:
        with pytest.raises(EtcdUnavailable, match="HTTP 404"):
            await etcd._post("/v3/nothing", {})
    finally:
        await etcd.close()


def test_given_no_url_then_refused() -> None:
    with pytest.raises(ValueError, match="no etcd URL"):
        EtcdClient([])
