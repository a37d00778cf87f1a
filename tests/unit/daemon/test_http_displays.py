"""Wall screens and sessions that survive a restart, through a real admin port on 127.0.0.1 and
a SQLite journal: an admin makes a display token; the token opens a read-only session (every
change and every other read refused, 403, logged with the display's name) whose cookie lives
on; a restarted daemon (a new port on the same journal) still knows the screen's and a
person's sessions; revoking, logging out and removing a user end them there too."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from callgate.auth import UserSettings
from callgate.daemon.health import Health
from callgate.daemon.metrics import Metrics
from callgate.daemon.projection import Projection
from callgate.http import sessions as sessions_module
from callgate.http.displays import Displays
from callgate.http.server import OpsHttp
from callgate.http.sessions import (
    DISPLAY_COOKIE_AGE,
    DISPLAY_IDLE,
    HOUR,
    BrowserSessions,
    session_digest,
)
from callgate.http.streams import LiveStreams
from callgate.ports import JournalError
from callgate.storage.browser_sessions import JournalSessions
from callgate.storage.journal import Journal
from tests.unit.auth_users import authenticator, bearer, browser
from tests.unit.daemon.conftest import Clock


class View:
    def status(self) -> dict[str, Any]:
        return {}

    def agents(self) -> list[dict[str, Any]]:
        return [{"agent_id": "1001"}]


class Source:
    def snapshot(self) -> dict[str, Any]:
        return {"type": "snapshot", "at": 1.0, "calls": [], "agents": []}

    async def my_call(self, agent_id: str) -> dict[str, Any]:
        return {}


class Daemon:
    """The admin port of one run of the daemon on ``journal``; :meth:`restart` is the next."""

    def __init__(self, journal: Journal, clock: Clock) -> None:
        self.journal, self.clock = journal, clock
        self.http: OpsHttp | None = None

    async def start(self) -> OpsHttp:
        records = JournalSessions(self.journal)
        self.sessions = BrowserSessions(authenticator(), clock=self.clock, records=records)
        self.streams = LiveStreams(Source(), heartbeat=3600.0)  # no quiet moment's check
        health = Health()
        self.http = OpsHttp(
            View(),  # type: ignore[arg-type]
            health,
            Metrics(Projection(), health).registry,
            authenticator=self.sessions.authenticator,
            port=0,
            sessions=self.sessions,
            extensions=(self.streams, Displays(records, self.sessions, self.streams.end_streams)),
        )
        await self.http.start()
        return self.http

    async def restart(self) -> OpsHttp:
        assert self.http is not None
        await self.http.stop()
        return await self.start()


@pytest.fixture
def clock() -> Clock:
    return Clock(1_765_000_000.0)  # wall-clock seconds: the journal keeps them as times


@pytest.fixture
async def journal(tmp_path: Any) -> AsyncIterator[Journal]:
    opened = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    yield opened
    await opened.close()


@pytest.fixture
async def daemon(journal: Journal, clock: Clock) -> AsyncIterator[Daemon]:
    run = Daemon(journal, clock)
    await run.start()
    yield run
    assert run.http is not None
    await run.http.stop()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def _call(
    client: aiohttp.ClientSession,
    http: OpsHttp,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: dict[str, object] | None = None,
) -> tuple[int, dict[str, Any]]:
    async with client.request(method, http.url + path, json=body, headers=headers) as reply:
        return reply.status, await reply.json()


async def _screen(client: aiohttp.ClientSession, http: OpsHttp, name: str) -> dict[str, str]:
    """An admin makes display ``name``; its token opens a session: the screen's headers."""
    status, made = await _call(
        client, http, "POST", "/api/displays", bearer("root"), {"name": name}
    )
    assert status == 200, made
    assert made["path"] == f"wallboard#display={made['token']}"
    body = {"token": made["token"]}
    async with client.post(f"{http.url}/api/session/display", json=body) as reply:
        assert reply.status == 200
        who = await reply.json()
        [morsel] = reply.cookies.values()
    assert (who["name"], who["role"]) == (f"display:{name}", "display")
    assert morsel["max-age"] == str(DISPLAY_COOKIE_AGE)  # outlives the browser
    assert morsel["httponly"]
    assert morsel["samesite"] == "Strict"
    return {"Cookie": f"{morsel.key}={morsel.value}", "X-CSRF-Token": who["csrf_token"]}


