"""``callgate report --calltakers``: handled calls, talk, pauses by reason, occupancy and missed
rings per call-taker and per shift, on a hand-built night that crosses midnight and a shift
change; and the command on a real journal."""

from __future__ import annotations

import asyncio
import csv
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callgate.storage.agent_events import AgentEvent, HandledCall, save_agent_event
from callgate.storage.journal import Journal
from callgate.tools.report import (
    CALLTAKER_CSV_FILES,
    DEFAULT_SHIFTS,
    build_calltaker_report,
    main,
    range_period,
    render_calltakers_text,
)

WIB = ZoneInfo("Asia/Jakarta")
FAR = datetime(2030, 1, 1, tzinfo=UTC)


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=WIB)


PERIOD = range_period(t(23, 22), t(24, 7), WIB)
#: 1002 was paused for a briefing when the period began.
BEFORE = [AgentEvent(t(23, 21), "1002", "pause", reason="briefing")]
EVENTS = [
    AgentEvent(t(23, 22), "1001", "login"),
    AgentEvent(t(23, 22, 30), "1001", "pause", reason="sholat"),
    AgentEvent(t(23, 22, 45), "1001", "unpause"),
    AgentEvent(t(23, 22, 55), "1001", "call-answered", call_id="c1"),
    AgentEvent(t(23, 23, 5), "1001", "call-ended", call_id="c1"),
    AgentEvent(t(23, 23, 10), "1002", "unpause"),
    AgentEvent(t(23, 23, 30), "1001", "ring-missed", call_id="c2", cause="RingTimedOut"),
    AgentEvent(t(23, 23, 50), "1002", "logout"),
    AgentEvent(t(24, 1), "1001", "pause", reason="makan"),
    AgentEvent(t(24, 1, 30), "1001", "unpause"),
    AgentEvent(t(24, 6), "1001", "logout"),
]
HANDLED = [
    # Across the siang -> malam change at 23:00: 5 minutes in each.
    HandledCall("c1", "1001", "", t(23, 22, 55), t(23, 23, 5), "COMPLETED"),
    HandledCall("cb-1", "1002", "callback", t(23, 23, 20), t(23, 23, 25), "COMPLETED"),
]


def _report():  # type: ignore[no-untyped-def]
    return build_calltaker_report(PERIOD, BEFORE, EVENTS, HANDLED, shifts=DEFAULT_SHIFTS, now=FAR)


def test_given_a_night_then_each_call_takers_figures_over_the_period() -> None:
    r = _report()
    a, b = r.calltakers
    assert (a.agent_id, a.handled, a.callbacks, a.missed_rings) == ("1001", 1, 0, 1)
    assert (a.logged_in_seconds, a.paused_seconds, a.talk_seconds) == (8 * 3600, 2700, 600)
    assert a.pause_seconds == {"makan": 1800, "sholat": 900}
    assert a.pause_counts == {"makan": 1, "sholat": 1}
    assert a.occupancy == pytest.approx(100 * 600 / (8 * 3600 - 2700))
    # The briefing began before the period: counted from its start; no new pause began in it.
    assert (b.agent_id, b.handled, b.callbacks) == ("1002", 0, 1)
    assert (b.logged_in_seconds, b.paused_seconds, b.talk_seconds) == (6600, 4200, 300)
    assert (b.pause_seconds, b.pause_counts) == ({"briefing": 4200}, {})
    assert b.occupancy == pytest.approx(12.5)
    assert (r.total.handled, r.total.callbacks, r.total.talk_seconds) == (1, 1, 900)
    assert r.total.pause_seconds == {"briefing": 4200, "makan": 1800, "sholat": 900}


