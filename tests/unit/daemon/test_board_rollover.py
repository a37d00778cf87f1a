"""The wall's figures stay true between calls: they roll over at day end and at each shift
boundary (a daemon-side timer, given a clock), and calls that end outside the core (adopted
calls, callers gone before the core had them, the fallback queue's) count at once, once,
whichever of them and the start's read of the journal comes first."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from callgate.core.screening import CATEGORY_NONE
from callgate.daemon import board
from callgate.daemon.board_figures import from_fallback
from callgate.daemon.live import LiveFeed
from callgate.ports import AgentConnected, CallEndedOutsideCore, CallStarted
from callgate.storage.fallback_calls import FallbackCallFacts
from callgate.storage.journal import Journal
from tests.unit.daemon.test_board_figures import NOON, WITA, figures

UTC = dt.UTC


def _at(hour: int, minute: int = 0, day: int = 7) -> float:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=WITA).timestamp()


def _feed(now: list[float]) -> tuple[LiveFeed, list[dict[str, Any]]]:
    published: list[dict[str, Any]] = []
    # The figures, the alarms and these records never read the view.
    feed = LiveFeed(object(), published.append, clock=lambda: now[0], figures=figures())  # type: ignore[arg-type]
    return feed, published


class _Stop(Exception):
    pass


async def test_the_figures_roll_over_at_the_shift_change_and_at_midnight() -> None:
    now = [_at(18, 59)]
    feed, published = _feed(now)
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds
        if len([m for m in published if m["type"] == "today"]) >= 3:
            raise _Stop

    with pytest.raises(_Stop):
        await board.roll_figures(feed, clock=lambda: now[0], sleep=sleep)
    todays = [m["today"] for m in published if m["type"] == "today"]
    # 19:00 the night shift, 00:00 a new day (same shift), 07:00 the day shift.
    assert [(t["day"], t["shift"]["name"], t["shift"]["start"]) for t in todays] == [
        ("2026-12-07", "malam", _at(19)),
        ("2026-12-08", "malam", _at(19)),
        ("2026-12-08", "siang", _at(7, day=8)),
    ]
    # Each roll-over also re-sends the alarms (today's failed recordings start again).
    assert len([m for m in published if m["type"] == "alarms"]) == 3
    # No busy loop: every sleep is a real wait, at most a minute (a reload is met then).
    assert all(0 < s <= board.ROLL_CHECK_SECONDS for s in sleeps)
    assert len(sleeps) <= (now[0] - _at(18, 59)) / board.ROLL_CHECK_SECONDS + 3


async def test_without_a_roster_the_figures_roll_over_at_midnight_only() -> None:
    now = [_at(23, 59)]
    published: list[dict[str, Any]] = []
    feed = LiveFeed(object(), published.append, clock=lambda: now[0], figures=figures(None))  # type: ignore[arg-type]

    async def sleep(seconds: float) -> None:
        now[0] += seconds
        if published:
            raise _Stop

    with pytest.raises(_Stop):
        await board.roll_figures(feed, clock=lambda: now[0], sleep=sleep)
    assert published[0]["type"] == "today"
    assert published[0]["today"]["day"] == "2026-12-08"
    assert now[0] == _at(0, day=8) + board.ROLL_CHECK_SECONDS  # rolled at 00:00, then slept


async def test_a_call_ended_outside_the_core_counts_at_once() -> None:
    feed, published = _feed([NOON])
    feed.figures.from_journal = True  # the journal was read
    await feed.notification(CallStarted("gone", "+6281", "081", "112", 2, NOON - 30, ""))
    await feed.notification(CallStarted("kept", "+6282", "082", "112", 2, NOON - 90, ""))
    await feed.notification(AgentConnected("kept", "1001", NOON - 80))
    await feed.notification(CallEndedOutsideCore("gone", "ABANDONED", NOON - 20))
    await feed.notification(CallEndedOutsideCore("kept", "COMPLETED", NOON - 10))
    # An end the figures cannot place (its call started before the periods on) counts nowhere.
    await feed.notification(CallEndedOutsideCore("old", "COMPLETED", NOON))
    today = [m["today"] for m in published if m["type"] == "today"][-1]
    assert (today["calls"], today["answered"], today["abandoned"]) == (2, 1, 1)
    assert today["within"] == [[15, 1], [20, 1]]
    assert {c.call_id for c in feed.figures.calls} == {"gone", "kept"}


def _fallback_facts(call_id: str, entered: float) -> FallbackCallFacts:
    def at(t: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(t, UTC)

    return FallbackCallFacts(
        call_id=call_id,
        caller="+6283",
        caller_sent="083",
        dialed="112",
        entered_at=at(entered),
        ended_at=at(entered + 60),
        answered_at=at(entered + 12),
        answered_by="1002",
        agents=(("1002", at(entered + 12)),),
        steps=((at(entered), "fallback queue: entered"),),
    )


async def _journal(tmp_path: Path) -> Journal:
    """Today's journal at start: "open" started before the restart and is not over yet."""
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    await journal.call_started(
        "open",
        caller="+6284",
        caller_sent="084",
        dialed="112",
        priority=2,
        category=CATEGORY_NONE,
        at=dt.datetime.fromtimestamp(NOON - 600, UTC),
    )
    return journal


@pytest.mark.parametrize("before_the_read", [True, False])
async def test_the_start_s_read_and_ends_outside_the_core_count_each_call_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before_the_read: bool
) -> None:
    monkeypatch.setattr(board.time, "time", lambda: NOON)
    journal = await _journal(tmp_path)
    facts = _fallback_facts("queued", NOON - 300)
    feed, published = _feed([NOON])
    hook = board.fallback_to_figures(feed)
    try:
        # The fallback queue's reader journals its call and tells the wall.
        await journal.record_fallback_call(facts)
        if before_the_read:
            hook(facts)
            await feed.notification(CallEndedOutsideCore("open", "ENDED_UNSEEN", NOON - 5))
        await board.load_figures(journal, feed)
        if not before_the_read:
            hook(facts)
            await feed.notification(CallEndedOutsideCore("open", "ENDED_UNSEEN", NOON - 5))
        hook(facts)  # a queue_log read again (after a restart of the reader) changes nothing
    finally:
        await journal.close()
    today = feed.figures.to_json(NOON, 0)
    assert sorted(c.call_id for c in feed.figures.calls) == ["open", "queued"]
    assert (today["calls"], today["fallback"], today["answered"]) == (2, 1, 1)
    assert published[-1]["type"] == "today"


async def test_an_end_journaled_before_the_read_is_the_journal_s() -> None:
    f = figures()
    f.ended_outside("x", "ABANDONED")  # before the read: remembered, not counted yet
    assert f.calls == []
    for i in range(600):  # bounded
        f.ended_outside(f"y{i}", "ABANDONED")
    assert len(f._ends) <= 512

    class Row:
        call_id, category, outcome, answer_time = "x", "", "ABANDONED", None
        started_at = dt.datetime.fromtimestamp(NOON - 60, UTC)
        ended_at = dt.datetime.fromtimestamp(NOON - 30, UTC)

    async def read(_start: dt.datetime, _end: dt.datetime) -> list[Row]:
        return [Row()]

    await f.load(read, NOON)
    assert [c.call_id for c in f.calls] == ["x"]
    assert f.to_json(NOON, 0)["abandoned"] == 1
    assert from_fallback("z", NOON, None).answer_time is None