async def test_given_a_display_token_then_a_read_only_session_refused_every_change_and_logged(
    daemon: Daemon, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    http = daemon.http
    assert http is not None
    screen = await _screen(client, http, "lobby")
    assert await _call(client, http, "GET", "/api/whoami", screen) == (
        200,
        {"name": "display:lobby", "role": "display", "agent_id": None},
    )
    assert (await _call(client, http, "GET", "/api/agents", screen))[0] == 200
    caplog.set_level(logging.WARNING, "callgate.http.server")
    refused = [
        ("POST", "/api/agents/1001/pause", {"reason": "break"}),
        ("POST", "/api/blocks", {"number": "0812", "hours": 1, "reason": "x"}),
        ("POST", "/api/log-level", {"level": "DEBUG"}),
        ("POST", "/api/displays", {"name": "mine"}),
        ("DELETE", "/api/displays/lobby", None),
        ("GET", "/api/calls", None),  # a read beside the board's: not a wall's either
        ("GET", "/api/displays", None),
    ]
    for method, path, body in refused:
        status, answer = await _call(client, http, method, path, screen, body)
        assert status == 403, (method, path, answer)
        assert "display:lobby (display) may not" in answer["error"]
    logged = [r for r in caplog.records if r.getMessage() == "admin API: refused by role"]
    assert len(logged) == len(refused)
    assert {r.__dict__["by"] for r in logged} == {"display:lobby"}


async def test_given_a_wrong_token_then_401_and_it_counts_as_a_failed_credential(
    daemon: Daemon, client: aiohttp.ClientSession
) -> None:
    http = daemon.http
    assert http is not None
    for _ in range(3):
        status, _answer = await _call(
            client, http, "POST", "/api/session/display", None, {"token": "nope"}
        )
        assert status == 401
    assert daemon.sessions.limiter.failed_lately("127.0.0.1", daemon.clock())
    assert (await _call(client, http, "POST", "/api/session/display", None, {"token": 5}))[0] == 400
    status, _answer = await _call(
        client, http, "POST", "/api/session/display", None, {"token": "x" * 65}
    )
    assert status == 400


async def test_given_a_restart_then_the_screen_and_a_person_stay_logged_in(
    daemon: Daemon, client: aiohttp.ClientSession, clock: Clock
) -> None:
    http = daemon.http
    assert http is not None
    screen = await _screen(client, http, "lobby")
    person = await browser(client, http.url, "sup")
    http = await daemon.restart()
    clock.now += 2 * HOUR
    status, who = await _call(client, http, "GET", "/api/session", person)
    assert (status, who["name"], who["csrf_token"]) == (200, "sup", person["X-CSRF-Token"])
    assert (await _call(client, http, "GET", "/api/whoami", screen))[1]["name"] == "display:lobby"
    # The person's CSRF token is still the one their page holds: a change goes through.
    status, _ = await _call(client, http, "POST", "/api/agents/1001/nope", person, {})
    assert status == 404  # past authentication and CSRF: only the action is unknown
    # Logged out, then restarted: gone.
    assert (await _call(client, http, "DELETE", "/api/session", person))[0] == 200
    http = await daemon.restart()
    assert (await _call(client, http, "GET", "/api/session", person))[0] == 401


async def test_given_a_restart_then_the_idle_and_absolute_limits_still_hold(
    daemon: Daemon, client: aiohttp.ClientSession, clock: Clock
) -> None:
    http = daemon.http
    assert http is not None
    screen = await _screen(client, http, "lobby")
    idle = await browser(client, http.url, "sup")
    busy = await browser(client, http.url, "root")
    for _ in range(11):  # seen every hour: written to the journal, so the restart knows it
        clock.now += HOUR
        assert (await _call(client, http, "GET", "/api/session", busy))[0] == 200
    # The last sight is written in the background: the journal has it (bounded wait) before the
    # restart, which is what this test is about.
    records = JournalSessions(daemon.journal)
    digest = session_digest(busy["Cookie"].split("=", 1)[1])
    for _ in range(100):
        row = await records.find_session(digest)
        if row is not None and row.last_seen.timestamp() == clock.now:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"the busy session's last sight never reached the journal: {row}")
    http = await daemon.restart()
    assert (await _call(client, http, "GET", "/api/session", idle))[0] == 401  # idle 11 h
    assert (await _call(client, http, "GET", "/api/session", busy))[0] == 200
    http = await daemon.restart()
    clock.now += HOUR  # 12 hours after log-in
    assert (await _call(client, http, "GET", "/api/session", busy))[0] == 401
    # A wall screen has no lifetime; a month switched off, and it must be opened again.
    assert (await _call(client, http, "GET", "/api/whoami", screen))[0] == 200
    clock.now += DISPLAY_IDLE
    http = await daemon.restart()
    assert (await _call(client, http, "GET", "/api/whoami", screen))[0] == 401


