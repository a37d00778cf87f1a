"""A journal that cannot be opened says which database and why, and never shows the password."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import asyncpg  # type: ignore[import-untyped]
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import make_url, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from callgate.ports import JournalError, JournalUnavailable
from callgate.storage.database import (
    DATABASE_ERRORS,
    PER_HOST_CONNECT_TIMEOUT,
    drop_read_only_connection,
    journal_error,
    per_host_connector,
    redact_url,
)
from callgate.storage.journal import Journal
from callgate.storage.settings import StorageSettings

PASSWORD = "s3cr3t-Pa55"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_given_an_unreachable_postgres_when_opened_then_error_names_it_without_password() -> (
    None
):
    url = f"postgresql+asyncpg://callgate:{PASSWORD}@127.0.0.1:{closed_port()}/callgate"
    with pytest.raises(JournalError) as caught:
        await Journal.open(SecretStr(url))
    message = str(caught.value)
    assert "postgresql+asyncpg://callgate:***@127.0.0.1" in message
    assert PASSWORD not in message
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is not None  # kept for debugging, but never printed
    assert caught.value.__suppress_context__


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"postgresql://callgate:{PASSWORD}@db/callgate", "use sqlite+aiosqlite:// or"),
        (f"mysql+aiomysql://callgate:{PASSWORD}@db/callgate", "use sqlite+aiosqlite:// or"),
        (f"not a url {PASSWORD}", "journal URL <unparseable URL> is not a database URL"),
        (
            f"postgresql+asyncpg://u:{PASSWORD}@db:notaport/x",
            "journal URL postgresql+asyncpg://<unparseable> is not a database URL",
        ),
    ],
)
async def test_given_an_unusable_url_when_opened_then_journal_error_without_password(
    url: str, says: str
) -> None:
    with pytest.raises(JournalError, match=re.escape(says)) as caught:
        await Journal.open(url)
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None


async def test_given_a_sqlite_path_under_a_file_when_opened_then_journal_error_names_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("")
    url = f"sqlite+aiosqlite:///{tmp_path / 'file' / 'journal.db'}"
    with pytest.raises(JournalError, match="cannot create the folder") as caught:
        await Journal.open(url)
    assert str(tmp_path / "file") in str(caught.value)


async def test_given_a_file_that_is_not_a_database_when_opened_then_journal_error(
    tmp_path: Path,
) -> None:
    (tmp_path / "journal.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(JournalError, match="cannot open the journal sqlite"):
        await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql+asyncpg://u:{PASSWORD}@h:5432/db", "postgresql+asyncpg://u:***@h:5432/db"),
        (
            f"postgresql+asyncpg://u@h/db?password={PASSWORD}&ssl=require",
            "postgresql+asyncpg://u@h/db?password=***&ssl=require",
        ),
        ("sqlite+aiosqlite:///./var/j.db", "sqlite+aiosqlite:///./var/j.db"),
        (
            # A Patroni pair (#21): both hosts and the session attribute shown, never the password.
            f"postgresql+asyncpg://u:{PASSWORD}@/db?host=a:5432&host=b:5433"
            "&target_session_attrs=read-write",
            "postgresql+asyncpg://u:***@/db?host=a:5432&host=b:5433&target_session_attrs=read-write",
        ),
        (f"garbage://u:{PASSWORD}@h:port", "garbage://<unparseable>"),
    ],
)
def test_given_a_url_when_redacted_then_password_is_hidden(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_given_no_storage_section_then_defaults_work_without_root() -> None:
    settings = StorageSettings()
    assert settings.url.get_secret_value() == "sqlite+aiosqlite:///./var/callgate/journal.db"


@pytest.mark.parametrize(
    "values",
    [
        {"recordings_dir": "/tmp"},
        {"url": f"postgresql://u:{PASSWORD}@h/db"},
        {"retention": 30},
    ],
)
def test_given_a_bad_storage_value_then_validation_fails_without_echoing_the_password(
    values: dict[str, object],
) -> None:
    with pytest.raises(ValidationError) as caught:
        StorageSettings.model_validate(values)
    assert all(PASSWORD not in error["msg"] for error in caught.value.errors())


def test_given_a_postgres_url_then_settings_accept_it_and_hide_it_in_repr() -> None:
    settings = StorageSettings(url=SecretStr(f"postgresql+asyncpg://u:{PASSWORD}@h/db"))
    assert PASSWORD not in repr(settings)


async def test_given_a_multi_host_url_when_no_host_answers_then_error_names_both_hosts() -> None:
    first, second = closed_port(), closed_port()
    url = (
        f"postgresql+asyncpg://callgate:{PASSWORD}@/callgate"
        f"?host=127.0.0.1:{first}&host=127.0.0.1:{second}&target_session_attrs=read-write"
    )
    with pytest.raises(JournalError) as caught:
        await Journal.open(SecretStr(url))
    message = str(caught.value)
    assert f"host=127.0.0.1:{first}&host=127.0.0.1:{second}" in message
    assert PASSWORD not in message


def test_given_a_multi_host_url_then_the_driver_gets_every_host_and_the_session_attribute() -> None:
    # How SQLAlchemy 2.1's asyncpg dialect spells a Patroni pair: repeated ``host=h:port``
    # parameters, each tried in turn, and asyncpg's ``target_session_attrs`` passed through.
    url = make_url(
        "postgresql+asyncpg://u:p@/db?host=a:5432&host=b:5433&target_session_attrs=read-write"
    )
    _, kwargs = create_async_engine(url).dialect.create_connect_args(url)
    assert kwargs["host"] == ["a", "b"]
    assert kwargs["port"] == [5432, 5433]
    assert kwargs["target_session_attrs"] == "read-write"


def test_given_one_host_or_sqlite_then_asyncpg_connects_as_before() -> None:
    for url in (
        "sqlite+aiosqlite:///./var/j.db",
        f"postgresql+asyncpg://u:{PASSWORD}@h:5432/db",
        f"postgresql+asyncpg://u:{PASSWORD}@/db?host=h:5432",
    ):
        assert per_host_connector(make_url(url)) is None


async def test_given_a_first_host_that_never_answers_then_the_next_host_is_still_tried() -> None:
    # A frozen primary: TCP accepted (the kernel does it), no word from PostgreSQL. asyncpg's own
    # multi-host connect spends its whole timeout on it and never tries the standby.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        refused = closed_port()
        url = make_url(
            f"postgresql+asyncpg://callgate:{PASSWORD}@/callgate?host=127.0.0.1:"
            f"{silent.getsockname()[1]}&host=127.0.0.1:{refused}&timeout=0.3"
        )
        connector = per_host_connector(url)
        assert connector is not None
        started = time.monotonic()
        with pytest.raises(ConnectionError, match=f"{refused} ConnectionRefusedError"):
            await connector()  # the second host's own error: it was tried
        assert time.monotonic() - started < 5


async def test_given_several_hosts_then_the_first_that_takes_the_connection_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tried: list[tuple[str, int, dict[str, object]]] = []

    async def connect(*, host: str, port: int, **kwargs: object) -> str:
        tried.append((host, port, kwargs))
        if host == "a":
            raise asyncpg.exceptions.TargetServerAttributeNotMatched("read-only")
        return f"connection to {host}"

    monkeypatch.setattr(asyncpg, "connect", connect)
    connector = per_host_connector(
        make_url(
            f"postgresql+asyncpg://u:{PASSWORD}@/db?host=a:5432&host=b:5433&host=c:5434"
            "&target_session_attrs=read-write"
        )
    )
    assert connector is not None
    assert await connector() == "connection to b"
    assert [(host, port) for host, port, _ in tried] == [("a", 5432), ("b", 5433)]
    assert tried[1][2] == {
        "database": "db",
        "user": "u",
        "password": PASSWORD,
        "target_session_attrs": "read-write",
        "timeout": PER_HOST_CONNECT_TIMEOUT,
    }


async def test_given_a_multi_host_url_without_ports_when_opened_then_journal_error_says_so() -> (
    None
):
    with pytest.raises(JournalError, match="All ports are required") as caught:
        await Journal.open(f"postgresql+asyncpg://u:{PASSWORD}@/db?host=a&host=b")
    assert PASSWORD not in str(caught.value)


async def test_given_no_host_takes_writes_then_it_is_an_outage_not_a_bad_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # During a failover the standby answers but is read-only: the journal's writers must keep
    # the record and try again (JournalUnavailable), never drop it as refused.
    async def read_only(**_: object) -> None:
        raise asyncpg.exceptions.TargetServerAttributeNotMatched("read-only")

    monkeypatch.setattr(asyncpg, "connect", read_only)
    url = f"postgresql+asyncpg://u:{PASSWORD}@/db?host=a:1&host=b:2&target_session_attrs=read-write"
    connector = per_host_connector(make_url(url))
    engine = create_async_engine(url, pool_pre_ping=True, async_creator=connector)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("SELECT 1"))
    except DATABASE_ERRORS as exc:
        error = journal_error(exc, "the journal")
    finally:
        await engine.dispose()
    assert isinstance(error, JournalUnavailable)
    assert "no host took the connection: a:1 TargetServerAttributeNotMatched" in str(error)


async def test_given_a_multi_host_url_without_session_attrs_then_only_a_writable_host_is_taken(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without ``target_session_attrs`` asyncpg would take the rejoined replica if it answered
    # first, and every write would fail there.
    tried: list[dict[str, object]] = []

    async def connect(**kwargs: object) -> str:
        tried.append(kwargs)
        return "connection"

    monkeypatch.setattr(asyncpg, "connect", connect)
    for attrs, wanted in (("", "read-write"), ("&target_session_attrs=primary", "primary")):
        connector = per_host_connector(
            make_url(f"postgresql+asyncpg://u:{PASSWORD}@/db?host=a:1&host=b:2{attrs}")
        )
        assert connector is not None
        await connector()
        assert tried[-1]["target_session_attrs"] == wanted


class _ReadOnly(Exception):
    sqlstate = "25006"


def test_given_a_read_only_server_refusing_a_write_then_an_outage_and_connection_dropped() -> None:
    # SQLSTATE 25006 read_only_sql_transaction: a replica (or a demoted primary). The record
    # must wait for a writable primary, not be dropped as refused.
    error = DBAPIError(
        "INSERT ...", {}, _ReadOnly("cannot execute INSERT in a read-only transaction")
    )
    assert isinstance(journal_error(error, "the journal"), JournalUnavailable)
    context = SimpleNamespace(original_exception=error.orig, is_disconnect=False)
    drop_read_only_connection(cast(ExceptionContext, context))
    assert context.is_disconnect
    other = SimpleNamespace(original_exception=ValueError("bad"), is_disconnect=False)
    drop_read_only_connection(cast(ExceptionContext, other))
    assert not other.is_disconnect
