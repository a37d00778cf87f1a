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
        self.failing = ""
        "A path this member answers with an error (429 or 404) instead of serving."

    async def handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text())
        self.seen.append((request.path, body))
        header = {"revision": "7"}
        if request.path == "/v3/bad":
            return web.json_response({"error": "bad request"}, status=400)
        if request.path == self.failing:
            status = 429 if self.failing == "/v3/busy" else 404
            return web.json_response({"error": "not now"}, status=status)
        if request.path in ("/v3/busy", "/v3/nothing"):
            return web.json_response({"answered": request.path})
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
        assert await etcd.current_revision() == 7  # the answer's header
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


async def test_given_a_bad_request_answer_then_it_is_not_retried_elsewhere(
    gateway: tuple[Gateway, str],
) -> None:
    fake, url = gateway
    etcd = EtcdClient([url, url])
    try:
        with pytest.raises(EtcdUnavailable, match="HTTP 400"):
            await etcd._post("/v3/bad", {})
    finally:
        await etcd.close()
    assert [path for path, _ in fake.seen] == ["/v3/bad"]


@pytest.mark.parametrize("path", ["/v3/busy", "/v3/nothing"])
async def test_given_a_member_answering_an_error_then_the_next_member_is_tried(
    gateway: tuple[Gateway, str], path: str
) -> None:
    # A lagging member answers 429 ("too many requests"): the leader must not fence itself
    # over it while another member would have renewed its lease.
    fake, url = gateway
    good = Gateway()
    app = web.Application()
    app.router.add_post("/{tail:.*}", good.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.failing = path
    etcd, alone = EtcdClient([url, f"http://127.0.0.1:{port}"]), EtcdClient([url])
    try:
        assert await etcd._post(path, {}) == {"answered": path}
        assert [p for p, _ in good.seen] == [path]
        # Raised only once every member failed.
        with pytest.raises(EtcdUnavailable, match="HTTP 4"):
            await alone._post(path, {})
    finally:
        await etcd.close()
        await alone.close()
        await runner.cleanup()


def test_given_no_url_then_refused() -> None:
    with pytest.raises(ValueError, match="no etcd URL"):
        EtcdClient([])
