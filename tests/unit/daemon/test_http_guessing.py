"""Guessing passwords and tokens on the admin port: one limiter for every credential (browser
log-in, Basic, Bearer), decided before any hash; a bounded number of hash checks; the same hash
work for a name that is no user; no lock-out of a user by someone else's failures; X-Real-IP
believed only from a trusted proxy.

The limiter is tested with an explicit ``now``; the rest through a real server on 127.0.0.1,
counting the argon2 checks it makes (cheap hashes), and once with argon2's real cost.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request
from argon2 import PasswordHasher
from hypothesis import given
from hypothesis import strategies as st

import callgate.auth
from callgate.auth import Authenticator, UserSettings, dummy_hash
from callgate.daemon.health import Health
from callgate.daemon.metrics import Metrics
from callgate.daemon.projection import Projection
from callgate.http.guessing import (
    LOGIN_WINDOW,
    MAX_CHECKS_PER_PEER,
    MAX_FAILURES_PER_NAME,
    MAX_FAILURES_PER_PEER,
    MAX_PENDING_CHECKS,
    RESERVED_CHECKS,
    CredentialLimiter,
    Refusal,
    peer_address,
    trusted_networks,
)
from callgate.http.server import OpsHttp
from callgate.http.sessions import BrowserSessions
from callgate.http.settings import OpsSettings
from tests.unit.auth_users import USERS, authenticator, basic, bearer
from tests.unit.daemon.conftest import Clock


class View:
    def status(self) -> dict[str, Any]:
        return {}


def _head(stored: str) -> str:
    """An argon2 hash's parameters: what its check costs."""
    return stored.rsplit("$", 2)[0]


# -- the limiter, with an explicit now -----------------------------------------------------------


def _failing(limiter: CredentialLimiter, name: str, peer: str, now: float) -> None:
    assert limiter.refusal(name, peer, now) is None
    limiter.begin(peer)
    limiter.end(name, peer, False, now)


def test_given_a_name_guessed_then_only_peers_that_failed_wait() -> None:
    limiter = CredentialLimiter(window=60.0, per_name=3, per_peer=5)
    for t in range(3):
        _failing(limiter, "sup", "10.0.0.1", float(t))
    # The guesser waits for the name (until its first failure leaves the window) ...
    assert limiter.refusal("sup", "10.0.0.1", 10.0) == Refusal(429, 50, "name")
    # ... a peer that never failed is checked (the right password gets in), ...
    assert limiter.refusal("sup", "10.0.0.2", 10.0) is None
    # ... and one that failed too waits, at most until its own failure leaves the window.
    _failing(limiter, "root", "10.0.0.3", 5.0)
    assert limiter.refusal("sup", "10.0.0.3", 10.0) == Refusal(429, 50, "name")
    _failing(limiter, "root", "10.0.0.4", 30.0)
    assert limiter.refusal("sup", "10.0.0.4", 40.0) == Refusal(429, 20, "name")
    assert limiter.refusal("sup", "10.0.0.1", 60.0) is None  # the first failure left the window
    assert limiter.refusal("root", "10.0.0.1", 10.0) is None  # other names: the peer's limit


def test_given_a_peers_failures_then_it_waits_for_any_name_and_a_success_resets_nothing() -> None:
    limiter = CredentialLimiter(window=60.0, per_name=3, per_peer=5)
    for t, name in enumerate(("sup", "sup", "sup", "ct1001", "ct1002")):
        _failing(limiter, name, "10.0.0.1", float(t))
    assert limiter.refusal("anyone", "10.0.0.1", 30.0) == Refusal(429, 30, "peer")
    assert limiter.refusal("anyone", "10.0.0.2", 30.0) is None
    limiter.begin("10.0.0.2")
    limiter.end("sup", "10.0.0.2", True, 31.0)  # sup, right, from elsewhere
    _failing(limiter, "root", "10.0.0.3", 31.0)
    assert limiter.refusal("sup", "10.0.0.3", 31.0) == Refusal(429, 29, "name")  # still locked
    assert limiter.refusal("sup", "10.0.0.2", 31.0) is None
    assert limiter.refusal("anyone", "10.0.0.1", 60.0) is None


