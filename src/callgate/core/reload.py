"""A reloaded configuration: decide by it from now on; calls in progress keep what they had.

``ConfigChanged`` carries the new ``AcdConfig``. The strategy, the queue's aging, the callback
rules, the announcements and the roster follow it at once; call-takers removed from the
configuration are logged out once their call is over. Callbacks cannot be turned on or off
while running (the worklist's records live in the driver, which sets them up at its start).
"""

from __future__ import annotations

from callgate.core.announcements import Announcements
from callgate.core.callback_attempts import CallbackAttempts
from callgate.core.calltakers import CallTakers
from callgate.core.errors import AcdUsageError
from callgate.core.events import ConfigChanged
from callgate.core.floor import Floor, Out, Table
from callgate.core.queue import WaitingQueue
from callgate.core.staffing import Staffing
from callgate.core.strategies import make_strategy


class Reload:
    """Applies ``ConfigChanged`` to the floor and the sub-machines that keep policy."""

    def __init__(
        self,
        floor: Floor,
        calltakers: CallTakers,
        callbacks: CallbackAttempts,
        staffing: Staffing,
    ) -> None:
        self.floor = floor
        self.calltakers = calltakers
        self.callbacks = callbacks
        self.staffing = staffing

    def table(self) -> Table:
        return {ConfigChanged: self.config_changed}

    def config_changed(self, event: ConfigChanged, now: float, out: Out) -> None:
        """Decide by ``event.config`` from now on; calls in progress keep what they had."""
        floor = self.floor
        old, new = floor.config, event.config
        if (old.callbacks is None) != (new.callbacks is None):
            # The worklist's records live in the driver, which sets them up at its start.
            raise AcdUsageError("callbacks cannot be turned on or off while running")
        floor.config = new
        if new.strategy != old.strategy:
            floor.strategy = make_strategy(new.strategy)
        if new.aging_interval != old.aging_interval:
            waiting = floor.queue.calls()
            floor.queue = WaitingQueue(new.aging_interval)
            for call in waiting:
                floor.queue.push(call)
        self.callbacks.follow(new.callbacks)
        announcing = new.announcements
        if announcing is None:
            # Turns end; an announcement playing now ends by itself within seconds.
            floor.announcements = None
        elif floor.announcements is None:
            floor.announcements = Announcements(announcing, new.wrap_up_time)
        else:
            floor.announcements.follow(announcing, new.wrap_up_time)
        self.staffing.follow(old.roster, new.roster, now, out)
        for agent_id in sorted(event.removed_agents):
            agent = floor.agents.get(agent_id)
            if agent is not None and agent.agent_id in floor.logged_in:
                self.calltakers.log_out_after_call(agent, "ConfigChanged", now, out)
