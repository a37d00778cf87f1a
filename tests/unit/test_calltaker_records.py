"""The call-takers' record: the core's notifications become agent_events rows, written in order
off the call path, and kept while the database is away (SQLite locked by another connection,
as in production) until it is back."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from callgate.backlog import DatabaseStatus
from callgate.core.acd import AUTO_PAUSE_REASON, Acd
from callgate.core.commands import Command, Notification
from callgate.core.config import AcdConfig
from callgate.core.events import (
    AgentAnswered,
    AgentHungUp,
    AgentLoggedIn,
    AgentLoggedOut,
    AgentNoAnswer,
    AgentPaused,
    AgentUnpaused,
    CallArrived,
    CallBridged,
    Event,
)
from callgate.daemon.calltaker_records import CallTakerRecords, agent_events_of
from callgate.storage.agent_events import AgentEvent, agent_events_between
from callgate.storage.journal import Journal

T0 = 1_790_000_000.0


def _notes(commands: Iterable[Command]) -> list[Notification]:
    return [c for c in commands if isinstance(c, Notification)]


def _drive(acd: Acd, steps: list[tuple[float, Event]]) -> list[Notification]:
    out: list[Notification] = []
    for offset, event in steps:
        now = T0 + offset
        while (deadline := acd.next_deadline()) is not None and deadline <= now:
            out += _notes(acd.handle_timer(deadline))
        out += _notes(acd.handle(event, now))
    return out


#: A shift in miniature: login, a prayer break, a missed ring, a call taken, wrap-up, logout.
SHIFT: list[tuple[float, Event]] = [
    (0, AgentLoggedIn("1001", "PJSIP/1001")),
    (10, AgentPaused("1001", "sholat")),
    (610, AgentUnpaused("1001")),
    (700, CallArrived("c1", caller="081234")),
    (703, AgentNoAnswer("c1", "1001")),
    (704, AgentAnswered("c1", "1001")),
    (705, CallBridged("c1")),
    (825, AgentHungUp("c1", "1001")),
    (900, AgentLoggedOut("1001")),
]


def _rows(events: Iterable[AgentEvent]) -> list[tuple[float, str, str | None, str | None]]:
    return [(e.at.timestamp() - T0, e.event, e.reason, e.call_id) for e in events]


def test_given_a_shift_then_each_notification_becomes_its_rows() -> None:
    acd = Acd(AcdConfig(wrap_up_time=30, max_consecutive_no_answers=3, max_wait=None))
    rows = [r for note in _drive(acd, SHIFT) for r in agent_events_of(note)]
    assert _rows(rows) == [
        (0, "login", None, None),
        (10, "pause", "sholat", None),
        (610, "unpause", None, None),
        (703, "ring-missed", None, "c1"),
        (705, "call-answered", None, "c1"),
        (825, "call-ended", None, "c1"),
        (855, "wrap-up-ended", None, None),
        (900, "logout", None, None),
    ]
    assert {r.agent_id for r in rows} == {"1001"}
    assert [r.cause for r in rows if r.event == "ring-missed"] == ["AgentNoAnswer"]
    assert [r.by for r in rows] == [None] * len(rows)


def test_given_missed_rings_in_a_row_then_the_automatic_pause_is_by_callgate() -> None:
    acd = Acd(AcdConfig(max_consecutive_no_answers=1, max_wait=None))
    notes = _drive(
        acd,
        [(0, AgentLoggedIn("1001", "PJSIP/1001")), (1, CallArrived("c1", caller="0812"))],
    )
    notes += _drive(acd, [(5, AgentNoAnswer("c1", "1001"))])
    rows = [r for note in notes for r in agent_events_of(note)]
    assert [(r.event, r.reason, r.by) for r in rows[-2:]] == [
        ("ring-missed", None, None),
        ("pause", AUTO_PAUSE_REASON, "callgate"),
    ]


async def test_given_the_database_locked_then_rows_are_kept_and_written_in_order_later(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.db"
    journal = await Journal.open(f"sqlite+aiosqlite:///{path}?timeout=0.05")
    status = DatabaseStatus(first_retry=0.01, max_retry=0.05)
    records = CallTakerRecords(journal, status=status, clock=lambda: T0 + 1000)
    records.start()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        acd = Acd(AcdConfig(wrap_up_time=30, max_wait=None))
        for note in _drive(acd, SHIFT[:3]):
            await records.notification(note)  # returns at once: nothing waits for the database
        deadline = asyncio.get_running_loop().time() + 10
        while status.up:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        assert status.backlog() == 3
        other.execute("COMMIT")
        await records.close()  # also logs out 1001, still logged in at the stop
        assert status.up
        assert status.dropped == 0
        found = await agent_events_between(
            journal, datetime.fromtimestamp(T0, UTC), datetime.fromtimestamp(T0 + 2000, UTC)
        )
    finally:
        other.close()
        await journal.close()
    assert _rows(found.events) == [
        (0, "login", None, None),
        (10, "pause", "sholat", None),
        (610, "unpause", None, None),
        (1000, "logout", None, None),
    ]
    assert (found.events[-1].cause, found.events[-1].by) == ("daemon-stopped", "callgate")


async def test_given_a_supervisors_api_pause_then_agent_events_names_the_supervisor(
    tmp_path: Path,
) -> None:
    """Through the admin HTTP API, the engine and the core to SQLite: a change made by someone
    other than the phone's own feature code is stored with their user name in ``by``."""
    import time

    import aiohttp
    from prometheus_client import CollectorRegistry

    from callgate.daemon.calltakers import CallTakerControl
    from callgate.daemon.engine import Engine
    from callgate.daemon.health import Health
    from callgate.daemon.view import LiveDaemonView
    from callgate.http.server import OpsHttp
    from tests.unit.auth_users import authenticator, bearer
    from tests.unit.daemon.conftest import NoPhones

    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    records = CallTakerRecords(journal, clock=time.time)
    records.start()
    engine = Engine(Acd(AcdConfig()), NoPhones(), observers=[records.notification])
    control = CallTakerControl(engine.feed, ["PJSIP/1001", "PJSIP/1002"])
    engine.observers.append(control.notification)
    health = Health()
    view = LiveDaemonView(engine, control, health, journal, set_log_level=lambda _level: None)
    http = OpsHttp(view, health, CollectorRegistry(), authenticator=authenticator(), port=0)
    await http.start()
    started = datetime.now(UTC)
    try:
        await control.login("PJSIP/1002")  # the phone's own *11: no one else
        async with aiohttp.ClientSession() as client:
            for who, action in [("sup", "pause"), ("ct1002", "unpause"), ("sup", "logout")]:
                url = f"{http.url}/api/agents/1002/{action}"
                body = {"reason": "briefing"} if action == "pause" else {}
                async with client.post(url, json=body, headers=bearer(who)) as reply:
                    assert reply.status == 200, await reply.text()
    finally:
        await http.stop()
        engine.close()
        await records.close()
    stored = await agent_events_between(journal, started, datetime.now(UTC))
    await journal.close()
    assert [(e.agent_id, e.event, e.reason, e.by) for e in stored.events] == [
        ("1002", "login", None, None),
        ("1002", "pause", "briefing", "sup"),
        ("1002", "unpause", None, "ct1002"),
        ("1002", "logout", None, "sup"),
    ]
