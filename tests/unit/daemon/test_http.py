from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callgate.core.acd import Acd
from callgate.core.config import AcdConfig
from callgate.core.screening import BlockingPolicy, ScreeningPolicy
from callgate.daemon.dispositions import Blocks, Dispositions
from callgate.daemon.engine import Engine
from callgate.daemon.health import Health
from callgate.daemon.metrics import Metrics
from callgate.daemon.projection import Projection
from callgate.daemon.view import LiveDaemonView
from callgate.http.server import OpsHttp
from callgate.storage.journal import Journal
from tests.unit.auth_users import authenticator, bearer
from tests.unit.daemon.conftest import Clock, NoPhones, control_of, projected


class ScriptedView:
    """Our DaemonView interface with canned answers: only the HTTP layer is under test here."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, str, str | None]] = []
        #: Who asked for each command (the authenticated user, for the journal).
        self.by: list[str] = []
        self.level = "INFO"

    def status(self) -> dict[str, Any]:
        return {"ready": True, "waiting": 2}

    def agents(self) -> list[dict[str, Any]]:
        return [{"agent_id": "1001", "state": "AVAILABLE"}]

    async def agent_command(
        self, agent_id: str, action: str, reason: str | None, *, by: str
    ) -> str:
        self.commands.append((agent_id, action, reason))
        self.by.append(by)
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
    metrics = Metrics(Projection(), health)
    http = OpsHttp(
        view, health, metrics.registry, authenticator=authenticator(), host="127.0.0.1", port=0
    )
    await http.start()
    yield http
    await http.stop()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    # The admin's token on every request: these tests are about what the API does once allowed
    # (tests/unit/daemon/test_http_auth.py is about who is allowed).
    async with aiohttp.ClientSession(headers=bearer("root")) as session:
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
    assert view.by == ["root"]  # the token's user, for agent_events.by


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
        OpsHttp(
            view,
            health,
            Metrics(Projection(), health).registry,
            authenticator=authenticator(),
            host="0.0.0.0",
        )


# -- hostile input: every state-changing route, real services behind it ---------------------

NOW = 1_800_000_000.0
#: Longest log line (message plus fields, as JSON) any request may cause.
LOG_LINE_BOUND = 2_000
HUGE = "x" * (2 * 1024 * 1024)
DEEP = "[" * 5_000 + "]" * 5_000

#: Each route with a body it would accept, whose fields the table below spoils one at a time.
ROUTES: dict[str, dict[str, object]] = {
    "/api/agents/1001/login": {"reason": "break"},
    "/api/agents/1001/logout": {"reason": "break"},
    "/api/agents/1001/pause": {"reason": "break"},
    "/api/agents/1001/unpause": {"reason": "break"},
    "/api/log-level": {"level": "INFO"},
    "/api/calls/c1/disposition": {"disposition": "prank"},
    "/api/blocks": {"number": "0812340012", "hours": 24, "reason": "pranks"},
    "/api/unblock": {"number": "0812340012", "reason": "real emergency"},
}
#: Values no field takes; ``None`` is left out because optional fields may be null.
BAD_VALUES: list[object] = [[], {}, True, 10**400, 1.5, -1, HUGE, "", "   ", [[[["x"]]]]]
BAD_HOURS: list[object] = ["24", True, 10**400, -(10**400), 0, -1, 721, 1e308, [], HUGE, None]
#: Whole bodies that are not a JSON object (no body at all is fine where no field is required).
BAD_BODIES: list[bytes] = [
    b"{",
    b"null",
    b"[]",
    b'"text"',
    b"NaN",
    b'{"hours": NaN}',
    b"\xff\xfe{}",
    b'{"reason": "\xff\xfe"}',
    b"[" * 100_000,
    b"[" * 60_000,
    DEEP.encode(),
    ("{" + '"a":{' * 5_000 + "}" * 5_001).encode(),
    b"1" * 5_000,
    HUGE.encode(),
]


def _spoiled(base: dict[str, object], name: str, value: object) -> bytes:
    return json.dumps({**base, name: value}).encode()


def _hostile_requests() -> list[tuple[str, bytes]]:
    cases: list[tuple[str, bytes]] = []
    for path, base in ROUTES.items():
        cases.extend((path, body) for body in BAD_BODIES)
        for name in base:
            values = BAD_HOURS if name == "hours" else BAD_VALUES
            cases.extend((path, _spoiled(base, name, v)) for v in values)
            text = json.dumps(base)
            cases.append((path, f'{text[:-1]}, "{name}": {DEEP}}}'.encode()))
    return cases


def _line_length(record: logging.LogRecord) -> int:
    fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
    return len(record.getMessage()) + len(json.dumps(fields, default=str))


_STANDARD = set(vars(logging.LogRecord("x", logging.INFO, "x", 0, "", None, None))) | {
    "message",
    "asctime",
}


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    yield opened
    await opened.close()


async def _live_server(journal: Journal, max_body_bytes: int) -> AsyncIterator[OpsHttp]:
    clock = Clock(NOW)
    engine = Engine(Acd(AcdConfig()), NoPhones(), clock=clock)
    health = Health(clock=clock)
    policy = ScreeningPolicy(blocking=BlockingPolicy(valve_calls=3, valve_window=600.0))
    view = LiveDaemonView(
        engine,
        control_of(engine, ["PJSIP/1001"]),
        health,
        journal,
        set_log_level=lambda level: None,
        clock=clock,
        dispositions=Dispositions(journal, None, policy, clock=clock),
        blocks=Blocks(journal, policy, clock=clock),
    )
    metrics = Metrics(projected(engine), health, clock=clock)
    http = OpsHttp(
        view,
        health,
        metrics.registry,
        authenticator=authenticator(),
        port=0,
        max_body_bytes=max_body_bytes,
    )
    await http.start()
    yield http
    await http.stop()
    engine.close()


@pytest.fixture
async def live(journal: Journal) -> AsyncIterator[OpsHttp]:
    # Above the 2 MB strings, so that they reach validation (and the log, were it careless)
    # instead of stopping at the size limit.
    async for http in _live_server(journal, 4 * 1024 * 1024):
        yield http


@pytest.fixture
async def live_default(journal: Journal) -> AsyncIterator[OpsHttp]:
    async for http in _live_server(journal, 65_536):
        yield http


async def test_given_hostile_bodies_on_every_state_changing_route_then_4xx_json_and_short_logs(
    live: OpsHttp, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"Content-Type": "application/json"}
    cases = _hostile_requests()
    assert len(cases) > 200
    with caplog.at_level(logging.DEBUG):
        for path, body in cases:
            # A stream, not bytes: aiohttp warns (an error here) about large bytes bodies.
            data = io.BytesIO(body)
            async with client.post(live.url + path, data=data, headers=headers) as reply:
                shown = (path, body[:60], reply.status)
                assert 400 <= reply.status < 500, shown
                assert reply.content_type == "application/json", shown
                answer = await reply.json()
                assert isinstance(answer["error"], str), shown
                assert answer["error"], shown
    longest = max((_line_length(r) for r in caplog.records), default=0)
    assert longest <= LOG_LINE_BOUND


async def test_given_hostile_path_ids_then_4xx_and_logged_clipped(
    live: OpsHttp, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    long_id = "9" * 5_000
    with caplog.at_level(logging.DEBUG):
        async with client.post(f"{live.url}/api/agents/{long_id}/login", json={}) as reply:
            assert reply.status == 404
            assert (await reply.json())["result"] == "UNKNOWN"
        url = f"{live.url}/api/calls/{long_id}/disposition"
        async with client.post(url, json={"disposition": "prank"}) as reply:
            assert reply.status == 400
            assert "call id" in (await reply.json())["error"]
    [line] = [r for r in caplog.records if r.getMessage() == "admin command"]
    assert str(line.agent_id).endswith("…[+4800 chars]")
    assert max(_line_length(r) for r in caplog.records) <= LOG_LINE_BOUND


async def test_given_a_400_digit_hours_then_400_not_500(
    live: OpsHttp, client: aiohttp.ClientSession
) -> None:
    body = {"number": "0812340012", "hours": 10**400, "reason": "pranks"}
    async with client.post(f"{live.url}/api/blocks", json=body) as reply:
        assert reply.status == 400
        assert "hours" in (await reply.json())["error"]


async def test_given_a_body_over_the_size_limit_then_413_json(
    live_default: OpsHttp, client: aiohttp.ClientSession
) -> None:
    body = json.dumps({"number": "0812340012", "hours": 1, "reason": HUGE})
    data = io.BytesIO(body.encode())
    headers = {"Content-Type": "application/json"}
    async with client.post(f"{live_default.url}/api/blocks", data=data, headers=headers) as reply:
        assert reply.status == 413
        assert (await reply.json())["error"]


async def test_given_valid_bodies_then_the_hardened_routes_still_work(
    live: OpsHttp, client: aiohttp.ClientSession, journal: Journal
) -> None:
    body = {"number": "0812340012", "hours": 24, "reason": "pranks"}
    async with client.post(f"{live.url}/api/blocks", json=body) as reply:
        assert reply.status == 200, await reply.text()
    body = {"number": "0812340012", "hours": 0.5, "reason": "again"}
    async with client.post(f"{live.url}/api/blocks", json=body) as reply:
        assert reply.status == 200, await reply.text()
    async with client.post(f"{live.url}/api/agents/1001/pause", json={"reason": "x"}) as reply:
        assert reply.status in (200, 409)


async def test_a_flood_of_unparsable_requests_logs_one_warning_without_a_traceback(
    server: OpsHttp, caplog: pytest.LogCaptureFixture
) -> None:
    # Found by the lab fault suite: aiohttp logged each one at ERROR with a full traceback.
    import asyncio

    for _ in range(20):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        assert b" 400 " in await reader.readline()
        writer.close()
    lines = [r for r in caplog.records if r.name.startswith("aiohttp") or "bad HTTP" in r.message]
    assert len(lines) == 1, [r.getMessage() for r in lines]
    assert lines[0].levelno == logging.WARNING
    assert lines[0].exc_info is None
    assert "LineTooLong" in lines[0].getMessage()
    assert len(lines[0].getMessage()) < 400
