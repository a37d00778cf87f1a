"""The wallboard's own wiring: its settings (followed through reloads), today's figures read
from the journal at start, and the call-takers' phones registering.

Kept out of :mod:`callgate.daemon.app` (the composition root calls these) so that the root stays
one screen per concern.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from callgate.config import Settings
from callgate.core.roster import Roster
from callgate.daemon.board_figures import BoardFigures, EndedCallFacts, from_fallback
from callgate.daemon.live import LiveFeed
from callgate.storage.database import JournalError
from callgate.storage.fallback_calls import FallbackCallFacts
from callgate.storage.journal import Journal
from callgate.storage.reports import load_report_rows

log = logging.getLogger(__name__)

#: Seconds between tries to read today's calls while the journal does not answer.
RETRY_SECONDS = 30.0
#: The longest the roll-over timer sleeps: a reloaded roster's earlier boundary is met then.
ROLL_CHECK_SECONDS = 60.0


class BoardConfig:
    """What the wallboard reads of the configuration, as it runs (a reload changes it)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._roster = settings.roster.roster()

    def reconfigure(self, settings: Settings) -> None:
        self.settings = settings
        self._roster = settings.roster.roster()

    def roster(self) -> Roster | None:
        return self._roster

    def marks(self) -> Sequence[int]:
        board = self.settings.wallboard
        return (board.warn_after, board.late_after)

    def wallboard(self) -> dict[str, Any]:
        # The page shows times in the centre's zone, whatever the wall PC's own.
        return {**self.settings.wallboard.to_json(), "timezone": self.settings.centre.zone.key}

    def names(self) -> dict[str, str]:
        return dict(self.settings.calltakers.names)

    def feed_options(self) -> dict[str, Any]:
        """The live feed's keyword arguments: the centre's zone, figures, marks, names."""
        return {
            "figures": BoardFigures(self.settings.centre.zone, self.roster, self.marks),
            "wallboard": self.wallboard,
            "names": self.names,
        }


async def load_figures(journal: Journal, live: LiveFeed) -> None:
    """Read today's and this shift's calls from the journal (once; retried while it does not
    answer), then show them."""

    async def calls(start: dt.datetime, end: dt.datetime) -> Sequence[EndedCallFacts]:
        return (await load_report_rows(journal, start, end, callbacks=False)).calls

    while True:
        try:
            await live.figures.load(calls, time.time())
        except JournalError as exc:
            log.warning(
                "today's figures not read from the journal yet (counting from the start)",
                extra={"error": str(exc), "retry_s": RETRY_SECONDS},
            )
            await asyncio.sleep(RETRY_SECONDS)
            continue
        live.publish_today()
        return


async def roll_figures(
    live: LiveFeed,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> None:
    """At each day end and shift boundary (the centre's zone, the roster as it is then), the
    figures again: the wall rolls over to the new day and shift without waiting for a call to
    end. Sleeps to the boundary (at most ROLL_CHECK_SECONDS at a time), never polls busily."""
    due = live.figures.next_change(clock())
    while True:
        now = clock()
        if now >= due:
            live.roll()
            due = live.figures.next_change(now)
        else:
            # A reload may have brought a roster whose next boundary is sooner.
            due = min(due, live.figures.next_change(now))
        await sleep(min(max(due - now, 0.0), ROLL_CHECK_SECONDS))


def fallback_to_figures(live: LiveFeed) -> Callable[[FallbackCallFacts], None]:
    """The fallback queue_log reader's hook: each call it journals counts on the wall at once."""

    def journaled(facts: FallbackCallFacts) -> None:
        answered = None if facts.answered_at is None else facts.answered_at.timestamp()
        live.fallback_call(from_fallback(facts.call_id, facts.entered_at.timestamp(), answered))

    return journaled