async def test_given_revoked_then_the_screens_sessions_end_at_once_and_after_a_restart(
    daemon: Daemon, client: aiohttp.ClientSession
) -> None:
    http = daemon.http
    assert http is not None
    screen = await _screen(client, http, "lobby")
    other = await _screen(client, http, "hall")
    assert (await _call(client, http, "POST", "/api/displays", bearer("root"), {"name": "hall"}))[
        0
    ] == 409
    assert (await _call(client, http, "POST", "/api/displays", bearer("root"), {"name": "a b"}))[
        0
    ] == 400
    _status, listed = await _call(client, http, "GET", "/api/displays", bearer("root"))
    assert [(d["name"], d["created_by"], d["sessions"]) for d in listed["displays"]] == [
        ("hall", "root", 1),
        ("lobby", "root", 1),
    ]
    assert (await _call(client, http, "GET", "/api/displays", bearer("sup")))[0] == 403
    answer = await _call(client, http, "DELETE", "/api/displays/lobby", bearer("root"))
    assert answer == (200, {"result": "revoked", "name": "lobby", "sessions": 1})
    assert (await _call(client, http, "GET", "/api/whoami", screen))[0] == 401
    assert (await _call(client, http, "DELETE", "/api/displays/lobby", bearer("root")))[0] == 404
    http = await daemon.restart()
    assert (await _call(client, http, "GET", "/api/whoami", screen))[0] == 401
    assert (await _call(client, http, "GET", "/api/whoami", other))[0] == 200


async def test_given_a_user_removed_at_a_reload_then_their_kept_sessions_go_too(
    daemon: Daemon, client: aiohttp.ClientSession, journal: Journal
) -> None:
    http = daemon.http
    assert http is not None
    person = await browser(client, http.url, "sup")
    assert daemon.sessions.store.end_user("sup") == 1  # what the reloader does
    await daemon.sessions.settled()  # the journal's write runs in the background
    http = await daemon.restart()
    assert (await _call(client, http, "GET", "/api/session", person))[0] == 401


def test_a_display_is_no_user_of_auth() -> None:
    with pytest.raises(ValueError, match="a display is no user"):
        UserSettings(name="wall", role="display")  # type: ignore[arg-type]


async def test_given_too_many_sessions_of_a_user_then_the_ended_one_stays_ended_after_a_restart(
    daemon: Daemon, client: aiohttp.ClientSession
) -> None:
    http = daemon.http
    assert http is not None
    daemon.sessions.store.max_per_user = 2
    first = await browser(client, http.url, "sup")
    others = [await browser(client, http.url, "sup") for _ in range(2)]
    http = await daemon.restart()
    assert (await _call(client, http, "GET", "/api/session", first))[0] == 401
    assert [(await _call(client, http, "GET", "/api/session", o))[0] for o in others] == [200, 200]


