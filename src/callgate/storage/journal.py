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
"""

from __future__ import annotations

import asyncio
import enum
import errno
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import asyncpg  # type: ignore[import-untyped]  # no stubs; only its exception classes
from alembic.util import CommandError
from pydantic import SecretStr
from sqlalchemy import URL, Select, event, make_url, select
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import selectinload

# The errors every writer tells apart live with the other shared types; named here too, since
# the journal is where they come from.
from callgate.ports import JournalError as JournalError
from callgate.ports import JournalUnavailable as JournalUnavailable
from callgate.storage.migrations import upgrade_to_head
from callgate.storage.models import AgentRow, CallRow, RecordingRow, TransitionRow
from callgate.storage.records import (
    AgentInvolvement,
    CallRecord,
    RecordingRecord,
    RecordingStatus,
    Transition,
)
from callgate.storage.settings import SUPPORTED_DRIVERS

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"[0-9a-f]{64}")
# Query parameters that may carry a credential (asyncpg accepts ?password=...).
_SECRET_PARAMS = ("password", "secret", "token", "key")


#: The outcome the core gives a call handed to the fallback queue; a call journaled from
#: queue_log gets the same, answered there or not (``answered_by`` says which).
FALLBACK_OUTCOME = "FALLBACK"
#: ``destination`` of such calls, as the core writes it (the composition root's FALLBACK).
FALLBACK_DESTINATION = "fallback-queue"


class FallbackWrite(enum.Enum):
    """What :meth:`Journal.record_fallback_call` did."""

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


class UnknownCallError(JournalError):
    """A call's event came before its ``call_started`` (a bug in the caller)."""


def redact_url(url: str) -> str:
    """The URL fit for logs and error messages: password (and password-like parameters) hidden."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        # Unparseable: where a password would be is unknown, so show only the scheme.
        scheme, sep, _ = url.partition("://")
        return f"{scheme}://<unparseable>" if sep and scheme.isprintable() else "<unparseable URL>"
    shown = parsed.set(query={}).render_as_string(hide_password=True)
    params = [
        f"{key}={'***' if _is_secret(key) else value}"
        for key, values in parsed.query.items()
        for value in ((values,) if isinstance(values, str) else values)
    ]
    return f"{shown}?{'&'.join(params)}" if params else shown


def _is_secret(parameter: str) -> bool:
    return any(marker in parameter.lower() for marker in _SECRET_PARAMS)


def _scrub(exc: BaseException, secrets: Sequence[str | None]) -> str:
    text = f"{type(exc).__name__}: {exc}"
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


#: SQLSTATE classes that say the server or the connection is the problem, not the statement:
#: 08 connection exception, 40 transaction rollback (deadlock, serialization), 53 insufficient
#: resources (disk full, too many connections), 57 operator intervention (shutdown, starting
#: up), 58 system error.
_OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
#: Everything a driver raises while connecting (SQLAlchemy passes these through unwrapped).
_DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionRefusedError, ConnectionResetError, TimeoutError, ENOSPC ...
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
#: Everything the journal turns into :class:`JournalError`.
_DATABASE_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, *_DRIVER_ERRORS)
_OPEN_ERRORS: tuple[type[BaseException], ...] = (*_DATABASE_ERRORS, CommandError)


def _is_outage(exc: BaseException) -> bool:
    if not isinstance(exc, SQLAlchemyError):
        # SQLAlchemy wraps every error of a statement; a bare driver error comes from connecting,
        # which says nothing about the record being written.
        return True
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError | DisconnectionError):
        # SQLite's "database is locked", "database or disk is full", "unable to open database
        # file" are OperationalErrors; asyncpg's lost connections are InterfaceErrors.
        return True
    if isinstance(exc, DBAPIError):
        sqlstate = getattr(exc.orig, "sqlstate", None)
        return exc.connection_invalidated or (
            isinstance(sqlstate, str) and sqlstate[:2] in _OUTAGE_SQLSTATE_CLASSES
        )
    return False


def _cause(exc: BaseException, secrets: Sequence[str | None]) -> str:
    """The driver's own words, without SQLAlchemy's statement and parameters (which may carry
    callers' numbers and would make a log line long)."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    shown = f"{type(inner).__name__}: {text}" if text else type(inner).__name__
    for secret in secrets:
        if secret:
            shown = shown.replace(secret, "***")
    return shown


def journal_error(exc: BaseException, url: str, secrets: Sequence[str | None] = ()) -> JournalError:
    """``exc`` (from SQLAlchemy or the driver) as the journal's error: :class:`JournalUnavailable`
    when the database is away, naming the database (``url`` already redacted) and the cause."""
    cause = _cause(exc, secrets)
    if _is_outage(exc):
        return JournalUnavailable(f"journal {url} unavailable: {cause}")
    return JournalError(f"journal {url}: {cause}")


def _require_aware(**times: datetime | None) -> None:
    # Checked before any SQL so the caller gets a plain ValueError naming the argument (the
    # column type checks too, but its error arrives wrapped in a database error).
    for name, value in times.items():
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{name}={value.isoformat()} is a naive datetime; give a time zone")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers (reports, the purge) run while the daemon writes; SQLite leaves foreign
    # keys off unless asked on every connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_file(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


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

    @classmethod
    async def open(cls, url: str | SecretStr) -> Journal:
        """Connect, bring the schema to the newest migration and return a ready journal.

        For a SQLite file the parent folder is created. Raises :class:`JournalError` when the
        URL is not usable or the database cannot be reached or migrated.
        """
        raw = url.get_secret_value() if isinstance(url, SecretStr) else url
        shown = redact_url(raw)
        try:
            parsed = make_url(raw)
        except (ArgumentError, ValueError):
            # SQLAlchemy's message repeats the whole URL, password included: do not chain it.
            raise JournalError(f"journal URL {shown} is not a database URL") from None
        if parsed.drivername not in SUPPORTED_DRIVERS:
            raise JournalError(
                f"journal URL {shown}: use {' or '.join(d + '://' for d in SUPPORTED_DRIVERS)}"
            )
        hidden = [parsed.password if isinstance(parsed.password, str) else None]
        hidden += [str(v) for k, v in parsed.query.items() if _is_secret(k)]

        is_sqlite = parsed.get_backend_name() == "sqlite"
        if is_sqlite and (file := _sqlite_file(parsed)) is not None:
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise JournalError(
                    f"cannot create the folder for the journal {shown}: {exc}"
                ) from None

        engine = create_async_engine(parsed, pool_pre_ping=True)
        if is_sqlite:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(upgrade_to_head)
        except _OPEN_ERRORS as exc:
            await engine.dispose()
            # The driver's message may quote connection parameters; scrub them, and do not chain
            # the original so a traceback cannot print them either.
            raise JournalError(f"cannot open the journal {shown}: {_scrub(exc, hidden)}") from None
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
        except _DATABASE_ERRORS as exc:
            raise journal_error(exc, self.url, self._hidden) from exc

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
        _require_aware(at=at)
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
        _require_aware(at=at)
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
        _require_aware(at=at)
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
    ) -> None:
        """Close the call's record with its outcome (a replay writes the same values again).

        ``category`` and ``priority`` replace those of the start when given: silence detection
        may reclass a waiting call (ghost, or raised after a key press)."""
        _require_aware(at=at, answered_at=answered_at)
        async with self.transaction() as session:
            call = await self._call(session, call_id)
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
        _require_aware(at=at)
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
        _require_aware(at=at)
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
        _require_aware(at=at)
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
        _require_aware(entered_at=f.entered_at, ended_at=f.ended_at, answered_at=f.answered_at)
        _require_aware(**{f"agent {a}": at for a, at in f.agents})
        _require_aware(**{f"step {s}": at for at, s in f.steps})
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
        _require_aware(since=since)
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
        _require_aware(cutoff=cutoff)
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
        _require_aware(cutoff=cutoff, at=at)
        query = select(RecordingRow).where(
            RecordingRow.status == RecordingStatus.READY, RecordingRow.at < cutoff
        )
        async with self.transaction() as session:
            rows = list(await session.scalars(query))
            for row in rows:
                row.status = RecordingStatus.DELETED
                row.deleted_at = at
            return [row.path for row in rows if row.path is not None]


