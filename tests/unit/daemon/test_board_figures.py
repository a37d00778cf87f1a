"""Today's and this shift's figures on the wallboard: the journal's, in the centre's zone, so a
restart changes nothing (the same calls read back from a real SQLite journal give the same
figures as the calls folded in live)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callgate.core.callbacks import CALLBACK_CATEGORY
from callgate.core.calls import CallState
from callgate.core.commands import CallEnded
from callgate.core.roster import Roster, Shift
from callgate.core.screening import CATEGORY_GHOST, CATEGORY_NONE, CATEGORY_REPEAT_NUISANCE
from callgate.daemon import board
from callgate.daemon.board_figures import BoardFigures, day_of, shift_of
from callgate.storage.database import JournalError
from callgate.storage.journal import Journal

WITA = ZoneInfo("Asia/Makassar")
#: 2026-12-07 10:00 WITA.
NOON = dt.datetime(2026, 12, 7, 10, 0, tzinfo=WITA).timestamp()
NIGHT = Roster(
    "WITA",
    (
        Shift(dt.time(7), dt.time(19), name="siang"),
        Shift(dt.time(19), dt.time(7), name="malam"),
    ),
)


def ended(
    call_id: str,
    arrived_at: float,
    *,
    wait: float | None = 5.0,
    outcome: CallState = CallState.COMPLETED,
    category: str = CATEGORY_NONE,
) -> CallEnded:
    answered = None if wait is None else arrived_at + wait
    return CallEnded(
        call_id=call_id,
        outcome=outcome,
        caller="+6281234",
        category=category,
        priority=2,
        arrived_at=arrived_at,
        answered_at=answered,
        ended_at=arrived_at + (wait or 0) + 60,
        agent_id="1001" if answered is not None else None,
        destination=None,
    )


def figures(roster: Roster | None = NIGHT) -> BoardFigures:
    return BoardFigures(WITA, lambda: roster, lambda: (15, 20))


def test_the_day_and_the_shift_are_the_centre_s_not_the_host_s() -> None:
    day = day_of(NOON, WITA)
    assert day.name == "2026-12-07"
    assert day.start == dt.datetime(2026, 12, 7, tzinfo=WITA).timestamp()
    # 02:00 WITA on the 8th: the night shift began at 19:00 on the 7th.
    late = dt.datetime(2026, 12, 8, 2, 0, tzinfo=WITA).timestamp()
    night = shift_of(late, NIGHT)
    assert night is not None
    assert night.name == "malam"
    assert night.start == dt.datetime(2026, 12, 7, 19, 0, tzinfo=WITA).timestamp()
    assert shift_of(NOON, None) is None
    assert shift_of(NOON, Roster("WITA", (Shift(dt.time(20), dt.time(22), name="x"),))) is None


def test_the_figures_count_the_calls_of_the_day_and_of_the_shift() -> None:
    f = figures()
    yesterday = NOON - 86400
    for note in (
        ended("a", NOON - 3600 * 4, wait=3),  # 06:00: today, the night shift before
        ended("b", NOON - 60, wait=12),
        ended("c", NOON - 50, wait=18),
        ended("d", NOON - 40, wait=None, outcome=CallState.ABANDONED),
        ended("e", NOON - 30, wait=None, outcome=CallState.FALLBACK),
        ended("f", NOON - 20, wait=2, category=CATEGORY_REPEAT_NUISANCE),
        ended("g", NOON - 10, wait=None, outcome=CallState.ABANDONED, category=CATEGORY_GHOST),
        ended("h", yesterday, wait=1),  # another day: in neither
        ended("i", NOON - 5, wait=1, category=CALLBACK_CATEGORY),  # the worklist's own call
    ):
        f.add(note)
    shown = f.to_json(NOON, callbacks_open=2)
    assert shown["day"] == "2026-12-07"
    assert shown["marks"] == [15, 20]
    assert {k: shown[k] for k in ("calls", "answered", "abandoned", "fallback")} == {
        "calls": 7,
        "answered": 4,
        "abandoned": 2,
        "fallback": 1,
    }
    assert shown["within"] == [[15, 3], [20, 4]]
    assert (shown["nuisance"], shown["ghost"], shown["callbacks_open"]) == (1, 1, 2)
    assert shown["shift"]["name"] == "siang"
    assert shown["shift"]["calls"] == 6  # "a" was the night shift's
    # Yesterday's call is no longer kept.
    assert "h" not in {c.call_id for c in f.calls}
    assert figures(None).to_json(NOON, 0)["shift"] is None


async def _journal_of(tmp_path: Path, notes: list[CallEnded]) -> Journal:
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    utc = dt.UTC
    for n in notes:
        await journal.call_started(
            n.call_id,
            caller=n.caller,
            caller_sent=n.caller,
            dialed="112",
            priority=n.priority,
            category=CATEGORY_NONE,
            at=dt.datetime.fromtimestamp(n.arrived_at, utc),
        )
        await journal.call_ended(
            n.call_id,
            at=dt.datetime.fromtimestamp(n.ended_at, utc),
            outcome=n.outcome.value,
            answered_at=None
            if n.answered_at is None
            else dt.datetime.fromtimestamp(n.answered_at, utc),
            answered_by=n.agent_id,
            category=n.category,
        )
    return journal


class _Feed:
    """What :func:`board.load_figures` uses of the live feed."""

    def __init__(self, f: BoardFigures) -> None:
        self.figures = f
        self.published = 0

    def publish_today(self) -> None:
        self.published += 1


NOTES = [
    ended("a", NOON - 3600 * 4, wait=3),
    ended("b", NOON - 60, wait=16),
    ended("c", NOON - 50, wait=None, outcome=CallState.ABANDONED, category=CATEGORY_GHOST),
    ended("d", NOON - 40, wait=None, outcome=CallState.FALLBACK),
    ended("e", NOON - 30, wait=8, category=CATEGORY_REPEAT_NUISANCE),
    ended("f", NOON - 86400, wait=1),
]


async def test_after_a_restart_the_journal_gives_the_same_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = figures()
    for note in NOTES:
        before.add(note)
    journal = await _journal_of(tmp_path, NOTES)
    try:
        after = figures()
        after.started(NOON - 10)
        assert after.to_json(NOON, 0)["since"] == NOON - 10  # counting from the start, until...
        # ... the journal was read; a call the core ended meanwhile is counted once.
        after.add(NOTES[1])
        feed = _Feed(after)
        monkeypatch.setattr(board.time, "time", lambda: NOON)
        await board.load_figures(journal, feed)  # type: ignore[arg-type]
    finally:
        await journal.close()
    assert feed.published == 1
    shown = after.to_json(NOON, 0)
    assert shown == {**before.to_json(NOON, 0), "since": None}
    assert shown["calls"] == 5
    assert shown["shift"]["calls"] == 4


async def test_a_journal_that_does_not_answer_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tries: list[int] = []

    async def load_report_rows(*_: Any, **__: Any) -> Any:
        tries.append(1)
        if len(tries) == 1:
            raise JournalError("database is locked")
        return type("Rows", (), {"calls": []})()

    async def no_wait(_: float) -> None:
        return None

    monkeypatch.setattr(board, "load_report_rows", load_report_rows)
    monkeypatch.setattr(board.asyncio, "sleep", no_wait)
    feed = _Feed(figures())
    await board.load_figures(object(), feed)  # type: ignore[arg-type]
    assert len(tries) == 2
    assert feed.published == 1
    assert feed.figures.from_journal


_CALL = st.tuples(
    st.floats(min_value=-2 * 86400, max_value=0),
    st.none() | st.floats(min_value=0, max_value=120),
    st.sampled_from([CallState.COMPLETED, CallState.ABANDONED, CallState.FALLBACK]),
    st.sampled_from([CATEGORY_NONE, CATEGORY_GHOST, CATEGORY_REPEAT_NUISANCE]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_CALL, max_size=30))
def test_the_order_calls_end_in_does_not_change_the_figures(
    calls: list[tuple[float, float | None, CallState, str]],
) -> None:
    notes = [
        ended(f"c{i}", NOON + at, wait=wait, outcome=outcome, category=category)
        for i, (at, wait, outcome, category) in enumerate(calls)
    ]
    forward, backward = figures(), figures()
    for note in notes:
        forward.add(note)
    for note in reversed(notes):
        backward.add(note)
    shown = forward.to_json(NOON, 0)
    assert shown == backward.to_json(NOON, 0)
    assert shown["calls"] == sum(1 for at, *_ in calls if NOON + at >= day_of(NOON, WITA).start)
    assert shown["within"][0][1] <= shown["within"][1][1] <= shown["answered"] <= shown["calls"]