def test_checks_in_progress_count_and_are_bounded_per_peer_and_in_all() -> None:
    limiter = CredentialLimiter(per_peer=3, checks_per_peer=2, max_pending=4, reserved=0)
    for _ in range(2):
        assert limiter.refusal("x", "a", 0.0) is None
        limiter.begin("a")
    assert limiter.refusal("x", "a", 0.0) == Refusal(429, 1, "peer-busy")  # two at once
    limiter.end("x", "a", False, 0.0)
    # One failure and one check in progress: a third would exceed three failures if all fail.
    _failing(limiter, "y", "a", 0.0)
    assert limiter.refusal("x", "a", 0.0) == Refusal(429, 1, "peer-busy")
    for peer in ("b", "c", "d"):
        assert limiter.refusal("x", peer, 0.0) is None
        limiter.begin(peer)
    assert limiter.pending == 4
    assert limiter.refusal("x", "e", 0.0) == Refusal(503, 1, "busy")  # at once, no queue
    limiter.end("x", "b", True, 0.0)
    assert limiter.refusal("x", "e", 0.0) is None


_ATTEMPTS = st.lists(
    st.tuples(
        st.sampled_from(["sup", "root", "x"]),  # name
        st.sampled_from(["a", "b", "c"]),  # peer
        st.floats(0, 20),  # seconds since the previous attempt
        st.booleans(),  # the right secret
    ),
    max_size=80,
)


@given(_ATTEMPTS)
def test_no_peer_has_more_failures_checked_in_a_window_than_its_limit_and_clean_peers_pass(
    attempts: list[tuple[str, str, float, bool]],
) -> None:
    window, per_name, per_peer = 60.0, 3, 5
    limiter = CredentialLimiter(window=window, per_name=per_name, per_peer=per_peer)
    now, checked_failures = 0.0, []
    for name, peer, later, right in attempts:
        now += later
        clean = all(not (p == peer and now - t < window) for _, p, t in checked_failures)
        refusal = limiter.refusal(name, peer, now)
        if clean:
            assert refusal is None  # never locked out by others' failures
        if refusal is not None:
            assert refusal.status == 429  # no check is in progress: never 503 here
            assert refusal.retry_after >= 1
            continue
        limiter.begin(peer)
        limiter.end(name, peer, right, now)
        if not right:
            checked_failures.append((name, peer, now))
        recent = [t for _, p, t in checked_failures if p == peer and now - t < window]
        assert len(recent) <= per_peer
        # A name's failures past its limit come only from peers with no failure before.
        named = [(p, t) for n, p, t in checked_failures if n == name and now - t < window]
        if len(named) > per_name:
            p, t = named[-1]
            assert not any(q == p and t - u < window for q, u in named[:-1])


def test_peers_that_did_not_fail_have_places_reserved() -> None:
    limiter = CredentialLimiter(max_pending=2, reserved=1)
    for peer in ("a", "b"):
        limiter.begin(peer)
    limiter.failed("x", "c", 0.0)
    assert limiter.failed_lately("c", 1.0)
    assert limiter.refusal("x", "c", 1.0) == Refusal(503, 1, "busy")
    assert not limiter.failed_lately("d", 1.0)
    assert limiter.refusal("x", "d", 1.0) is None
    limiter.begin("d")
    assert limiter.refusal("x", "e", 1.0) == Refusal(503, 1, "busy")
    assert not limiter.failed_lately("c", 60.0)  # its failure left the window


def test_given_a_flood_of_names_then_the_limiter_remembers_a_bounded_number() -> None:
    limiter = CredentialLimiter(max_tracked=100)
    for i in range(1000):
        limiter.failed(f"user{i}", f"10.0.{i // 256}.{i % 256}", 0.0)
    assert len(limiter._failures) == 100


# -- the peer's address ---------------------------------------------------------------------------


class _Transport:
    def __init__(self, remote: str) -> None:
        self.remote = remote

    def get_extra_info(self, name: str, default: object = None) -> object:
        return (self.remote, 40000) if name == "peername" else default


def _request(remote: str, real_ip: str | None) -> Any:
    headers = {} if real_ip is None else {"X-Real-IP": real_ip}
    return make_mocked_request("GET", "/", headers=headers, transport=_Transport(remote))


