"""The caller's screening history at arrival, from the journal (the core screens with it).

The policy is pure and decided in the core (:mod:`callgate.core.screening`, from the history
``CallArrived`` carries); this module only loads what it needs and never lets the lookup delay
or stop a 112 call: a journal that does not answer within ``lookup_timeout``, or cannot be
reached at all, means an empty history, and the call is screened as a first call (never
blocked: a block that cannot be read does not apply). The warning that says so is logged at
most once a minute (with how many were held back): during a database outage every call would
log it.

A caller's history is keyed by :func:`~callgate.core.screening.history_key`: the national
number, or for a SIM-less caller the carrier's IMEI-derived identity (their calls are found by
``calls.identity``). With blocking configured, the caller's blocks and their recent calls (for
the safety valve) are loaded too, within the same budget.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from callgate.config import Settings, screening_policy
from callgate.core.screening import (
    BlockRecord,
    CallerHistory,
    Disposition,
    DispositionRecord,
    ScreeningPolicy,
    history_key,
)
from callgate.logs import LogThrottle
from callgate.ports import JournalError
from callgate.storage.blocks import Block, JournalBlocks
from callgate.storage.history import PastDisposition, call_times_of, dispositions_of
from callgate.storage.journal import Journal

log = logging.getLogger(__name__)

#: At most one "history unavailable" warning this often.
WARNING_INTERVAL = 60.0


def block_record(block: Block) -> BlockRecord:
    """The core's view of a stored block (core time: epoch seconds)."""
    return BlockRecord(
        at=block.at.timestamp(),
        until=block.until.timestamp(),
        by=block.by,
        reason=block.reason,
        lifted_at=None if block.lifted_at is None else block.lifted_at.timestamp(),
        lifted_by=block.lifted_by or "",
        lift_reason=block.lift_reason or "",
    )


def disposition_records(past: list[PastDisposition]) -> tuple[DispositionRecord, ...]:
    """The core's view of stored dispositions; values the core does not know are left out."""
    return tuple(
        DispositionRecord(p.at.timestamp(), Disposition(p.disposition), p.call_id)
        for p in past
        if p.disposition in Disposition._value2member_map_
    )


async def load_history(
    journal: Journal,
    key: str,
    now: float,
    policy: ScreeningPolicy,
    *,
    exclude_call_id: str | None = None,
) -> CallerHistory:
    """Caller ``key``'s history at ``now``: dispositions within the tag window, and with
    blocking configured every block and the calls within the valve window before ``now``."""
    at = datetime.fromtimestamp(now, UTC)
    past = await dispositions_of(
        journal, key, at - timedelta(seconds=policy.tag_window), exclude_call_id=exclude_call_id
    )
    blocks: tuple[BlockRecord, ...] = ()
    calls: tuple[float, ...] = ()
    if policy.blocking is not None:
        stored = await JournalBlocks(journal).of(key)
        blocks = tuple(block_record(b) for b in stored)
        if any(b.active(now) for b in blocks):
            # Only a blocked caller needs the valve's count of recent calls.
            since = at - timedelta(seconds=policy.blocking.valve_window)
            calls = tuple(t.timestamp() for t in await call_times_of(journal, key, since, at))
    return CallerHistory(key, dispositions=disposition_records(past), blocks=blocks, calls=calls)


class HistoryLoader:
    """Loads, for each arriving caller, the history the core screens them with."""

    def __init__(
        self, journal: Journal, policy: ScreeningPolicy, *, lookup_timeout: float = 0.5
    ) -> None:
        self.journal = journal
        #: What to load: the tag window, and with blocking the blocks and the valve's calls.
        self.policy = policy
        self.lookup_timeout = lookup_timeout
        self._warnings = LogThrottle(WARNING_INTERVAL)

    def reconfigure(self, settings: Settings) -> None:
        """A reload: what to load, by the screening policy from ``settings`` from now on."""
        self.policy = screening_policy(settings)

    async def __call__(self, caller: str, now: float, identity: str | None = None) -> CallerHistory:
        """The history of ``caller`` arriving at ``now`` (empty when nothing is known, when the
        caller has no history key, or when the journal cannot say in time); ``identity`` is the
        carrier's IMEI-derived identity of a SIM-less caller (keys the history without a
        number)."""
        key = history_key(caller, identity)
        if key is None:
            return CallerHistory("")  # no key: never one history shared by every SIM-less caller
        try:
            return await asyncio.wait_for(
                load_history(self.journal, key, now, self.policy), self.lookup_timeout
            )
        except (TimeoutError, JournalError) as exc:
            # JournalError covers every database fault (the journal translates the driver's
            # errors): the call is screened as a first call, never handed back.
            held_back = self._warnings.admit(type(exc).__name__)
            if held_back is not None:
                log.warning(
                    "caller history unavailable; screening as a first call",
                    extra={
                        "caller": caller,
                        "error": str(exc) or type(exc).__name__,
                        "not_logged": held_back,
                    },
                )
            return CallerHistory(key)
