"""Screening at call arrival: the caller's history from the journal, the decision from the core.

The policy itself is pure (:mod:`callgate.core.screening`); this module only loads what it needs
and never lets the lookup delay a 112 call: a journal that does not answer within
``lookup_timeout`` means "no history", and the call is queued as a first call.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from callgate.core.screening import (
    CallerHistory,
    Disposition,
    DispositionRecord,
    ScreeningDecision,
    ScreeningPolicy,
    history_key,
    is_anonymous,
    screen,
)
from callgate.storage import Journal, JournalError
from callgate.storage.history import dispositions_of

log = logging.getLogger(__name__)


class Screener:
    """Decides, for each arriving caller, the tag, warning and priority class."""

    def __init__(
        self, journal: Journal, policy: ScreeningPolicy, *, lookup_timeout: float = 0.5
    ) -> None:
        self.journal = journal
        self.policy = policy
        self.lookup_timeout = lookup_timeout

    async def decide(self, caller: str, now: float) -> ScreeningDecision:
        anonymous = is_anonymous(caller)
        key = history_key(caller, None)
        history = None
        if key is not None:
            try:
                history = await asyncio.wait_for(
                    self._history(key, caller, now), self.lookup_timeout
                )
            except (TimeoutError, JournalError) as exc:
                log.warning(
                    "caller history unavailable; screening as a first call",
                    extra={"caller": caller, "error": str(exc) or type(exc).__name__},
                )
        decision = screen(history, now, self.policy, anonymous=anonymous)
        if decision.tag:
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

    async def _history(self, key: str, caller: str, now: float) -> CallerHistory | None:
        since = datetime.fromtimestamp(now, UTC) - timedelta(seconds=self.policy.tag_window)
        past = await dispositions_of(self.journal, caller, since)
        if not past:
            return None
        records = tuple(
            DispositionRecord(p.at.timestamp(), Disposition(p.disposition), p.call_id)
            for p in past
            if p.disposition in Disposition._value2member_map_
        )
        return CallerHistory(key, dispositions=records)
