"""Blocked callers: an announcement, then a hang-up; never the queue.

For a centre that configures blocking (``ScreeningPolicy.blocking``), a caller screening
blocks at arrival is handed here instead of queueing. They hear ``PlayAnnouncement``, then
``HangUpCaller`` (after ``AnnouncementFinished`` or the announcement's limit), recorded by
``CallBlocked``; a hang-up that fails hands them to the fallback queue instead: never leave a
caller alone.

=======================  ===========================================================
Event / timer            Move
=======================  ===========================================================
(blocked at arrival)     ``PlayAnnouncement`` and the limit armed; no announcement:
                         hang up at once
AnnouncementFinished     ``CallBlocked``, ``HangUpCaller``
AnnouncementTimedOut     ``CallBlocked``, ``HangUpCaller``
CallerHungUp             forgotten (``CallBlocked`` if not hung up by us)
HangUpFailed             ``SendToDestination`` the fallback queue
=======================  ===========================================================
"""

from __future__ import annotations

from callgate.core.commands import CallBlocked, HangUpCaller, PlayAnnouncement, SendToDestination
from callgate.core.events import AnnouncementFinished, HangUpFailed
from callgate.core.floor import Floor, Out, Table, Timer


class Blocked:
    """A blocked caller: never a call in the queue, only an announcement and a hang-up."""

    __slots__ = ("call_id", "caller", "hanging_up")

    def __init__(self, call_id: str, caller: str) -> None:
        self.call_id = call_id
        self.caller = caller
        #: Told to hang up; kept until the caller is gone or the hang-up failed.
        self.hanging_up = False


class Blocking:
    """The blocked callers being announced to and hung up."""

    def __init__(self, floor: Floor) -> None:
        self.floor = floor
        #: Blocked callers being announced to and hung up, by call id.
        self.blocked: dict[str, Blocked] = {}

    def table(self) -> Table:
        return {
            AnnouncementFinished: self.announcement_finished,
            HangUpFailed: self.hang_up_failed,
        }

    def block(self, call_id: str, caller: str, now: float, out: Out) -> None:
        """Reject a blocked caller: the announcement, then the hang-up; never the queue.

        Only reachable with blocking configured; screening's safety valve has already put
        through a blocked number that keeps calling."""
        blocked = self.blocked[call_id] = Blocked(call_id, caller)
        policy = self.floor.config.screening
        # screen() blocks only with blocking configured.
        assert policy is not None
        assert policy.blocking is not None
        announcement = policy.blocking.announcement
        if not announcement:
            self._hang_up(blocked, now, out)
            return
        out.append(PlayAnnouncement(blocked.call_id, announcement))
        self.floor.arm(now + policy.blocking.announcement_limit, Timer.ANNOUNCEMENT, blocked, 0)

    def announcing(self, blocked: Blocked, token: int) -> bool:
        """Whether ``blocked``'s announcement still plays (its limit's timer is live)."""
        return self.blocked.get(blocked.call_id) is blocked and not blocked.hanging_up

    def announcement_timed_out(self, blocked: Blocked, token: int, now: float, out: Out) -> None:
        if self.announcing(blocked, token):
            self._hang_up(blocked, now, out)

    def _hang_up(self, blocked: Blocked, now: float, out: Out) -> None:
        blocked.hanging_up = True
        out.append(CallBlocked(blocked.call_id, blocked.caller, now))
        out.append(HangUpCaller(blocked.call_id))

    def announcement_finished(self, event: AnnouncementFinished, now: float, out: Out) -> None:
        blocked = self.blocked.get(event.call_id)
        if blocked is not None and not blocked.hanging_up:
            self._hang_up(blocked, now, out)

    def caller_hung_up(self, call_id: str, now: float, out: Out) -> None:
        blocked = self.blocked.get(call_id)
        if blocked is not None:
            # Gone by themselves (during the announcement, or hung up by us just now).
            del self.blocked[blocked.call_id]
            if not blocked.hanging_up:
                out.append(CallBlocked(blocked.call_id, blocked.caller, now))

    def hang_up_failed(self, event: HangUpFailed, now: float, out: Out) -> None:
        blocked = self.blocked.get(event.call_id)
        if blocked is None or not blocked.hanging_up:
            return  # a conversation's caller: the call is over for the core either way
        del self.blocked[blocked.call_id]
        # Never leave the caller alone: the fallback queue answers.
        destinations = self.floor.config.overflow_destinations
        last = len(destinations) - 1
        out.append(
            SendToDestination(
                blocked.call_id, destinations[last], last, True, "block-hang-up-failed"
            )
        )
