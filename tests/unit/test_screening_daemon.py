"""Screening at arrival with a real journal (SQLite): the daemon's loader reads the caller's
history, the core decides with it (as it does for the simulator)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callgate.core.acd import Acd
from callgate.core.commands import CallScreened
from callgate.core.config import AcdConfig
from callgate.core.events import CallArrived, Priority
from callgate.core.screening import (
    CallerHistory,
    Disposition,
    DispositionRecord,
    ScreeningPolicy,
    history_key,
)
from callgate.screening import HistoryLoader
from callgate.simulator import Simulation, TraceCall
from callgate.storage.annotations import JournalAnnotations
from callgate.storage.history import dispositions_of
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


async def _screened(journal: Journal, caller: str, *, lookup_timeout: float = 0.5) -> CallScreened:
    """The daemon's path: the loader, then the core, for a call arriving at ``NOW``."""
    policy = ScreeningPolicy()
    history = await HistoryLoader(journal, policy, lookup_timeout=lookup_timeout)(caller, NOW)
    arrived = CallArrived("c", caller=caller, caller_name=f"112 {caller}", history=history)
    [note] = [
        c
        for c in Acd(AcdConfig(screening=policy)).handle(arrived, NOW)
        if isinstance(c, CallScreened)
    ]
    return note


async def test_given_three_pranks_then_tagged_warned_and_deprioritised(tmp_path: Path) -> None:
    journal = await _journal_with(tmp_path, ["prank", "prank", "prank"])
    try:
        decision = await _screened(journal, "+6281100")
    finally:
        await journal.close()
    assert decision.tag
    assert decision.warn
    assert decision.priority == Priority.NUISANCE
    assert decision.caller_name.endswith("+6281100")
    assert decision.caller_name.startswith(decision.tag)


async def test_given_a_genuine_call_after_pranks_then_the_caller_is_not_penalised(
    tmp_path: Path,
) -> None:
    journal = await _journal_with(tmp_path, ["prank", "prank", "prank", "genuine"])
    try:
        decision = await _screened(journal, "+6281100")
    finally:
        await journal.close()
    assert decision.priority == Priority.NORMAL
    assert not decision.warn


async def test_given_a_new_or_anonymous_caller_then_a_normal_call(tmp_path: Path) -> None:
    journal = await _journal_with(tmp_path, ["prank", "prank", "prank"])
    try:
        fresh = await _screened(journal, "+6289999")
        anonymous = await _screened(journal, "anonymous")
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
        decision = await _screened(journal, "+6281100", lookup_timeout=0.0)
    finally:
        await journal.close()
    assert decision.priority == Priority.NORMAL


# -- the loader and the core: one screening for the daemon and the simulator ----------------


async def test_the_loader_gives_the_history_and_an_empty_one_when_there_is_nothing_to_load(
    tmp_path: Path,
) -> None:
    journal = await _journal_with(tmp_path, ["prank", "prank"])
    try:
        loader = HistoryLoader(journal, ScreeningPolicy())
        known = await loader("+6281100", NOW)
        fresh = await loader("+6289999", NOW)
        anonymous = await loader("anonymous", NOW)
        slow = await HistoryLoader(journal, ScreeningPolicy(), lookup_timeout=0.0)("+6281100", NOW)
    finally:
        await journal.close()
    key = history_key("+6281100", None)
    assert (known.key, [d.disposition.value for d in known.dispositions]) == (
        key,
        ["prank", "prank"],
    )
    assert (fresh.key, fresh.dispositions) == (history_key("+6289999", None), ())
    assert anonymous == CallerHistory("")  # no key: never one history for every SIM-less caller
    assert (slow.key, slow.dispositions, slow.blocks) == (key, (), ())


@pytest.mark.parametrize(
    ("caller", "dispositions"),
    [
        ("+6281100", ["prank", "prank", "prank"]),
        ("+6281100", ["prank", "ghost", "prank", "genuine"]),
        ("+6281100", ["prank"]),
        ("+6289999", ["prank", "prank", "prank"]),  # someone else's history
        ("anonymous", []),
    ],
)
async def test_the_simulator_and_the_daemon_make_the_same_screening_decision(
    tmp_path: Path, caller: str, dispositions: list[str]
) -> None:
    policy = ScreeningPolicy()
    # The daemon: the journal's history, loaded at arrival, goes to the core with the call.
    journal = await _journal_with(tmp_path, dispositions)
    try:
        history = await HistoryLoader(journal, policy)(caller, NOW)
        key = history_key("+6281100", None)
        assert key is not None
        stored = await dispositions_of(journal, key, datetime.fromtimestamp(0, UTC))
    finally:
        await journal.close()
    daemon = Acd(AcdConfig(screening=policy))
    out = daemon.handle(
        CallArrived("c1", caller=caller, caller_name=f"112 {caller}", history=history), NOW
    )
    [by_daemon] = [c for c in out if isinstance(c, CallScreened)]

    # The simulator: the same dispositions in its own store, the same caller arriving then.
    sim = Simulation(
        AcdConfig(),
        [TraceCall(0.0, 60.0, caller, "genuine")],
        start=NOW,
        agents=1,
        shifts=[],
        rng=random.Random(1),
        patience=60.0,
        answer_delay=2.0,
        no_answer_share=0.0,
        screening=policy,
    )
    sim.histories[key] = CallerHistory(
        key,
        dispositions=tuple(
            DispositionRecord(p.at.timestamp(), Disposition(p.disposition), p.call_id)
            for p in stored
        ),
    )
    sim.run()
    by_simulator = sim.screened["call-0"]

    def decision(note: CallScreened) -> tuple[object, ...]:
        return (note.priority, note.category, note.tag, note.warn, note.blocked, note.score)

    assert decision(by_simulator) == decision(by_daemon)
    if by_daemon.tag:  # the tag before the number, whatever the plain name was
        assert by_daemon.caller_name == by_simulator.caller_name == f"{by_daemon.tag} {caller}"