async def delete_expired_recordings(
    journal: Journal, recordings_dir: Path, retention_days: int, now: datetime
) -> list[Path]:
    """Delete recording files finished more than ``retention_days`` before ``now`` and mark them
    deleted in the journal; returns the files deleted.

    Only files inside ``recordings_dir`` are touched (a relative path in the journal is taken
    relative to it). A file that cannot be deleted stays READY in the journal, so the next run
    tries again; a file already gone counts as deleted. The file's owner does not matter (it is
    usually Asterisk): deleting takes write access to the folder, which callgate has through
    Asterisk's group when the folder is group-writable.
    """
    if retention_days < 1:
        raise ValueError(f"retention_days must be at least 1, not {retention_days}")
    cutoff = now - timedelta(days=retention_days)
    deleted: list[Path] = []
    for recording in await journal.expired_recordings(cutoff):
        if recording.path is None:
            continue
        file = await asyncio.to_thread(_delete_inside, recordings_dir, recording)
        if file is not None:
            await journal.recording_deleted(recording.call_id, at=now)
            deleted.append(file)
    if deleted:
        log.info(
            "recordings deleted by retention",
            extra={"count": len(deleted), "retention_days": retention_days},
        )
    return deleted


def _delete_inside(recordings_dir: Path, recording: RecordingRecord) -> Path | None:
    assert recording.path is not None
    root = recordings_dir.resolve()
    file = (root / recording.path).resolve()
    if not file.is_relative_to(root):
        # A journal row must never make the daemon delete files elsewhere on the machine.
        log.warning(
            "expired recording is outside the recordings folder; not deleted",
            extra={"call_id": recording.call_id, "path": recording.path, "folder": str(root)},
        )
        return None
    try:
        file.unlink(missing_ok=True)
    except OSError as exc:
        error = str(exc)
        if exc.errno in (errno.EACCES, errno.EPERM):
            error += (
                "; callgate needs write access to the folder: make it asterisk:asterisk mode 2770"
                " and add callgate to Asterisk's group"
            )
        log.error(
            "cannot delete expired recording; will retry",
            extra={"call_id": recording.call_id, "path": str(file), "error": error},
        )
        return None
    return file


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
