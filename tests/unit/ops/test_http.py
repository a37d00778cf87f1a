from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from callgate.ops.health import Health
from callgate.ops.http import OpsHttp
from callgate.ops.metrics import Metrics
from tests.unit.ops.conftest import Driven


class ScriptedView:
    """Our DaemonView interface with canned answers: only the HTTP layer is under test here."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str, str | None]] = []
        self.level = "INFO"

    def status(self) -> dict[str, Any]:
        return {"ready": True, "waiting": 2}

    def agents(self) -> list[dict[str, Any]]:
        return [{"agent_id": "1001", "state": "AVAILABLE"}]

    async def agent_command(self, agent_id: str, action: str, reason: str | None) -> str:
        self.commands.append((agent_id, action, reason))
        return {"1001": "OK", "1002": "ALREADY", "1003": "REFUSED"}.get(agent_id, "UNKNOWN")

    def live_calls(self) -> list[dict[str, Any]]:
        return [{"call_id": "c1", "state": "QUEUED"}]

    async def recent_calls(self, limit: int) -> list[dict[str, Any]]:
        return [{"call_id": f"r{i}"} for i in range(limit)]

    def set_log_level(self, level: str) -> None:
        self.level = level


@pytest.fixture
def health() -> Health:
    return Health()


@pytest.fixture
def view() -> ScriptedView:
    return ScriptedView()


@pytest.fixture
async def server(health: Health, view: ScriptedView) -> AsyncIterator[OpsHttp]:
    metrics = Metrics(Driven().acd, health)
    http = OpsHttp(view, health, metrics.registry, host="127.0.0.1", port=0)
    await http.start()
    yield http
    await http.stop()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_healthz_answers_200_while_the_loop_runs(
    server: OpsHttp, client: aiohttp.ClientSession
) -> None:
    async with client.get(f"{server.url}/healthz") as reply:
        assert reply.status == 200
        assert await reply.json() == {"alive": True}


async def test_readyz_is_503_until_ari_ami_database_are_up_then_200(
    server: OpsHttp, client: aiohttp.ClientSession, health: Health
) -> None:
    async with client.get(f"{server.url}/readyz") as reply:
        assert reply.status == 503
        body = await reply.json()
        assert body["ready"] is False
        assert set(body["components"]) == {"ari", "ami", "database", "mqtt"}
    for name in ("ari", "ami", "database"):
        health.set(name, True)
    async with client.get(f"{server.url}/readyz") as reply:
        assert reply.status == 200
        assert (await reply.json())["components"]["mqtt"]["connected"] is False


async def test_metrics_serves_prometheus_text(
    server: OpsHttp, client: aiohttp.ClientSession
) -> None:
    async with client.get(f"{server.url}/metrics") as reply:
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/plain; version=")
        text = await reply.text()
    for series in (
        "callgate_calls{",
        "callgate_calls_waiting ",
        "callgate_calltakers{",
        "callgate_connection_up{",
        "callgate_answer_time_seconds_bucket{",
        "callgate_wait_time_seconds_bucket{",
        "callgate_calls_ended_total{",
        "callgate_recording_failures_total ",
    ):
        assert series in text


async def test_status_agents_and_calls_come_from_the_view(
    server: OpsHttp, client: aiohttp.ClientSession
) -> None:
    async with client.get(f"{server.url}/api/status") as reply:
        assert await reply.json() == {"ready": True, "waiting": 2}
    async with client.get(f"{server.url}/api/agents") as reply:
        assert (await reply.json())["agents"][0]["agent_id"] == "1001"
    async with client.get(f"{server.url}/api/calls") as reply:
        assert await reply.json() == {"live": [{"call_id": "c1", "state": "QUEUED"}]}
    async with client.get(f"{server.url}/api/calls?recent=2") as reply:
        assert (await reply.json())["recent"] == [{"call_id": "r0"}, {"call_id": "r1"}]


@pytest.mark.parametrize("recent", ["many", "-1", "100000"])
async def test_calls_with_a_bad_recent_count_is_400(
    server: OpsHttp, client: aiohttp.ClientSession, recent: str
) -> None:
    async with client.get(f"{server.url}/api/calls", params={"recent": recent}) as reply:
        assert reply.status == 400
        assert "recent" in (await reply.json())["error"]


@pytest.mark.parametrize(
    ("agent_id", "status", "result"),
    [
        ("1001", 200, "OK"),
        ("1002", 200, "ALREADY"),
        ("1003", 409, "REFUSED"),
        ("9", 404, "UNKNOWN"),
    ],
)
async def test_agent_command_result_maps_to_http_status(
    server: OpsHttp,
    client: aiohttp.ClientSession,
    view: ScriptedView,
    agent_id: str,
    status: int,
    result: str,
) -> None:
    url = f"{server.url}/api/agents/{agent_id}/pause"
    async with client.post(url, json={"reason": "toilet"}) as reply:
        assert reply.status == status
        assert (await reply.json())["result"] == result
    assert view.commands == [(agent_id, "pause", "toilet")]


async def test_agent_command_with_an_unknown_action_is_404_and_not_applied(
    server: OpsHttp, client: aiohttp.ClientSession, view: ScriptedView
) -> None:
    async with client.post(f"{server.url}/api/agents/1001/delete", json={}) as reply:
        assert reply.status == 404
    assert view.commands == []


async def test_post_without_json_content_type_is_refused_so_a_web_page_cannot_send_it(
    server: OpsHttp, client: aiohttp.ClientSession, view: ScriptedView
) -> None:
    async with client.post(f"{server.url}/api/agents/1001/logout", data="x=1") as reply:
        assert reply.status == 415
    assert view.commands == []


async def test_request_for_a_non_loopback_host_name_is_refused(
    server: OpsHttp, client: aiohttp.ClientSession
) -> None:
    headers = {"Host": "attacker.example:8089"}
    async with client.get(f"{server.url}/api/status", headers=headers) as reply:
        assert reply.status == 403


async def test_body_that_is_not_json_is_400(server: OpsHttp, client: aiohttp.ClientSession) -> None:
    headers = {"Content-Type": "application/json"}
    async with client.post(f"{server.url}/api/log-level", data="{", headers=headers) as reply:
        assert reply.status == 400
        assert "JSON" in (await reply.json())["error"]


async def test_log_level_is_set_through_the_view_and_bad_levels_are_400(
    server: OpsHttp, client: aiohttp.ClientSession, view: ScriptedView
) -> None:
    async with client.post(f"{server.url}/api/log-level", json={"level": "debug"}) as reply:
        assert reply.status == 200
        assert await reply.json() == {"level": "DEBUG"}
    assert view.level == "DEBUG"
    async with client.post(f"{server.url}/api/log-level", json={"level": "LOUD"}) as reply:
        assert reply.status == 400
    assert view.level == "DEBUG"


def test_a_non_loopback_bind_address_is_refused(health: Health, view: ScriptedView) -> None:
    with pytest.raises(ValueError, match="loopback"):
        OpsHttp(view, health, Metrics(Driven().acd, health).registry, host="0.0.0.0")
