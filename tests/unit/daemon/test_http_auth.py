"""Who may call each admin API route: without a credential, with a wrong one, with a role that
may not (403), with one that may, by token, password or browser session (with and without its
CSRF token); and that the audit trail names the authenticated user.

Real services and a real journal behind the port: what a role may do is checked end to end, on
both surfaces: the loopback TCP port and the admin socket, where the Unix user of the process
that connected (this test's, mapped by [auth] local_users) is a credential too.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from callgate.core.acd import Acd
from callgate.core.config import AcdConfig
from callgate.core.screening import BlockingPolicy, ScreeningPolicy
from callgate.daemon.call_actions import CallActionService
from callgate.daemon.dispositions import Blocks, Dispositions
from callgate.daemon.engine import Engine
from callgate.daemon.health import Health
from callgate.daemon.metrics import Metrics
from callgate.daemon.supervisor_tools import supervisor_routes
from callgate.daemon.view import LiveDaemonView
from callgate.http.actions import Actions
from callgate.http.local import AdminSocket
from callgate.http.server import ROUTES, OpsHttp
from callgate.storage.annotations import JournalAnnotations
from callgate.storage.blocks import JournalBlocks
from callgate.storage.journal import Journal
from tests.unit.auth_users import PEOPLE, authenticator, basic, bearer, browser, token
from tests.unit.daemon.conftest import ME, Clock, NoPhones, control_of, projected

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
    ("POST", "/api/reload", "/api/reload", {}, frozenset({"root"})),
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
    # The extensions' routes (http/actions.py); the live feed's and the pages' are in
    # tests/unit/daemon/test_live.py.
    ("POST", "/api/calls/{call_id}/callback", "/api/calls/c1002/callback", {}, SUPERVISORS),
    (
        "POST",
        "/api/calls/{call_id}/handoff",
        "/api/calls/c1001/handoff",
        {"agency": "damkar", "mode": "three-way"},
        frozenset({"ct1001", "sup", "root"}),
    ),
    ("GET", "/api/agencies", "/api/agencies", None, EVERYONE),
    # http/supervising.py: a supervisor's tools.
    (
        "POST",
        "/api/calls/{call_id}/assign",
        "/api/calls/c9/assign",
        {"agent_id": "1002"},
        SUPERVISORS,
    ),
    ("POST", "/api/monitor/{agent_id}", "/api/monitor/1001", {"mode": "listen"}, SUPERVISORS),
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


async def _reloaded(by: str) -> dict[str, object]:
    """A reload that changed nothing (tests/unit/daemon/test_reload.py tests the real one)."""
    return {"result": "ok", "applied": [], "restart_needed": []}


class Worklist:
    """The callback worklist's ``requested``: remembers the calls asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def requested(self, call_id: str) -> bool:
        self.asked.append(call_id)
        return True


@pytest.fixture
def worklist() -> Worklist:
    return Worklist()


class Agencies:
    """The ARI adapter's hand-offs (tests/unit/test_handoff_ari.py tests the real one)."""

    def __init__(self) -> None:
        self.called: list[tuple[str, str, str]] = []

    async def hand_off(self, call_id: str, agency: str, mode: str) -> str:
        self.called.append((call_id, agency, mode))
        return "ok"

    def agencies(self) -> list[str]:
        return ["damkar"]


@pytest.fixture
def agencies() -> Agencies:
    return Agencies()