def test_x_real_ip_is_believed_only_from_a_trusted_proxy() -> None:
    trusted = trusted_networks(["127.0.0.1", "::1"])
    assert peer_address(_request("127.0.0.1", "192.0.2.7")) == "127.0.0.1"  # none trusted
    assert peer_address(_request("127.0.0.1", "192.0.2.7"), trusted) == "192.0.2.7"
    assert peer_address(_request("::1", " 2001:db8::7 "), trusted) == "2001:db8::7"
    assert peer_address(_request("127.0.0.2", "192.0.2.7"), trusted) == "127.0.0.2"
    assert peer_address(_request("127.0.0.1", "not an address"), trusted) == "127.0.0.1"
    assert peer_address(_request("127.0.0.1", None), trusted) == "127.0.0.1"
    assert peer_address(_request("127.0.0.2", "192.0.2.7"), trusted_networks(["127.0.0.0/8"])) == (
        "192.0.2.7"
    )


def test_trusted_proxies_must_be_loopback_addresses() -> None:
    assert OpsSettings().trusted_proxies == []
    assert OpsSettings(trusted_proxies=["127.0.0.1", "::1", "127.0.0.0/8"]).trusted_proxies
    for wrong in ("192.0.2.1", "0.0.0.0/0", "proxy.example"):
        with pytest.raises(ValueError, match="trusted_proxies"):
            OpsSettings(trusted_proxies=[wrong])


