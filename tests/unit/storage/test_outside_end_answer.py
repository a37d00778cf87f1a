"""An end from outside the core (an adopted conversation, a call ended unseen) keeps who
answered the call and when: the journal's answer first, else the adoption's."""

from __future__ import annotations

from callgate.storage.journal import Journal
from tests.unit.storage.scenarios import at, start

CALL = "1796649260.0"


async def _answered_before(journal: Journal, agent_id: str = "1001") -> None:
    """What the process before journaled of the answer: the move to CONNECTING at 10 s (the
    answer), the call-taker's row at 10.2 s (bridged), CONNECTED."""
    await start(journal, CALL)
    await journal.call_state(CALL, at=at(3), from_state="QUEUED", to_state="OFFERED", trigger="t")
    await journal.call_state(
        CALL, at=at(10), from_state="OFFERED", to_state="CONNECTING", trigger="AgentAnswered"
    )
    await journal.agent_assigned(CALL, agent_id=agent_id, at=at(10.2))
    await journal.call_state(
        CALL, at=at(10.2), from_state="CONNECTING", to_state="CONNECTED", trigger="CallBridged"
    )


async def test_the_journals_answer_wins_over_the_adoptions(journal: Journal) -> None:
    await _answered_before(journal)
    await journal.call_ended(
        CALL, at=at(90), outcome="COMPLETED", answered_at=at(11), answered_by="1002", if_open=True
    )
    call = await journal.get_call(CALL)
    assert call is not None
    assert (call.answered_by, call.answered_at, call.outcome) == ("1001", at(10), "COMPLETED")
    assert [(a.agent_id, a.role) for a in call.agents] == [("1001", "call-taker")]


async def test_a_call_ended_unseen_keeps_the_answer_the_journal_has(journal: Journal) -> None:
    await _answered_before(journal)
    await journal.call_ended(CALL, at=at(90), outcome="ENDED_UNSEEN", if_open=True)
    call = await journal.get_call(CALL)
    assert call is not None
    assert (call.answered_by, call.answered_at) == ("1001", at(10))


async def test_a_bridge_failed_before_counts_the_answer_that_was_bridged(journal: Journal) -> None:
    await start(journal, CALL)
    await journal.call_state(
        CALL, at=at(5), from_state="OFFERED", to_state="CONNECTING", trigger="AgentAnswered"
    )
    await journal.call_state(
        CALL, at=at(6), from_state="CONNECTING", to_state="QUEUED", trigger="AgentHungUp"
    )
    await journal.call_state(
        CALL, at=at(20), from_state="OFFERED", to_state="CONNECTING", trigger="AgentAnswered"
    )
    await journal.agent_assigned(CALL, agent_id="1003", at=at(20.3))
    await journal.call_ended(CALL, at=at(90), outcome="COMPLETED", if_open=True)
    call = await journal.get_call(CALL)
    assert call is not None
    assert (call.answered_by, call.answered_at) == ("1003", at(20))


async def test_a_call_taker_row_without_its_answer_counts_from_the_row(journal: Journal) -> None:
    await start(journal, CALL)
    await journal.agent_assigned(CALL, agent_id="1001", at=at(12))
    await journal.call_ended(CALL, at=at(90), outcome="COMPLETED", if_open=True)
    call = await journal.get_call(CALL)
    assert call is not None
    assert (call.answered_by, call.answered_at) == ("1001", at(12))


async def test_an_answer_the_journal_never_had_is_the_adoptions(journal: Journal) -> None:
    # The old leader died with the answer still queued: only the start reached the journal.
    await start(journal, CALL)
    await journal.call_ended(
        CALL, at=at(90), outcome="COMPLETED", answered_at=at(11), answered_by="1002", if_open=True
    )
    call = await journal.get_call(CALL)
    assert call is not None
    assert (call.answered_by, call.answered_at) == ("1002", at(11))
    # The call's history names the call-taker as any answered call's does.
    assert [(a.agent_id, a.role, a.at) for a in call.agents] == [("1002", "call-taker", at(11))]


async def test_an_end_from_outside_never_replaces_an_end_the_call_had(journal: Journal) -> None:
    await _answered_before(journal)
    await journal.call_ended(
        CALL, at=at(60), outcome="COMPLETED", answered_at=at(10), answered_by="1001"
    )
    await journal.call_ended(
        CALL,
        at=at(90),
        outcome="ENDED_UNSEEN",
        answered_at=at(11),
        answered_by="1002",
        if_open=True,
    )
    call = await journal.get_call(CALL)
    assert call is not None
    assert (call.outcome, call.ended_at, call.answered_by) == ("COMPLETED", at(60), "1001")
    assert [a.agent_id for a in call.agents] == ["1001"]


async def test_nobody_answered_stays_nobody(journal: Journal) -> None:
    await start(journal, CALL)
    await journal.call_ended(CALL, at=at(30), outcome="ABANDONED", if_open=True)
    call = await journal.get_call(CALL)
    assert call is not None
    assert (call.answered_by, call.answered_at, call.agents) == (None, None, ())