@pytest.fixture
async def server(
    journal: Journal, socket_dir: Path, worklist: Worklist, agencies: Agencies
) -> AsyncIterator[OpsHttp]:
    clock = Clock(NOW)
    engine = Engine(Acd(AcdConfig()), NoPhones(), clock=clock)
    health = Health(clock=clock)
    view = LiveDaemonView(
        engine,
        control_of(engine, ["PJSIP/1001", "PJSIP/1002"]),
        health,
        journal,
        set_log_level=lambda level: None,
        clock=clock,
        dispositions=Dispositions(journal, None, POLICY, clock=clock),
        blocks=Blocks(journal, POLICY, clock=clock),
        reload=_reloaded,
    )
    metrics = Metrics(projected(engine), health, clock=clock)
    http = OpsHttp(
        view,
        health,
        metrics.registry,
        authenticator=authenticator(),
        port=0,
        local=AdminSocket(socket_dir / "admin.sock"),
        extensions=(
            Actions(
                CallActionService(
                    JournalAnnotations(journal),
                    None,
                    callbacks=worklist.requested,
                    handoffs=agencies,
                    answered=view.answered,
                    clock=clock,
                )
            ),
            supervisor_routes(engine.feed, engine.observers),
        ),
    )
    await http.start()
    yield http
    await http.stop()
    engine.close()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def local(server: OpsHttp) -> AsyncIterator[aiohttp.ClientSession]:
    """A client on the admin socket, as the local CLI: its peer is this test's Unix user."""
    assert server.local is not None
    async with aiohttp.ClientSession(
        connector=aiohttp.UnixConnector(path=str(server.local.path))
    ) as session:
        yield session


@pytest.fixture(params=["tcp", "socket"])
async def any_client(
    request: pytest.FixtureRequest, client: aiohttp.ClientSession, local: aiohttp.ClientSession
) -> aiohttp.ClientSession:
    """Each surface in turn: what a credential may do is the same on both."""
    return client if request.param == "tcp" else local


def map_me(server: OpsHttp, name: str | None) -> None:
    """[auth] local_users: this test's Unix user is ``name`` on the socket (None: nobody)."""
    server.authenticator.local_users = {} if name is None else {ME: name}


async def _send(
    client: aiohttp.ClientSession,
    server: OpsHttp,
    method: str,
    path: str,
    body: dict[str, object] | None,
    headers: dict[str, str],
) -> tuple[int, dict[str, object], aiohttp.typedefs.LooseHeaders]:
    # On the socket the URL's host is only the Host header: localhost, as the CLI sends.
    on_socket = isinstance(client.connector, aiohttp.UnixConnector)
    base = "http://localhost" if on_socket else server.url
    async with client.request(method, base + path, json=body, headers=headers) as reply:
        assert reply.content_type == "application/json", (method, path, reply.status)
        return reply.status, await reply.json(), reply.headers


async def _nobody(request: object) -> None:
    return None


async def test_the_table_covers_every_route_of_the_api(server: OpsHttp) -> None:
    covered = {(m, route) for m, route, *_ in PROTECTED} | set(OPEN) | set(SESSION)
    extended = {key for extension in server.extensions for key in extension.routes(_nobody)}
    assert covered == set(ROUTES) | extended
    assert all(ROUTES[route] is None for route in OPEN + SESSION)


@pytest.mark.parametrize(("method", "route", "path", "body", "allowed"), PROTECTED)
async def test_given_each_route_then_no_or_a_wrong_credential_is_401_a_wrong_role_403(
    server: OpsHttp,
    any_client: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    method: str,
    route: str,
    path: str,
    body: dict[str, object] | None,
    allowed: frozenset[str],
) -> None:
    for why, headers in WRONG.items():
        status, answer, reply_headers = await _send(any_client, server, method, path, body, headers)
        assert (status, why) == (401, why)
        assert "authentication required" in str(answer["error"])
        assert "Basic" in str(reply_headers.get("WWW-Authenticate"))  # type: ignore[union-attr]
    for name in sorted(EVERYONE - allowed):
        for headers in (bearer(name), basic(name)):
            status, answer, _ = await _send(any_client, server, method, path, body, headers)
            assert (status, name) == (403, name)
            assert answer["error"]
    for name in sorted(allowed):
        for headers in (bearer(name), basic(name)):
            status, answer, _ = await _send(any_client, server, method, path, body, headers)
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


@pytest.mark.parametrize(("method", "route", "path", "body", "allowed"), PROTECTED)
async def test_given_the_socket_then_the_mapped_unix_user_may_what_their_user_may(
    server: OpsHttp,
    client: aiohttp.ClientSession,
    local: aiohttp.ClientSession,
    method: str,
    route: str,
    path: str,
    body: dict[str, object] | None,
    allowed: frozenset[str],
) -> None:
    map_me(server, None)
    status, answer, reply_headers = await _send(local, server, method, path, body, {})
    assert status == 401  # an unmapped Unix user is nobody, as no credential
    assert "authentication required" in str(answer["error"])
    assert "Basic" in str(reply_headers.get("WWW-Authenticate"))  # type: ignore[union-attr]
    for name in sorted(EVERYONE):
        map_me(server, name)
        status, answer, _ = await _send(local, server, method, path, body, {})
        if name in allowed:
            assert status not in (401, 403), (name, status, answer)
            assert status < 500, (name, status, answer)
        else:
            assert (status, name) == (403, name)
        # The Unix user counts only on the socket: over TCP the same process is nobody.
        status, _, _ = await _send(client, server, method, path, body, {})
        assert (status, name) == (401, name)


