"""Reading the journal's fence and lowering it by hand after etcd was rebuilt (#21).

The fence (:class:`~callgate.storage.models.FenceRow`) holds the newest leader epoch, an etcd
create revision. A rebuilt etcd counts its revisions from 1 again, so every new leader's epoch
is below the journal's and each would be fenced at its first write. Nothing lowers the fence
by itself (a stale leader must never write); an admin does, with ``callgate cluster
reset-fence``, and the step is a row of the journal's audit trail (``inquiry_audit``, the
trail that is never deleted) naming the OS user who ran it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from callgate.storage.database import require_aware
from callgate.storage.inquiries import InquiryAuditRow
from callgate.storage.journal import Journal
from callgate.storage.models import FenceRow

#: The audit trail's action for a fence lowered by hand.
RESET_ACTION = "fence_reset"


@dataclass(frozen=True, slots=True)
class FenceReset:
    """What :func:`reset_fence` found and left: the epoch before and after."""

    before: int
    after: int

    @property
    def changed(self) -> bool:
        return self.after != self.before


async def fence_epoch(journal: Journal) -> int:
    """The journal's fence now: the newest epoch a leader claimed (0: never claimed)."""
    async with journal.transaction() as session:
        found = await session.execute(select(FenceRow.epoch).where(FenceRow.id == 1))
        return int(found.scalar_one())


async def reset_fence(journal: Journal, to: int, *, by: str, at: datetime) -> FenceReset:
    """Lower the fence to ``to`` in one transaction, with its audit row naming ``by``.

    A fence already at or below ``to`` is left as it is (nothing to lower, no row): the reset
    only ever opens the journal to epochs the current etcd can still give."""
    require_aware(at=at)
    async with journal.transaction() as session:
        # FOR UPDATE: a leader claiming meanwhile waits for this transaction (PostgreSQL).
        found = await session.execute(
            select(FenceRow.epoch).where(FenceRow.id == 1).with_for_update()
        )
        before = int(found.scalar_one())
        if before <= to:
            return FenceReset(before, before)
        await session.execute(
            update(FenceRow)
            .where(FenceRow.id == 1)
            .values(epoch=to)
            .execution_options(synchronize_session=False)
        )
        session.add(
            InquiryAuditRow(
                at=at,
                by=by,
                action=RESET_ACTION,
                call_id=None,
                reason="etcd rebuilt: the journal's epoch was newer than etcd's whole history",
                detail=json.dumps({"from": before, "to": to}),
            )
        )
    return FenceReset(before, to)
