"""A supervisor's requests on the floor: give a waiting caller to a chosen call-taker, and
listen to, whisper to or barge into a call-taker's conversation.

The wallboard (or the API) asks; the core decides from its own view of the floor whether it
may be done, answers with a :class:`SupervisorAnswered` (the asker relays it) and, when it
may, makes the move:

=======================  ===========================================================
Request                  Answer (and the move when ``ok``)
=======================  ===========================================================
CallAssigned             ``not-waiting`` unless the call waits (queued, or ringing
                         others: a callback attempt is the worklist's); ``not-free``
                         unless the call-taker is available; else ``ok``: the other
                         rings withdrawn (no miss counted, nor requeued nor overflowed,
                         even past max_wait) and the caller offered to that call-taker
                         now, skill and roster aside (a supervisor's choice). A ring
                         that then fails puts the caller back in line (or overflows
                         it) as any ring does: nobody waits on one person's phone.
MonitorRequested         ``not-connected`` unless the call-taker is on a connected
                         call; ``invalid`` for a mode other than listen, whisper,
                         barge; else ``ok`` and :class:`MonitorCall` for the driver,
                         which rings the supervisor's phone (the driver ends their leg
                         when the conversation ends or when they hang up).
=======================  ===========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from callgate.core.agents import AgentState
from callgate.core.calls import CallState
from callgate.core.commands import Command, Notification
from callgate.core.events import CallAssigned, MonitorRequested
from callgate.core.floor import Floor, Out, Table
from callgate.core.offers import Offers

#: How a supervisor joins a conversation: hear both sides; speak to the call-taker only;
#: speak to both (a three-way conversation).
MONITOR_MODES = ("listen", "whisper", "barge")

__all__ = ["MONITOR_MODES", "CallAssigned", "MonitorCall", "MonitorRequested", "SupervisorAnswered"]


@dataclass(frozen=True, slots=True)
class MonitorCall(Command):
    """Ring the supervisor's ``phone`` and, once answered, let them hear (``listen``), speak to
    the call-taker only (``whisper``) or join (``barge``) ``agent_id``'s conversation on
    ``call_id``. Their leg ends with the conversation or when they hang up."""

    call_id: str
    "The conversation's call."
    agent_id: str
    "The call-taker on it."
    mode: str
    "``listen``, ``whisper`` or ``barge``."
    phone: str
    "What to dial to ring the supervisor."
    by: str
    "The supervisor."


@dataclass(frozen=True, slots=True)
class SupervisorAnswered(Notification):
    """The core's answer to a :class:`CallAssigned` or :class:`MonitorRequested`."""

    action: str
    "``assign`` or the monitor's mode."
    answer: str
    "``ok``, ``not-waiting``, ``not-free``, ``not-connected`` or ``invalid``."
    call_id: str
    "The call (for a monitor request: the call-taker's, or empty)."
    agent_id: str
    "The call-taker."
    by: str = ""
    "The supervisor."
    request_id: str = ""
    "The asker's id of the request."
    at: float = 0.0
    "When the core answered (the journal's time of the step)."


class Supervision:
    """Answers supervisors' requests and carries out the ones the floor allows."""

    def __init__(self, floor: Floor, offers: Offers) -> None:
        self.floor = floor
        self.offers = offers

    def table(self) -> Table:
        return {CallAssigned: self.assigned, MonitorRequested: self.monitor}

    def assigned(self, event: CallAssigned, now: float, out: Out) -> None:
        floor = self.floor
        call = floor.calls.get(event.call_id)
        agent = floor.ready.get(event.agent_id)
        if (
            call is None
            or call.state not in (CallState.QUEUED, CallState.OFFERED)
            or call.call_id in floor.attempts
        ):
            said = "not-waiting"
        elif agent is None:
            said = "not-free"
        else:
            # The rings to others end as a supervisor's choice, not a miss of theirs; the
            # call is neither put back in line nor overflowed (even past max_wait): the
            # supervisor chose who answers it, and it rings them next.
            for agent_id in list(call.ringing):
                self.offers.withdraw_ring(
                    floor.agents[agent_id],
                    "assigned",
                    "CallAssigned",
                    now,
                    out,
                    missed=False,
                    requeue=False,
                )
            said = "ok"
        out.append(
            SupervisorAnswered(
                "assign", said, event.call_id, event.agent_id, event.by, event.request_id, now
            )
        )
        if said == "ok" and call is not None and agent is not None:
            self.offers.offer_to(call, agent, "CallAssigned", now, out)

    def monitor(self, event: MonitorRequested, now: float, out: Out) -> None:
        agent = self.floor.agents.get(event.agent_id)
        call = None
        if agent is not None and agent.state is AgentState.ON_CALL and agent.call_id:
            call = self.floor.calls.get(agent.call_id)
        if event.mode not in MONITOR_MODES:
            said = "invalid"
        elif call is None or call.state is not CallState.CONNECTED:
            said = "not-connected"
        else:
            said = "ok"
        call_id = "" if call is None else call.call_id
        out.append(
            SupervisorAnswered(
                event.mode, said, call_id, event.agent_id, event.by, event.request_id, now
            )
        )
        if said == "ok":
            out.append(MonitorCall(call_id, event.agent_id, event.mode, event.phone, event.by))
