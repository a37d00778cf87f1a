"""Screening at call arrival: the caller's history from the journal, the decision from the core.

The policy itself is pure (:mod:`callgate.core.screening`); this module only loads what it needs
and never lets the lookup delay or stop a 112 call: a journal that does not answer within
``lookup_timeout``, or cannot be reached at all, means "no history", and the call is queued as a
first call (never blocked: a block that cannot be read does not apply). The warning that says so
is logged at most once a minute (with how many were held back): during a database outage every
call would log it.

A caller's history is keyed by :func:`~callgate.core.screening.history_key`: the national
number, or for a SIM-less caller the carrier's IMEI-derived identity (their calls are found by
``calls.identity``). With blocking configured, the caller's blocks and their recent calls (for
the safety valve) are loaded too, within the same budget.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from callgate.core.screening import (
    BlockRecord,
    CallerHistory,
    Disposition,
    DispositionRecord,
    ScreeningDecision,
    ScreeningPolicy,
    history_key,
    is_anonymous,
    screen,
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


class Screener:
    """Decides, for each arriving caller, the tag, warning, priority class and (only with
    blocking configured) whether the call is blocked or let through by the safety valve."""

    def __init__(
        self, journal: Journal, policy: ScreeningPolicy, *, lookup_timeout: float = 0.5
    ) -> None:
        self.journal = journal
        self.policy = policy
        self.lookup_timeout = lookup_timeout
        self._warnings = LogThrottle(WARNING_INTERVAL)

    async def decide(
        self, caller: str, now: float, identity: str | None = None
    ) -> ScreeningDecision:
        """Screen ``caller`` arriving at ``now``; ``identity`` is the carrier's IMEI-derived
        identity of a SIM-less caller (keys the history when there is no number)."""
        anonymous = is_anonymous(caller)
        key = history_key(caller, identity)
        history = None
        if key is not None:
            try:
                history = await asyncio.wait_for(
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
        if history is not None and not history.dispositions and not history.blocks:
            history = None
        decision = screen(history, now, self.policy, anonymous=anonymous)
        if decision.blocked:
            log.warning(
                "caller is blocked: announcement, then hang-up",
                extra={"caller": caller, "key": key, "tag": decision.tag},
            )
        elif decision.valve:
            log.warning(
                "blocked caller put through by the safety valve",
                extra={"caller": caller, "key": key, "tag": decision.tag},
            )
        elif decision.tag:
            log.info(
                "caller screened",
                extra={
                    "caller": caller,
                    "tag": decision.tag,
                    "score": round(decision.score, 2),
                    "priority": decision.priority,
                    "warn": decision.warn,
                },
            )
        return decision