# -- through the port, counting argon2 checks ---------------------------------------------------


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every argon2 check the daemon makes: (the hash's parameters, the secret)."""
    made: list[tuple[str, str]] = []
    real = callgate.auth.verify_secret

    def counted(stored: str, secret: str) -> bool:
        made.append((_head(stored), secret))
        return real(stored, secret)

    monkeypatch.setattr(callgate.auth, "verify_secret", counted)
    return made


async def _serve(auth: Authenticator, clock: Clock, trusted: list[str]) -> OpsHttp:
    health = Health()
    sessions = BrowserSessions(auth, clock=clock, cookie_secure=False, trusted_proxies=trusted)
    http = OpsHttp(
        View(),  # type: ignore[arg-type]
        health,
        Metrics(Projection(), health).registry,
        authenticator=auth,
        port=0,
        sessions=sessions,
    )
    await http.start()
    return http


@pytest.fixture
def clock() -> Clock:
    return Clock(10_000.0)


@pytest.fixture
async def server(clock: Clock) -> AsyncIterator[OpsHttp]:
    """Behind a proxy on loopback: each test client's address is its X-Real-IP."""
    http = await _serve(authenticator(), clock, ["127.0.0.1"])
    yield http
    await http.stop()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


def _from(address: str, headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "X-Real-IP": address}


async def _whoami(
    client: aiohttp.ClientSession, server: OpsHttp, headers: dict[str, str]
) -> tuple[int, str | None]:
    async with client.get(f"{server.url}/api/whoami", headers=headers) as reply:
        await reply.read()
        return reply.status, reply.headers.get("Retry-After")


async def _log_in(
    client: aiohttp.ClientSession, server: OpsHttp, name: str, password: str, address: str
) -> int:
    body = {"name": name, "password": password}
    headers = {"X-Real-IP": address}
    async with client.post(f"{server.url}/api/session", json=body, headers=headers) as reply:
        await reply.read()
        return reply.status


async def test_given_a_flood_of_wrong_basic_credentials_then_429_and_few_checks(
    server: OpsHttp, client: aiohttp.ClientSession, checks: list[tuple[str, str]]
) -> None:
    guesses = [_from("192.0.2.66", basic("sup", f"guess{i}")) for i in range(60)]
    flood = [_whoami(client, server, headers) for headers in guesses]
    real = _log_in(client, server, "sup", "pw-sup", "192.0.2.10")
    *answers, logged_in = await asyncio.gather(*flood, real)
    statuses = [status for status, _ in answers]
    assert logged_in == 200  # the real user, from their own address, meanwhile
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= MAX_FAILURES_PER_PEER
    assert all(after is not None and int(after) >= 1 for s, after in answers if s == 429)
    # Only the guesses the limiter let through were hashed, and the real log-in.
    assert len(checks) == statuses.count(401) + 1
    # Until the limit, guesses go on being checked; then none is (each answered 429 at once).
    while (await _whoami(client, server, guesses[0]))[0] == 401:
        pass
    checked = len(checks)
    assert checked <= MAX_FAILURES_PER_PEER + 1
    for headers in guesses:
        assert (await _whoami(client, server, headers))[0] == 429
    assert len(checks) == checked


async def test_bearer_failures_count_as_password_failures_do(
    server: OpsHttp, client: aiohttp.ClientSession, checks: list[tuple[str, str]]
) -> None:
    for i in range(MAX_FAILURES_PER_PEER):  # names known and unknown: the peer's limit
        wrong = {"Authorization": f"Bearer {('sup', 'root', f'user{i}')[i % 3]}.guess{i}"}
        assert (await _whoami(client, server, _from("192.0.2.66", wrong)))[0] == 401
    status, retry_after = await _whoami(client, server, _from("192.0.2.66", basic("root")))
    assert (status, retry_after) == (429, str(int(LOGIN_WINDOW)))
    assert await _log_in(client, server, "root", "pw-root", "192.0.2.66") == 429
    assert len(checks) == MAX_FAILURES_PER_PEER  # the refused ones were not checked
    # Malformed credentials are 401 at no cost and are not counted.
    for malformed in ({"Authorization": "Bearer no-name"}, {"Authorization": "Basic !!!"}):
        assert (await _whoami(client, server, _from("192.0.2.67", malformed)))[0] == 401
    assert (await _whoami(client, server, _from("192.0.2.67", bearer("root"))))[0] == 200
    assert len(checks) == MAX_FAILURES_PER_PEER + 1


async def test_a_remembered_credential_works_from_a_limited_peer(
    server: OpsHttp, client: aiohttp.ClientSession, checks: list[tuple[str, str]]
) -> None:
    assert (await _whoami(client, server, _from("192.0.2.66", bearer("sup"))))[0] == 200
    for i in range(MAX_FAILURES_PER_PEER):
        await _whoami(client, server, _from("192.0.2.66", basic(f"user{i}", "guess")))
    assert (await _whoami(client, server, _from("192.0.2.66", basic("sup"))))[0] == 429
    # The token checked before is known without a hash: the CLI or a script goes on.
    assert (await _whoami(client, server, _from("192.0.2.66", bearer("sup"))))[0] == 200
    assert len(checks) == 1 + MAX_FAILURES_PER_PEER


async def test_a_name_guessed_from_elsewhere_does_not_lock_its_user_out(
    server: OpsHttp, client: aiohttp.ClientSession, checks: list[tuple[str, str]]
) -> None:
    for i in range(MAX_FAILURES_PER_NAME):  # one guesser, then many addresses, one guess each
        assert await _log_in(client, server, "sup", f"guess{i}", "192.0.2.66") == 401
    for i in range(3):
        assert await _log_in(client, server, "sup", "guess", f"198.51.100.{i}") == 401
    assert await _log_in(client, server, "sup", "pw-sup", "192.0.2.66") == 429  # the guesser
    assert (await _whoami(client, server, _from("198.51.100.0", basic("sup", "x"))))[0] == 429
    # The supervisor by Basic from another address: checked, and in; then at the wallboard
    # (the same password, remembered: no second check).
    assert (await _whoami(client, server, _from("192.0.2.11", basic("sup"))))[0] == 200
    assert await _log_in(client, server, "sup", "pw-sup", "192.0.2.10") == 200
    assert len(checks) == MAX_FAILURES_PER_NAME + 3 + 1


async def test_an_unknown_name_costs_one_check_of_the_users_cost(
    server: OpsHttp, client: aiohttp.ClientSession, checks: list[tuple[str, str]]
) -> None:
    real = _head(USERS[0].password_hash or "")
    await _log_in(client, server, "sup", "wrong", "192.0.2.1")
    await _log_in(client, server, "nobody", "wrong", "192.0.2.2")
    await _log_in(client, server, "cad-a", "wrong", "192.0.2.3")  # a user without a password
    await _whoami(client, server, _from("192.0.2.4", basic("nobody", "wrong")))
    await _whoami(client, server, _from("192.0.2.5", {"Authorization": "Bearer nobody.wrong"}))
    assert checks == [(real, "wrong")] * 5


def test_the_dummy_hash_has_the_users_parameters_and_matches_nothing() -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    costly = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    hashes = [cheap.hash("a"), cheap.hash("b"), costly.hash("c")]
    dummy = dummy_hash(hashes)
    assert _head(dummy) == _head(hashes[0])
    assert not callgate.auth.verify_secret(dummy, "")
    assert _head(dummy_hash(["not a hash"])) == "$argon2id$v=19$m=65536,t=3,p=4"
    assert len(dummy_hash([])) == len(PasswordHasher().hash("x"))


async def test_x_real_ip_from_a_peer_not_trusted_is_ignored(
    clock: Clock, client: aiohttp.ClientSession, checks: list[tuple[str, str]]
) -> None:
    server = await _serve(authenticator(), clock, [])
    try:
        # Each guess claims another address: all count against the one peer, 127.0.0.1.
        for i in range(MAX_FAILURES_PER_PEER):
            assert await _log_in(client, server, f"guess{i}", "x", f"192.0.2.{i}") == 401
        assert await _log_in(client, server, "sup", "pw-sup", "192.0.2.200") == 429
    finally:
        await server.stop()


async def _pending(server: OpsHttp, checks: int) -> None:
    for _ in range(1000):
        if server.sessions.limiter.pending >= checks:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{checks} checks never began")


@pytest.fixture
def slow_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """argon2 checks that wait for the event, as a busy CPU would make them."""
    go = threading.Event()
    real = callgate.auth.verify_secret

    def held(stored: str, secret: str) -> bool:
        go.wait(10)
        return real(stored, secret)

    monkeypatch.setattr(callgate.auth, "verify_secret", held)
    yield go
    go.set()


async def test_beyond_the_pending_checks_the_answer_is_503_at_once(
    server: OpsHttp,
    client: aiohttp.ClientSession,
    slow_checks: threading.Event,
    clock: Clock,
) -> None:
    guessers = [f"192.0.2.{i}" for i in range(MAX_PENDING_CHECKS + 1)]
    for address in guessers:  # each failed once lately
        server.sessions.limiter.failed("someone", address, clock.now)
    waiting = [
        asyncio.create_task(_whoami(client, server, _from(a, basic("sup", f"x{i}"))))
        for i, a in enumerate(guessers[:-1])
    ]
    await _pending(server, MAX_PENDING_CHECKS)
    started = time.monotonic()
    assert await _whoami(client, server, _from(guessers[-1], basic("sup", "y"))) == (503, "1")
    # Peers that did not fail have a few places more, then they are refused at once too.
    fresh = [f"198.51.100.{i}" for i in range(RESERVED_CHECKS + 1)]
    waiting += [
        asyncio.create_task(_whoami(client, server, _from(a, basic("root", f"z{i}"))))
        for i, a in enumerate(fresh[:-1])
    ]
    await _pending(server, MAX_PENDING_CHECKS + RESERVED_CHECKS)
    assert await _whoami(client, server, _from(fresh[-1], basic("root"))) == (503, "1")
    assert time.monotonic() - started < 5  # answered without waiting for a check
    slow_checks.set()
    statuses = [status for status, _ in await asyncio.gather(*waiting)]
    assert statuses == [401] * (MAX_PENDING_CHECKS + RESERVED_CHECKS)
    assert server.sessions.limiter.pending == 0
    assert (await _whoami(client, server, _from(fresh[-1], basic("root"))))[0] == 200


async def test_a_peer_that_did_not_fail_is_checked_before_those_that_did(
    server: OpsHttp,
    client: aiohttp.ClientSession,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A flood from many addresses, each failing: a real user's check waits for a running one
    to end, not for the flood's queue."""
    go = threading.Event()
    began: list[str] = []
    real = callgate.auth.verify_secret

    def held(stored: str, secret: str) -> bool:
        began.append(secret)
        go.wait(10)
        return real(stored, secret)

    monkeypatch.setattr(callgate.auth, "verify_secret", held)
    guessers = [f"192.0.2.{i}" for i in range(6)]
    for address in guessers:
        server.sessions.limiter.failed("someone", address, clock.now)
    flood = [
        asyncio.create_task(_whoami(client, server, _from(a, basic("sup", f"x{i}"))))
        for i, a in enumerate(guessers)
    ]
    await _pending(server, len(guessers))
    real_user = asyncio.create_task(_log_in(client, server, "root", "pw-root", "192.0.2.10"))
    await _pending(server, len(guessers) + 1)
    go.set()
    assert await real_user == 200
    assert [status for status, _ in await asyncio.gather(*flood)] == [401] * len(guessers)
    # Two ran when it came; it was next (or as the next, with another that began alongside).
    assert began.index("pw-root") in (2, 3), began


async def test_per_peer_checks_at_once_are_bounded(
    server: OpsHttp, client: aiohttp.ClientSession, slow_checks: threading.Event
) -> None:
    burst = [
        asyncio.create_task(_whoami(client, server, _from("192.0.2.66", basic("sup", f"g{i}"))))
        for i in range(MAX_CHECKS_PER_PEER + 3)
    ]
    await _pending(server, MAX_CHECKS_PER_PEER)
    await asyncio.sleep(0.1)  # the others' answers came meanwhile: no more checks begin
    assert server.sessions.limiter.pending == MAX_CHECKS_PER_PEER
    slow_checks.set()
    statuses = sorted(status for status, _ in await asyncio.gather(*burst))
    assert statuses == [401] * MAX_CHECKS_PER_PEER + [429] * 3


# -- with argon2's real cost -------------------------------------------------------------------


async def test_with_real_argon2_a_flood_delays_a_real_log_in_by_about_one_check(
    clock: Clock, client: aiohttp.ClientSession, checks: list[tuple[str, str]]
) -> None:
    """The figure for the README: argon2-cffi's default cost, as ``callgate auth hash`` makes.
    Asserted are the counts; the times are printed (``pytest -s``), not asserted."""
    costly = PasswordHasher()
    users = [
        UserSettings(name="sup", role="supervisor", password_hash=costly.hash("pw-sup")),  # type: ignore[arg-type]
        UserSettings(name="root", role="admin", password_hash=costly.hash("pw-root")),  # type: ignore[arg-type]
    ]
    server = await _serve(Authenticator(users), clock, ["127.0.0.1"])
    try:
        started = time.monotonic()
        assert await _log_in(client, server, "root", "pw-root", "192.0.2.10") == 200
        alone = time.monotonic() - started

        async def timed_log_in() -> tuple[int, float]:
            await asyncio.sleep(0.02)  # the flood has arrived
            started = time.monotonic()
            status = await _log_in(client, server, "sup", "pw-sup", "192.0.2.10")
            return status, time.monotonic() - started

        flood = [
            _whoami(client, server, _from("192.0.2.66", basic("sup", f"guess{i}")))
            for i in range(24)
        ]
        *answers, (status, during) = await asyncio.gather(*flood, timed_log_in())
        statuses = [s for s, _ in answers]
        assert status == 200
        # Arriving together, two are checked (a slow client's late guess may be a third).
        assert statuses.count(401) <= MAX_FAILURES_PER_PEER
        assert statuses.count(429) >= 24 - MAX_FAILURES_PER_PEER
        assert len(checks) == 2 + statuses.count(401)
        print(
            f"\nreal log-in alone {alone:.3f} s; during a flood of 24 wrong Basic guesses"
            f" {during:.3f} s (delay {during - alone:+.3f} s); {len(checks)} argon2 checks"
        )
    finally:
        await server.stop()


async def test_the_same_credential_sent_at_once_is_one_check(
    server: OpsHttp,
    client: aiohttp.ClientSession,
    slow_checks: threading.Event,
    checks: list[tuple[str, str]],
) -> None:
    """A script's first requests with a new token, all at once: none is refused for the peer's
    one check at a time, and the token is hashed once."""
    same = [
        asyncio.create_task(_whoami(client, server, _from("192.0.2.5", bearer("sup"))))
        for _ in range(5)
    ]
    await _pending(server, 1)
    await asyncio.sleep(0.1)
    slow_checks.set()
    assert [status for status, _ in await asyncio.gather(*same)] == [200] * 5
    assert checks == [(_head(USERS[0].token_hash or ""), "secret-sup")]
