"""Blocks of caller keys, with their audit trail (who, when, why; who lifted it, when, why).

Blocking is optional (``[screening.blocking]``); rows are kept after a block ends or is lifted,
so the trail stays complete. ``key`` is the core's :func:`~callgate.core.screening.history_key`
(the national number, or ``imei:...`` for a SIM-less caller whose carrier passed an identity).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Integer, Text, and_, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from callgate.storage.database import require_aware
from callgate.storage.journal import Journal
from callgate.storage.models import WIDE, Base, Clipped, UTCDateTime


class BlockRow(Base):
    """One block placed on a caller key (automatic or by a supervisor)."""

    __tablename__ = "caller_blocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(Clipped(WIDE, "caller_blocks.key"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(Clipped(WIDE, "caller_blocks.by"))
    reason: Mapped[str] = mapped_column(Text)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str | None] = mapped_column(Clipped(WIDE, "caller_blocks.lifted_by"))
    lift_reason: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True, slots=True)
class Block:
    """One block as stored, detached from the database. Times are tz-aware UTC."""

    id: int
    "Row id: identifies the block in the audit trail."
    key: str
    "The caller key it applies to (``0812...`` or ``imei:...``)."
    at: datetime
    "When it was placed."
    until: datetime
    "When it ends by itself."
    by: str
    "Who placed it (``auto`` for the policy)."
    reason: str
    "Why it was placed."
    lifted_at: datetime | None = None
    "When it was lifted early, or None."
    lifted_by: str | None = None
    "Who lifted it."
    lift_reason: str | None = None
    "Why it was lifted."

    def active(self, now: datetime) -> bool:
        """True while the block applies at ``now`` (placed, not ended, not lifted)."""
        if self.lifted_at is not None and self.lifted_at <= now:
            return False
        return self.at <= now < self.until


def _block(row: BlockRow) -> Block:
    return Block(
        id=row.id,
        key=row.key,
        at=row.at,
        until=row.until,
        by=row.by,
        reason=row.reason,
        lifted_at=row.lifted_at,
        lifted_by=row.lifted_by,
        lift_reason=row.lift_reason,
    )


def _active_at(now: datetime) -> ColumnElement[bool]:
    return and_(
        BlockRow.at <= now,
        BlockRow.until > now,
        or_(BlockRow.lifted_at.is_(None), BlockRow.lifted_at > now),
    )


class JournalBlocks:
    """Blocks kept in the journal database. Rows are never deleted: lifting one fills in who
    lifted it, when and why, so the audit trail stays whole."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def place(
        self, key: str, *, at: datetime, until: datetime, by: str, reason: str
    ) -> Block:
        """Store a new block of ``key`` from ``at`` to ``until``."""
        require_aware(at=at, until=until)
        if not key or until <= at:
            raise ValueError("a block needs a key and an end after its start")
        async with self.journal.transaction() as session:
            row = BlockRow(key=key, at=at, until=until, by=by, reason=reason)
            session.add(row)
            await session.flush()  # assigns the id
            return _block(row)

    async def lift(self, key: str, *, at: datetime, by: str, reason: str) -> list[Block]:
        """Lift every block of ``key`` active at ``at``; return them as lifted (maybe none)."""
        require_aware(at=at)
        async with self.journal.transaction() as session:
            rows = (
                await session.scalars(
                    select(BlockRow)
                    .where(BlockRow.key == key, _active_at(at))
                    .order_by(BlockRow.id)
                )
            ).all()
            for row in rows:
                row.lifted_at, row.lifted_by, row.lift_reason = at, by, reason
            return [_block(row) for row in rows]

    async def of(self, key: str) -> list[Block]:
        """Every block of ``key`` ever placed, oldest first (the core's history wants them all)."""
        async with self.journal.transaction() as session:
            rows = await session.scalars(
                select(BlockRow).where(BlockRow.key == key).order_by(BlockRow.at, BlockRow.id)
            )
            return [_block(row) for row in rows]

    async def active(self, now: datetime) -> list[Block]:
        """Blocks in force at ``now``, the ones ending soonest first."""
        require_aware(now=now)
        async with self.journal.transaction() as session:
            rows = await session.scalars(
                select(BlockRow).where(_active_at(now)).order_by(BlockRow.until, BlockRow.id)
            )
            return [_block(row) for row in rows]

    async def trail(self, limit: int = 1000) -> list[Block]:
        """The audit trail: up to ``limit`` blocks, newest first, active or not."""
        async with self.journal.transaction() as session:
            rows = await session.scalars(
                select(BlockRow).order_by(BlockRow.at.desc(), BlockRow.id.desc()).limit(limit)
            )
            return [_block(row) for row in rows]
