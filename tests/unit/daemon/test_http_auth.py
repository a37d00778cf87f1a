"""Who may call each admin API route: without a credential, with a wrong one, with a role that
may not (403), with one that may, by token, password or browser session (with and without its
CSRF token); and that the audit trail names the authenticated user.

Real services and a real journal behind the port: what a role may do is checked end to end.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from callgate.core.acd import Acd
from callgate.core.config import AcdConfig
from callgate.core.screening import BlockingPolicy, ScreeningPolicy
from callgate.daemon.calltakers import CallTakerControl
from callgate.daemon.dispositions import Blocks, Dispositions
from callgate.daemon.engine import Engine
from callgate.daemon.health import Health
from callgate.daemon.metrics import Metrics
from callgate.daemon.view import LiveDaemonView
from callgate.http.server import ROUTES, OpsHttp
from callgate.storage.annotations import JournalAnnotations
from callgate.storage.blocks import JournalBlocks
from callgate.storage.journal import Journal
from tests.unit.auth_users import PEOPLE, authenticator, basic, bearer, browser, token
from tests.unit.daemon.conftest import Clock, NoPhones

NOW = 1_800_000_000.0
POLICY = ScreeningPolicy(blocking=BlockingPolicy(valve_calls=3, valve_window=600.0))
EVERYONE = frozenset(PEOPLE)
SUPERVISORS = frozenset({"sup", "root"})

#: Every route that needs a user: a request it accepts, and who may send it. "c1001" was
#: answered by call-taker 1001 (user ct1001), so ct1001 may classify it and ct1002 may not.
PROTECTED: list[tuple[str, str, str, dict[str, object] | None, frozenset[str]]] = [
    ("GET", "/api/whoami", "/api/whoami", None, EVERYONE),
    ("GET", "/api/agents", "/api/agents", None, EVERYONE),
    *(
        (
            "POST",
            "/api/agents/{agent_id}/{action}",
            f"/api/agents/1001/{action}",
            {"reason": "break"} if action == "pause" else {},
            frozenset({"ct1001", "sup", "root"}),
        )
        for action in ("login", "logout", "pause", "unpause")
    ),
    ("GET", "/api/calls", "/api/calls?recent=5", None, SUPERVISORS),
    ("POST", "/api/log-level", "/api/log-level", {"level": "INFO"}, frozenset({"root"})),
    (
        "POST",
        "/api/calls/{call_id}/disposition",
        "/api/calls/c1001/disposition",
        {"disposition": "prank"},
        frozenset({"ct1001", "sup", "root"}),
    ),
    ("GET", "/api/blocks", "/api/blocks?all=1", None, SUPERVISORS),
    (
        "POST",
        "/api/blocks",
        "/api/blocks",
        {"number": "0812340012", "hours": 1, "reason": "pranks"},
        SUPERVISORS,
    ),
    ("POST", "/api/unblock", "/api/unblock", {"number": "0812340012", "reason": "ok"}, SUPERVISORS),
]
OPEN = [("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/api/status")]
#: Browser sessions' own routes: they find the session themselves (tests/unit/daemon/
#: test_http_sessions.py).
SESSION = [("POST", "/api/session"), ("GET", "/api/session"), ("DELETE", "/api/session")]
#: Credentials that name nobody: none must reveal which part was wrong.
WRONG: dict[str, dict[str, str]] = {
    "no credential": {},
    "unknown token": {"Authorization": "Bearer nobody.secret"},
    "token of a known user, wrong secret": {"Authorization": "Bearer sup.secret-root"},
    "token without a name": {"Authorization": "Bearer secret-sup"},
    "empty bearer": {"Authorization": "Bearer "},
    "wrong password": basic("sup", "pw-root"),
    "unknown user": basic("nobody", "pw-nobody"),
    "basic that is not base64": {"Authorization": "Basic !!!"},
    "basic without a colon": {"Authorization": "Basic c3Vw"},
    "another scheme": {"Authorization": "Digest username=sup"},
    "CAD client (no secret on HTTP)": basic("cad-a", ""),
}


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    for call_id, agent in (("c1001", "1001"), ("c1002", "1002")):
        await opened.call_started(
            call_id, caller="+62812", caller_sent="0812", dialed="112", priority=1, category="",
            at=_at(NOW - 120),
        )  # fmt: skip
        await opened.call_ended(
            call_id, at=_at(NOW - 60), outcome="ANSWERED", answered_at=_at(NOW - 100),
            answered_by=agent,
        )  # fmt: skip
    yield opened
    await opened.close()


@pytest.fixture
async def server(journal: Journal) -> AsyncIterator[OpsHttp]:
    clock = Clock(NOW)
    engine = Engine(Acd(AcdConfig()), NoPhones(), clock=clock)
    health = Health(clock=clock)
    view = LiveDaemonView(
        engine,
        CallTakerControl(engine.feed, engine.acd, ["PJSIP/1001", "PJSIP/1002"]),
        health,
        journal,
        set_log_level=lambda level: None,
        clock=clock,
        dispositions=Dispositions(journal, None, POLICY, clock=clock),
        blocks=Blocks(journal, POLICY, clock=clock),
    )
    metrics = Metrics(engine.acd, health, clock=clock)
    http = OpsHttp(view, health, metrics.registry, authenticator=authenticator(), port=0)
    await http.start()
    yield http
    await http.stop()
    engine.close()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _send(
    client: aiohttp.ClientSession,
    server: OpsHttp,
    method: str,
    path: str,
    body: dict[str, object] | None,
    headers: dict[str, str],
) -> tuple[int, dict[str, object], aiohttp.typedefs.LooseHeaders]:
    async with client.request(method, server.url + path, json=body, headers=headers) as reply:
        assert reply.content_type == "application/json", (method, path, reply.status)
        return reply.status, await reply.json(), reply.headers


def test_the_table_covers_every_route_of_the_api() -> None:
    covered = {(m, route) for m, route, *_ in PROTECTED} | set(OPEN) | set(SESSION)
    assert covered == set(ROUTES)
    assert all(ROUTES[route] is None for route in OPEN + SESSION)


@pytest.mark.parametrize(("method", "route", "path", "body", "allowed"), PROTECTED)
async def test_given_each_route_then_no_or_a_wrong_credential_is_401_a_wrong_role_403(
    server: OpsHttp,
    client: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    method: str,
    route: str,
    path: str,
    body: dict[str, object] | None,
    allowed: frozenset[str],
) -> None:
    for why, headers in WRONG.items():
        status, answer, reply_headers = await _send(client, server, method, path, body, headers)
        assert (status, why) == (401, why)
        assert "authentication required" in str(answer["error"])
        assert "Basic" in str(reply_headers.get("WWW-Authenticate"))  # type: ignore[union-attr]
    for name in sorted(EVERYONE - allowed):
        for headers in (bearer(name), basic(name)):
            status, answer, _ = await _send(client, server, method, path, body, headers)
            assert (status, name) == (403, name)
            assert answer["error"]
    for name in sorted(allowed):
        for headers in (bearer(name), basic(name)):
            status, answer, _ = await _send(client, server, method, path, body, headers)
            assert status not in (401, 403), (name, status, answer)
            assert status < 500, (name, status, answer)
    # No secret reaches the log, whatever was sent.
    logged = caplog.text + " ".join(str(vars(r)) for r in caplog.records)
    for name, (_, _, secret) in PEOPLE.items():
        assert secret not in logged
        assert f"pw-{name}" not in logged


@pytest.mark.parametrize(("method", "route", "path", "body", "allowed"), PROTECTED)
async def test_given_each_route_by_browser_session_then_a_change_needs_the_csrf_token_and_the_role(
    server: OpsHttp,
    client: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    method: str,
    route: str,
    path: str,
    body: dict[str, object] | None,
    allowed: frozenset[str],
) -> None:
    sessions = {name: await browser(client, server.url, name) for name in sorted(EVERYONE)}
    unknown = {"Cookie": "__Host-callgate-session=made-up", "X-CSRF-Token": "made-up"}
    status, answer, reply_headers = await _send(client, server, method, path, body, unknown)
    assert status == 401
    # A browser whose session ended logs in on its page: no Basic dialog.
    assert "WWW-Authenticate" not in reply_headers
    if method != "GET":
        for name, headers in sessions.items():
            cookie_only = {"Cookie": headers["Cookie"]}
            another = sessions["sup" if name == "root" else "root"]["X-CSRF-Token"]
            for forged in (cookie_only, {**cookie_only, "X-CSRF-Token": another}):
                status, answer, _ = await _send(client, server, method, path, body, forged)
                assert (status, name) == (403, name)
                assert "X-CSRF-Token" in str(answer["error"])
    for name in sorted(EVERYONE - allowed):
        status, answer, _ = await _send(client, server, method, path, body, sessions[name])
        assert (status, name) == (403, name)
        assert answer["error"]
    for name in sorted(allowed):
        status, answer, _ = await _send(client, server, method, path, body, sessions[name])
        assert status not in (401, 403), (name, status, answer)
        assert status < 500, (name, status, answer)
    logged = caplog.text + " ".join(str(vars(r)) for r in caplog.records)
    for headers in sessions.values():
        assert headers["Cookie"].partition("=")[2] not in logged
        assert headers["X-CSRF-Token"] not in logged


async def test_given_a_browser_session_then_the_audit_trail_names_its_user(
    server: OpsHttp,
    client: aiohttp.ClientSession,
    journal: Journal,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sup = await browser(client, server.url, "sup")
    block = {"number": "0812340012", "hours": 2, "reason": "pranks"}
    with caplog.at_level(logging.INFO):
        status, _, _ = await _send(client, server, "POST", "/api/blocks", block, sup)
        assert status == 200
    [row] = await JournalBlocks(journal).of("0812340012")
    assert row.by == "sup"
    commands = [r for r in caplog.records if r.getMessage() == "admin command"]
    assert [getattr(r, "by", None) for r in commands] == ["sup"]


@pytest.mark.parametrize(("method", "path"), OPEN)
async def test_health_metrics_and_status_stay_open(
    server: OpsHttp, client: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with client.request(method, server.url + path) as reply:
        assert reply.status in (200, 503)  # /readyz: not ready, but answered


async def test_a_call_taker_classifies_only_calls_they_answered(
    server: OpsHttp, client: aiohttp.ClientSession, journal: Journal
) -> None:
    body = {"disposition": "ghost"}
    status, answer, _ = await _send(
        client, server, "POST", "/api/calls/c1002/disposition", body, bearer("ct1001")
    )
    assert (status, answer["result"]) == (403, "not-yours")
    status, _, _ = await _send(
        client, server, "POST", "/api/calls/c1001/disposition", body, bearer("ct1001")
    )
    assert status == 200
    annotations = JournalAnnotations(journal)
    own, other = await annotations.get("c1001"), await annotations.get("c1002")
    assert own is not None
    assert (own.disposition, own.disposition_by) == ("ghost", "ct1001")
    assert other is None or other.disposition is None


async def test_a_call_taker_changes_only_their_own_state(
    server: OpsHttp, client: aiohttp.ClientSession
) -> None:
    status, _, _ = await _send(
        client, server, "POST", "/api/agents/1002/login", {}, basic("ct1001")
    )
    assert status == 403
    status, answer, _ = await _send(
        client, server, "POST", "/api/agents/1001/login", {}, basic("ct1001")
    )
    assert (status, answer["result"]) == (200, "OK")


async def test_given_a_forged_by_then_refused_and_the_audit_trail_names_the_user(
    server: OpsHttp,
    client: aiohttp.ClientSession,
    journal: Journal,
    caplog: pytest.LogCaptureFixture,
) -> None:
    block = {"number": "0812340012", "hours": 2, "reason": "pranks"}
    forged = {**block, "by": "someone-else"}
    status, answer, _ = await _send(client, server, "POST", "/api/blocks", forged, bearer("sup"))
    assert status == 400
    assert "authenticated user" in str(answer["error"])
    with caplog.at_level(logging.INFO):
        status, _, _ = await _send(client, server, "POST", "/api/blocks", block, basic("sup"))
        assert status == 200
        lift = {"number": "0812340012", "reason": "real emergency"}
        status, _, _ = await _send(client, server, "POST", "/api/unblock", lift, bearer("root"))
        assert status == 200
        status, _, _ = await _send(
            client, server, "POST", "/api/agents/1002/pause", {"reason": "meal"}, bearer("sup")
        )
        assert status == 409  # logged out: refused by the core, but the request is on record
        status, _, _ = await _send(
            client,
            server,
            "POST",
            "/api/calls/c1002/disposition",
            {"disposition": "test"},
            basic("root"),
        )
        assert status == 200
    [row] = await JournalBlocks(journal).of("0812340012")
    assert (row.by, row.lifted_by) == ("sup", "root")
    note = await JournalAnnotations(journal).get("c1002")
    assert note is not None
    assert note.disposition_by == "root"
    commands = [r for r in caplog.records if r.getMessage() == "admin command"]
    assert [getattr(r, "by", None) for r in commands] == ["sup", "root", "sup"]


async def test_a_token_is_checked_once_then_remembered(
    server: OpsHttp, client: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    import callgate.auth

    checks: list[str] = []
    real = callgate.auth.verify_secret

    def counted(stored: str, secret: str) -> bool:
        checks.append(secret)
        return real(stored, secret)

    monkeypatch.setattr(callgate.auth, "verify_secret", counted)
    for _ in range(3):
        status, answer, _ = await _send(client, server, "GET", "/api/whoami", None, bearer("sup"))
        assert (status, answer["name"], answer["role"]) == (200, "sup", "supervisor")
    assert checks == [token("sup").rpartition(".")[2]]
    for _ in range(2):  # a wrong secret is checked every time (never remembered)
        await _send(client, server, "GET", "/api/whoami", None, {"Authorization": "Bearer sup.x"})
    assert len(checks) == 3
