"""Alembic environment: runs on the connection :meth:`Journal.open` hands over, or (for drafting a
revision from the command line) on a fresh engine for ``sqlalchemy.url``.

Unlike the stock template this does not call ``logging.config.fileConfig``: the daemon owns
logging.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from callgate.storage.models import Clipped, UTCDateTime
from callgate.storage.tables import metadata

config = context.config
target_metadata = metadata


def render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Drafted revisions must not import the models (a revision keeps its day's schema), so the
    # UTC decorator is written as the column type it really is.
    if kind == "type" and isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if kind == "type" and isinstance(item, Clipped):
        return f"sa.String(length={item.length})"
    return False


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite can only alter tables by copying them; batch mode does that for later revisions.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_on_url(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("the journal's migrations run online only (Journal.open applies them)")

given = config.attributes.get("connection")
if given is not None:
    run_on(given)
else:
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("no connection and no sqlalchemy.url for the journal's migrations")
    asyncio.run(run_on_url(url))
