"""Alembic migrations of the journal, run by :meth:`callgate.storage.Journal.open`; no
``alembic.ini`` is needed.

To add a table (e.g. the MQTT outbox), add the model to ``models.py``, then write the next
revision in ``versions/`` (``0002_<what>.py``, ``down_revision = "0001"``). Alembic can draft it
against a journal migrated to head::

    .venv/bin/python -c "from alembic import command; \\
    from callgate.storage.migrations import alembic_config; \\
    command.revision(alembic_config('sqlite+aiosqlite:///./var/callgate/journal.db'), \\
    'add outbox', autogenerate=True, rev_id='0002')"

``tests/unit/storage/test_migrations.py`` fails while the models and the migrated schema differ.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

HERE = Path(__file__).resolve().parent


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config for the journal: either an open (sync) connection or a database URL."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    if url is not None:
        # ConfigParser would treat '%' in a URL-encoded password as interpolation.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_to_head(connection: Connection) -> None:
    """Bring the journal's schema to the newest revision (run inside ``run_sync``)."""
    command.upgrade(alembic_config(connection=connection), "head")
