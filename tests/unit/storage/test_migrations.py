"""Migrations: applied at open, match the models, reversible, and SQLite is set up for a daemon."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from callgate.storage.journal import Journal
from callgate.storage.migrations import alembic_config, upgrade_to_head
from tests.unit.storage import scenarios


async def test_given_a_migrated_journal_then_its_schema_equals_the_orm_models(db_url: str) -> None:
    await scenarios.schema_matches_models(db_url)


def test_given_the_migration_scripts_then_there_is_exactly_one_head() -> None:
    # Two heads (two revisions with the same down_revision) would stop Journal.open.
    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def _downgrade_then_upgrade(connection: Connection) -> list[list[str]]:
    config = alembic_config(connection=connection)
    command.downgrade(config, "base")
    after_down = sorted(inspect(connection).get_table_names())
    upgrade_to_head(connection)
    return [after_down, sorted(inspect(connection).get_table_names())]


async def test_given_a_migrated_journal_when_downgraded_and_upgraded_then_tables_are_back(
    db_url: str,
) -> None:
    await (await Journal.open(db_url)).close()
    engine = create_async_engine(db_url)
    try:
        async with engine.begin() as connection:
            down, up = await connection.run_sync(_downgrade_then_upgrade)
    finally:
        await engine.dispose()
    assert down == ["alembic_version"]
    assert up == [
        "agent_events",
        "alembic_version",
        "browser_sessions",
        "call_agents",
        "call_annotations",
        "call_transitions",
        "callback_attempts",
        "callback_tasks",
        "caller_blocks",
        "calls",
        "display_tokens",
        "event_outbox",
        "fence",
        "inquiry_audit",
        "recording_holds",
        "recordings",
    ]


async def test_given_a_sqlite_journal_then_wal_and_foreign_keys_are_on(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'deep' / 'er' / 'journal.db'}"
    journal = await Journal.open(url)
    try:
        assert (tmp_path / "deep" / "er" / "journal.db").is_file()
        # foreign_keys is per connection, so ask one of the journal's own connections.
        async with journal._engine.connect() as connection:
            assert (await connection.scalar(text("PRAGMA journal_mode"))) == "wal"
            assert (await connection.scalar(text("PRAGMA foreign_keys"))) == 1
    finally:
        await journal.close()