async def test_given_revoked_then_the_screens_open_live_stream_ends_at_once(
    daemon: Daemon, client: aiohttp.ClientSession
) -> None:
    http = daemon.http
    assert http is not None
    screen = await _screen(client, http, "lobby")
    async with (
        client.get(f"{http.url}/api/live", headers=screen) as live,
        client.get(f"{http.url}/api/live", headers=bearer("sup")) as other,
    ):
        assert (live.status, other.status) == (200, 200)
        await live.content.readline()  # the stream is open
        revoked = await _call(client, http, "DELETE", "/api/displays/lobby", bearer("root"))
        assert revoked[0] == 200
        async with asyncio.timeout(5):
            await live.content.read()  # to its end: the daemon closed it
        assert live.content.at_eof()
        async with asyncio.timeout(5):  # its slot freed; the supervisor's goes on
            while len(daemon.streams) != 1:  # noqa: ASYNC110 - the streams have no event
                await asyncio.sleep(0.01)


async def test_given_a_log_in_then_rows_of_browsers_long_gone_are_pruned(
    daemon: Daemon, client: aiohttp.ClientSession, clock: Clock, journal: Journal
) -> None:
    http = daemon.http
    assert http is not None
    gone = await browser(client, http.url, "sup")
    clock.now += 9 * HOUR  # past the idle limit: nobody asked with that cookie since
    http = await daemon.restart()
    await browser(client, http.url, "root")  # a log-in prunes
    records = JournalSessions(journal)
    assert (
        await records.prune_sessions(
            datetime.fromtimestamp(clock.now - 8 * HOUR, UTC), datetime.fromtimestamp(0, UTC)
        )
        == 0
    )  # the log-in's pruning left nothing to prune
    assert (await _call(client, http, "GET", "/api/session", gone))[0] == 401


async def test_given_a_user_changed_while_the_daemon_was_down_then_their_kept_session_ends(
    daemon: Daemon, client: aiohttp.ClientSession
) -> None:
    http = daemon.http
    assert http is not None
    changed = await browser(client, http.url, "sup")
    same = await browser(client, http.url, "root")
    http = await daemon.restart()
    users = daemon.sessions.authenticator.users  # users.toml edited meanwhile: a new phone
    was = users["sup"]
    users["sup"] = was.model_copy(update={"phone": "PJSIP/2999"})
    assert (await _call(client, http, "GET", "/api/session", changed))[0] == 401
    assert (await _call(client, http, "GET", "/api/session", same))[0] == 200
    await daemon.sessions.settled()
    users["sup"] = was  # and back: still ended
    http = await daemon.restart()
    assert (await _call(client, http, "GET", "/api/session", changed))[0] == 401


