"""A supervisor's tools on the floor (:mod:`callgate.http.supervising`) as core events.

Giving a waiting caller to a chosen call-taker and listening to, whispering to or barging
into a conversation are the core's decisions (:mod:`callgate.core.supervision`): each request
becomes a ``CallAssigned`` or ``MonitorRequested`` fed through the engine's one way in; the
core's ``SupervisorAnswered`` comes back through this class as one of the engine's observers
before ``feed`` returns (as :class:`~callgate.daemon.calltakers.CallTakerControl` does), and a
``MonitorCall`` it allows has rung the supervisor's phone by then (the ARI adapter). When the
adapter could not (the conversation gone meanwhile, the phone not rung) it says so with a
``SupervisorMonitoring`` ``failed`` record, also before ``feed`` returns: the supervisor is
answered with its reason (``not-connected``, ``phone-failed``), never an ``ok`` for nothing.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from callgate.core.supervision import CallAssigned, MonitorRequested, SupervisorAnswered
from callgate.http.supervising import SupervisorRoutes
from callgate.logs import clip
from callgate.ports import EventSink, Observed, Observer, SupervisorMonitoring

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]


class SupervisorTools:
    """Implements :class:`callgate.http.supervising.Supervising` for the daemon."""

    def __init__(self, feed: EventSink) -> None:
        self.feed = feed
        self._ids = itertools.count(1)
        self._answers: dict[str, SupervisorAnswered] = {}
        #: (supervisor, call-taker) -> why the adapter could not carry out an allowed monitor.
        self._failed: dict[tuple[str, str], str] = {}

    async def notification(self, note: Observed) -> None:
        """The engine's observer: the core's answer to one of our requests."""
        if isinstance(note, SupervisorAnswered) and note.request_id.startswith("supervisor-"):
            self._answers[note.request_id] = note
        elif isinstance(note, SupervisorMonitoring) and note.step == "failed":
            self._failed[(note.by, note.agent_id)] = note.reason

    async def assign(self, call_id: str, agent_id: str, by: str) -> JsonDict:
        request_id = f"supervisor-{next(self._ids)}"
        answer = await self._ask(CallAssigned(call_id, agent_id, by, request_id), request_id)
        log.log(
            logging.INFO if answer.answer == "ok" else logging.WARNING,
            "caller assigned by a supervisor" if answer.answer == "ok" else "caller not assigned",
            extra={"call_id": clip(call_id), "agent_id": clip(agent_id, 32), "by": by,
                   "result": answer.answer},
        )  # fmt: skip
        return {"result": answer.answer, "call_id": call_id, "agent_id": agent_id}

    async def monitor(self, agent_id: str, mode: str, phone: str, by: str) -> JsonDict:
        request_id = f"supervisor-{next(self._ids)}"
        asked = MonitorRequested(agent_id, mode, phone, by, request_id)
        self._failed.pop((by, agent_id), None)
        answer = await self._ask(asked, request_id)
        result = answer.answer
        if result == "ok":
            result = self._failed.pop((by, agent_id), result)
        log.log(
            logging.INFO if result == "ok" else logging.WARNING,
            "supervisor's phone rung to join a call" if result == "ok"
            else "supervisor not let into a call",
            extra={"call_id": answer.call_id, "agent_id": clip(agent_id, 32),
                   "mode": clip(mode, 16), "by": by, "result": result},
        )  # fmt: skip
        return {"result": result, "call_id": answer.call_id, "agent_id": agent_id,
                "mode": mode}  # fmt: skip

    async def _ask(self, event: CallAssigned | MonitorRequested, request_id: str) -> Any:
        await self.feed(event)
        answer = self._answers.pop(request_id, None)
        if answer is None:
            # Only if these tools are not among the engine's observers (a wiring mistake).
            raise RuntimeError(f"the core did not answer {request_id}")
        return answer


def supervisor_routes(feed: EventSink, observers: list[Observer]) -> SupervisorRoutes:
    """The supervisor's tools' routes on the admin port, their answers heard among the engine's
    ``observers``."""
    tools = SupervisorTools(feed)
    observers.append(tools.notification)
    return SupervisorRoutes(tools)
