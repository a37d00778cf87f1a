"""The roster and the announcements to waiting callers.

With ``AcdConfig.roster`` set, the roster says at each moment whether the centre is staffed
and who is on: out of hours every waiting call is sent on, only the rostered call-takers are
offered calls, and (``logout_off_roster``) those off the roster are logged out once their call
is over. Each change of shift is a ``RosterChanged``; each change of a shift's figures a
``ShiftStaffing`` (``roster.StaffingWatch``).

With ``AcdConfig.announcements`` set (rules in ``announcements.py``), a caller who waits hears
``AnnounceQueue`` in turns; ``StopQueueAnnouncement`` follows the rings of an offer.

=======================  ===========================================================
When                     Move
=======================  ===========================================================
before each event        the roster looked at again once its state may have changed
after each event         the shifts' figures (``ShiftStaffing``) brought up to date
a turn is due            ``AnnounceQueue`` to the callers whose turn it is
=======================  ===========================================================
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from callgate.core.agents import DeviceState
from callgate.core.calltakers import CallTakers
from callgate.core.commands import RosterChanged, ShiftStaffing
from callgate.core.floor import Floor, Out
from callgate.core.offers import Offers
from callgate.core.roster import OnShift, Roster, RosterState
from callgate.core.silent import SilentCallers


class StaffingWatch:
    """Per shift on: the call-takers it needs, those logged in, and whether it is short-handed.

    A shift is short-handed once fewer call-takers who count for it are logged in than it
    needs and its grace period is over (``grace`` seconds after the core first saw it on: its
    start, or the driver's start in the middle of it). Every change of the figures, and the end
    of a shift, is a :class:`ShiftStaffing` notification.
    """

    def __init__(self, grace: float) -> None:
        self.grace = grace
        #: The latest figures of each occurrence on, by (name, start).
        self._last: dict[tuple[str, float], ShiftStaffing] = {}
        #: When each occurrence's grace period ends.
        self._grace_ends: dict[tuple[str, float], float] = {}

    @property
    def figures(self) -> tuple[ShiftStaffing, ...]:
        """The latest figures of every shift on that needs call-takers."""
        return tuple(self._last.values())

    def update(
        self, shifts: Collection[OnShift], present: Collection[str], now: float
    ) -> list[ShiftStaffing]:
        """New figures for ``shifts`` (those on), given the call-takers ``present``."""
        out: list[ShiftStaffing] = []
        live = set()
        for shift in shifts:
            if not shift.target:
                continue
            key = (shift.name, shift.start)
            live.add(key)
            grace_end = self._grace_ends.setdefault(key, now + self.grace)
            logged_in = sum(1 for agent_id in present if shift.counts(agent_id))
            short = logged_in < shift.target and now >= grace_end
            last = self._last.get(key)
            if last is None or (last.logged_in, last.short) != (logged_in, short):
                note = ShiftStaffing(shift.name, shift.target, logged_in, short, True, now)
                self._last[key] = note
                out.append(note)
        for key in [k for k in self._last if k not in live]:
            del self._grace_ends[key]
            out.append(replace(self._last.pop(key), short=False, on=False, at=now))
        return out

    def deadline(self) -> float | None:
        """When a shift now under its number, still in its grace period, becomes short-handed."""
        return min(
            (
                self._grace_ends[key]
                for key, note in self._last.items()
                if not note.short and note.logged_in < note.rostered
            ),
            default=None,
        )


class Staffing:
    """Who is on by the roster, the shifts' figures, and the queue announcements' turns."""

    def __init__(
        self, floor: Floor, offers: Offers, calltakers: CallTakers, silent: SilentCallers
    ) -> None:
        self.floor = floor
        self.offers = offers
        self.calltakers = calltakers
        self.silent = silent
        #: When the roster next needs a look; None until the first event tells us the time.
        self.roster_until: float | None = None
        roster = floor.config.roster
        self.watch = None if roster is None else StaffingWatch(roster.alarm_grace)

    @property
    def figures(self) -> tuple[ShiftStaffing, ...]:
        """The latest figures of each shift on that needs call-takers (empty without a roster)."""
        return () if self.watch is None else self.watch.figures

    def deadline(self) -> float | None:
        """The roster's next look, the next announcement turn or the next staffing alarm."""
        announcements = self.floor.announcements
        turn = None if announcements is None else announcements.next_deadline()
        staffing = None if self.watch is None else self.watch.deadline()
        deadlines = [t for t in (self.roster_until, turn, staffing) if t is not None]
        return min(deadlines) if deadlines else None

    def sync(self, now: float, out: Out) -> None:
        """Look at the roster again once its state may have changed."""
        floor = self.floor
        roster = floor.config.roster
        if roster is None or (self.roster_until is not None and now < self.roster_until):
            return
        state = roster.state_at(now)
        before = floor.roster_state
        floor.roster_state = state
        floor.staffed = state.staffed
        floor.rostered = state.rostered
        self.roster_until = state.until
        names = tuple(shift.name for shift in state.shifts)
        if before is None or names != tuple(shift.name for shift in before.shifts):
            out.append(RosterChanged(state.staffed, names, now))
        reason = floor.overflow_reason_for_shift()
        if reason is not None:
            self.offers.overflow_waiting(reason, "RosterChanged", now, out)
        if roster.logout_off_roster:
            self._log_out_off_roster(state, now, out)

    def _log_out_off_roster(self, state: RosterState, now: float, out: Out) -> None:
        """Call-takers the roster no longer has on leave: at once if idle or paused, else once
        their current call (ring, conversation, wrap-up) is over, as ``*12`` would."""
        floor = self.floor
        for agent_id in sorted(floor.logged_in):
            if not state.allows(agent_id):
                self.calltakers.log_out_after_call(
                    floor.agents[agent_id], "RosterChanged", now, out
                )

    def check(self, now: float, out: Out) -> None:
        """Report each change of a shift's figures (and a shift short-handed)."""
        floor = self.floor
        staffing, state = self.watch, floor.roster_state
        if staffing is None or state is None:
            return
        present = [
            agent_id
            for agent_id in floor.logged_in
            if floor.agents[agent_id].device is not DeviceState.UNAVAILABLE
        ]
        out.extend(staffing.update(state.shifts, present, now))

    def follow(self, old: Roster | None, new: Roster | None, now: float, out: Out) -> None:
        """A reloaded configuration's roster, from ``now`` on."""
        if new == old:
            return
        floor = self.floor
        if new is None:
            # Always on from now on: every call-taker logged in may take calls.
            assert self.watch is not None
            out.extend(self.watch.update((), (), now))  # the shifts' figures end
            self.watch = None
            floor.roster_state = None
            self.roster_until = None
            floor.rostered = None
            out.append(RosterChanged(True, (), now))
            floor.staffed = True
            return
        if self.watch is None:
            self.watch = StaffingWatch(new.alarm_grace)
        else:
            self.watch.grace = new.alarm_grace
        # Looked at again now, as at a change of shift (the shift names may be the same).
        self.roster_until = None
        self.sync(now, out)

    def announce(self, now: float, out: Out) -> None:
        """Queue announcements whose turn has come."""
        floor = self.floor
        announcements = floor.announcements
        if announcements is not None:
            queued = floor.queue.calls
            announcements.fire(now, floor.calls, queued, self.silent.watches, floor.on_duty, out)
