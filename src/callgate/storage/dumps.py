"""The journal copied out and back for ``callgate backup`` and ``callgate restore``.

SQLite in WAL mode cannot be copied with ``cp`` while the daemon writes (the file alone misses
what is still in ``-wal``, and a copy taken mid-checkpoint is torn): :func:`copy_sqlite` uses
SQLite's online backup API in one step, which reads a single consistent snapshot inside one read
transaction; in WAL mode that never blocks the daemon's writes. (A backup in several steps would
restart at every write of the daemon, and might never finish during a busy hour.) PostgreSQL is
dumped with ``pg_dump`` (one consistent snapshot too) and restored with ``pg_restore``; the
password goes to them through ``PGPASSWORD``, never on a command line (``ps`` would show it).

The journal's recordings (path and SHA-256) and its count of calls are read through SQLAlchemy,
so one function serves both databases and every URL is checked, and its secrets hidden, as the
daemon does (:func:`~callgate.storage.database.parse_url`).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from callgate.storage.database import DATABASE_ERRORS, JournalError, JournalUrl, scrub, sqlite_file
from callgate.storage.models import CallRow, RecordingRow
from callgate.storage.records import RecordingStatus

#: pg_dump or pg_restore of a large journal can take long; a hung server must not hang the
#: backup timer for ever.
PG_TIMEOUT_S = 3600.0


@dataclass(frozen=True, slots=True)
class JournalRecording:
    """A recording the journal says is on disk: its call, where, and the hash sealed at the end."""

    call_id: str
    path: str
    sha256: str
    size_bytes: int | None


def sqlite_path(journal: JournalUrl) -> Path:
    """The SQLite journal's file; :class:`JournalError` for an in-memory or URI database."""
    file = sqlite_file(journal.url)
    if file is None:
        raise JournalError(f"journal {journal.shown}: only a SQLite file can be backed up")
    return file


def copy_sqlite(source: Path, dest: Path) -> int:
    """Copy the live SQLite journal ``source`` to ``dest`` (a new file, in rollback mode so it is
    one self-contained file) by the online backup API; returns its size in bytes. Checks the copy
    with ``PRAGMA integrity_check``. :class:`JournalError` if the source is missing or unreadable.
    """
    if not source.is_file():
        raise JournalError(f"journal {source} does not exist")
    try:
        # mode=ro: a missing or mistyped file is never created, the journal never changed.
        with (
            closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as src,
            closing(sqlite3.connect(dest)) as dst,
        ):
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")
            (check,) = dst.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.Error as exc:
        raise JournalError(f"journal {source}: {type(exc).__name__}: {exc}") from None
    if check != "ok":
        raise JournalError(f"journal copy {dest} fails SQLite's integrity check: {check}")
    return dest.stat().st_size


def sqlite_calls(file: Path) -> int:
    """Calls in a SQLite journal file; 0 if it is missing or has no ``calls`` table yet."""
    if not file.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as db:
            table = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='calls'"
            ).fetchone()
            return int(db.execute("SELECT count(*) FROM calls").fetchone()[0]) if table else 0
    except sqlite3.Error as exc:
        raise JournalError(f"journal {file}: {type(exc).__name__}: {exc}") from None


def _libpq(url: URL) -> tuple[list[str], dict[str, str]]:
    """pg_dump/pg_restore's connection options and environment for a journal URL."""
    options = ["--dbname", str(url.database or "")]
    if url.host:
        options += ["--host", url.host]
    if url.port:
        options += ["--port", str(url.port)]
    if url.username:
        options += ["--username", url.username]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    return options, env


def _run_pg(journal: JournalUrl, argv: list[str]) -> None:
    options, env = _libpq(journal.url)
    try:
        done = subprocess.run(  # noqa: S603 - fixed program, options from the checked URL
            [*argv, "--no-password", *options],
            env=env,
            capture_output=True,
            timeout=PG_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        # FileNotFoundError: the postgresql-client package is missing.
        raise JournalError(f"{argv[0]} for {journal.shown}: {scrub(exc, journal.hidden)}") from None
    if done.returncode != 0:
        words = done.stderr.decode(errors="replace").strip()
        for secret in journal.hidden:
            if secret:
                words = words.replace(secret, "***")
        raise JournalError(f"{argv[0]} for {journal.shown} failed: {words}")


def dump_postgres(journal: JournalUrl, dest: Path) -> tuple[int, list[JournalRecording]]:
    """``pg_dump`` the journal to ``dest`` (custom format: compressed, restorable table by
    table); returns the calls and recordings the dump holds. Both are read in one transaction
    whose snapshot pg_dump shares (``--snapshot``), so the manifest lists exactly what the dump
    has even while the daemon writes."""
    return asyncio.run(_dump_postgres(journal, dest))


async def _dump_postgres(journal: JournalUrl, dest: Path) -> tuple[int, list[JournalRecording]]:
    engine = create_async_engine(journal.url, isolation_level="REPEATABLE READ")
    try:
        async with engine.connect() as db, db.begin():
            snapshot = (await db.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
            # The exporting transaction stays open until pg_dump has taken the snapshot (and
            # here until it ends): run pg_dump beside it.
            argv = ["pg_dump", "--format=custom", "--no-owner", f"--snapshot={snapshot}"]
            await asyncio.to_thread(_run_pg, journal, [*argv, "--file", str(dest)])
            return await _calls_and_recordings(db)
    except DATABASE_ERRORS as exc:
        raise JournalError(f"journal {journal.shown}: {scrub(exc, journal.hidden)}") from None
    finally:
        await engine.dispose()


def restore_postgres(journal: JournalUrl, dump: Path) -> None:
    """``pg_restore`` a dump into the journal's database, replacing the tables it holds."""
    _run_pg(
        journal,
        ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", str(dump)],
    )


async def _read(journal: JournalUrl) -> tuple[int, list[JournalRecording]]:
    engine = create_async_engine(journal.url)
    try:
        async with engine.connect() as db:
            return await _calls_and_recordings(db)
    except DATABASE_ERRORS as exc:
        raise JournalError(f"journal {journal.shown}: {scrub(exc, journal.hidden)}") from None
    finally:
        await engine.dispose()


async def _calls_and_recordings(db: AsyncConnection) -> tuple[int, list[JournalRecording]]:
    tables = set(await db.run_sync(lambda sync: inspect(sync).get_table_names()))
    if "calls" not in tables:
        return 0, []
    calls = int((await db.execute(select(func.count()).select_from(CallRow))).scalar_one())
    if "recordings" not in tables:
        return calls, []
    rows = await db.execute(
        select(
            RecordingRow.call_id, RecordingRow.path, RecordingRow.sha256, RecordingRow.size_bytes
        )
        .where(RecordingRow.status == RecordingStatus.READY.value)
        .order_by(RecordingRow.call_id)
    )
    return calls, [
        JournalRecording(call_id, path, sha256, size)
        for call_id, path, sha256, size in rows
        if path and sha256
    ]


def calls_and_recordings(journal: JournalUrl) -> tuple[int, list[JournalRecording]]:
    """The journal's number of calls and the recordings it says are on disk (READY, with a path
    and a hash). A database without callgate's tables has none."""
    return asyncio.run(_read(journal))
