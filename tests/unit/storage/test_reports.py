"""The report's side of the journal (storage/reports.py): the read-only open checks a URL as
``Journal.open`` does, and the period's rows come back as plain dataclasses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callgate.storage.database import JournalError
from callgate.storage.journal import Journal
from callgate.storage.reports import (
    CallFacts,
    load_report_rows,
    open_journal_readonly,
    readonly_url,
)

PASSWORD = "s3cr3t-Pa55"
AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://callgate:{PASSWORD}@db/callgate",
        f"not a url {PASSWORD}",
        f"postgresql+asyncpg://u:{PASSWORD}@db:notaport/x",
    ],
)
async def test_given_an_unusable_url_then_the_same_error_as_the_daemons_open(url: str) -> None:
    with pytest.raises(JournalError) as daemon:
        await Journal.open(url)
    with pytest.raises(JournalError, match=re.escape(str(daemon.value))) as report:
        await open_journal_readonly(url)
    assert PASSWORD not in str(report.value)


def test_given_postgres_then_every_transaction_is_read_only() -> None:
    parsed, connect_args = readonly_url(f"postgresql+asyncpg://u:{PASSWORD}@h/db")
    assert parsed.password == PASSWORD  # the engine needs it; only messages hide it
    assert connect_args == {"server_settings": {"default_transaction_read_only": "on"}}


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite+aiosqlite://", "names no database file"),
        ("sqlite+aiosqlite:///:memory:", "names no database file"),
    ],
)
def test_given_sqlite_without_a_file_then_refused(url: str, says: str) -> None:
    with pytest.raises(JournalError, match=says):
        readonly_url(url)


def test_given_a_sqlite_file_then_it_is_opened_read_only(tmp_path: Path) -> None:
    (tmp_path / "j.db").write_bytes(b"")
    parsed, connect_args = readonly_url(f"sqlite+aiosqlite:///{tmp_path / 'j.db'}")
    assert parsed.database == f"file:{tmp_path / 'j.db'}"
    assert dict(parsed.query) == {"mode": "ro", "uri": "true"}
    assert connect_args == {}


async def test_given_a_period_then_its_calls_come_back_as_plain_rows(db_url: str) -> None:
    async with await Journal.open(db_url) as journal:
        for n, minutes in enumerate([-1, 0, 30, 60]):
            await journal.call_started(
                f"c{n}",
                caller="0811",
                caller_sent="0811",
                dialed="112",
                priority=1,
                category="",
                at=AT + timedelta(minutes=minutes),
                identity="35-1" if n == 2 else None,
            )
        await journal.call_ended(
            "c2", at=AT + timedelta(minutes=31), outcome="COMPLETED", answered_at=AT
        )
    reader, callbacks = await open_journal_readonly(db_url)
    try:
        rows = await load_report_rows(reader, AT, AT + timedelta(hours=1), callbacks=callbacks)
    finally:
        await reader.close()
    assert callbacks
    assert [c.call_id for c in rows.calls] == ["c1", "c2"]  # [start, end), oldest first
    assert rows.calls[1] == CallFacts(
        "c2",
        "0811",
        "",
        AT + timedelta(minutes=30),
        AT + timedelta(minutes=31),
        "COMPLETED",
        AT,
        None,
        "35-1",
    )
    assert rows.calls[1].answer_time == 0.0  # answered "before" it started: a clock step
    assert (rows.tasks, rows.attempts) == ([], [])


async def test_given_naive_bounds_then_value_error_before_any_sql(journal: Journal) -> None:
    with pytest.raises(ValueError, match="naive"):
        await load_report_rows(journal, datetime(2026, 11, 23), AT)
