"""Calls of Asterisk's fallback queue, from queue_log, merged into the journal.

The fallback queue answers calls while callgate is stopped, or after callgate handed them back
at a stop; :mod:`callgate.daemon.fallback` reads what happened from queue_log and the journal
merges it here: a call it never saw is written whole, a call it knows only gets what it lacks.
Apart from :mod:`callgate.storage.journal` because this is the one writer that merges rather
than appends.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from callgate.storage.models import AgentRow, CallRow, TransitionRow

#: The outcome the core gives a call handed to the fallback queue; a call journaled from
#: queue_log gets the same, answered there or not (``answered_by`` says which).
FALLBACK_OUTCOME = "FALLBACK"
#: ``destination`` of such calls, as the core writes it (the composition root's FALLBACK).
FALLBACK_DESTINATION = "fallback-queue"


class FallbackWrite(enum.Enum):
    """What :meth:`~callgate.storage.journal.Journal.record_fallback_call` did."""

    INSERTED = "inserted"
    "The call was not in the journal: written whole."
    COMPLETED = "completed"
    "The call was in the journal (callgate handed it back): missing fields filled in."
    UNCHANGED = "unchanged"
    "Everything was already there (a file read again)."


@dataclass(frozen=True, slots=True)
class FallbackCallFacts:
    """A call answered (or not) in the fallback queue, as queue_log tells it."""

    call_id: str
    caller: str
    caller_sent: str
    dialed: str
    entered_at: datetime
    ended_at: datetime
    answered_at: datetime | None = None
    answered_by: str | None = None
    "The call-taker who answered first."
    agents: tuple[tuple[str, datetime], ...] = ()
    "Every call-taker who answered there, with when."
    steps: tuple[tuple[datetime, str], ...] = ()
    "What happened in the queue (when, what), kept as the call's transitions."
    priority: int = 1
    "Priority class for a call callgate never screened (the core's NORMAL)."


def merge_fallback_call(
    session: AsyncSession, call: CallRow | None, f: FallbackCallFacts
) -> FallbackWrite:
    """Merge ``f`` into ``call`` (loaded with its transitions and call-takers; None if the journal
    does not know the call, which is then added to ``session``), idempotently: nothing recorded is
    overwritten and nothing is written twice."""
    result = FallbackWrite.COMPLETED
    if call is None:
        result = FallbackWrite.INSERTED
        call = CallRow(
            call_id=f.call_id,
            caller=f.caller,
            caller_sent=f.caller_sent,
            dialed=f.dialed,
            priority=f.priority,
            category="",
            started_at=f.entered_at,
            destination=FALLBACK_DESTINATION,
            transitions=[],
            agents=[],
        )
        session.add(call)
    changed = False
    previous_state = call.state
    if call.ended_at is None:
        call.ended_at, call.outcome, call.state = (
            f.ended_at,
            FALLBACK_OUTCOME,
            FALLBACK_OUTCOME,
        )
        call.destination = call.destination or FALLBACK_DESTINATION
        changed = True
    if call.answered_at is None and f.answered_at is not None:
        call.answered_at = f.answered_at
        changed = True
    if call.answered_by is None and f.answered_by is not None:
        call.answered_by = f.answered_by
        changed = True
    known_agents = {(a.agent_id, a.role) for a in call.agents}
    for agent_id, at in f.agents:
        if (agent_id, "call-taker") not in known_agents:
            known_agents.add((agent_id, "call-taker"))
            call.agents.append(AgentRow(agent_id=agent_id, role="call-taker", at=at))
            changed = True
    known_steps = {(t.at, t.trigger) for t in call.transitions}
    for index, (at, step) in enumerate(f.steps):
        if (at, step) in known_steps:
            continue
        known_steps.add((at, step))
        first = index == 0 and result is FallbackWrite.INSERTED
        call.transitions.append(
            TransitionRow(
                at=at,
                from_state=None if first else previous_state or FALLBACK_OUTCOME,
                to_state=FALLBACK_OUTCOME,
                trigger=step[:64],
            )
        )
        previous_state = FALLBACK_OUTCOME
        changed = True
    if result is FallbackWrite.INSERTED:
        return result
    return FallbackWrite.COMPLETED if changed else FallbackWrite.UNCHANGED