async def test_given_the_socket_when_a_credential_is_sent_then_it_alone_counts(
    server: OpsHttp, local: aiohttp.ClientSession
) -> None:
    map_me(server, "root")
    status, answer, _ = await _send(local, server, "GET", "/api/whoami", None, {})
    assert (status, answer["name"], answer["role"]) == (200, "root", "admin")
    status, answer, _ = await _send(local, server, "GET", "/api/whoami", None, bearer("ct1001"))
    assert (status, answer["name"], answer["role"]) == (200, "ct1001", "call-taker")
    status, _, _ = await _send(
        local, server, "POST", "/api/log-level", {"level": "INFO"}, basic("sup")
    )
    assert status == 403  # the supervisor it named, not the admin the Unix user maps to
    for why, headers in WRONG.items():
        if headers:
            status, _, _ = await _send(local, server, "GET", "/api/whoami", None, headers)
            assert (status, why) == (401, why)  # a wrong one is not made good by the peer
    # A browser's session cookie is a credential too: an ended or made-up one is 401 here.
    made_up = {"Cookie": "__Host-callgate-session=made-up"}
    status, _, _ = await _send(local, server, "GET", "/api/whoami", None, made_up)
    assert status == 401


async def test_given_the_socket_then_the_audit_trail_names_the_mapped_user(
    server: OpsHttp,
    local: aiohttp.ClientSession,
    journal: Journal,
    caplog: pytest.LogCaptureFixture,
) -> None:
    map_me(server, "sup")
    block = {"number": "0812340012", "hours": 2, "reason": "pranks"}
    with caplog.at_level(logging.INFO):
        status, answer, _ = await _send(local, server, "POST", "/api/blocks", block, {})
        assert (status, answer["result"]) == (200, "ok")
        forged = {"number": "0812340012", "reason": "x", "by": "someone-else"}
        status, _, _ = await _send(local, server, "POST", "/api/unblock", forged, {})
        assert status == 400
    [row] = await JournalBlocks(journal).of("0812340012")
    assert row.by == "sup"
    commands = [r for r in caplog.records if r.getMessage() == "admin command"]
    assert [getattr(r, "by", None) for r in commands] == ["sup"]


