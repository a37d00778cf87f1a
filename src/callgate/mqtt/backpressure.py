"""A broker that falls behind: counted in metrics and raised as ONE alarm, never a line a publish.

The call path never waits for the broker (the publisher queues events and publishes them from
tasks of its own), so a slow or flooded broker costs CAD latency, not callers. What it must not
cost either is the log: aiomqtt warns "There are N pending publish calls." for every publish
while more than ten wait for the broker's acknowledgement, which in a burst is a line per event
(192 of them in one lab burst). :class:`PublishMonitor` counts publishes in flight and those the
broker acknowledged late, and logs an ALARM once when the events back up and an INFO once when
they have cleared; :class:`ClientWarnings` swallows the library's warning into a counter.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: aiomqtt's logger (its default when the client is given none) and its per-publish warning.
CLIENT_LOGGER = "mqtt"
CLIENT_WARNING = "There are %d pending publish calls."
#: A publish the broker has not acknowledged after this many seconds is late (a healthy
#: broker on a LAN answers in milliseconds; a batch of 200 events in well under a second).
SLOW_AFTER = 2.0
#: Events not yet acknowledged (queued, in the outbox, in flight) that count as backed up even
#: while every publish is prompt: a broker taking events slower than calls produce them.
ALARM_DEPTH = 500
#: Backed up until the events not acknowledged fall to this and no publish has been late for
#: CLEAR_QUIET seconds (in the lab the last windows of a drained backlog were still late: an
#: ALARM cleared at once came back two seconds later).
CLEAR_DEPTH = 50
CLEAR_QUIET = 10.0


@dataclass
class PublishFigures:
    """What the metrics show of the publisher's link to the broker."""

    in_flight: int
    backed_up: bool
    delayed: int
    client_warnings: int
    state_updates_held: int


class PublishMonitor:
    """Publishes in flight, the late ones, and whether the publisher is backed up.

    The publisher calls :meth:`sending` when it hands a window of events to the client and
    :meth:`done` when the window is over (acknowledged or failed); :meth:`check` (every
    second, and after each window) decides the alarm from the publisher's depth.
    """

    def __init__(
        self,
        *,
        slow_after: float = SLOW_AFTER,
        alarm_depth: int = ALARM_DEPTH,
        clear_depth: int = CLEAR_DEPTH,
        clear_quiet: float = CLEAR_QUIET,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slow_after = slow_after
        self.alarm_depth = alarm_depth
        self.clear_depth = clear_depth
        self.clear_quiet = clear_quiet
        self.clock = clock
        #: When a publish was last seen late (in flight, or acknowledged late).
        self._late_at = -float("inf")
        self.in_flight = 0
        #: When each window in flight was handed over (by a token of its own), oldest first.
        self._windows: dict[int, tuple[float, int]] = {}
        self._next = 0
        self.delayed = 0
        "Publishes the broker acknowledged (or failed) later than ``slow_after``."
        self.state_updates_held = 0
        "Retained queue-state snapshots not sent while backed up (the latest goes after)."
        self.backed_up = False
        self.warnings = ClientWarnings()

    def figures(self) -> PublishFigures:
        return PublishFigures(
            in_flight=self.in_flight,
            backed_up=self.backed_up,
            delayed=self.delayed,
            client_warnings=self.warnings.count,
            state_updates_held=self.state_updates_held,
        )

    def sending(self, count: int) -> int:
        """``count`` publishes handed to the client; the token to give :meth:`done`."""
        self._next += 1
        self._windows[self._next] = (self.clock(), count)
        self.in_flight += count
        return self._next

    def done(self, token: int) -> None:
        """The window ``token`` is over: acknowledged, or abandoned with the connection."""
        window = self._windows.pop(token, None)
        if window is None:
            return
        started, count = window
        self.in_flight -= count
        if self.clock() - started > self.slow_after:
            self.delayed += count
            self._late_at = self.clock()

    def oldest_s(self) -> float:
        """How long the oldest window in flight has waited for the broker (0 when none)."""
        if not self._windows:
            return 0.0
        return max(0.0, self.clock() - min(t for t, _ in self._windows.values()))

    def check(self, depth: int) -> None:
        """ALARM once when ``depth`` events wait or a publish is late; INFO once when clear
        (few events waiting and no publish late for ``clear_quiet`` seconds)."""
        late = self.oldest_s() > self.slow_after
        if late:
            self._late_at = self.clock()
        quiet = self.clock() - self._late_at >= self.clear_quiet
        figures = {
            "backlog": depth,
            "in_flight": self.in_flight,
            "oldest_in_flight_s": round(self.oldest_s(), 1),
            "delayed": self.delayed,
        }
        if not self.backed_up and (late or depth >= self.alarm_depth):
            self.backed_up = True
            log.error(
                "ALARM: MQTT broker slow: events for CAD backing up (calls are not affected)",
                extra=figures,
            )
        elif self.backed_up and quiet and depth <= self.clear_depth:
            self.backed_up = False
            log.info("MQTT backlog cleared", extra=figures)

    def hold_state_update(self) -> bool:
        """True (and counted) when a retained queue-state update should wait: while backed
        up, the events CAD needs go first; the latest snapshot goes once cleared."""
        if self.backed_up:
            self.state_updates_held += 1
        return self.backed_up


class ClientWarnings(logging.Filter):
    """On aiomqtt's logger: its "pending publish calls" warning counted, not logged.

    The monitor's in-flight figure and its one ALARM say the same without a line a publish.
    """

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == CLIENT_WARNING:
            self.count += 1
            return False
        return True

    def install(self) -> None:
        logger = logging.getLogger(CLIENT_LOGGER)
        if self not in logger.filters:
            logger.addFilter(self)

    def remove(self) -> None:
        logging.getLogger(CLIENT_LOGGER).removeFilter(self)
