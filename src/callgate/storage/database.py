"""The journal's database: its URL (checked, with secrets hidden), the SQLite connection set-up,
and the errors every storage module raises.

Kept apart from :mod:`callgate.storage.journal` (what is written and read) so that every way of
opening the database (the daemon's :meth:`~callgate.storage.journal.Journal.open`, the report's
read-only open in :mod:`callgate.storage.reports`) checks a URL and words its errors the same
way, and never shows a password.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs; only its exception classes
from alembic.util import CommandError
from pydantic import SecretStr
from sqlalchemy import URL, make_url
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from callgate.storage.settings import SUPPORTED_DRIVERS

# Query parameters that may carry a credential (asyncpg accepts ?password=...).
_SECRET_PARAMS = ("password", "secret", "token", "key")


# The errors every writer tells apart live with the other shared types (callgate.ports), so a
# writer outside storage can catch them without importing the database layer.
from callgate.ports import JournalError as JournalError  # noqa: E402
from callgate.ports import JournalUnavailable as JournalUnavailable  # noqa: E402


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


@dataclass(frozen=True, slots=True)
class JournalUrl:
    """A journal URL that passed :func:`parse_url`."""

    url: URL
    "The parsed URL, for the engine."
    shown: str
    "The URL for logs and errors, secrets hidden."
    hidden: tuple[str | None, ...]
    "The secrets it carries (password, password-like parameters), to scrub from driver errors."

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"


def parse_url(url: str | SecretStr) -> JournalUrl:
    """``url`` parsed and checked for a supported driver; :class:`JournalError` (password
    hidden) if it is not a database URL callgate can use."""
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
    if parsed.get_backend_name() == "postgresql":
        try:
            # A host list SQLAlchemy cannot give asyncpg (ports missing on some, two forms
            # mixed) fails here, not later as an uncaught error from the engine's creation.
            parsed.get_dialect()().create_connect_args(parsed)
        except (ArgumentError, ValueError) as exc:
            raise JournalError(f"journal URL {shown}: {exc}") from None
    hidden = [parsed.password if isinstance(parsed.password, str) else None]
    hidden += [str(v) for k, v in parsed.query.items() if _is_secret(k)]
    return JournalUrl(parsed, shown, tuple(hidden))


#: Seconds each PostgreSQL host of a multi-host URL gets to answer a connect (a healthy server on
#: the LAN answers in milliseconds, one starting up or under load within a second or two).
PER_HOST_CONNECT_TIMEOUT = 5.0


def per_host_connector(url: URL) -> Callable[[], Awaitable[Any]] | None:
    """For a PostgreSQL URL naming several hosts (a Patroni pair: ``?host=a:5432&host=b:5432``),
    an ``async_creator`` that tries each host in turn with its own timeout; None otherwise.

    asyncpg tries the hosts itself, but its connect ``timeout`` (60 s) covers them all together:
    a dead primary that accepts TCP but never answers (a frozen host, a stopped postmaster) or
    drops packets uses the whole budget, the next host is never tried, and the journal would
    stay unwritable for as long as that host stays dead. A URL's own ``timeout`` parameter
    sets the per-host time instead of :data:`PER_HOST_CONNECT_TIMEOUT`."""
    if url.get_backend_name() != "postgresql":
        return None
    _, kwargs = url.get_dialect()().create_connect_args(url)  # parse_url checked it
    hosts, ports = kwargs.pop("host", None), kwargs.pop("port", None)
    if not isinstance(hosts, list) or len(hosts) < 2 or not isinstance(ports, list):
        return None
    # Options of SQLAlchemy's adapter, not of asyncpg.connect (it applies its own defaults).
    for adapter_option in ("prepared_statement_cache_size", "prepared_statement_name_func"):
        kwargs.pop(adapter_option, None)
    timeout = float(kwargs.pop("timeout", PER_HOST_CONNECT_TIMEOUT))
    # Without it asyncpg takes whichever host answers first: after a failover often the old
    # primary rejoined as a replica, where every write of the journal fails (SQLSTATE 25006).
    kwargs.setdefault("target_session_attrs", "read-write")

    async def connect() -> Any:
        failures = []
        for host, port in zip(hosts, ports, strict=True):
            try:
                return await asyncpg.connect(host=host, port=port, timeout=timeout, **kwargs)
            except (*_DRIVER_ERRORS, asyncpg.exceptions.InternalClientError) as exc:
                # Refused, timed out, starting up, or read-only (target_session_attrs): next.
                failures.append(f"{host}:{port} {type(exc).__name__}: {exc}")
        # A connection error, so the journal's writers keep the record and try again (a
        # standby not yet promoted answers "read-only", which asyncpg raises as a client
        # error: passed on as such, the writers took it for a bad record and dropped it).
        raise ConnectionError("no host took the connection: " + "; ".join(failures))

    return connect


def sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL names; None for an in-memory database or a ``file:`` URI."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


#: The SQLite journal's mode (callers' numbers: the service and its group only), whatever the
#: umask; SQLite gives the ``-wal`` and ``-shm`` files it makes beside it the same mode.
SQLITE_MODE = 0o640


def prepare_sqlite_file(file: Path) -> list[Path]:
    """Create the journal's folder, and its file with :data:`SQLITE_MODE` before SQLite does
    (SQLite would follow the umask: 0644 when started by hand, not by the unit). An existing
    file, ``-wal`` or ``-shm`` with more rights is narrowed to it (never widened: a 0600 stays);
    returns those it could not narrow (not the owner). Raises :class:`OSError`."""
    file.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, SQLITE_MODE)
        try:
            os.fchmod(fd, SQLITE_MODE)  # the umask may have taken more
        finally:
            os.close(fd)
    left = []
    for path in (file, file.with_name(file.name + "-wal"), file.with_name(file.name + "-shm")):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & ~SQLITE_MODE:
                path.chmod(mode & SQLITE_MODE)
        except FileNotFoundError:
            continue
        except PermissionError:
            left.append(path)
    return left


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Connect hook of the daemon's SQLite engine."""
    # WAL lets readers (reports, the purge) run while the daemon writes; SQLite leaves foreign
    # keys off unless asked on every connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def session_limits(seconds: float) -> Callable[[Any, Any], None]:
    """Connect hook of a clustered callgate's PostgreSQL journal: no session stays idle inside
    a transaction, nor waits for a lock, longer than ``seconds``. An old leader paused (SIGSTOP,
    a VM freeze) mid-transaction holds its row locks until it runs again: the server ends its
    session after ``seconds`` instead, and the new leader's writes stop waiting for it.
    Set on the session itself (asyncpg's own connection, outside any transaction), so the
    pool's rollback at check-in does not undo it."""
    milliseconds = max(int(seconds * 1000), 1)

    def limit(dbapi_connection: Any, _record: Any) -> None:
        async def set_limits(connection: Any) -> None:
            await connection.execute(
                f"SET idle_in_transaction_session_timeout = {milliseconds};"
                f" SET lock_timeout = {milliseconds}"
            )

        dbapi_connection.run_async(set_limits)

    return limit


