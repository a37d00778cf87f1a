"""Screening at arrival with a real journal (SQLite): history in, decision out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from callgate.core.events import Priority
from callgate.core.screening import ScreeningPolicy
from callgate.screening import Screener
from callgate.storage.annotations import JournalAnnotations
from callgate.storage.journal import Journal

NOW = 1_800_000_000.0


async def _journal_with(tmp_path: Path, dispositions: list[str]) -> Journal:
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'j.db'}")
    notes = JournalAnnotations(journal)
    for n, disposition in enumerate(dispositions):
        at = datetime.fromtimestamp(NOW - 3600 + n, UTC)
        await journal.call_started(
            f"c{n}", caller="+6281100", caller_sent="081100", dialed="112", priority=1,
            category="", at=at,
        )  # fmt: skip
        await notes.set_disposition(f"c{n}", disposition, "1001", at)
    return journal


async def test_given_three_pranks_then_tagged_warned_and_deprioritised(tmp_path: Path) -> None:
    journal = await _journal_with(tmp_path, ["prank", "prank", "prank"])
    try:
        decision = await Screener(journal, ScreeningPolicy()).decide("+6281100", NOW)
    finally:
        await journal.close()
    assert decision.tag
    assert decision.warn
    assert decision.priority == Priority.NUISANCE
    assert decision.caller_name("+6281100").endswith("+6281100")


async def test_given_a_genuine_call_after_pranks_then_the_caller_is_not_penalised(
    tmp_path: Path,
) -> None:
    journal = await _journal_with(tmp_path, ["prank", "prank", "prank", "genuine"])
    try:
        decision = await Screener(journal, ScreeningPolicy()).decide("+6281100", NOW)
    finally:
        await journal.close()
    assert decision.priority == Priority.NORMAL
    assert not decision.warn


async def test_given_a_new_or_anonymous_caller_then_a_normal_call(tmp_path: Path) -> None:
    journal = await _journal_with(tmp_path, ["prank", "prank", "prank"])
    try:
        screener = Screener(journal, ScreeningPolicy())
        fresh = await screener.decide("+6289999", NOW)
        anonymous = await screener.decide("anonymous", NOW)
    finally:
        await journal.close()
    assert (fresh.priority, fresh.tag) == (Priority.NORMAL, "")
    assert anonymous.priority == Priority.NORMAL
    assert anonymous.category == "anonymous"


async def test_given_a_journal_too_slow_then_screening_does_not_delay_the_call(
    tmp_path: Path,
) -> None:
    journal = await _journal_with(tmp_path, ["prank", "prank", "prank"])
    try:
        # No time at all for the lookup: the caller is screened as a first call.
        screener = Screener(journal, ScreeningPolicy(), lookup_timeout=0.0)
        decision = await screener.decide("+6281100", NOW)
    finally:
        await journal.close()
    assert decision.priority == Priority.NORMAL
