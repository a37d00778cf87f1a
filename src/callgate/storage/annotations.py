"""What CAD and call-takers add to a call after the fact: its disposition (genuine, prank,
ghost...), a callback request, CAD's incident id. One row per call in ``call_annotations``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from callgate.storage.database import require_aware
from callgate.storage.journal import Journal
from callgate.storage.models import WIDE, Base, CallRow, Clipped, UTCDateTime


class AnnotationRow(Base):
    """Annotations of one call; absent until the first one is made."""

    __tablename__ = "call_annotations"

    call_id: Mapped[str] = mapped_column(
        ForeignKey("calls.call_id", ondelete="CASCADE"), primary_key=True
    )
    disposition: Mapped[str | None] = mapped_column(String(32))
    disposition_by: Mapped[str | None] = mapped_column(
        Clipped(WIDE, "call_annotations.disposition_by")
    )
    disposition_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    incident_id: Mapped[str | None] = mapped_column(Clipped(WIDE, "call_annotations.incident_id"))
    incident_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    callback_by: Mapped[str | None] = mapped_column(Clipped(WIDE, "call_annotations.callback_by"))
    callback_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True, slots=True)
class CallAnnotation:
    """A call's annotations as stored."""

    call_id: str
    disposition: str | None
    disposition_by: str | None
    disposition_at: datetime | None
    incident_id: str | None
    callback_by: str | None
    callback_requested_at: datetime | None


class JournalAnnotations:
    """Annotations stored in the journal. Each writer returns False for a call the journal does
    not know (and stores nothing)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def _update(self, call_id: str, at: datetime, **values: str | datetime) -> bool:
        require_aware(at=at)
        async with self.journal.transaction() as session:
            if await session.get(CallRow, call_id) is None:
                return False
            row = await session.get(AnnotationRow, call_id)
            if row is None:
                row = AnnotationRow(call_id=call_id)
                session.add(row)
            for name, value in values.items():
                setattr(row, name, value)
            return True

    async def set_disposition(self, call_id: str, disposition: str, by: str, at: datetime) -> bool:
        return await self._update(
            call_id, at, disposition=disposition, disposition_by=by, disposition_at=at
        )

    async def request_callback(self, call_id: str, by: str, at: datetime) -> bool:
        return await self._update(call_id, at, callback_by=by, callback_requested_at=at)

    async def attach_incident(self, call_id: str, incident_id: str, at: datetime) -> bool:
        return await self._update(call_id, at, incident_id=incident_id, incident_at=at)

    async def get(self, call_id: str) -> CallAnnotation | None:
        async with self.journal.transaction() as session:
            row = await session.get(AnnotationRow, call_id)
            if row is None:
                return None
            return CallAnnotation(
                call_id=row.call_id,
                disposition=row.disposition,
                disposition_by=row.disposition_by,
                disposition_at=row.disposition_at,
                incident_id=row.incident_id,
                callback_by=row.callback_by,
                callback_requested_at=row.callback_requested_at,
            )