def scrub(exc: BaseException, secrets: Sequence[str | None]) -> str:
    """``exc`` as text, each of ``secrets`` replaced by ``***``."""
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
#: Single SQLSTATEs that say the same: 25006 read_only_sql_transaction (connected to a replica,
#: or to a primary Patroni demoted): the record waits for a writable primary.
READ_ONLY_SQLSTATE = "25006"
_OUTAGE_SQLSTATES = frozenset({READ_ONLY_SQLSTATE})
#: Everything a driver raises while connecting (SQLAlchemy passes these through unwrapped).
_DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionRefusedError, ConnectionResetError, TimeoutError, ENOSPC ...
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)
#: Everything the journal turns into :class:`JournalError`.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError, *_DRIVER_ERRORS)
#: ... and, while opening, what a failed migration raises.
OPEN_ERRORS: tuple[type[BaseException], ...] = (*DATABASE_ERRORS, CommandError)


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
            isinstance(sqlstate, str)
            and (sqlstate[:2] in _OUTAGE_SQLSTATE_CLASSES or sqlstate in _OUTAGE_SQLSTATES)
        )
    return False


def drop_read_only_connection(context: ExceptionContext) -> None:
    """A ``handle_error`` listener: a connection whose server refuses writes (SQLSTATE 25006) is
    of no use to the journal, so the pool drops it and the next try connects afresh (to the
    writable host, under ``target_session_attrs=read-write``) instead of failing on it again."""
    if getattr(context.original_exception, "sqlstate", None) == READ_ONLY_SQLSTATE:
        context.is_disconnect = True


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


def require_aware(**times: datetime | None) -> None:
    """``ValueError`` naming the first of ``times`` that is a naive datetime."""
    # Checked before any SQL so the caller gets a plain ValueError naming the argument (the
    # column type checks too, but its error arrives wrapped in a database error).
    for name, value in times.items():
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{name}={value.isoformat()} is a naive datetime; give a time zone")
