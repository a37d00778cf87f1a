"""Callers' past calls and dispositions, read from the journal for screening and dispositions.

A caller is found by the core's history key (:func:`~callgate.core.screening.history_key`):
the national number (``0812...``), matched against every spelling a call record may carry
(``+62812...`` from the dialplan, ``62812...``, ``0812...``), or ``imei:<identity>`` for a
SIM-less caller, matched against ``calls.identity`` (as the carrier sent it, with or without the
``imei:`` prefix). The journal never needs the core: keys are plain strings here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select

from callgate.storage.annotations import AnnotationRow
from callgate.storage.database import require_aware
from callgate.storage.journal import Journal
from callgate.storage.models import AgentRow, CallRow

#: Prefix of history keys made from an IMEI-derived identity.
IDENTITY_PREFIX = "imei:"


@dataclass(frozen=True, slots=True)
class PastDisposition:
    """One earlier call of the same caller and what it was found to be."""

    call_id: str
    "The earlier call."
    disposition: str
    "genuine, information, prank, ghost, test or wrong-number."
    at: datetime
    "When the disposition was set."


@dataclass(frozen=True, slots=True)
class CallParty:
    """Who made a call, as the journal has it."""

    caller: str
    "The caller number as journaled (E.164 from the dialplan, or ``anonymous``)."
    identity: str | None
    "The carrier's IMEI-derived identity of a SIM-less caller, if it sent one."


def spellings(key: str) -> list[str]:
    """Every way a call record may spell the national number ``key`` (``0812...``)."""
    if key.startswith("0") and len(key) > 1:
        return [key, f"+62{key[1:]}", f"62{key[1:]}"]
    return [key, f"+{key}"]  # a short or foreign number, kept as its digits


def _calls_of(key: str) -> ColumnElement[bool]:
    if key.startswith(IDENTITY_PREFIX):
        raw = key[len(IDENTITY_PREFIX) :]
        return CallRow.identity.in_([raw, key])
    return CallRow.caller.in_(spellings(key))


async def dispositions_of(
    journal: Journal, key: str, since: datetime, *, exclude_call_id: str | None = None
) -> list[PastDisposition]:
    """Dispositions of the calls of caller ``key`` set at or after ``since``, oldest first.

    ``exclude_call_id`` leaves one call out: the one whose disposition is being (re)set.
    """
    require_aware(since=since)
    query = (
        select(AnnotationRow.call_id, AnnotationRow.disposition, AnnotationRow.disposition_at)
        .join(CallRow, CallRow.call_id == AnnotationRow.call_id)
        .where(
            _calls_of(key),
            AnnotationRow.disposition.is_not(None),
            AnnotationRow.disposition_at >= since,
        )
        .order_by(AnnotationRow.disposition_at)
    )
    if exclude_call_id is not None:
        query = query.where(AnnotationRow.call_id != exclude_call_id)
    async with journal.transaction() as session:
        rows = (await session.execute(query)).all()
    return [
        PastDisposition(call_id, disposition, at)
        for call_id, disposition, at in rows
        if disposition is not None and at is not None
    ]


async def call_times_of(
    journal: Journal, key: str, since: datetime, before: datetime
) -> list[datetime]:
    """Start times of caller ``key``'s calls in ``[since, before)``, oldest first (the valve)."""
    require_aware(since=since, before=before)
    query = (
        select(CallRow.started_at)
        .where(_calls_of(key), CallRow.started_at >= since, CallRow.started_at < before)
        .order_by(CallRow.started_at)
    )
    async with journal.transaction() as session:
        return list((await session.scalars(query)).all())


async def party_of(journal: Journal, call_id: str) -> CallParty | None:
    """The caller of ``call_id``, or None for a call the journal does not know."""
    async with journal.transaction() as session:
        row = (
            await session.execute(
                select(CallRow.caller, CallRow.identity).where(CallRow.call_id == call_id)
            )
        ).first()
    return None if row is None else CallParty(row[0], row[1])


async def last_answered_by(journal: Journal, agent_id: str, since: datetime) -> str | None:
    """The call ``agent_id`` most recently answered at or after ``since``, ended or not.

    An ended call names its call-taker in ``calls.answered_by``; a call still going on is only
    in ``call_agents`` (role ``call-taker``, written when the call-taker was connected).
    """
    require_aware(since=since)
    ended = (
        select(CallRow.call_id, CallRow.answered_at)
        .where(
            CallRow.answered_by == agent_id,
            CallRow.answered_at.is_not(None),
            CallRow.answered_at >= since,
        )
        .order_by(CallRow.answered_at.desc())
        .limit(1)
    )
    connected = (
        select(AgentRow.call_id, AgentRow.at)
        .where(AgentRow.agent_id == agent_id, AgentRow.role == "call-taker", AgentRow.at >= since)
        .order_by(AgentRow.at.desc(), AgentRow.id.desc())
        .limit(1)
    )
    async with journal.transaction() as session:
        found = [
            (at, call_id)
            for query in (ended, connected)
            for call_id, at in (await session.execute(query)).all()
            if at is not None
        ]
    return max(found)[1] if found else None