async def test_given_an_unmapped_unix_user_then_one_warning_names_it_per_minute(
    server: OpsHttp, local: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    map_me(server, None)
    for _ in range(3):
        status, _, _ = await _send(local, server, "GET", "/api/whoami", None, {})
        assert status == 401
    [warning] = [r for r in caplog.records if "not in [auth] local_users" in r.getMessage()]
    assert (warning.levelname, getattr(warning, "unix_user", None)) == ("WARNING", ME)
    assert getattr(warning, "uid", None) == os.getuid()


async def test_given_the_socket_then_posts_still_need_json_and_a_loopback_host(
    server: OpsHttp, local: aiohttp.ClientSession
) -> None:
    map_me(server, "root")
    async with local.post("http://localhost/api/log-level", data=b"level=INFO") as reply:
        assert reply.status == 415
    async with local.get("http://evil.example/api/whoami") as reply:
        assert reply.status == 403


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


async def test_a_supervisors_callback_request_is_on_the_calls_record_under_their_name(
    server: OpsHttp,
    client: aiohttp.ClientSession,
    journal: Journal,
    worklist: Worklist,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sup = await browser(client, server.url, "sup")
    path = "/api/calls/c1002/callback"
    status, answer, _ = await _send(client, server, "POST", path, {"by": "someone-else"}, sup)
    assert status == 400
    with caplog.at_level(logging.INFO):
        status, answer, _ = await _send(client, server, "POST", path, {}, sup)
    assert (status, answer) == (200, {"result": "ok", "call_id": "c1002", "task": True})
    assert worklist.asked == ["c1002"]
    note = await JournalAnnotations(journal).get("c1002")
    assert note is not None
    assert (note.callback_by, note.callback_requested_at) == ("sup", _at(NOW))
    commands = [r for r in caplog.records if r.getMessage() == "admin command"]
    assert [(getattr(r, "action", None), getattr(r, "by", None)) for r in commands] == [
        ("callback", "sup")
    ]
    status, answer, _ = await _send(client, server, "POST", "/api/calls/nope/callback", {}, sup)
    assert (status, answer["result"]) == (404, "unknown-call")
    assert worklist.asked == ["c1002"]


async def test_a_call_taker_hands_off_only_a_call_they_answered_and_the_log_names_them(
    server: OpsHttp,
    client: aiohttp.ClientSession,
    agencies: Agencies,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = {"agency": "damkar", "mode": "hand-off"}
    status, answer, _ = await _send(
        client, server, "POST", "/api/calls/c1002/handoff", body, bearer("ct1001")
    )
    assert (status, answer["result"]) == (403, "not-yours")
    for bad in (
        {"agency": "damkar", "mode": "transfer"},
        {"mode": "hand-off"},
        {**body, "by": "x"},
    ):
        status, _, _ = await _send(
            client, server, "POST", "/api/calls/c1001/handoff", bad, bearer("ct1001")
        )
        assert status == 400, bad
    assert agencies.called == []
    with caplog.at_level(logging.INFO):
        status, answer, _ = await _send(
            client, server, "POST", "/api/calls/c1001/handoff", body, bearer("ct1001")
        )
        assert (status, answer["result"]) == (200, "ok")
        status, _, _ = await _send(
            client, server, "POST", "/api/calls/c1002/handoff", body, bearer("sup")
        )
        assert status == 200  # a supervisor for any call
    assert agencies.called == [("c1001", "damkar", "hand-off"), ("c1002", "damkar", "hand-off")]
    called = [r for r in caplog.records if r.getMessage() == "agency called from the screen"]
    assert [getattr(r, "by", None) for r in called] == ["ct1001", "sup"]
    status, answer, _ = await _send(client, server, "GET", "/api/agencies", None, bearer("ct1002"))
    assert (status, answer) == (200, {"agencies": ["damkar"]})


async def test_a_supervisors_tools_are_audited_with_the_user_and_refuse_what_they_cannot_do(
    server: OpsHttp, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    send = _send
    status, answer, _ = await send(client, server, "POST", "/api/monitor/1001", {"mode": "listen"},
                                   bearer("sup"))  # fmt: skip
    assert (status, answer["result"]) == (409, "not-connected")  # 1001 is on no call
    status, answer, _ = await send(client, server, "POST", "/api/monitor/1001", {"mode": "listen"},
                                   bearer("root"))  # fmt: skip
    assert (status, answer["result"]) == (409, "no-phone")  # root has no phone of their own
    for body in ({"mode": "record"}, {"mode": "listen", "by": "someone-else"}, {}):
        status, _, _ = await send(client, server, "POST", "/api/monitor/1001", body, bearer("sup"))
        assert status == 400
    status, answer, _ = await send(client, server, "POST", "/api/calls/c9/assign",
                                   {"agent_id": "1002"}, bearer("sup"))  # fmt: skip
    assert (status, answer["result"]) == (409, "not-waiting")
    for body in ({}, {"agent_id": ""}, {"agent_id": "1002", "by": "x"}, {"agent_id": 7}):
        status, _, _ = await send(client, server, "POST", "/api/calls/c9/assign", body,
                                  bearer("sup"))  # fmt: skip
        assert status == 400
    audited = [(getattr(r, "action", None), getattr(r, "by", None)) for r in caplog.records
               if r.getMessage() == "admin command"]  # fmt: skip
    assert audited == [("listen", "sup"), ("assign", "sup")]
    said = ("supervisor not let into a call", "caller not assigned")
    refused = [getattr(r, "by", None) for r in caplog.records if r.getMessage() in said]
    assert refused == ["sup", "sup"]
