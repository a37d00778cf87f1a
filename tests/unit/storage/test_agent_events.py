"""The call-takers' record: written in order, read back between two times with each call-taker's
state before, and the calls they answered from the calls journal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callgate.storage.agent_events import (
    AgentEvent,
    agent_events_between,
    handled_calls_between,
    has_agent_events,
    save_agent_event,
)
from callgate.storage.journal import Journal

T0 = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def _save(journal: Journal, *events: AgentEvent) -> None:
    for event in events:
        await save_agent_event(journal, event)


async def test_given_events_around_a_period_then_it_has_its_own_and_each_state_before(
    journal: Journal,
) -> None:
    await _save(
        journal,
        AgentEvent(_at(-60), "1001", "login", cause="AgentLoggedIn"),
        AgentEvent(_at(-30), "1001", "pause", reason="meal", cause="AgentPaused"),
        AgentEvent(_at(-20), "1001", "ring-missed", call_id="c0", cause="RingTimedOut"),
        AgentEvent(_at(-50), "1002", "login", cause="AgentLoggedIn"),
        AgentEvent(_at(10), "1001", "unpause", cause="AgentUnpaused"),
        AgentEvent(_at(70), "1001", "logout", cause="AgentLoggedOut"),
    )
    found = await agent_events_between(journal, _at(0), _at(60))
    assert [(e.agent_id, e.event, e.reason) for e in found.before] == [
        ("1001", "pause", "meal"),
        ("1002", "login", None),
    ]
    assert [(e.agent_id, e.event, e.cause) for e in found.events] == [
        ("1001", "unpause", "AgentUnpaused")
    ]
    assert found.events[0].at == _at(10)
    assert await has_agent_events(journal)


async def test_given_an_unknown_event_or_a_naive_time_then_it_is_refused(journal: Journal) -> None:
    with pytest.raises(ValueError, match="unknown call-taker event"):
        await save_agent_event(journal, AgentEvent(_at(0), "1001", "nap"))
    with pytest.raises(ValueError, match="naive"):
        await save_agent_event(journal, AgentEvent(datetime(2026, 11, 25), "1001", "login"))


async def _call(
    journal: Journal, call_id: str, start: float, answered: float | None, end: float | None
) -> None:
    await journal.call_started(
        call_id,
        caller="0812",
        caller_sent="0812",
        dialed="112",
        priority=1,
        category="",
        at=_at(start),
    )
    if end is not None:
        await journal.call_ended(
            call_id,
            at=_at(end),
            outcome="COMPLETED" if answered is not None else "ABANDONED",
            answered_at=None if answered is None else _at(answered),
            answered_by=None if answered is None else "1001",
        )


async def test_given_calls_around_a_period_then_the_answered_ones_talking_in_it_are_handled(
    journal: Journal,
) -> None:
    await _call(journal, "before", -30, -29, -20)  # over before the period
    await _call(journal, "across", -10, -9, 5)  # answered before, talking into it
    await _call(journal, "inside", 10, 11, 20)
    await _call(journal, "abandoned", 12, None, 13)
    await _call(journal, "after", 70, 71, 80)
    handled = await handled_calls_between(journal, _at(0), _at(60))
    assert [(c.call_id, c.agent_id) for c in handled] == [("across", "1001"), ("inside", "1001")]
    assert handled[1].answered_at == _at(11)
    assert handled[1].ended_at == _at(20)