async def test_given_the_journal_slow_or_down_then_a_kept_session_is_503_not_401(
    daemon: Daemon, client: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    http = daemon.http
    assert http is not None
    person = await browser(client, http.url, "sup")
    http = await daemon.restart()
    records = daemon.sessions.records
    assert records is not None
    monkeypatch.setattr(sessions_module, "RESTORE_TIMEOUT", 0.05)

    async def hangs(digest: str) -> None:
        await asyncio.sleep(3600)

    async def fails(digest: str) -> None:
        raise JournalError("connection refused")

    for find in (hangs, fails):
        monkeypatch.setattr(records, "find_session", find)
        async with client.get(http.url + "/api/session", headers=person) as reply:
            assert (reply.status, reply.headers["Retry-After"]) == (503, "2")
        status, _ = await _call(client, http, "GET", "/api/agents", person)
        assert status == 503
    monkeypatch.undo()
    assert (await _call(client, http, "GET", "/api/session", person))[0] == 200


async def test_given_a_sessions_row_gone_then_its_last_sight_ends_it_and_adds_no_row(
    daemon: Daemon, client: aiohttp.ClientSession, clock: Clock, journal: Journal
) -> None:
    http = daemon.http
    assert http is not None
    screen = await _screen(client, http, "lobby")
    records = JournalSessions(journal)
    # Revoked by another process's transaction (the rows go, this daemon's memory stays).
    assert await records.revoke_display("lobby")
    clock.now += 61  # the next request writes its last sight, in the background
    assert (await _call(client, http, "GET", "/api/whoami", screen))[0] == 200
    await daemon.sessions.settled()
    assert (await _call(client, http, "GET", "/api/whoami", screen))[0] == 401
    http = await daemon.restart()
    assert (await _call(client, http, "GET", "/api/whoami", screen))[0] == 401
    assert await records.displays() == []


async def test_given_the_journal_down_at_log_in_then_the_session_is_kept_at_its_next_sight(
    daemon: Daemon, client: aiohttp.ClientSession, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    http = daemon.http
    assert http is not None
    records = daemon.sessions.records
    assert records is not None

    async def fails(stored: object) -> None:
        raise JournalError("connection refused")

    with monkeypatch.context() as patched:
        patched.setattr(records, "save_session", fails)
        person = await browser(client, http.url, "sup")
    clock.now += 61
    assert (await _call(client, http, "GET", "/api/session", person))[0] == 200
    await daemon.sessions.settled()
    http = await daemon.restart()
    assert (await _call(client, http, "GET", "/api/session", person))[0] == 200


async def test_given_a_person_logged_in_on_the_wall_pc_then_opening_the_display_ends_it(
    daemon: Daemon, client: aiohttp.ClientSession
) -> None:
    http = daemon.http
    assert http is not None
    person = await browser(client, http.url, "root")
    status, made = await _call(
        client, http, "POST", "/api/displays", bearer("root"), {"name": "lobby"}
    )
    assert status == 200
    async with client.post(
        http.url + "/api/session/display", json={"token": made["token"]}, headers=person
    ) as reply:
        assert reply.status == 200
    assert (await _call(client, http, "GET", "/api/session", person))[0] == 401


async def test_given_last_sights_landing_in_reverse_then_the_journal_keeps_the_latest(
    daemon: Daemon, client: aiohttp.ClientSession, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A slow journal: each request's last sight is still being written (in the background: the
    # request goes on) when the next one comes; the writes then land newest first, and the row
    # must end with the latest sight, else a restart would judge this busy session idle.
    http = daemon.http
    assert http is not None
    person = await browser(client, http.url, "sup")
    records = daemon.sessions.records
    assert isinstance(records, JournalSessions)
    touch = records.touch_session
    held: list[tuple[datetime, asyncio.Event, asyncio.Event]] = []
    all_held = asyncio.Event()

    async def slow(digest: str, last_seen: datetime) -> bool:
        release, landed = asyncio.Event(), asyncio.Event()
        held.append((last_seen, release, landed))
        if len(held) == 3:
            all_held.set()
        await release.wait()
        try:
            return await touch(digest, last_seen)
        finally:
            landed.set()

    monkeypatch.setattr(records, "touch_session", slow)
    for _ in range(3):
        clock.now += HOUR
        async with asyncio.timeout(10):  # bounded: a request waiting for its write hangs here
            assert (await _call(client, http, "GET", "/api/session", person))[0] == 200
    async with asyncio.timeout(10):
        await all_held.wait()  # the background tasks have started their writes
    assert [seen.timestamp() for seen, _, _ in held] == [
        clock.now - 2 * HOUR,
        clock.now - HOUR,
        clock.now,
    ]
    for _, release, landed in reversed(held):
        release.set()
        async with asyncio.timeout(10):
            await landed.wait()
    await daemon.sessions.settled()
    stored = await records.find_session(session_digest(person["Cookie"].split("=", 1)[1]))
    assert stored is not None
    assert stored.last_seen.timestamp() == clock.now
    http = await daemon.restart()
    clock.now += 7 * HOUR  # 10 h after log-in, 7 h after the last sight: not idle (8 h)
    assert (await _call(client, http, "GET", "/api/session", person))[0] == 200
