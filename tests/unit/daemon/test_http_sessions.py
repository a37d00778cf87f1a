"""Browser sessions on the admin port: log-in, the cookie's attributes, CSRF, Origin, log-out,
idle time and lifetime (an explicit clock), the failed log-in limit, and no session id in a log.
(The limiter itself, shared with Basic and Bearer, is tested in test_http_guessing.py.)

The store is tested with an explicit ``now``; the rest through a real server on
127.0.0.1 and a real HTTP client that carries the cookie by hand (as a browser would, but
without a cookie jar's own rules for IP addresses getting in the way).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from http.cookies import Morsel
from typing import Any

import aiohttp
import pytest

from callgate.daemon.health import Health
from callgate.daemon.metrics import Metrics
from callgate.daemon.projection import Projection
from callgate.http.guessing import LOGIN_WINDOW, MAX_FAILURES_PER_NAME, MAX_FAILURES_PER_PEER
from callgate.http.server import OpsHttp
from callgate.http.session_store import SessionStore
from callgate.http.sessions import COOKIE, SECURE_COOKIE, BrowserSessions
from tests.unit.auth_users import authenticator, bearer
from tests.unit.daemon.conftest import Clock

HOUR = 3600.0


class View:
    """Only what these tests call: the log level (admin) and whoami need nothing else."""

    def __init__(self) -> None:
        self.level = "INFO"

    def status(self) -> dict[str, Any]:
        return {}

    def agents(self) -> list[dict[str, Any]]:
        return []

    def set_log_level(self, level: str) -> None:
        self.level = level


@pytest.fixture
def clock() -> Clock:
    return Clock(10_000.0)


@pytest.fixture
def view() -> View:
    return View()


async def _serve(view: View, sessions: BrowserSessions) -> OpsHttp:
    health = Health()
    metrics = Metrics(Projection(), health)
    http = OpsHttp(
        view,  # type: ignore[arg-type]
        health,
        metrics.registry,
        authenticator=sessions.authenticator,
        port=0,
        sessions=sessions,
    )
    await http.start()
    return http


@pytest.fixture
async def server(view: View, clock: Clock) -> AsyncIterator[OpsHttp]:
    # Behind a proxy on loopback: the tests pass each browser's address as X-Real-IP.
    sessions = BrowserSessions(authenticator(), clock=clock, trusted_proxies=["127.0.0.1"])
    http = await _serve(view, sessions)
    yield http
    await http.stop()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def _log_in(
    client: aiohttp.ClientSession,
    server: OpsHttp,
    name: str,
    password: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], Morsel[str] | None, aiohttp.typedefs.LooseHeaders]:
    body = {"name": name, "password": f"pw-{name}" if password is None else password}
    async with client.post(f"{server.url}/api/session", json=body, headers=headers) as reply:
        morsels = list(reply.cookies.values())
        return reply.status, await reply.json(), (morsels[0] if morsels else None), reply.headers


def _carry(morsel: Morsel[str] | None, csrf: str | None = None) -> dict[str, str]:
    assert morsel is not None
    headers = {"Cookie": f"{morsel.key}={morsel.value}"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return headers


async def _call(
    client: aiohttp.ClientSession,
    server: OpsHttp,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, object] | None = None,
) -> tuple[int, dict[str, Any]]:
    async with client.request(method, server.url + path, json=body, headers=headers) as reply:
        return reply.status, await reply.json()


# -- the store, with an explicit now --------------------------------------------------------


def test_given_a_session_when_idle_too_long_or_past_its_lifetime_then_it_ends() -> None:
    store = SessionStore(idle_timeout=8 * HOUR, lifetime=12 * HOUR)
    idle, _ = store.start("sup", 0.0)
    busy, _ = store.start("root", 0.0)
    assert store.get(idle, 8 * HOUR - 1) is not None  # seen: idle time starts again
    assert store.get(idle, 16 * HOUR - 1) is None  # past its lifetime, however recent
    for hour in range(1, 12):
        assert store.get(busy, hour * HOUR) is not None
    assert store.get(busy, 12 * HOUR) is None
    assert len(store) == 0
    quiet, _ = store.start("sup", 0.0)
    assert store.get(quiet, 8 * HOUR) is None


def test_given_too_many_sessions_then_the_least_recently_used_ends() -> None:
    store = SessionStore(idle_timeout=HOUR, lifetime=HOUR, max_sessions=3, max_per_user=2)
    a, _ = store.start("sup", 0.0)
    b, _ = store.start("sup", 1.0)
    assert store.get(a, 2.0) is not None  # a used more recently than b
    c, _ = store.start("sup", 3.0)  # a third for sup: b, sup's least recently used, ends
    assert store.get(b, 4.0) is None
    d, _ = store.start("root", 5.0)
    e, _ = store.start("ct1001", 6.0)  # four in all: the least recently used (a) ends
    assert store.get(a, 7.0) is None
    assert all(store.get(i, 7.0) is not None for i in (c, d, e))


def test_given_too_many_peoples_sessions_then_a_wall_screens_stays() -> None:
    store = SessionStore(idle_timeout=HOUR, lifetime=HOUR, max_sessions=2, max_per_user=2)
    screen, _ = store.start("lobby", 0.0, display=True)  # the least recently used of all
    a, _ = store.start("sup", 1.0)
    b, _ = store.start("root", 2.0)
    c, _ = store.start("ct1001", 3.0)  # a third person: the least recently used person ends
    assert store.get(a, 4.0) is None
    assert all(store.get(i, 4.0) is not None for i in (screen, b, c))
    hall, _ = store.start("hall", 5.0, display=True)  # a screen ends no person's
    assert all(store.get(i, 6.0) is not None for i in (screen, hall, b, c))


def test_given_a_user_removed_then_end_user_ends_their_sessions_only() -> None:
    store = SessionStore(idle_timeout=HOUR, lifetime=HOUR)
    ids = [store.start(name, 0.0)[0] for name in ("sup", "sup", "root")]
    assert store.end_user("sup") == 2
    assert [store.get(i, 1.0) is not None for i in ids] == [False, False, True]


def test_the_store_keeps_no_session_id() -> None:
    store = SessionStore(idle_timeout=HOUR, lifetime=HOUR)
    session_id, session = store.start("sup", 0.0)
    assert len(session_id) >= 43  # 256 bits, URL-safe base64
    assert session_id not in repr(vars(store)) + repr(session)
    assert session.csrf_token != session_id


# -- through the port -----------------------------------------------------------------------------


async def test_given_the_right_password_then_a_strict_http_only_secure_cookie_and_the_csrf_token(
    server: OpsHttp, client: aiohttp.ClientSession
) -> None:
    status, body, cookie, headers = await _log_in(client, server, "ct1001")
    assert status == 200
    assert body["name"] == "ct1001"
    assert body["role"] == "call-taker"
    assert body["agent_id"] == "1001"
    assert len(body["csrf_token"]) >= 43
    assert cookie is not None
    assert cookie.key == SECURE_COOKIE  # cookie_secure is on by default
    assert cookie["httponly"] is True
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert not cookie["max-age"]
    assert not cookie["domain"]
    assert headers["Cache-Control"] == "no-store"  # type: ignore[index]
    status, who = await _call(client, server, "GET", "/api/whoami", _carry(cookie))
    assert (status, who["name"]) == (200, "ct1001")
    status, again = await _call(client, server, "GET", "/api/session", _carry(cookie))
    assert (status, again) == (200, body)  # a page reload gets the same token


async def test_given_cookie_secure_off_then_secure_only_when_the_proxy_says_https(
    view: View, clock: Clock, client: aiohttp.ClientSession
) -> None:
    server = await _serve(view, BrowserSessions(authenticator(), cookie_secure=False, clock=clock))
    try:
        _, _, plain, _ = await _log_in(client, server, "sup")
        assert plain is not None
        assert (plain.key, plain["secure"]) == (COOKIE, "")
        assert (plain["httponly"], plain["samesite"]) == (True, "Strict")
        tls = {"X-Forwarded-Proto": "https"}
        _, _, secure, _ = await _log_in(client, server, "sup", headers=tls)
        assert secure is not None
        assert (secure.key, secure["secure"]) == (SECURE_COOKIE, True)
        # The session is found under the name this way of arriving uses.
        status, _ = await _call(client, server, "GET", "/api/session", {**_carry(secure), **tls})
        assert status == 200
    finally:
        await server.stop()


async def test_given_a_wrong_password_then_401_no_cookie_and_one_log_line_without_it(
    server: OpsHttp, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        for name, password in (("sup", "pw-root"), ("nobody", "pw-nobody"), ("cad-a", "")):
            status, body, cookie, headers = await _log_in(
                client, server, name, password, headers={"X-Real-IP": "192.0.2.7"}
            )
            assert (status, body) == (401, {"error": "wrong name or password"})
            assert cookie is None
            assert "WWW-Authenticate" not in headers
    failures = [r for r in caplog.records if r.getMessage() == "admin API: log-in failed"]
    assert [(r.user, r.client) for r in failures] == [  # type: ignore[attr-defined]
        ("sup", "192.0.2.7"),
        ("nobody", "192.0.2.7"),
        ("cad-a", "192.0.2.7"),
    ]
    logged = caplog.text + " ".join(str(vars(r)) for r in caplog.records)
    assert "pw-root" not in logged
    assert "pw-nobody" not in logged


@pytest.mark.parametrize(
    "body",
    [{}, {"name": "sup"}, {"name": "", "password": "x"}, {"name": 1, "password": "x"},
     {"name": "sup", "password": None}, {"name": "x" * 65, "password": "x"},
     {"name": "sup", "password": "x" * 1025}],
)  # fmt: skip
async def test_given_a_malformed_log_in_then_400(
    server: OpsHttp, client: aiohttp.ClientSession, body: dict[str, object]
) -> None:
    async with client.post(f"{server.url}/api/session", json=body) as reply:
        assert reply.status == 400
        assert (await reply.json())["error"]


async def test_given_a_change_by_session_then_it_needs_the_sessions_csrf_token(
    server: OpsHttp, client: aiohttp.ClientSession, view: View
) -> None:
    _, body, cookie, _ = await _log_in(client, server, "root")
    _, other, _, _ = await _log_in(client, server, "sup")
    level = {"level": "DEBUG"}
    for headers in (
        _carry(cookie),
        _carry(cookie, "wrong"),
        _carry(cookie, other["csrf_token"]),  # another session's
        _carry(cookie, "é" * 43),  # not even ASCII
    ):
        status, answer = await _call(client, server, "POST", "/api/log-level", headers, level)
        assert status == 403
        assert "X-CSRF-Token" in answer["error"]
    assert view.level == "INFO"
    headers = _carry(cookie, body["csrf_token"])
    status, _ = await _call(client, server, "POST", "/api/log-level", headers, level)
    assert (status, view.level) == (200, "DEBUG")
    # Reads need no token; a token or password needs none (a browser cannot attach them alone).
    assert (await _call(client, server, "GET", "/api/whoami", _carry(cookie)))[0] == 200
    status, _ = await _call(client, server, "POST", "/api/log-level", bearer("root"), level)
    assert status == 200


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "http://127.0.0.1:1"}, 403),  # another port: another origin
        ({"Origin": "garbage"}, 403),
        # behind the proxy: this site is what it names
        (
            {
                "Origin": "https://callgate.centre.example",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "callgate.centre.example",
            },
            200,
        ),
        (
            {
                "Origin": "http://callgate.centre.example",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "callgate.centre.example",
            },
            403,
        ),
        ({"Origin": "https://callgate.centre.example", "X-Forwarded-Proto": "https"}, 403),
    ],
)
async def test_given_an_origin_of_another_site_then_403_whatever_the_credential(
    server: OpsHttp, client: aiohttp.ClientSession, headers: dict[str, str], status: int
) -> None:
    for credential in (bearer("root"), {}):
        async with client.post(
            f"{server.url}/api/session",
            json={"name": "root", "password": "pw-root"},
            headers={**credential, **headers},
        ) as reply:
            assert reply.status == status
            if status == 403:
                assert "is not this site" in (await reply.json())["error"]


async def test_given_the_same_origin_then_a_browser_is_served(
    server: OpsHttp, client: aiohttp.ClientSession
) -> None:
    origin = {"Origin": server.url}
    status, body, cookie, _ = await _log_in(client, server, "sup", headers=origin)
    assert status == 200
    headers = {**_carry(cookie, body["csrf_token"]), **origin}
    assert (await _call(client, server, "GET", "/api/whoami", headers))[0] == 200


async def test_given_log_out_then_the_session_is_gone(
    server: OpsHttp, client: aiohttp.ClientSession
) -> None:
    _, body, cookie, _ = await _log_in(client, server, "sup")
    status, answer = await _call(client, server, "DELETE", "/api/session", _carry(cookie))
    assert status == 403  # logging out changes something: the token too
    headers = _carry(cookie, body["csrf_token"])
    async with client.delete(f"{server.url}/api/session", headers=headers) as reply:
        assert (reply.status, await reply.json()) == (200, {"result": "logged-out"})
        [gone] = reply.cookies.values()
        assert (gone.key, gone.value, gone["max-age"]) == (SECURE_COOKIE, "", "0")
    for path in ("/api/session", "/api/whoami"):
        async with client.get(server.url + path, headers=headers) as reply:
            assert reply.status == 401
            assert "WWW-Authenticate" not in reply.headers
    status, answer = await _call(client, server, "DELETE", "/api/session", headers)
    assert (status, answer) == (200, {"result": "not-logged-in"})


async def test_given_no_session_then_get_session_is_401_without_a_basic_challenge(
    server: OpsHttp, client: aiohttp.ClientSession
) -> None:
    for headers in ({}, bearer("sup")):  # a token is no browser session
        async with client.get(f"{server.url}/api/session", headers=headers) as reply:
            assert reply.status == 401
            assert "WWW-Authenticate" not in reply.headers


async def test_given_a_new_log_in_then_the_browsers_previous_session_ends(
    server: OpsHttp, client: aiohttp.ClientSession
) -> None:
    _, _, first, _ = await _log_in(client, server, "sup")
    _, _, second, _ = await _log_in(client, server, "sup", headers=_carry(first))
    assert second is not None
    assert first is not None
    assert second.value != first.value
    assert (await _call(client, server, "GET", "/api/session", _carry(first)))[0] == 401
    assert (await _call(client, server, "GET", "/api/session", _carry(second)))[0] == 200


async def test_given_idle_then_expired_and_given_busy_then_ended_by_its_lifetime(
    server: OpsHttp, client: aiohttp.ClientSession, clock: Clock
) -> None:
    _, _, idle, _ = await _log_in(client, server, "sup")
    _, _, busy, _ = await _log_in(client, server, "root")
    clock.now += 7 * HOUR
    assert (await _call(client, server, "GET", "/api/whoami", _carry(busy)))[0] == 200
    clock.now += 1 * HOUR  # idle 8 hours
    assert (await _call(client, server, "GET", "/api/whoami", _carry(idle)))[0] == 401
    for _ in range(3):
        clock.now += 1 * HOUR
        assert (await _call(client, server, "GET", "/api/whoami", _carry(busy)))[0] == 200
    clock.now += 1 * HOUR  # 12 hours after its log-in, used an hour ago
    assert (await _call(client, server, "GET", "/api/whoami", _carry(busy)))[0] == 401


async def test_given_a_user_no_longer_configured_then_their_session_ends(
    server: OpsHttp, client: aiohttp.ClientSession
) -> None:
    _, _, cookie, _ = await _log_in(client, server, "sup")
    del server.authenticator.users["sup"]  # what a reload removing sup will do
    assert (await _call(client, server, "GET", "/api/whoami", _carry(cookie)))[0] == 401


async def test_given_too_many_failed_log_ins_then_429_with_retry_after_until_the_window_passes(
    server: OpsHttp, client: aiohttp.ClientSession, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(MAX_FAILURES_PER_NAME):
        assert (await _log_in(client, server, "sup", "guess"))[0] == 401
        clock.now += 1
    # From the address that failed, even the right password waits (it is not even checked) ...
    status, body, cookie, headers = await _log_in(client, server, "sup")
    assert (status, cookie) == (429, None)
    assert "too many" in body["error"]
    assert headers["Retry-After"] == str(int(LOGIN_WINDOW) - MAX_FAILURES_PER_NAME)  # type: ignore[index]
    assert (await _log_in(client, server, "root"))[0] == 200  # other users log in
    # ... but a guesser elsewhere does not lock sup out: from an address that did not fail, the
    # right password is checked and logs in.
    assert (await _log_in(client, server, "sup", headers={"X-Real-IP": "192.0.2.9"}))[0] == 200
    clock.now += LOGIN_WINDOW
    assert (await _log_in(client, server, "sup"))[0] == 200
    # From one address, failures under many names: that address waits, others do not.
    here, there = {"X-Real-IP": "192.0.2.7"}, {"X-Real-IP": "192.0.2.8"}
    for i in range(MAX_FAILURES_PER_PEER):
        assert (await _log_in(client, server, f"guess{i}", "x", headers=here))[0] == 401
    assert (await _log_in(client, server, "ct1001", headers=here))[0] == 429
    assert (await _log_in(client, server, "ct1001", headers=there))[0] == 200
    refused = [r for r in caplog.records if "too many failures" in r.getMessage()]
    assert refused  # logged, and throttled
    assert len(refused) <= 2


async def test_no_session_id_or_csrf_token_reaches_the_log(
    server: OpsHttp, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        _, body, cookie, _ = await _log_in(client, server, "root")
        assert cookie is not None
        await _call(client, server, "GET", "/api/whoami", _carry(cookie))
        await _call(client, server, "POST", "/api/log-level", _carry(cookie), {"level": "INFO"})
        await _call(client, server, "DELETE", "/api/session", _carry(cookie, body["csrf_token"]))
        await _call(client, server, "GET", "/api/whoami", _carry(cookie))
    assert any("session started" in r.getMessage() for r in caplog.records)
    assert any("session ended" in r.getMessage() for r in caplog.records)
    logged = caplog.text + " ".join(str(vars(r)) for r in caplog.records)
    assert cookie.value not in logged
    assert body["csrf_token"] not in logged
