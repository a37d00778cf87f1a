"""Inquiries into past calls (#23): search the journal, gather everything it knows of one call,
legal holds on recordings, and the inquiry audit trail (who searched, played, exported, held).

A hold keeps a call's recording from retention (:mod:`callgate.storage.retention`) until it is
lifted; lifting deletes the hold's row, and both are rows of the audit trail, which is never
deleted (no foreign key: it outlives the call's record). Search filters are plain strings as
the journal stores them; the daemon (:mod:`callgate.daemon.inquiry_service`) turns a request
into them and the rows into the API's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from callgate.storage.agent_events import AgentEvent, AgentEventRow
from callgate.storage.annotations import AnnotationRow, CallAnnotation
from callgate.storage.callbacks import CallbackAttemptRow, CallbackTaskRow
from callgate.storage.database import require_aware
from callgate.storage.fallback_calls import FALLBACK_DESTINATION, FALLBACK_OUTCOME
from callgate.storage.journal import Journal
from callgate.storage.models import WIDE, Base, CallRow, Clipped, RecordingRow, UTCDateTime
from callgate.storage.records import CallRecord, RecordingStatus

#: Most rows one page of a search returns.
MAX_PER_PAGE = 500
#: Screening categories that say nothing (not shown as a tag).
_PLAIN_CATEGORIES = ("", "none", "normal")


class HoldRow(Base):
    """A legal hold on a call's recording: retention does not delete it while the row exists."""

    __tablename__ = "recording_holds"

    call_id: Mapped[str] = mapped_column(
        ForeignKey("calls.call_id", ondelete="CASCADE"), primary_key=True
    )
    reason: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(Clipped(WIDE, "recording_holds.by"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class InquiryAuditRow(Base):
    """One step of an inquiry: a search, a timeline read, a playback, an export, a hold."""

    __tablename__ = "inquiry_audit"
    __table_args__ = (Index("ix_inquiry_audit_call_id_at", "call_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    by: Mapped[str] = mapped_column(Clipped(WIDE, "inquiry_audit.by"))
    action: Mapped[str] = mapped_column(String(32))
    #: No foreign key: the trail outlives the call's record.
    call_id: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    #: What else the step needs on record (a search's filters, an export's hashes), as JSON.
    detail: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True, slots=True)
class Hold:
    call_id: str
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    by: str
    action: str
    call_id: str | None
    reason: str | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class CallQuery:
    """A search's filters; each None (or empty) matches every call."""

    callers: tuple[str, ...] = ()
    "Prefixes of the journaled caller ID (every spelling of what the user typed)."
    since: datetime | None = None
    until: datetime | None = None
    "Calls started at/after ``since`` and before ``until``."
    calltaker: str | None = None
    "The call-taker who answered."
    outcome: str | None = None
    disposition: str | None = None
    tag: str | None = None
    "A screening category, or ``callback`` (a callback was asked for)."
    fallback: bool | None = None
    "Calls the fallback queue took (True) or not (False)."
    answered_by: str | None = None
    "Only calls this call-taker answered: a call-taker's own search."


@dataclass(frozen=True, slots=True)
class CallSummary:
    """One row of a search: the call and what the page lists beside it."""

    call_id: str
    started_at: datetime
    ended_at: datetime | None
    answered_at: datetime | None
    caller_sent: str
    caller: str
    calltaker: str | None
    outcome: str | None
    disposition: str | None
    tags: tuple[str, ...]
    fallback: bool
    recording: bool
    hold: bool


@dataclass(frozen=True, slots=True)
class CallbackNote:
    """A callback task that covers the call, and its attempts (when, outcome, who)."""

    created_at: datetime
    state: str
    attempts: tuple[tuple[datetime, str, str], ...]


@dataclass(frozen=True, slots=True)
class CallFile:
    """Everything the journal knows of one call, for its timeline."""

    call: CallRecord
    summary: CallSummary
    annotation: CallAnnotation | None
    agent_events: tuple[AgentEvent, ...]
    callbacks: tuple[CallbackNote, ...]
    hold: Hold | None
    access: tuple[AuditEntry, ...] = field(default=())


def _starts_with(prefix: str) -> ColumnElement[bool]:
    """``calls.caller`` starts with ``prefix``: a B-tree range, which both databases answer
    from the index on any collation (LIKE alone would not on PostgreSQL's non-C collations),
    and LIKE to be exact where a collation orders ``+`` loosely."""
    above = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return (
        (CallRow.caller >= prefix)
        & (CallRow.caller < above)
        & CallRow.caller.startswith(prefix, autoescape=True)
    )


def _conditions(q: CallQuery) -> list[ColumnElement[bool]]:
    require_aware(since=q.since, until=q.until)
    where: list[ColumnElement[bool]] = []
    if q.callers:
        where.append(or_(*(_starts_with(p) for p in q.callers)))
    if q.since is not None:
        where.append(CallRow.started_at >= q.since)
    if q.until is not None:
        where.append(CallRow.started_at < q.until)
    if q.calltaker is not None:
        where.append(CallRow.answered_by == q.calltaker)
    if q.answered_by is not None:
        where.append(CallRow.answered_by == q.answered_by)
    if q.outcome is not None:
        where.append(CallRow.outcome == q.outcome)
    if q.disposition is not None:
        where.append(AnnotationRow.disposition == q.disposition)
    if q.tag == "callback":
        where.append(AnnotationRow.callback_requested_at.is_not(None))
    elif q.tag is not None:
        where.append(CallRow.category == q.tag)
    # coalesce: a NULL outcome or destination makes a comparison NULL, which no NOT turns true.
    fell_back = (func.coalesce(CallRow.outcome, "") == FALLBACK_OUTCOME) | (
        func.coalesce(CallRow.destination, "") == FALLBACK_DESTINATION
    )
    if q.fallback is True:
        where.append(fell_back)
    elif q.fallback is False:
        where.append(~fell_back)
    return where


_Summary = Select[CallRow, str | None, datetime | None, str | None, str | None]


def _summaries() -> _Summary:
    return (
        select(
            CallRow,
            AnnotationRow.disposition,
            AnnotationRow.callback_requested_at,
            RecordingRow.status,
            HoldRow.call_id,
        )
        .outerjoin(AnnotationRow, AnnotationRow.call_id == CallRow.call_id)
        .outerjoin(RecordingRow, RecordingRow.call_id == CallRow.call_id)
        .outerjoin(HoldRow, HoldRow.call_id == CallRow.call_id)
    )


def _summary(
    row: CallRow,
    disposition: str | None,
    callback_at: datetime | None,
    recording: str | None,
    hold: str | None,
) -> CallSummary:
    tags = [] if row.category in _PLAIN_CATEGORIES else [row.category]
    if callback_at is not None:
        tags.append("callback")
    return CallSummary(
        call_id=row.call_id,
        started_at=row.started_at,
        ended_at=row.ended_at,
        answered_at=row.answered_at,
        caller_sent=row.caller_sent,
        caller=row.caller,
        calltaker=row.answered_by,
        outcome=row.outcome,
        disposition=disposition,
        tags=tuple(tags),
        fallback=row.outcome == FALLBACK_OUTCOME or row.destination == FALLBACK_DESTINATION,
        recording=recording == RecordingStatus.READY,
        hold=hold is not None,
    )


async def search_calls(
    journal: Journal, query: CallQuery, *, page: int = 1, per_page: int = 50
) -> tuple[list[CallSummary], int]:
    """One page of the calls ``query`` matches, newest first, and how many match in all."""
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"page from 1, per_page 1 to {MAX_PER_PAGE}")
    where = _conditions(query)
    counted = select(func.count()).select_from(CallRow)
    if query.disposition is not None or query.tag == "callback":
        counted = counted.join(AnnotationRow, AnnotationRow.call_id == CallRow.call_id)
    rows = (
        _summaries()
        .where(*where)
        .order_by(CallRow.started_at.desc(), CallRow.call_id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    async with journal.transaction() as session:
        total = int(await session.scalar(counted.where(*where)) or 0)
        found = [_summary(*row) for row in (await session.execute(rows)).all()]
    return found, total


async def call_file(journal: Journal, call_id: str) -> CallFile | None:
    """Everything the journal knows of ``call_id`` (None: no such call)."""
    call = await journal.get_call(call_id)
    if call is None:
        return None
    async with journal.transaction() as session:
        row = (await session.execute(_summaries().where(CallRow.call_id == call_id))).one()
        summary = _summary(*row)
        note = await session.get(AnnotationRow, call_id)
        events = await session.scalars(
            select(AgentEventRow)
            .where(AgentEventRow.call_id == call_id)
            .order_by(AgentEventRow.at, AgentEventRow.id)
        )
        agent_events = tuple(
            AgentEvent(
                at=e.at, agent_id=e.agent_id, event=e.event, reason=e.reason,
                call_id=e.call_id, cause=e.cause, by=e.by,
            )
            for e in events
        )  # fmt: skip
        tasks = await session.scalars(
            select(CallbackTaskRow).where(CallbackTaskRow.call_ids.contains(call_id))
        )
        callbacks = []
        for task in tasks:
            if call_id not in task.call_ids.split():
                continue
            attempts = await session.scalars(
                select(CallbackAttemptRow)
                .where(CallbackAttemptRow.task_id == task.task_id)
                .order_by(CallbackAttemptRow.started_at)
            )
            callbacks.append(
                CallbackNote(
                    task.created_at,
                    task.state,
                    tuple((a.started_at, a.outcome, a.agent_id) for a in attempts),
                )
            )
        held = await session.get(HoldRow, call_id)
        access = await session.scalars(
            select(InquiryAuditRow)
            .where(InquiryAuditRow.call_id == call_id)
            .order_by(InquiryAuditRow.at, InquiryAuditRow.id)
        )
        return CallFile(
            call=call,
            summary=summary,
            annotation=None
            if note is None
            else CallAnnotation(
                call_id=note.call_id,
                disposition=note.disposition,
                disposition_by=note.disposition_by,
                disposition_at=note.disposition_at,
                incident_id=note.incident_id,
                callback_by=note.callback_by,
                callback_requested_at=note.callback_requested_at,
            ),
            agent_events=agent_events,
            callbacks=tuple(callbacks),
            hold=None if held is None else _hold(held),
            access=tuple(_entry(a) for a in access),
        )


def _hold(row: HoldRow) -> Hold:
    return Hold(call_id=row.call_id, reason=row.reason, by=row.by, at=row.at)


def _entry(row: InquiryAuditRow) -> AuditEntry:
    return AuditEntry(
        at=row.at,
        by=row.by,
        action=row.action,
        call_id=row.call_id,
        reason=row.reason,
        detail=row.detail,
    )


async def audit(
    journal: Journal,
    *,
    at: datetime,
    by: str,
    action: str,
    call_id: str | None = None,
    reason: str | None = None,
    detail: str | None = None,
) -> None:
    """Append one step to the inquiry audit trail."""
    require_aware(at=at)
    async with journal.transaction() as session:
        session.add(
            InquiryAuditRow(
                at=at, by=by, action=action, call_id=call_id, reason=reason, detail=detail
            )
        )


async def audit_trail(journal: Journal, limit: int = 1000) -> list[AuditEntry]:
    """The latest ``limit`` steps of the trail, newest first."""
    query = select(InquiryAuditRow).order_by(InquiryAuditRow.id.desc()).limit(limit)
    async with journal.transaction() as session:
        return [_entry(row) for row in await session.scalars(query)]


async def place_hold(
    journal: Journal, call_id: str, *, reason: str, by: str, at: datetime
) -> bool | None:
    """Hold the call's recording; False if it is already held (that hold is kept), None if the
    journal does not know the call. The audit row is written in the same transaction."""
    require_aware(at=at)
    async with journal.transaction() as session:
        if await session.get(CallRow, call_id) is None:
            return None
        if await session.get(HoldRow, call_id) is not None:
            return False
        session.add(HoldRow(call_id=call_id, reason=reason, by=by, at=at))
        session.add(InquiryAuditRow(at=at, by=by, action="hold", call_id=call_id, reason=reason))
    return True


async def lift_hold(journal: Journal, call_id: str, *, reason: str, by: str, at: datetime) -> bool:
    """Lift the call's hold (with its audit row); False if it was not held."""
    require_aware(at=at)
    async with journal.transaction() as session:
        row = await session.get(HoldRow, call_id)
        if row is None:
            return False
        await session.delete(row)
        session.add(InquiryAuditRow(at=at, by=by, action="unhold", call_id=call_id, reason=reason))
    return True


async def holds(journal: Journal) -> list[Hold]:
    """Every hold in force, oldest first."""
    async with journal.transaction() as session:
        rows = await session.scalars(select(HoldRow).order_by(HoldRow.at, HoldRow.call_id))
        return [_hold(row) for row in rows]


async def held_among(journal: Journal, call_ids: list[str]) -> set[str]:
    """Which of ``call_ids`` are on hold."""
    if not call_ids:
        return set()
    held: set[str] = set()
    async with journal.transaction() as session:
        for start in range(0, len(call_ids), 500):  # bounded IN lists
            chunk = call_ids[start : start + 500]
            held.update(
                await session.scalars(select(HoldRow.call_id).where(HoldRow.call_id.in_(chunk)))
            )
    return held


async def recordings_since(journal: Journal, since: datetime | None) -> list[tuple[str, str, str]]:
    """``(call_id, path, sha256)`` of every recording still on disk, finished at/after ``since``."""
    require_aware(since=since)
    query = select(RecordingRow.call_id, RecordingRow.path, RecordingRow.sha256).where(
        RecordingRow.status == RecordingStatus.READY,
        RecordingRow.path.is_not(None),
        RecordingRow.sha256.is_not(None),
    )
    if since is not None:
        query = query.where(RecordingRow.at >= since)
    async with journal.transaction() as session:
        return [(c, str(p), str(s)) for c, p, s in (await session.execute(query)).all()]