def test_given_a_night_then_the_shifts_split_it_at_23_and_name_malam_by_its_first_day() -> None:
    r = _report()
    assert [(s.day, s.shift, s.start, s.end) for s in r.shifts] == [
        ("2026-11-23", "siang", t(23, 22), t(23, 23)),
        ("2026-11-23", "malam", t(23, 23), t(24, 7)),
    ]
    siang, malam = r.shifts
    a, b = siang.calltakers
    assert (a.handled, a.talk_seconds, a.logged_in_seconds, a.paused_seconds) == (1, 300, 3600, 900)
    assert a.occupancy == pytest.approx(100 * 300 / 2700)
    assert (b.logged_in_seconds, b.paused_seconds, b.occupancy) == (3600, 3600, None)
    a, b = malam.calltakers
    # The call answered in siang goes on 5 minutes into malam: talk there, handled in siang.
    assert (a.handled, a.talk_seconds, a.missed_rings) == (0, 300, 1)
    assert (a.logged_in_seconds, a.pause_seconds) == (7 * 3600, {"makan": 1800})
    assert (b.callbacks, b.talk_seconds, b.logged_in_seconds, b.paused_seconds) == (
        1,
        300,
        3000,
        600,
    )
    assert malam.total.missed_rings == 1


def test_given_the_period_not_over_then_open_sessions_end_now_and_a_note_says_so() -> None:
    now = t(23, 22, 40).astimezone(UTC)
    r = build_calltaker_report(PERIOD, BEFORE, EVENTS, [], shifts=DEFAULT_SHIFTS, now=now)
    a = r.calltakers[0]
    assert (a.logged_in_seconds, a.paused_seconds) == (2400, 600)
    assert r.notes == ["the period is not over: open sessions, pauses and calls count until now"]


def test_the_text_shows_every_table() -> None:
    out = render_calltakers_text(_report())
    assert "callgate report --calltakers: 2026-11-23 22:00 to 2026-11-24 07:00" in out
    rows = [line.split() for line in out.splitlines()]
    assert ["1001", "1", "0", "0:10:00", "0:10:00", "8:00:00", "0:45:00", "2.3%", "1"] in rows
    assert "2026-11-23 malam 23:00-07:00" in out
    assert ["1002", "briefing", "0", "1:10:00"] in rows
    assert "occupancy = talk / (logged in - paused)" in out


async def _journal(url: str) -> None:
    async with await Journal.open(url) as journal:
        for event in EVENTS:
            await save_agent_event(journal, event)
        await journal.call_started(
            "c1",
            caller="0812",
            caller_sent="0812",
            dialed="112",
            priority=1,
            category="",
            at=t(23, 22, 54),
        )
        await journal.call_ended(
            "c1",
            at=t(23, 23, 5),
            outcome="COMPLETED",
            answered_at=t(23, 22, 55),
            answered_by="1001",
        )


async def test_given_a_journal_then_the_command_prints_and_writes_the_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}"
    await _journal(url)
    config = tmp_path / "callgate.toml"
    config.write_text(f'[storage]\nurl = "{url}"\n', encoding="utf-8")
    args = ["--config", str(config), "--calltakers", "--from", "2026-11-23 22:00"]
    args += ["--to", "2026-11-24 07:00", "--csv", str(tmp_path / "csv")]
    # In a thread of its own: main() starts its own event loop.
    assert await asyncio.to_thread(main, args) == 0
    out = capsys.readouterr().out
    assert "Call-takers (1; times H:MM:SS)" in out
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == sorted(CALLTAKER_CSV_FILES)
    with (tmp_path / "csv" / "calltakers.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert [(r["calltaker"], r["handled"], r["talk_s"], r["paused_s"]) for r in rows] == [
        ("1001", "1", "600", "2700"),
        ("all", "1", "600", "2700"),
    ]
    with (tmp_path / "csv" / "calltaker_pauses.csv").open() as stream:
        pauses = [(r["reason"], r["paused_s"]) for r in csv.DictReader(stream)]
    assert ("sholat", "900") in pauses

    # A journal from before the record (schema 0005) says so, exit 1.
    with sqlite3.connect(tmp_path / "journal.db") as db:
        db.execute("DROP TABLE agent_events")
    assert await asyncio.to_thread(main, args) == 1
    assert "no call-takers' record" in capsys.readouterr().err
