"""The journal read for ``callgate report``: a read-only open and the rows of one period.

The report runs beside the daemon (SQLite in WAL mode lets a reader in while it writes) or with
the daemon stopped, and must not change a schema a running daemon of another version relies on:
so the journal is opened read-only (SQLite ``mode=ro``, which also never creates a missing file;
PostgreSQL ``default_transaction_read_only``) and never migrated. The URL is checked, and its
secrets hidden, exactly as :meth:`~callgate.storage.journal.Journal.open` does
(:func:`~callgate.storage.database.parse_url`).

Rows come back as plain dataclasses, so the report's figures never see SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from sqlalchemy import URL, event, inspect, null, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from callgate.storage.annotations import AnnotationRow
from callgate.storage.callbacks import CallbackAttemptRow, CallbackTaskRow
from callgate.storage.database import JournalError, JournalUrl, parse_url, require_aware
from callgate.storage.journal import Journal
from callgate.storage.models import CallRow

#: Tables the report needs; without them the database is not a callgate journal (or too old).
REQUIRED_TABLES = frozenset({"calls", "call_annotations"})
#: Tables of the callbacks (schema 0003, which also added ``calls.identity``).
CALLBACK_TABLES = frozenset({"callback_tasks", "callback_attempts"})


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the report needs of one ``calls`` row and its disposition."""

    call_id: str
    caller: str
    category: str
    started_at: datetime
    ended_at: datetime | None = None
    outcome: str | None = None
    answered_at: datetime | None = None
    disposition: str | None = None
    identity: str | None = None

    @property
    def answer_time(self) -> float | None:
        """Seconds from the start to the answer, or None if not answered (or not known when)."""
        if self.answered_at is None:
            return None
        # A clock step between two hosts must not produce a negative wait.
        return max(0.0, (self.answered_at - self.started_at).total_seconds())


@dataclass(frozen=True, slots=True)
class CallbackTaskFacts:
    """One ``callback_tasks`` row."""

    task_id: str
    number: str
    reason: str
    created_at: datetime
    state: str
    nuisance: bool = False


@dataclass(frozen=True, slots=True)
class CallbackAttemptFacts:
    """One ``callback_attempts`` row."""

    task_id: str
    started_at: datetime
    outcome: str


class ReportRows(NamedTuple):
    """The rows of one period (a tuple, so ``build_report(period, *rows)`` reads them)."""

    calls: list[CallFacts]
    "Calls started in the period, with their disposition, oldest first."
    tasks: list[CallbackTaskFacts]
    "Callback tasks created in the period."
    attempts: list[CallbackAttemptFacts]
    "Attempts made in the period, and every attempt of the tasks created in it."


def readonly_url(url: str) -> tuple[URL, dict[str, Any]]:
    """The URL and connect arguments that open the journal read-only, never creating it."""
    return _readonly(parse_url(url))


def _readonly(target: JournalUrl) -> tuple[URL, dict[str, Any]]:
    parsed, shown = target.url, target.shown
    if target.is_sqlite:
        database = parsed.database or ""
        if database in ("", ":memory:"):
            raise JournalError(f"journal URL {shown} names no database file")
        if database.startswith("file:"):
            return parsed, {}
        if not Path(database).is_file():
            raise JournalError(f"no journal at {database} (has the daemon ever run here?)")
        # mode=ro: SQLite refuses every write, and never creates a missing file.
        uri = f"file:{quote(database)}"
        return parsed.set(database=uri, query={"mode": "ro", "uri": "true"}), {}
    return parsed, {"server_settings": {"default_transaction_read_only": "on"}}


async def open_journal_readonly(url: str) -> tuple[Journal, bool]:
    """The journal on ``url`` opened read-only and not migrated, and whether it has the
    callback tables. :class:`JournalError` if it cannot be read or is not a callgate journal."""
    target = parse_url(url)
    parsed, connect_args = _readonly(target)
    engine = create_async_engine(parsed, connect_args=connect_args)
    if target.is_sqlite:
        # A writer holding the lock for a moment must not fail the report at once.
        event.listen(engine.sync_engine, "connect", _sqlite_busy_timeout)
    journal = Journal(engine, target.shown, target.hidden)
    try:
        async with journal.transaction() as session:
            tables = set(await session.run_sync(_table_names))
    except JournalError as exc:
        await journal.close()
        raise JournalError(f"cannot open the journal: {exc}") from None
    missing = REQUIRED_TABLES - tables
    if missing:
        await journal.close()
        raise JournalError(
            f"{target.shown} is not a callgate journal, or older than this report "
            f"(no table {', '.join(sorted(missing))})"
        )
    return journal, CALLBACK_TABLES.issubset(tables)


def _sqlite_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _table_names(session: Any) -> list[str]:
    names: list[str] = inspect(session.connection()).get_table_names()
    return names


async def load_report_rows(
    journal: Journal, start: datetime, end: datetime, *, callbacks: bool = True
) -> ReportRows:
    """The rows of ``[start, end)``: calls with their disposition, callback tasks created in it,
    and every attempt of those tasks or made in it. ``callbacks``: whether the journal has the
    callback tables (:func:`open_journal_readonly` says)."""
    require_aware(start=start, end=end)
    async with journal.transaction() as session:
        # ``callbacks``: schema 0003, which also added ``calls.identity``.
        calls = await _load_calls(session, start, end, with_identity=callbacks)
        if not callbacks:
            return ReportRows(calls, [], [])
        created_in_period = (CallbackTaskRow.created_at >= start) & (
            CallbackTaskRow.created_at < end
        )
        tasks = [
            CallbackTaskFacts(
                task_id=t.task_id,
                number=t.number,
                reason=t.reason,
                created_at=t.created_at,
                state=t.state,
                nuisance=bool(t.nuisance),
            )
            for t in await session.scalars(select(CallbackTaskRow).where(created_in_period))
        ]
        # A subquery, not a list of ids: a year's tasks would pass SQLite's variable limit.
        of_these_tasks = CallbackAttemptRow.task_id.in_(
            select(CallbackTaskRow.task_id).where(created_in_period).scalar_subquery()
        )
        condition = (
            (CallbackAttemptRow.started_at >= start) & (CallbackAttemptRow.started_at < end)
        ) | of_these_tasks
        attempts = [
            CallbackAttemptFacts(task_id=a.task_id, started_at=a.started_at, outcome=a.outcome)
            for a in await session.execute(
                select(
                    CallbackAttemptRow.task_id,
                    CallbackAttemptRow.started_at,
                    CallbackAttemptRow.outcome,
                ).where(condition)
            )
        ]
    return ReportRows(calls, tasks, attempts)


async def _load_calls(
    session: AsyncSession, start: datetime, end: datetime, *, with_identity: bool
) -> list[CallFacts]:
    query = (
        select(
            CallRow.call_id,
            CallRow.caller,
            CallRow.category,
            CallRow.started_at,
            CallRow.ended_at,
            CallRow.outcome,
            CallRow.answered_at,
            AnnotationRow.disposition,
            CallRow.identity if with_identity else null().label("identity"),
        )
        .outerjoin(AnnotationRow, AnnotationRow.call_id == CallRow.call_id)
        .where(CallRow.started_at >= start, CallRow.started_at < end)
        .order_by(CallRow.started_at)
    )
    return [CallFacts(**row._mapping) for row in await session.execute(query)]
