"""The daemon's view over a real engine, core, call-taker control and SQLite journal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callgate.core.acd import Acd
from callgate.core.config import AcdConfig
from callgate.core.events import CallArrived
from callgate.daemon.engine import Engine
from callgate.daemon.health import Health
from callgate.daemon.view import LiveDaemonView
from callgate.storage.journal import Journal
from tests.unit.daemon.conftest import Clock, NoPhones, control_of

ENDPOINTS = ["PJSIP/1001", "PJSIP/1002", "PJSIP/1003"]


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    opened = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(1_000.0)


@pytest.fixture
def levels() -> list[str]:
    return []


@pytest.fixture
def view(journal: Journal, clock: Clock, levels: list[str]) -> LiveDaemonView:
    engine = Engine(Acd(AcdConfig()), NoPhones(), clock=clock)
    health = Health(clock=clock)
    return LiveDaemonView(
        engine,
        control_of(engine, ENDPOINTS),
        health,
        journal,
        set_log_level=levels.append,
        default_pause_reason="unspecified",
        clock=clock,
    )


async def test_configured_call_takers_are_listed_logged_out_until_they_log_in(
    view: LiveDaemonView,
) -> None:
    agents = view.agents()
    assert [a["agent_id"] for a in agents] == ["1001", "1002", "1003"]
    assert {a["state"] for a in agents} == {"LOGGED_OUT"}


async def test_admin_commands_go_through_the_call_taker_control(view: LiveDaemonView) -> None:
    assert await view.agent_command("1001", "login", None, by="sup") == "OK"
    assert await view.agent_command("1001", "login", None, by="sup") == "ALREADY"
    assert await view.agent_command("1002", "pause", None, by="sup") == "REFUSED"  # logged out
    assert await view.agent_command("1001", "pause", None, by="sup") == "OK"
    assert await view.agent_command("1999", "login", None, by="sup") == "UNKNOWN"
    agent = next(a for a in view.agents() if a["agent_id"] == "1001")
    assert agent["state"] == "PAUSED"
    assert agent["pause_reason"] == "unspecified"
    assert await view.agent_command("1001", "unpause", None, by="sup") == "OK"
    assert await view.agent_command("1001", "pause", "briefing", by="sup") == "OK"
    assert view.engine.acd.agents["1001"].pause_reason == "briefing"
    assert await view.agent_command("1001", "logout", None, by="sup") == "OK"
    assert view.engine.acd.agents["1001"].state.name == "LOGGED_OUT"


async def test_status_counts_waiting_calls_longest_wait_and_call_takers(
    view: LiveDaemonView, clock: Clock
) -> None:
    await view.agent_command("1001", "login", None, by="sup")
    await view.agent_command("1001", "pause", "briefing", by="sup")
    await view.engine.feed(CallArrived("c1", caller="+62812"))
    clock.now = 1_030.0
    await view.engine.feed(CallArrived("c2", caller="+62813"))
    clock.now = 1_047.5
    status = view.status()
    assert status["waiting"] == 2
    assert status["longest_wait_s"] == 47.5
    assert status["calls"]["QUEUED"] == 2
    assert status["calltakers"] == {
        "LOGGED_OUT": 2,
        "AVAILABLE": 0,
        "RINGING": 0,
        "ON_CALL": 0,
        "WRAP_UP": 0,
        "PAUSED": 1,
    }
    assert status["ready"] is False
    assert set(status["components"]) == {"ari", "ami", "database", "mqtt"}
    # The roster line: none without a roster in the configuration, else the shifts (none on).
    assert status["roster"] is None
    view.rostered = True
    assert view.status()["roster"] == "on"
    assert [c["call_id"] for c in view.live_calls()] == ["c1", "c2"]
    assert view.live_calls()[0]["age_s"] == 47.5
    view.engine.close()


async def test_recent_calls_come_from_the_journal_newest_first(
    view: LiveDaemonView, journal: Journal
) -> None:
    for n, minute in enumerate((1, 2)):
        await journal.call_started(
            f"j{n}",
            caller="+62812",
            caller_sent="0812",
            dialed="112",
            priority=1,
            category="genuine",
            at=datetime(2026, 11, 3, 2, minute, tzinfo=UTC),
        )
    await journal.call_ended(
        "j0",
        at=datetime(2026, 11, 3, 2, 3, tzinfo=UTC),
        outcome="COMPLETED",
        answered_at=datetime(2026, 11, 3, 2, 1, 6, tzinfo=UTC),
        answered_by="1001",
    )
    recent = await view.recent_calls(10)
    assert [r["call_id"] for r in recent] == ["j1", "j0"]
    assert recent[1]["outcome"] == "COMPLETED"
    assert recent[1]["answer_time_s"] == 6.0
    assert recent[1]["answered_by"] == "1001"
    assert recent[0]["ended_at"] is None


def test_log_level_change_is_handed_to_the_logging_setup(
    view: LiveDaemonView, levels: list[str]
) -> None:
    view.set_log_level("DEBUG")
    assert levels == ["DEBUG"]
