"""Keeping the CAD outbox small: published events older than ``outbox_retention_hours`` are
deleted in small batches, so a big backlog never holds the journal's database for long and the
publisher's writer and link get in between batches."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from callgate.ports import JournalError, OutboxStore

log = logging.getLogger(__name__)

#: Seconds between prunes of the outbox, and rows deleted per transaction.
PRUNE_INTERVAL = 600.0
PRUNE_BATCH = 500


async def prune(outbox: OutboxStore, retention_hours: float, now: datetime) -> int:
    """Delete events published more than ``retention_hours`` before ``now``, a batch per
    transaction; return how many."""
    cutoff = now - timedelta(hours=retention_hours)
    total = 0
    while (pruned := await outbox.prune(cutoff, PRUNE_BATCH)) > 0:
        total += pruned
        if pruned < PRUNE_BATCH:
            break
        await asyncio.sleep(0)  # let the writer and the link in between batches
    return total


async def keep_pruned(outbox: OutboxStore, retention_hours: float) -> None:
    """Prune every :data:`PRUNE_INTERVAL` seconds until cancelled."""
    while True:
        try:
            pruned = await prune(outbox, retention_hours, datetime.now(UTC))
            if pruned:
                log.info("old published events deleted from the outbox", extra={"count": pruned})
        except JournalError as exc:
            # The next pass deletes them; nothing waits on the prune.
            log.warning("outbox not pruned", extra={"error": str(exc)})
        await asyncio.sleep(PRUNE_INTERVAL)
