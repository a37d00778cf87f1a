"""The live feed: notifications -> messages (a real engine and core), and ``GET /api/live`` as
Server-Sent Events through a real server on 127.0.0.1 (authentication, role filtering, snapshot
then deltas, a slow client dropped, the cap on streams), and the pages' routes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from callgate.asterisk.ami.messages import AsteriskDeviceState, DeviceStatus
from callgate.auth import Identity, Role
from callgate.core.acd import Acd
from callgate.core.agents import DeviceState
from callgate.core.config import AcdConfig
from callgate.core.events import AgentLoggedIn, CallArrived, CallerHungUp, DeviceStateChanged
from callgate.core.roster import Roster, Shift
from callgate.daemon.calltakers import PhoneRegistrations
from callgate.daemon.engine import Engine
from callgate.daemon.health import Health
from callgate.daemon.live import LiveFeed
from callgate.daemon.metrics import Metrics
from callgate.daemon.projection import Projection
from callgate.daemon.view import LiveDaemonView
from callgate.http.pages import Pages
from callgate.http.server import OpsHttp
from callgate.http.streams import LiveStreams, filtered
from callgate.ports import RecordingFailed
from tests.unit.auth_users import authenticator, bearer, browser
from tests.unit.daemon.conftest import Clock, NoPhones, control_of

ENDPOINTS = ["PJSIP/1001", "PJSIP/1002"]


def _call(call_id: str, agent: str | None = None, ringing: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"call_id": call_id, "caller": "+6281", "agent_id": agent, "ringing": list(ringing)}


class Source:
    """A fixed snapshot; ``my_call`` answers who asked."""

    def __init__(self) -> None:
        self.calls = [_call("c1", ringing=("1001",)), _call("c2", agent="1002")]
        self.agents = [{"agent_id": "1001", "state": "RINGING"}, {"agent_id": "1002"}]

    def snapshot(self) -> dict[str, Any]:
        return {"type": "snapshot", "at": 1.0, "calls": self.calls, "agents": self.agents}

    async def my_call(self, agent_id: str) -> dict[str, Any]:
        return {"call": None, "history": [], "asked": agent_id}


@pytest.fixture
async def served() -> AsyncIterator[tuple[OpsHttp, LiveStreams]]:
    health = Health()
    streams = LiveStreams(Source(), max_streams=3, queue_size=3, heartbeat=0.2)
    http = OpsHttp(
        object(),  # type: ignore[arg-type]  # no route of these tests reads the view
        health,
        Metrics(Projection(), health).registry,
        authenticator=authenticator(),
        port=0,
        extensions=(streams, Pages()),
    )
    await http.start()
    yield http, streams
    await http.stop()


async def _events(response: aiohttp.ClientResponse, count: int) -> list[dict[str, Any]]:
    """The next ``count`` data messages of an SSE stream (comments and ``retry`` skipped)."""
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        while len(found) < count:
            line = (await response.content.readline()).decode()
            if not line:
                break
            if line.startswith("data: "):
                found.append(json.loads(line[6:]))
    return found


async def _wait_for_streams(streams: LiveStreams, count: int) -> None:
    async with asyncio.timeout(5):
        while len(streams) != count:  # noqa: ASYNC110 - the streams have no event to wait on
            await asyncio.sleep(0.01)


async def test_a_stream_needs_a_user(served: tuple[OpsHttp, LiveStreams]) -> None:
    http, _ = served
    async with aiohttp.ClientSession() as client, client.get(f"{http.url}/api/live") as r:
        assert r.status == 401


async def test_a_supervisor_gets_the_whole_snapshot_then_every_delta(
    served: tuple[OpsHttp, LiveStreams],
) -> None:
    http, streams = served
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"{http.url}/api/live", headers=bearer("sup")) as r,
    ):
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/event-stream"
        [snapshot] = await _events(r, 1)
        assert [c["call_id"] for c in snapshot["calls"]] == ["c1", "c2"]
        await _wait_for_streams(streams, 1)
        streams.publish({"type": "call", "call": _call("c3")})
        streams.publish({"type": "agent", "agent": {"agent_id": "1002"}})
        deltas = await _events(r, 2)
        assert [d["type"] for d in deltas] == ["call", "agent"]
        # An idle stream carries a heartbeat comment.
        async with asyncio.timeout(2):
            line = b"\n"
            while line == b"\n":  # the blank line ending the last event
                line = await r.content.readline()
        assert line.startswith(b": heartbeat")


async def test_a_call_taker_sees_only_their_own_row_and_the_call_on_their_phone(
    served: tuple[OpsHttp, LiveStreams],
) -> None:
    http, streams = served
    async with aiohttp.ClientSession() as client:
        headers = await browser(client, http.url, "ct1001")
        async with client.get(f"{http.url}/api/live", headers=headers) as r:
            [snapshot] = await _events(r, 1)
            assert [c["call_id"] for c in snapshot["calls"]] == ["c1"]
            assert [a["agent_id"] for a in snapshot["agents"]] == ["1001"]
            await _wait_for_streams(streams, 1)
            streams.publish({"type": "call", "call": _call("c2", agent="1002")})  # not theirs
            streams.publish({"type": "agent", "agent": {"agent_id": "1002"}})  # not theirs
            streams.publish({"type": "call", "call": _call("c1", agent="1002")})  # taken by 1002
            streams.publish({"type": "call", "call": _call("c4", ringing=("1001",))})
            gone, ringing = await _events(r, 2)
        assert gone == {"type": "call-ended", "call_id": "c1", "outcome": "ELSEWHERE"}
        assert "caller" not in gone
        assert ringing["call"]["call_id"] == "c4"
        # Their own call only, unless they may see everyone's.
        async with client.get(f"{http.url}/api/my-call?agent=1002", headers=headers) as r:
            assert r.status == 403
        async with client.get(f"{http.url}/api/my-call", headers=headers) as r:
            assert (await r.json())["asked"] == "1001"


async def test_a_slow_client_is_dropped_and_the_daemon_never_waits(
    served: tuple[OpsHttp, LiveStreams], caplog: pytest.LogCaptureFixture
) -> None:
    http, streams = served
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"{http.url}/api/live", headers=bearer("sup")) as r,
    ):
        await _events(r, 1)
        await _wait_for_streams(streams, 1)
        # Published faster than the stream can send (no await between): its queue overflows.
        for n in range(10):
            streams.publish({"type": "call", "call": _call(f"x{n}")})
        await _wait_for_streams(streams, 0)
        async with asyncio.timeout(2):
            rest = await r.content.read()
        assert b"x9" not in rest
    assert "live stream dropped" in caplog.text


async def test_streams_past_the_cap_are_refused(served: tuple[OpsHttp, LiveStreams]) -> None:
    http, streams = served
    async with aiohttp.ClientSession() as client:
        opened = [await client.get(f"{http.url}/api/live", headers=bearer("sup")) for _ in range(3)]
        await _wait_for_streams(streams, 3)
        async with client.get(f"{http.url}/api/live", headers=bearer("sup")) as r:
            assert r.status == 503
            assert r.headers["Retry-After"]
        for response in opened:
            response.close()


async def test_the_pages_are_served_with_a_strict_policy(
    served: tuple[OpsHttp, LiveStreams],
) -> None:
    http, _ = served
    async with aiohttp.ClientSession() as client:
        for page in ("wallboard", "screen"):
            async with client.get(f"{http.url}/{page}") as r:
                assert r.status == 200
                assert "script-src 'self'" in r.headers["Content-Security-Policy"]
                assert 'src="assets/common.js"' in await r.text()
        async with client.get(f"{http.url}/assets/wallboard.js") as r:
            assert r.status == 200
            assert r.content_type == "text/javascript"
        for missing in ("nope.js", "wallboard.html", "..%2Fserver.py"):
            async with client.get(f"{http.url}/assets/{missing}") as r:
                assert r.status == 404


def _feed_rig(clock: Clock) -> tuple[Engine, LiveDaemonView, LiveFeed, list[dict[str, Any]]]:
    """An engine without phones, the admin view on it, and a live feed publishing to a list."""
    engine = Engine(Acd(AcdConfig()), NoPhones(), clock=clock)
    view = LiveDaemonView(
        engine,
        control_of(engine, ENDPOINTS),
        Health(clock=clock),
        None,
        set_log_level=lambda level: None,
        clock=clock,
    )
    published: list[dict[str, Any]] = []
    feed = LiveFeed(view, published.append, clock=clock)
    engine.observers.append(feed.notification)
    return engine, view, feed, published


async def test_the_feed_turns_notifications_into_rows_with_tags_and_positions() -> None:
    clock = Clock(1_000.0)
    engine, view, feed, published = _feed_rig(clock)
    await view.agent_command("1001", "login", None, by="sup")
    await view.agent_command("1001", "pause", "briefing", by="sup")
    await engine.feed(CallArrived("c1", caller="+62812"))
    clock.now = 1_005.0
    await engine.feed(CallArrived("c2", caller="+62813"))
    snapshot = feed.snapshot()
    assert [(c["call_id"], c["position"]) for c in snapshot["calls"]] == [("c1", 1), ("c2", 2)]
    assert snapshot["calls"][0]["age_s"] == 5.0
    assert [m["call"]["call_id"] for m in published if m["type"] == "call"][-1] == "c2"
    published.clear()
    await view.agent_command("1001", "unpause", None, by="sup")
    assert [m["type"] for m in published][:1] == ["agent"]
    assert published[0]["agent"]["since"] == 1_005.0
    assert any(m["type"] == "call" and m["call"]["ringing"] == ["1001"] for m in published)
    engine.close()


async def test_a_phone_s_change_reaches_the_screens_without_a_change_of_state() -> None:
    """A device change moves no call-taker; its ``AgentDetails`` updates their row."""
    clock = Clock(1_000.0)
    engine, _view, _feed, published = _feed_rig(clock)
    await engine.feed(AgentLoggedIn("1001", "PJSIP/1001"))
    published.clear()
    clock.now = 1_010.0
    await engine.feed(DeviceStateChanged("1001", DeviceState.UNAVAILABLE))
    rows = [m["agent"] for m in published if m["type"] == "agent"]
    assert [(r["agent_id"], r["state"], r["device"], r["since"]) for r in rows] == [
        ("1001", "AVAILABLE", "UNAVAILABLE", 1_000.0)
    ]
    engine.close()


async def test_the_feed_carries_each_shifts_staffing_and_flags_a_short_handed_one() -> None:
    # Monday 2026-01-05 09:00 in WITA (UTC+8): the morning shift is on; it needs two.
    clock = Clock(dt.datetime(2026, 1, 5, 1, 0, tzinfo=dt.UTC).timestamp())
    shift = Shift(dt.time(7), dt.time(15), agents=frozenset({"1001", "1002"}), name="pagi")
    acd = Acd(AcdConfig(roster=Roster("WITA", (shift,), alarm_grace=0.0)))
    engine = Engine(acd, NoPhones(), clock=clock)
    view = LiveDaemonView(
        engine,
        control_of(engine, ENDPOINTS),
        Health(clock=clock),
        None,
        set_log_level=lambda level: None,
        clock=clock,
    )
    published: list[dict[str, Any]] = []
    feed = LiveFeed(view, published.append, clock=clock)
    engine.observers.append(feed.notification)
    await engine.feed(AgentLoggedIn("1001", "PJSIP/1001", rostered_only=True))
    pagi = {"shift": "pagi", "rostered": 2, "logged_in": 1, "short_handed": True}
    assert [m for m in published if m["type"] == "shifts"][-1] == {
        "type": "shifts",
        "shifts": [pagi],
        "staffed": True,
    }
    snapshot = feed.snapshot()
    assert (snapshot["shifts"], snapshot["staffed"]) == ([pagi], True)
    published.clear()
    await engine.feed(AgentLoggedIn("1002", "PJSIP/1002", rostered_only=True))
    [staffing] = [m for m in published if m["type"] == "shifts"]
    assert staffing["shifts"] == [{**pagi, "logged_in": 2, "short_handed": False}]
    # A call-taker's screen gets none of it.
    ct = Identity("ct1001", Role.CALL_TAKER, agent_id="1001")
    assert filtered(staffing, ct, set()) is None
    assert filtered(feed.snapshot(), ct, set())["shifts"] == []  # type: ignore[index]
    engine.close()


async def test_the_feed_raises_the_fallback_queue_and_todays_recording_failures_as_alarms() -> None:
    clock = Clock(1_000.0)
    engine = Engine(Acd(AcdConfig()), NoPhones(), clock=clock)
    view = LiveDaemonView(
        engine,
        control_of(engine, ENDPOINTS),
        Health(clock=clock),
        None,
        set_log_level=lambda level: None,
        clock=clock,
    )
    published: list[dict[str, Any]] = []
    feed = LiveFeed(view, published.append, clock=clock, local_day=lambda t: str(int(t // 86400)))
    quiet = {"fallback": None, "recordings": {"failed": 0, "last_at": None, "last_reason": None}}
    assert feed.snapshot()["alarms"] == quiet
    feed.fallback_waiting(0, 0.0)
    assert published == []  # nothing changed
    feed.fallback_waiting(2, 14.0)
    clock.now = 1_010.0
    feed.fallback_waiting(3, 24.0)
    assert [m["alarms"]["fallback"] for m in published] == [
        {"callers": 2, "longest_wait_s": 14.0, "since": 1_000.0},
        {"callers": 3, "longest_wait_s": 24.0, "since": 1_000.0},  # since the first
    ]
    feed.fallback_waiting(0, 0.0)
    assert published[-1]["alarms"]["fallback"] is None
    await feed.notification(RecordingFailed("c1", "file missing", 1_020.0))
    await feed.notification(RecordingFailed("c2", "disk full", 1_030.0))
    alarms = [m for m in published if m["type"] == "alarms"]
    assert alarms[-1] == {
        "type": "alarms",
        "alarms": {
            "fallback": None,
            "recordings": {"failed": 2, "last_at": 1_030.0, "last_reason": "disk full"},
        },
    }
    clock.now = 86_400.0 + 5  # the next day: today's count starts again
    assert feed.snapshot()["alarms"] == quiet
    ct = Identity("ct1001", Role.CALL_TAKER, agent_id="1001")
    assert filtered(alarms[-1], ct, set()) is None
    engine.close()


async def test_the_fallback_watch_tells_each_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    from callgate.asterisk.ami.messages import QueueSummary
    from callgate.daemon import upkeep

    class Ami:
        connected = True

        async def queue_summary(self, queue: str) -> QueueSummary:
            return QueueSummary(queue, 2, 31, 0, 0, 0)

    monkeypatch.setattr(upkeep, "FALLBACK_WATCH_INTERVAL", 0.0)
    readings: list[tuple[int, float | None]] = []
    watch = asyncio.create_task(
        upkeep.watch_fallback(Ami(), "fallback", lambda n, w: readings.append((n, w)))  # type: ignore[arg-type]
    )
    async with asyncio.timeout(2):
        while len(readings) < 2:  # noqa: ASYNC110 - the watch has no event to wait on
            await asyncio.sleep(0)
    watch.cancel()
    assert readings[:2] == [(2, 31), (2, 31)]


async def test_a_calls_recording_goes_to_the_call_taker_who_answered_it() -> None:
    from pathlib import Path

    from callgate.core.calls import CallState
    from callgate.core.commands import CallEnded
    from callgate.ports import CallRecorded, RecordingInfo

    clock = Clock(1_000.0)
    engine = Engine(Acd(AcdConfig()), NoPhones(), clock=clock)
    view = LiveDaemonView(
        engine,
        control_of(engine, ENDPOINTS),
        Health(clock=clock),
        None,
        set_log_level=lambda level: None,
        clock=clock,
    )
    published: list[dict[str, Any]] = []
    feed = LiveFeed(view, published.append, clock=clock)
    for call_id, agent in (("c1", "1001"), ("c2", None)):
        await feed.notification(
            CallEnded(
                call_id, CallState.COMPLETED, "+62812", "", 3, 990.0, 995.0, 999.0, agent, None
            )
        )
    published.clear()
    await feed.notification(
        CallRecorded(RecordingInfo("c1", Path("/r/c1.wav"), "ab", 10, 4.0), 1_001.0)
    )
    await feed.notification(RecordingFailed("c2", "no file", 1_002.0))
    ready, _, failed = published
    assert ready == {
        "type": "recording",
        "call_id": "c1",
        "agent_id": "1001",
        "state": "ready",
        "detail": None,
        "at": 1_001.0,
    }
    assert (failed["call_id"], failed["state"], failed["detail"]) == ("c2", "failed", "no file")
    ct1001 = Identity("ct1001", Role.CALL_TAKER, agent_id="1001")
    ct1002 = Identity("ct1002", Role.CALL_TAKER, agent_id="1002")
    assert filtered(ready, ct1001, set()) == ready
    assert filtered(ready, ct1002, set()) is None
    assert filtered(failed, ct1001, set()) is None
    assert filtered(ready, Identity("sup", Role.SUPERVISOR), set()) == ready
    engine.close()


async def test_the_wall_gets_names_phones_its_settings_and_the_figures_of_ended_calls() -> None:
    """Call-takers by their configured name with their phone's registration (told again when it
    changes), the [wallboard] settings in the snapshot, and each ended call in today's figures."""

    clock = Clock(1_000.0)
    engine, view, feed, published = _feed_rig(clock)
    registrations = PhoneRegistrations(ENDPOINTS, feed.phone_registered)
    feed.names = lambda: {"1001": "Sari Dewi"}
    feed.registered = lambda endpoint: registrations.registered.get(endpoint)
    feed.wallboard = lambda: {"marks": [10, 30], "sound": True}
    snapshot = feed.snapshot()
    rows = {a["agent_id"]: a for a in snapshot["agents"]}
    assert (rows["1001"]["name"], rows["1001"]["registered"]) == ("Sari Dewi", False)
    assert (rows["1002"]["name"], rows["1002"]["registered"]) == (None, False)
    assert snapshot["wallboard"] == {"marks": [10, 30], "sound": True}
    assert snapshot["today"]["calls"] == 0
    published.clear()
    registrations("PJSIP/1001", DeviceStatus(AsteriskDeviceState.NOT_INUSE, registered=True))
    (message,) = [m for m in published if m["type"] == "agent"]
    assert (message["agent"]["agent_id"], message["agent"]["registered"]) == ("1001", True)
    await view.agent_command("1001", "login", None, by="sup")
    await engine.feed(CallArrived("c1", caller="+62812"))
    clock.now = 1_004.0
    await engine.feed(CallerHungUp("c1"))
    today = [m["today"] for m in published if m["type"] == "today"][-1]
    assert (today["calls"], today["abandoned"], today["answered"]) == (1, 1, 0)
    engine.close()
