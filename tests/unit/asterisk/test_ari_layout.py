"""The phase table of a call's life outside the core (asterisk/ari/layout.py)."""

from __future__ import annotations

import itertools

import pytest

from callgate.asterisk.ari.layout import (
    ENDED_PHASES,
    HANDED_BACK_PHASES,
    IN_CORE_PHASES,
    PHASE_MOVES,
    SETTING_UP_PHASES,
    WAITING_PHASES,
    Book,
    CallLayout,
    Move,
    Phase,
    PhaseError,
)

P, M = Phase, Move
LIVE = (P.SETTING_UP, P.BLOCKED, P.QUEUED, P.CONNECTING, P.BRIDGED)


def after(*moves: Move, start: Phase = P.SETTING_UP) -> Phase:
    layout = CallLayout("c1", "+62811", phase=start)
    for move in moves:
        layout.move(move)
    return layout.phase


@pytest.mark.parametrize(
    ("moves", "phase"),
    [
        ((M.ARRIVE,), P.QUEUED),
        ((M.ARRIVE, M.CONNECT), P.CONNECTING),
        ((M.ARRIVE, M.CONNECT, M.BRIDGE), P.BRIDGED),
        # app_queue#1557: the call-taker left before the bridge: the caller waits again.
        ((M.ARRIVE, M.CONNECT, M.BRIDGE_FAILED), P.QUEUED),
        ((M.ARRIVE, M.CONNECT, M.BRIDGE, M.CONNECT, M.BRIDGE_FAILED), P.BRIDGED),
        ((M.ARRIVE, M.HAND_BACK), P.HANDED_BACK),
        # Handed back, then the core closes the call: still sealed at the caller's hang-up.
        ((M.ARRIVE, M.HAND_BACK, M.END), P.RELEASED),
        ((M.ARRIVE, M.END, M.HAND_BACK), P.RELEASED),
        # The core screens the call once it has it, and may find it blocked.
        ((M.ARRIVE, M.BLOCK), P.BLOCKED),
        ((M.ARRIVE, M.BLOCK, M.END), P.ENDED),
        ((M.END, M.ARRIVE), P.ENDED),  # gone during set-up: the arrival changes nothing
        ((M.HAND_BACK, M.ARRIVE), P.HANDED_BACK),  # handed back on shutdown during set-up
    ],
)
def test_a_call_moves_through_the_phases_the_table_gives(
    moves: tuple[Move, ...], phase: Phase
) -> None:
    assert after(*moves) is phase


def test_a_callback_s_bridge_is_made_while_queued_and_undone_if_its_call_taker_left() -> None:
    assert after(M.BRIDGE, start=P.QUEUED) is P.BRIDGED
    assert after(M.BRIDGE, M.UNBRIDGE, start=P.QUEUED) is P.QUEUED


def test_every_phase_can_end_and_every_phase_but_adopted_can_be_handed_back() -> None:
    for phase in Phase:
        assert (phase, M.END) in PHASE_MOVES
        assert ((phase, M.HAND_BACK) in PHASE_MOVES) is (phase is not P.ADOPTED)
    assert {PHASE_MOVES[p, M.END] for p in LIVE} == {P.ENDED}
    assert {PHASE_MOVES[p, M.HAND_BACK] for p in LIVE} == {P.HANDED_BACK}


def test_once_handed_back_or_over_no_media_move_changes_the_phase() -> None:
    media = (M.ARRIVE, M.BLOCK, M.CONNECT, M.BRIDGE, M.BRIDGE_FAILED, M.UNBRIDGE)
    for phase, move in itertools.product((P.HANDED_BACK, P.RELEASED, P.ENDED, P.ADOPTED), media):
        assert PHASE_MOVES[phase, move] is phase


@pytest.mark.parametrize(
    ("phase", "move"),
    [
        (P.SETTING_UP, M.CONNECT),  # the core does not know the call yet
        (P.QUEUED, M.ARRIVE),
        (P.SETTING_UP, M.BLOCK),  # the core screens a call only once it has it
        (P.BLOCKED, M.CONNECT),  # a blocked caller is never put through
        (P.ADOPTED, M.HAND_BACK),  # a conversation is never handed back
        (P.QUEUED, M.UNBRIDGE),
    ],
)
def test_a_move_the_table_lacks_is_a_bug_and_raises(phase: Phase, move: Move) -> None:
    layout = CallLayout("c1", "+62811", phase=phase)
    with pytest.raises(PhaseError, match=f"no {move.name} from {phase.name}"):
        layout.move(move)
    assert layout.phase is phase


def test_the_predicates_partition_the_phases_as_the_adapter_reads_them() -> None:
    assert {P.ENDED, P.RELEASED, P.ADOPTED} == ENDED_PHASES
    assert {P.HANDED_BACK, P.RELEASED} == HANDED_BACK_PHASES
    # A caller leaving is told to the core only while the core has the call (a blocked one
    # too: the core keeps it until the channel is gone).
    assert set(Phase) - ENDED_PHASES - HANDED_BACK_PHASES - SETTING_UP_PHASES == IN_CORE_PHASES
    assert {P.SETTING_UP} == SETTING_UP_PHASES
    assert {P.SETTING_UP, P.BLOCKED, P.QUEUED} == WAITING_PHASES
    layout = CallLayout("c1", "+62811", phase=P.RELEASED)
    assert (layout.ended, layout.handed_back, layout.adopted) == (True, True, False)
    assert CallLayout("c2", "+62811", phase=P.ADOPTED).adopted


def test_a_caller_is_still_waiting_only_while_alone_and_still_held() -> None:
    book = Book()
    layout = CallLayout("c1", "+62811", phase=P.QUEUED)
    assert not book.still_waiting(layout)  # not (or no longer) in the book
    book.calls["c1"] = layout
    assert book.still_waiting(layout)
    layout.move(M.CONNECT)
    assert not book.still_waiting(layout)
    book.calls["c1"] = CallLayout("c1", "+62811")  # the same id, another layout
    assert not book.still_waiting(layout)
