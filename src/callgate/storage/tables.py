"""Every table of the journal, for what needs the whole schema at once: the migrations (Alembic
compares the models' metadata with the migrated database) and their test.

A table joins ``Base.metadata`` when the module that defines it is imported; the daemon imports
each where it is used, so only a whole-schema check needs this list. Add a new table module here.
"""

# No ``from __future__ import annotations`` here: it would shadow the annotations module.
from callgate.storage import (
    agent_events,
    annotations,
    blocks,
    browser_sessions,
    callbacks,
    inquiries,
    models,
    outbox,
)

metadata = models.Base.metadata
"""The journal's whole schema: every table of the modules below has joined it."""

__all__ = [
    "agent_events",
    "annotations",
    "blocks",
    "browser_sessions",
    "callbacks",
    "inquiries",
    "metadata",
    "models",
    "outbox",
]
