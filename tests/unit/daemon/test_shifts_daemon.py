"""The roster in the daemon: the short-handed alarm as metrics (read from the core at scrape
time), as a log line, and in ``callgate status``."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from callgate.core.acd import Acd
from callgate.core.config import AcdConfig
from callgate.core.events import AgentLoggedIn
from callgate.core.roster import Roster, Shift
from callgate.daemon.engine import Engine
from callgate.daemon.health import Health
from callgate.daemon.metrics import Metrics
from callgate.daemon.projection import Projection
from tests.unit.daemon.conftest import Clock, NoPhones

MONDAY_9_WITA = dt.datetime(2025, 6, 2, 9, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()


def test_a_short_handed_shift_shows_its_figures_and_the_alarm_gauge() -> None:
    shift = Shift(dt.time(7), dt.time(15), agents=frozenset({"1001", "1002"}), name="pagi")
    acd = Acd(AcdConfig(roster=Roster("WITA", (shift,), alarm_grace=0.0)))
    projection = Projection()
    metrics = Metrics(projection, Health())
    value = metrics.registry.get_sample_value
    assert value("callgate_shift_short_handed", {"shift": "pagi"}) is None  # not seen yet
    for note in acd.handle(AgentLoggedIn("1001", "PJSIP/1001"), MONDAY_9_WITA):
        projection.apply(note)
    assert value("callgate_shift_rostered", {"shift": "pagi"}) == 2
    assert value("callgate_shift_logged_in", {"shift": "pagi"}) == 1
    assert value("callgate_shift_short_handed", {"shift": "pagi"}) == 1
    for note in acd.handle(AgentLoggedIn("1002", "PJSIP/1002"), MONDAY_9_WITA + 1):
        projection.apply(note)
    assert value("callgate_shift_short_handed", {"shift": "pagi"}) == 0


def test_status_prints_the_roster_as_the_daemon_holds_it() -> None:
    from callgate.daemon.view import _roster_line
    from callgate.tools.admin import render_status

    shift = Shift(dt.time(7), dt.time(15), agents=frozenset({"1001", "1002"}), name="pagi")
    acd = Acd(AcdConfig(roster=Roster("WITA", (shift,), alarm_grace=0.0)))
    seen = Projection()
    for note in acd.handle(AgentLoggedIn("1001", "PJSIP/1001"), MONDAY_9_WITA):
        seen.apply(note)
    assert _roster_line(seen) == "pagi 1/2 logged in SHORT-HANDED"
    for note in acd.handle_timer(MONDAY_9_WITA + 6 * 3600):
        seen.apply(note)
    assert _roster_line(seen) == "OUT OF HOURS (callers go to the out-of-hours destinations)"
    text = render_status({"ready": True, "components": {}, "roster": _roster_line(seen)})
    assert "roster:       OUT OF HOURS" in text
    assert "roster:" not in render_status({"ready": True, "components": {}, "roster": None})


async def test_the_engine_logs_out_of_hours_and_an_alarm_line_for_a_short_handed_shift(
    caplog: pytest.LogCaptureFixture,
) -> None:
    shift = Shift(dt.time(7), dt.time(15), agents=frozenset({"1001", "1002"}), name="pagi")
    acd = Acd(AcdConfig(roster=Roster("WITA", (shift,), alarm_grace=0.0)))
    clock = Clock(MONDAY_9_WITA)
    engine = Engine(acd, NoPhones(), clock=clock)
    with caplog.at_level(logging.INFO):
        await engine.feed(AgentLoggedIn("1001", "PJSIP/1001", rostered_only=True))
        clock.now += 6 * 3600  # 15:00: out of hours
        await engine.tick()
    messages = [r.getMessage() for r in caplog.records]
    assert "roster: shifts on" in messages
    alarm = next(r for r in caplog.records if r.getMessage().startswith("ALARM: shift short"))
    assert (alarm.levelno, alarm.shift, alarm.rostered, alarm.logged_in) == (  # type: ignore[attr-defined]
        logging.ERROR,
        "pagi",
        2,
        1,
    )
    assert "roster: out of hours; callers go to the out-of-hours destinations" in messages
    assert "shift ended" in messages
    engine.close()
