"""The call journal: each call's history (times, states, call-takers, outcome, recording) in a
database, SQLite by default and PostgreSQL by URL.

The daemon reports what happened; the journal stores it. Writers are idempotent so the daemon can
replay a call's events after a restart: a call, transition or involvement already recorded is
not recorded twice. :meth:`Journal.open_calls` lists calls that started and never ended, which a
restarted daemon finishes journaling.

Every time given to or returned by the journal is a tz-aware datetime (stored as UTC); a naive
datetime raises ``ValueError``. Database failures raise :class:`JournalError`, whose message names
the database with any password hidden; when the database itself is away (down, refusing, timing
out, locked, out of disk) it is the subclass :class:`JournalUnavailable`, and the same write may
succeed later. Nothing the driver raises gets past the journal as anything else.

Where the pieces live: URLs, connection set-up and errors in :mod:`callgate.storage.database`;
the fallback queue's calls in :mod:`callgate.storage.fallback_calls`; recording retention in
:mod:`callgate.storage.retention`; the report's read-only queries in
:mod:`callgate.storage.reports`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from pydantic import SecretStr
from sqlalchemy import Select, event, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import selectinload

from callgate.storage.answers import answer_of_outside_end
from callgate.storage.database import (
    DATABASE_ERRORS,
    OPEN_ERRORS,
    JournalError,
    UnknownCallError,
    drop_read_only_connection,
    journal_error,
    parse_url,
    per_host_connector,
    prepare_sqlite_file,
    require_aware,
    scrub,
    session_limits,
    sqlite_file,
    sqlite_pragmas,
)
from callgate.storage.fallback_calls import (
    FallbackCallFacts,
    FallbackWrite,
    merge_fallback_call,
)
from callgate.storage.migrations import upgrade_to_head
from callgate.storage.models import AgentRow, CallRow, FenceRow, RecordingRow, TransitionRow
from callgate.storage.records import (
    AgentInvolvement,
    CallRecord,
    RecordingRecord,
    RecordingStatus,
    Transition,
)

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _calls_with_history() -> Select[CallRow]:
    # Async sessions cannot lazy-load, so a call's history is loaded with the call.
    return select(CallRow).options(
        selectinload(CallRow.transitions),
        selectinload(CallRow.agents),
        selectinload(CallRow.recording),
    )


class Journal:
    """The call journal on one database; create it with :meth:`open`, end with :meth:`close`."""

    def __init__(
        self, engine: AsyncEngine, shown_url: str, hidden: Sequence[str | None] = ()
    ) -> None:
        """Use :meth:`open`, which also migrates the schema."""
        self._engine = engine
        self._hidden = tuple(hidden)
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.url = shown_url
        "The database URL with any password hidden."
        self.epoch: int | None = None
        "The leader's epoch every transaction checks (#21); None for a single callgate."
        self.fenced: Callable[[str], None] | None = None
        "Told when a write is refused for an older epoch (the daemon stops commanding)."
        event.listen(engine.sync_engine, "begin", _new_transaction)
        event.listen(engine.sync_engine, "before_cursor_execute", _note_write)

    @classmethod
    async def open(cls, url: str | SecretStr, *, session_limit: float | None = None) -> Journal:
        """Connect, bring the schema to the newest migration and return a ready journal.

        For a SQLite file the parent folder is created, and the file with mode 0640 whatever
        the umask (:func:`~callgate.storage.database.prepare_sqlite_file`). Raises
        :class:`JournalError` when the URL is not usable or the database cannot be reached or
        migrated. ``session_limit``: seconds a PostgreSQL session may stay idle in a
        transaction or wait for a lock (a clustered callgate: :func:`session_limits`).
        """
        target = parse_url(url)
        shown, hidden = target.shown, target.hidden
        if target.is_sqlite and (file := sqlite_file(target.url)) is not None:
            try:
                left = prepare_sqlite_file(file)
            except OSError as exc:
                raise JournalError(
                    f"cannot create the folder or file of the journal {shown}: {exc}"
                ) from None
            if left:
                log.warning(
                    "journal files readable beyond the service's group (not their owner: chmod"
                    " 640 them)",
                    extra={"files": ", ".join(str(path) for path in left)},
                )

        connector = per_host_connector(target.url)  # several PostgreSQL hosts: each in turn
        engine = create_async_engine(
            target.url, pool_pre_ping=True, **({"async_creator": connector} if connector else {})
        )
        if target.is_sqlite:
            event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        else:
            event.listen(engine.sync_engine, "handle_error", drop_read_only_connection)
            if session_limit is not None:
                event.listen(engine.sync_engine, "connect", session_limits(session_limit))
        try:
            async with engine.begin() as connection:
                await connection.run_sync(upgrade_to_head)
        except OPEN_ERRORS as exc:
            await engine.dispose()
            # The driver's message may quote connection parameters; scrub them, and do not chain
            # the original so a traceback cannot print them either.
            raise JournalError(f"cannot open the journal {shown}: {scrub(exc, hidden)}") from None
        log.info("journal open", extra={"database": shown})
        return cls(engine, shown, hidden)

    async def close(self) -> None:
        """Close every connection; the journal cannot be used afterwards."""
        await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One database transaction, for the storage modules beside the journal (annotations,
        outbox, blocks, callbacks) that keep their own tables in the same database.

        Whatever SQLAlchemy or the driver raises comes out as :class:`JournalError`
        (:class:`JournalUnavailable` when the database is away), chained to the original so
        callers can tell a race (``IntegrityError``) from a fault."""
        try:
            async with self._sessions.begin() as session:
                yield session
                if self.epoch is not None and await _wrote(session):
                    await _check_fence(session, self.epoch, self.url)
        except JournalFenced as exc:
            if self.fenced is not None:
                self.fenced(str(exc))
            raise
        except DATABASE_ERRORS as exc:
            raise journal_error(exc, self.url, self._hidden) from exc

    async def claim_epoch(self, epoch: int) -> None:
        """A new leader's claim: from now on only ``epoch`` (or a newer one) may write, and
        every transaction of this journal checks so. :class:`JournalFenced` if a newer leader
        already claimed it. Once :attr:`epoch` is set, every transaction claims it as well (a
        claim that found the journal locked is made by the first write that gets through)."""
        async with self.transaction() as session:
            claimed = await session.execute(
                update(FenceRow)
                .where(FenceRow.id == 1, FenceRow.epoch <= epoch)
                .values(epoch=epoch)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                raise JournalFenced(
                    f"journal {self.url}: a leader newer than epoch {epoch} holds it"
                )
        self.epoch = epoch

    async def _call(self, session: AsyncSession, call_id: str) -> CallRow:
        call = await session.get(CallRow, call_id)
        if call is None:
            raise UnknownCallError(f"call {call_id} is not in the journal (no call_started)")
        return call

    # --- writers -------------------------------------------------------------------------

    async def call_started(
        self,
        call_id: str,
        *,
        caller: str,
        caller_sent: str,
        dialed: str,
        priority: int,
        category: str,
        at: datetime,
        identity: str | None = None,
    ) -> bool:
        """Record a new call; False (and nothing changed) if the call is already known.

        ``identity`` is the carrier's IMEI-derived identity of a SIM-less caller, if it sent one.
        """
        require_aware(at=at)
        try:
            async with self.transaction() as session:
                if await session.get(CallRow, call_id) is not None:
                    return False
                session.add(
                    CallRow(
                        call_id=call_id,
                        caller=caller,
                        caller_sent=caller_sent,
                        dialed=dialed,
                        priority=priority,
                        category=category,
                        started_at=at,
                        identity=identity,
                    )
                )
        except JournalError as exc:
            # Two writers raced on the same call: the other one recorded it.
            if isinstance(exc.__cause__, IntegrityError):
                return False
            raise
        return True

    async def call_state(
        self, call_id: str, *, at: datetime, from_state: str | None, to_state: str, trigger: str
    ) -> bool:
        """Append a state change; False if this exact change is already recorded (a replay)."""
        require_aware(at=at)
        async with self.transaction() as session:
            call = await self._call(session, call_id)
            duplicate = await session.scalar(
                select(TransitionRow.id).where(
                    TransitionRow.call_id == call_id,
                    TransitionRow.at == at,
                    TransitionRow.to_state == to_state,
                    TransitionRow.trigger == trigger,
                    TransitionRow.from_state.is_(None)
                    if from_state is None
                    else TransitionRow.from_state == from_state,
                )
            )
            if duplicate is not None:
                return False
            session.add(
                TransitionRow(
                    call_id=call_id,
                    at=at,
                    from_state=from_state,
                    to_state=to_state,
                    trigger=trigger,
                )
            )
            # After the end the outcome is the call's state; a late report does not reopen it.
            if call.ended_at is None:
                call.state = to_state
        return True

    async def agent_assigned(
        self, call_id: str, *, agent_id: str, at: datetime, role: str = "call-taker"
    ) -> bool:
        """Record that a call-taker (or agency) took part in the call in ``role``; False if
        already recorded in that role (the first time is kept)."""
        require_aware(at=at)
        async with self.transaction() as session:
            await self._call(session, call_id)
            known = await session.scalar(
                select(AgentRow.id).where(
                    AgentRow.call_id == call_id,
                    AgentRow.agent_id == agent_id,
                    AgentRow.role == role,
                )
            )
            if known is not None:
                return False
            session.add(AgentRow(call_id=call_id, agent_id=agent_id, role=role, at=at))
        return True

    async def call_ended(
        self,
        call_id: str,
        *,
        at: datetime,
        outcome: str,
        answered_at: datetime | None = None,
        answered_by: str | None = None,
        destination: str | None = None,
        category: str | None = None,
        priority: int | None = None,
        if_open: bool = False,
    ) -> None:
        """Close the call's record with its outcome (a replay writes the same values again).

        ``category`` and ``priority`` replace those of the start when given: silence detection
        may reclass a waiting call (ghost, or raised after a key press). ``if_open``: only a
        call not ended yet is closed (an end known only from outside, e.g. inferred after a
        restart, never overwrites one the call really had), and the answer the journal holds
        wins over the one given (:mod:`callgate.storage.answers`)."""
        require_aware(at=at, answered_at=answered_at)
        async with self.transaction() as session:
            call = await self._call(session, call_id)
            if if_open and call.ended_at is not None:
                return
            if if_open:
                answer = (answered_at, answered_by)
                answered_at, answered_by = await answer_of_outside_end(session, call_id, answer)
            if category is not None:
                call.category = category
            if priority is not None:
                call.priority = priority
            call.ended_at = at
            call.outcome = outcome
            call.state = outcome
            call.answered_at = answered_at
            call.answered_by = answered_by
            call.destination = destination

    async def recording_ready(
        self,
        call_id: str,
        *,
        path: str,
        sha256: str,
        size_bytes: int,
        duration_s: float,
        at: datetime,
    ) -> bool:
        """Record the call's finished recording file and its hex SHA-256; False if retention
        already deleted the call's recording (that record is kept as it is). A reason already
        recorded (see :meth:`recording_failed`) is kept, whichever report came first."""
        require_aware(at=at)
        digest = sha256.lower()
        if not _SHA256.fullmatch(digest):
            raise ValueError(f"{sha256!r} is not a hex SHA-256")
        async with self.transaction() as session:
            await self._call(session, call_id)
            row = await session.get(RecordingRow, call_id)
            if row is None:
                row = RecordingRow(call_id=call_id)
                session.add(row)
            elif row.status == RecordingStatus.DELETED:
                return False
            row.status = RecordingStatus.READY
            row.at = at
            row.path = path
            row.sha256 = digest
            row.size_bytes = size_bytes
            row.duration_s = duration_s
        return True

    async def recording_failed(self, call_id: str, *, reason: str, at: datetime) -> bool:
        """Record that the call has no usable recording, or what is wrong with its file.

        False if a finished (or deleted) file is already recorded, which a failure report must
        not hide: a finished file keeps its path and hash (retention must still delete it) and
        only takes ``reason``, e.g. why it is not sealed. A deleted file's record is final."""
        require_aware(at=at)
        async with self.transaction() as session:
            await self._call(session, call_id)
            row = await session.get(RecordingRow, call_id)
            if row is None:
                row = RecordingRow(call_id=call_id)
                session.add(row)
            elif row.status == RecordingStatus.READY:
                row.reason = reason
                return False
            elif row.status != RecordingStatus.FAILED:
                return False
            row.status = RecordingStatus.FAILED
            row.at = at
            row.reason = reason
        return True

    async def recording_deleted(self, call_id: str, *, at: datetime) -> None:
        """Mark the call's recording file as deleted by retention (hash and size stay)."""
        require_aware(at=at)
        async with self.transaction() as session:
            row = await session.get(RecordingRow, call_id)
            if row is None:
                raise UnknownCallError(f"call {call_id} has no recording in the journal")
            row.status = RecordingStatus.DELETED
            row.deleted_at = at

    async def record_fallback_call(self, facts: FallbackCallFacts) -> FallbackWrite:
        """Journal a call from the fallback queue in one transaction, idempotently.

        A call not in the journal is written whole, outcome FALLBACK. A call already there (one
        callgate handed back) only gets what it lacks: its end (outcome FALLBACK) if it is still
        open, the answer and call-taker, the call-takers and the queue's steps; nothing recorded
        is overwritten and nothing is written twice.
        """
        f = facts
        require_aware(entered_at=f.entered_at, ended_at=f.ended_at, answered_at=f.answered_at)
        require_aware(**{f"agent {a}": at for a, at in f.agents})
        require_aware(**{f"step {s}": at for at, s in f.steps})
        try:
            return await self._record_fallback_call(f)
        except JournalError as exc:
            # Two writers raced on a new call (the daemon's own start of it): take what is
            # there now and fill it in.
            if isinstance(exc.__cause__, IntegrityError):
                return await self._record_fallback_call(f)
            raise

    async def _record_fallback_call(self, f: FallbackCallFacts) -> FallbackWrite:
        async with self.transaction() as session:
            call = await session.scalar(_calls_with_history().where(CallRow.call_id == f.call_id))
            return merge_fallback_call(session, call, f)

    # --- readers -------------------------------------------------------------------------

    async def get_call(self, call_id: str) -> CallRecord | None:
        """The call with its transitions, call-takers and recording, or None if unknown."""
        async with self.transaction() as session:
            row = await session.scalar(_calls_with_history().where(CallRow.call_id == call_id))
            return None if row is None else _call_record(row)

    async def recent_calls(
        self, limit: int = 100, since: datetime | None = None
    ) -> list[CallRecord]:
        """Up to ``limit`` calls, newest first, optionally only those started at/after ``since``."""
        require_aware(since=since)
        query = (
            _calls_with_history().order_by(CallRow.started_at.desc(), CallRow.call_id).limit(limit)
        )
        if since is not None:
            query = query.where(CallRow.started_at >= since)
        async with self.transaction() as session:
            return [_call_record(row) for row in await session.scalars(query)]

    async def open_calls(self) -> list[CallRecord]:
        """Calls started but not ended, oldest first: after a restart, the ones to finish."""
        query = (
            _calls_with_history()
            .where(CallRow.ended_at.is_(None))
            .order_by(CallRow.started_at, CallRow.call_id)
        )
        async with self.transaction() as session:
            return [_call_record(row) for row in await session.scalars(query)]

    async def expired_recordings(self, cutoff: datetime) -> list[RecordingRecord]:
        """Recordings still on disk that were finished before ``cutoff``, oldest first."""
        require_aware(cutoff=cutoff)
        query = (
            select(RecordingRow)
            .where(RecordingRow.status == RecordingStatus.READY, RecordingRow.at < cutoff)
            .order_by(RecordingRow.at, RecordingRow.call_id)
        )
        async with self.transaction() as session:
            return [_recording_record(row) for row in await session.scalars(query)]

    async def purge_recordings_older_than(self, cutoff: datetime, *, at: datetime) -> list[str]:
        """Mark every recording finished before ``cutoff`` as deleted and return their paths,
        whose files the caller must now delete. :func:`delete_expired_recordings` is safer: it
        marks a recording only once its file is gone."""
        require_aware(cutoff=cutoff, at=at)
        query = select(RecordingRow).where(
            RecordingRow.status == RecordingStatus.READY, RecordingRow.at < cutoff
        )
        async with self.transaction() as session:
            rows = list(await session.scalars(query))
            for row in rows:
                row.status = RecordingStatus.DELETED
                row.deleted_at = at
            return [row.path for row in rows if row.path is not None]


class JournalFenced(JournalError):
    """A write from a leader whose epoch is older than the journal's: refused, and rolled back
    with everything else of its transaction."""


#: A connection's info key: a statement other than a SELECT ran in its transaction.
_WROTE = "callgate_wrote"


def _new_transaction(conn: Any) -> None:
    conn.info.pop(_WROTE, None)  # the info outlives the transaction: the pool's connection's


def _note_write(
    conn: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _many: bool
) -> None:
    if not statement.lstrip()[:6].upper().startswith("SELECT"):
        conn.info[_WROTE] = True


async def _wrote(session: AsyncSession) -> bool:
    """Whether this transaction wrote (the fence is for writes): a read-only one never takes
    the fence row's lock, so a reader never waits on an old leader paused mid-transaction."""
    await session.flush()  # pending ORM changes are writes too
    connection = await session.connection()
    return bool(connection.info.pop(_WROTE, False))


async def _check_fence(session: AsyncSession, epoch: int, url: str) -> None:
    # The UPDATE takes the fence row's lock until the commit, so a newer leader's claim either
    # comes before it (and this write is refused) or waits for it (and the write was ours).
    # "<=", not "==": epochs only grow, so a journal still at an older epoch means this leader's
    # claim has not landed yet (the old leader, paused, held the lock): this write claims it.
    kept = await session.execute(
        update(FenceRow)
        .where(FenceRow.id == 1, FenceRow.epoch <= epoch)
        .values(epoch=epoch)
        .execution_options(synchronize_session=False)
    )
    if kept.rowcount != 1:  # type: ignore[attr-defined]
        raise JournalFenced(
            f"journal {url}: write refused, epoch {epoch} is no longer the leader's"
        )


def _recording_record(row: RecordingRow) -> RecordingRecord:
    return RecordingRecord(
        call_id=row.call_id,
        status=RecordingStatus(row.status),
        at=row.at,
        path=row.path,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        duration_s=row.duration_s,
        reason=row.reason,
        deleted_at=row.deleted_at,
    )


def _call_record(row: CallRow) -> CallRecord:
    return CallRecord(
        call_id=row.call_id,
        caller=row.caller,
        caller_sent=row.caller_sent,
        dialed=row.dialed,
        priority=row.priority,
        category=row.category,
        started_at=row.started_at,
        state=row.state,
        ended_at=row.ended_at,
        outcome=row.outcome,
        answered_at=row.answered_at,
        answered_by=row.answered_by,
        destination=row.destination,
        transitions=tuple(
            Transition(at=t.at, from_state=t.from_state, to_state=t.to_state, trigger=t.trigger)
            for t in row.transitions
        ),
        agents=tuple(
            AgentInvolvement(agent_id=a.agent_id, role=a.role, at=a.at) for a in row.agents
        ),
        recording=None if row.recording is None else _recording_record(row.recording),
    )
