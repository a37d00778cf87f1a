"""Callers' past dispositions, read from the journal for screening at call arrival."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from callgate.storage.annotations import AnnotationRow
from callgate.storage.journal import Journal, _require_aware
from callgate.storage.models import CallRow


@dataclass(frozen=True, slots=True)
class PastDisposition:
    """One earlier call of the same caller and what it was found to be."""

    call_id: str
    "The earlier call."
    disposition: str
    "genuine, information, prank, ghost, test or wrong-number."
    at: datetime
    "When the disposition was set."


async def dispositions_of(journal: Journal, caller: str, since: datetime) -> list[PastDisposition]:
    """Dispositions of ``caller``'s calls set at or after ``since``, oldest first.

    ``caller`` is the number as the journal keeps it (E.164 from the dialplan), so every shape a
    carrier sends for one phone is one history.
    """
    _require_aware(since=since)
    query = (
        select(AnnotationRow.call_id, AnnotationRow.disposition, AnnotationRow.disposition_at)
        .join(CallRow, CallRow.call_id == AnnotationRow.call_id)
        .where(
            CallRow.caller == caller,
            AnnotationRow.disposition.is_not(None),
            AnnotationRow.disposition_at >= since,
        )
        .order_by(AnnotationRow.disposition_at)
    )
    async with journal.transaction() as session:
        rows = (await session.execute(query)).all()
    return [
        PastDisposition(call_id, disposition, at)
        for call_id, disposition, at in rows
        if disposition is not None and at is not None
    ]
