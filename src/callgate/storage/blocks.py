"""Blocks of caller keys, with their audit trail (who, when, why; who lifted it, when, why).

Blocking is optional (``[screening.blocking]``); rows are kept after a block ends or is lifted,
so the trail stays complete. ``key`` is the core's :func:`~callgate.core.screening.history_key`
(the national number, or ``imei:...`` for a SIM-less caller whose carrier passed an identity).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callgate.storage.models import Base, UTCDateTime


class BlockRow(Base):
    """One block placed on a caller key (automatic or by a supervisor)."""

    __tablename__ = "caller_blocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(96), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str | None] = mapped_column(String(64))
    lift_reason: Mapped[str | None] = mapped_column(Text)
