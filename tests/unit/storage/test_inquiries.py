"""#23's queries on SQLite (tests/integration/test_journal_postgres.py runs them on PostgreSQL)."""

from __future__ import annotations

from tests.unit.storage import scenarios


async def test_given_calls_then_every_filter_pages_holds_and_the_trail_answer(db_url: str) -> None:
    await scenarios.inquiry_queries(db_url)
