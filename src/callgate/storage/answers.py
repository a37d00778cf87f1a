"""Who answered a call and when, for an end the core did not write.

The core's end of a call carries its answer (``CallEnded.answered_at`` and its call-taker). A
call the core did not end (a conversation adopted after a restart or a takeover, a call found
gone at a reconnection) is closed from outside, and its row said nobody answered it, although
the journal may hold the answer the process before recorded: the call-taker's row
(``call_agents``, role ``call-taker``, written once they were bridged with the caller) and the
call's move to ``CONNECTING`` (the moment they answered: the core's ``answered_at``). That answer
is the call's. An adoption's own, from Asterisk's bridge, counts only when the journal never had
one (the answer was still queued when the old process or leader died); its call-taker's row is
then written too, so the call's history names them as any answered call's does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callgate.storage.models import AgentRow, TransitionRow

#: A call-taker's role in ``call_agents`` (the journal writer's ``AgentConnected``).
CALL_TAKER = "call-taker"
#: The call's state from its call-taker's answer until the bridge (the core's ``CONNECTING``).
ANSWERED_STATE = "CONNECTING"

Answer = tuple[datetime | None, str | None]
"""``(answered_at, answered_by)``, as a call's row holds them."""


async def journaled_answer(session: AsyncSession, call_id: str) -> Answer | None:
    """The call's last call-taker in the journal and when they answered; None if none."""
    taker = await session.scalar(
        select(AgentRow)
        .where(AgentRow.call_id == call_id, AgentRow.role == CALL_TAKER)
        .order_by(AgentRow.at.desc(), AgentRow.id.desc())
        .limit(1)
    )
    if taker is None:
        return None
    # Their answer: the call's last move to CONNECTING before they were bridged (an answer
    # whose bridge failed came before it). None recorded (a row from a fallback queue, a
    # transition lost): their row's own time, when they were bridged, just after.
    answered = await session.scalar(
        select(TransitionRow.at)
        .where(
            TransitionRow.call_id == call_id,
            TransitionRow.to_state == ANSWERED_STATE,
            TransitionRow.at <= taker.at,
        )
        .order_by(TransitionRow.at.desc(), TransitionRow.id.desc())
        .limit(1)
    )
    return (answered if answered is not None else taker.at, taker.agent_id)


async def answer_of_outside_end(session: AsyncSession, call_id: str, given: Answer) -> Answer:
    """The answer an end from outside records: the journal's, else ``given`` (an adoption's,
    whose call-taker row is added with it; ``(None, None)``: nobody answered)."""
    journaled = await journaled_answer(session, call_id)
    if journaled is not None:
        return journaled
    answered_at, answered_by = given
    if answered_by is not None and answered_at is not None:
        session.add(
            AgentRow(call_id=call_id, agent_id=answered_by, role=CALL_TAKER, at=answered_at)
        )
    return given
