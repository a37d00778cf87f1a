"""The call-takers' record: logins, logouts, pauses with their reason, missed rings and the calls
they answered and ended, one row each, in the order the daemon reported them.

The daemon writes it (:mod:`callgate.daemon.calltaker_records`) from the core's notifications;
``callgate report --calltakers`` reads it back between two times, with each call-taker's state
when the period began (:func:`agent_events_between`) and the calls they answered
(:func:`handled_calls_between`, from the calls journal).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, Integer, String, func, inspect, select
from sqlalchemy.orm import Mapped, mapped_column

from callgate.storage.database import require_aware
from callgate.storage.journal import Journal
from callgate.storage.models import WIDE, Base, CallRow, Clipped, UTCDateTime

LOGIN = "login"
LOGOUT = "logout"
PAUSE = "pause"
UNPAUSE = "unpause"
RING_MISSED = "ring-missed"
CALL_ANSWERED = "call-answered"
CALL_ENDED = "call-ended"
WRAP_UP_ENDED = "wrap-up-ended"
#: Every event the record holds.
EVENTS = (LOGIN, LOGOUT, PAUSE, UNPAUSE, RING_MISSED, CALL_ANSWERED, CALL_ENDED, WRAP_UP_ENDED)
#: The events that say whether a call-taker is logged in and paused.
STATE_EVENTS = (LOGIN, LOGOUT, PAUSE, UNPAUSE)
TABLE = "agent_events"
#: No conversation lasts longer: calls that started earlier are not looked at.
_LONGEST_CALL = timedelta(days=1)


class AgentEventRow(Base):
    """One thing a call-taker did, or that happened to them."""

    __tablename__ = TABLE
    __table_args__ = (Index("ix_agent_events_agent_id_at", "agent_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    agent_id: Mapped[str] = mapped_column(Clipped(64, "agent_events.agent_id"))
    event: Mapped[str] = mapped_column(String(32))
    #: A pause's reason (``meal``, ``auto: missed calls``...).
    reason: Mapped[str | None] = mapped_column(Clipped(WIDE, "agent_events.reason"))
    #: Indexed: a call's timeline gathers its rings and answers (migration 0007).
    call_id: Mapped[str | None] = mapped_column(String(128), index=True)
    #: The core's cause (``AgentPaused``, ``RingTimedOut``, ``WrapUpEnded``, ``daemon-stopped``).
    cause: Mapped[str] = mapped_column(Clipped(64, "agent_events.cause"))
    #: Who did it, when known: ``callgate`` for what the daemon decided itself.
    by: Mapped[str | None] = mapped_column(Clipped(WIDE, "agent_events.by"))


@dataclass(frozen=True, slots=True)
class AgentEvent:
    """One row of the call-takers' record, as written and read."""

    at: datetime
    "When (tz-aware)."
    agent_id: str
    "The call-taker."
    event: str
    "One of :data:`EVENTS`."
    reason: str | None = None
    "A pause's reason."
    call_id: str | None = None
    "The call, for a missed ring and a call answered or ended."
    cause: str = ""
    "The core's cause of the change."
    by: str | None = None
    "Who did it, when known."


async def save_agent_event(journal: Journal, record: AgentEvent) -> None:
    """Append one event to the record."""
    require_aware(at=record.at)
    if record.event not in EVENTS:
        raise ValueError(f"unknown call-taker event {record.event!r}")
    async with journal.transaction() as session:
        session.add(
            AgentEventRow(
                at=record.at,
                agent_id=record.agent_id,
                event=record.event,
                reason=record.reason,
                call_id=record.call_id,
                cause=record.cause,
                by=record.by,
            )
        )


def _event(row: AgentEventRow) -> AgentEvent:
    return AgentEvent(
        at=row.at,
        agent_id=row.agent_id,
        event=row.event,
        reason=row.reason,
        call_id=row.call_id,
        cause=row.cause,
        by=row.by,
    )


@dataclass(frozen=True, slots=True)
class AgentEvents:
    """A period's events and where each call-taker stood when it began."""

    before: list[AgentEvent]
    "Each call-taker's last login, logout, pause or unpause before the period (one each)."
    events: list[AgentEvent]
    "Every event in the period, in the order written."


async def agent_events_between(journal: Journal, start: datetime, end: datetime) -> AgentEvents:
    """Events in ``[start, end)``, in the order written, and each call-taker's last state event
    before ``start`` (so a pause that began before the period is counted from its start)."""
    require_aware(start=start, end=end)
    async with journal.transaction() as session:
        last = (
            select(func.max(AgentEventRow.id))
            .where(AgentEventRow.at < start, AgentEventRow.event.in_(STATE_EVENTS))
            .group_by(AgentEventRow.agent_id)
            .scalar_subquery()
        )
        before = await session.scalars(
            select(AgentEventRow).where(AgentEventRow.id.in_(last)).order_by(AgentEventRow.id)
        )
        found_before = [_event(row) for row in before]
        rows = await session.scalars(
            select(AgentEventRow)
            .where(AgentEventRow.at >= start, AgentEventRow.at < end)
            .order_by(AgentEventRow.at, AgentEventRow.id)
        )
        return AgentEvents(found_before, [_event(row) for row in rows])


@dataclass(frozen=True, slots=True)
class HandledCall:
    """A call a call-taker answered (``calls.answered_by``), for talk time."""

    call_id: str
    agent_id: str
    category: str
    answered_at: datetime
    ended_at: datetime | None
    outcome: str | None


async def handled_calls_between(
    journal: Journal, start: datetime, end: datetime
) -> list[HandledCall]:
    """Calls answered by someone whose conversation overlaps ``[start, end)``, oldest first
    (a call answered before the period and still talking in it is there)."""
    require_aware(start=start, end=end)
    async with journal.transaction() as session:
        rows = await session.execute(
            select(
                CallRow.call_id,
                CallRow.answered_by,
                CallRow.category,
                CallRow.answered_at,
                CallRow.ended_at,
                CallRow.outcome,
            )
            .where(
                CallRow.answered_by.is_not(None),
                CallRow.answered_at.is_not(None),
                CallRow.answered_at < end,
                # Started at most a day before: a conversation is never that long, and the
                # index on started_at keeps a year's journal out of the scan.
                CallRow.started_at >= start - _LONGEST_CALL,
                (CallRow.ended_at.is_(None)) | (CallRow.ended_at >= start),
            )
            .order_by(CallRow.answered_at)
        )
        return [
            HandledCall(
                call_id=r.call_id,
                agent_id=r.answered_by,
                category=r.category,
                answered_at=r.answered_at,
                ended_at=r.ended_at,
                outcome=r.outcome,
            )
            for r in rows
        ]


async def has_agent_events(journal: Journal) -> bool:
    """Whether the journal has the call-takers' record (schema 0006 or later)."""
    async with journal.transaction() as session:
        names: list[str] = await session.run_sync(
            lambda s: inspect(s.connection()).get_table_names()
        )
    return TABLE in names
