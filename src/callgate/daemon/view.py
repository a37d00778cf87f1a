"""The running daemon as the admin API sees it, built from the real objects.

Reads go to the engine's projection of the notifications (:mod:`callgate.daemon.projection`),
never the live core, from the event loop that also feeds it, so they are always consistent.
Call-taker commands go through :class:`~callgate.daemon.calltakers.CallTakerControl`, exactly like
the feature codes on the call-takers' phones: the same checks, the same events, the same logs.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from callgate import __version__
from callgate.config import Settings
from callgate.core.agents import AgentState
from callgate.daemon.calltakers import CallTakerControl
from callgate.daemon.dispositions import BlockResult, Blocks, Dispositions, block_json
from callgate.daemon.engine import Engine
from callgate.daemon.health import Health
from callgate.daemon.metrics import LIVE_CALL_STATES
from callgate.daemon.projection import ProjectedCall, Projection
from callgate.http.server import AGENT_ACTIONS
from callgate.storage.journal import Journal
from callgate.storage.records import CallRecord

JsonDict = dict[str, Any]


class LiveDaemonView:
    """Implements :class:`callgate.http.server.DaemonView` for the daemon in ``daemon/app.py``."""

    def __init__(
        self,
        engine: Engine,
        control: CallTakerControl,
        health: Health,
        journal: Journal | None,
        *,
        set_log_level: Callable[[str], None],
        default_pause_reason: str = "unspecified",
        clock: Callable[[], float] = time.time,
        dispositions: Dispositions | None = None,
        blocks: Blocks | None = None,
        reload: Callable[[str], Awaitable[JsonDict]] | None = None,
        rostered: bool = False,
    ) -> None:
        """``reload``: reloads the configuration (:class:`callgate.daemon.reload.Reloader`);
        ``rostered``: the configuration has a roster (``[roster]``)."""
        self.engine = engine
        self.rostered = rostered
        self.control = control
        self.health = health
        self.journal = journal
        self._set_log_level = set_log_level
        self.default_pause_reason = default_pause_reason
        self.clock = clock
        self.dispositions = dispositions
        self.block_control = blocks
        self._reload = reload

    def reconfigure(self, settings: Settings) -> None:
        """A reload: the pause reason given when none is from ``settings`` from now on."""
        self.default_pause_reason = settings.agi.default_pause_reason
        self.rostered = settings.roster.roster() is not None

    @property
    def projection(self) -> Projection:
        """What the view shows: the engine's projection of the notifications."""
        return self.engine.projection

    def status(self) -> JsonDict:
        seen = self.projection
        now = self.clock()
        queued = seen.queued()
        oldest = min((c.arrived_at for c in queued), default=None)
        by_state = Counter(c.state.name for c in seen.calls.values())
        agent_states = Counter(a["state"] for a in self.agents())
        return {
            "version": __version__,
            "ready": self.health.ready,
            "role": self.health.role,
            "stopping": self.health.stopping,
            "degraded": self.health.degraded(),
            "uptime_s": round(now - self.health.started_at, 1),
            "components": self.health.to_json()["components"],
            "staffed": seen.staffed,
            "shifts": shift_rows(seen),
            "roster": _roster_line(seen) if self.rostered else None,
            "waiting": seen.waiting,
            "longest_wait_s": None if oldest is None else round(max(0.0, now - oldest), 1),
            "calls": {s.name: by_state[s.name] for s in LIVE_CALL_STATES},
            "calltakers": {s.name: agent_states[s.name] for s in AgentState},
        }

    def agents(self) -> list[JsonDict]:
        known = self.projection.agents
        rows = []
        # Configured call-takers first, in config order, then any the core knows otherwise.
        ids = list(self.control.endpoints) + [a for a in known if a not in self.control.endpoints]
        for agent_id in ids:
            agent = known.get(agent_id)
            rows.append(
                {
                    "agent_id": agent_id,
                    "endpoint": agent.endpoint if agent else self.control.endpoints[agent_id],
                    "state": (agent.state if agent else AgentState.LOGGED_OUT).name,
                    "device": agent.device.name if agent else None,
                    "call_id": agent.call_id if agent else None,
                    "pause_reason": agent.pause_reason if agent else None,
                    "pending_pause": agent.pending_pause if agent else None,
                    "pending_logout": agent.pending_logout if agent else False,
                    "calls_answered": agent.calls_answered if agent else 0,
                    "missed_in_a_row": agent.misses if agent else 0,
                }
            )
        return rows

    async def agent_command(
        self, agent_id: str, action: str, reason: str | None, *, by: str
    ) -> str:
        endpoint = self.control.endpoints.get(agent_id)
        if endpoint is None:
            return "UNKNOWN"
        if action == "login":
            result = await self.control.login(endpoint, by=by)
        elif action == "logout":
            result = await self.control.logout(endpoint, by=by)
        elif action == "pause":
            reason = reason or self.default_pause_reason
            result = await self.control.pause(endpoint, reason, by=by)
        elif action == "unpause":
            result = await self.control.unpause(endpoint, by=by)
        else:
            raise ValueError(f"unknown action {action!r}; one of {AGENT_ACTIONS}")
        return str(result)

    def live_calls(self) -> list[JsonDict]:
        now = self.clock()
        seen = self.projection
        calls = sorted(seen.calls.values(), key=lambda c: c.arrived_at)
        return [live_row(c, now, seen.ringing(c.call_id)) for c in calls]

    async def recent_calls(self, limit: int) -> list[JsonDict]:
        if self.journal is None:
            return []
        return [_recent(r) for r in await self.journal.recent_calls(limit)]

    def set_log_level(self, level: str) -> None:
        self._set_log_level(level)

    async def reload(self, by: str) -> JsonDict:
        if self._reload is None:
            return {"result": "unavailable", "error": "this daemon cannot reload its configuration"}
        return await self._reload(by)

    async def set_disposition(
        self, call_id: str, disposition: str, by: str, *, answered_by: str | None = None
    ) -> JsonDict:
        if self.dispositions is None:
            return {"result": "unavailable", "error": "dispositions need the journal"}
        if answered_by is not None and not await self.answered(call_id, answered_by):
            return {
                "result": "not-yours",
                "call_id": call_id,
                "error": f"call {call_id} was not answered by call-taker {answered_by}",
            }
        result = await self.dispositions.set(call_id, disposition, by=by, source="admin")
        answer: JsonDict = {
            "result": result.outcome.value,
            "call_id": result.call_id,
            "disposition": result.disposition,
            "block": None if result.block is None else block_json(result.block),
        }
        if not result.ok:
            answer["error"] = {
                "unknown-call": f"call {call_id} is not in the journal",
                "invalid-disposition": f"{disposition!r} is not a disposition",
            }.get(result.outcome.value, result.outcome.value)
        return answer

    async def answered(self, call_id: str, agent_id: str) -> bool:
        """Whether ``agent_id`` is on ``call_id`` now or answered it (the journal)."""
        live = self.projection.calls.get(call_id)
        if live is not None and live.agent_id == agent_id:
            return True
        record = None if self.journal is None else await self.journal.get_call(call_id)
        return record is not None and record.answered_by == agent_id

    async def blocks(self, include_all: bool) -> JsonDict:
        if self.block_control is None:
            return {"result": "unavailable", "error": "blocks need the journal"}
        found = await self.block_control.list(include_all=include_all)
        return {
            "result": "ok",
            "enabled": self.block_control.enabled,
            "all": include_all,
            "blocks": [block_json(b) for b in found],
        }

    async def block(self, number: str, hours: float, reason: str, by: str) -> JsonDict:
        if self.block_control is None:
            return {"result": "unavailable", "error": "blocks need the journal"}
        result = await self.block_control.block(
            number, hours=hours, reason=reason, by=by, source="admin"
        )
        return _block_answer(result)

    async def unblock(self, number: str, reason: str, by: str) -> JsonDict:
        if self.block_control is None:
            return {"result": "unavailable", "error": "blocks need the journal"}
        result = await self.block_control.unblock(number, reason=reason, by=by, source="admin")
        return _block_answer(result)


def _block_answer(result: BlockResult) -> JsonDict:
    answer: JsonDict = {
        "result": result.outcome.value,
        "key": result.key,
        "blocks": [block_json(b) for b in result.blocks],
    }
    if result.detail:
        answer["detail"] = result.detail
    if not result.ok and result.outcome.value != "not-blocked":
        answer["error"] = result.detail
    return answer


def live_row(call: ProjectedCall, now: float, ringing: list[str]) -> JsonDict:
    """A call in the ACD as the admin API and the live feed show it (``ringing``: the
    call-takers it rings now)."""
    return {
        "call_id": call.call_id,
        "state": call.state.name,
        "priority": call.priority,
        "category": call.category,
        "caller": call.caller,
        "arrived_at": call.arrived_at,
        "age_s": round(max(0.0, now - call.arrived_at), 1),
        "answered_at": call.answered_at,
        "agent_id": call.agent_id,
        "ringing": ringing,
        "handed_to": call.handed_to,
    }


def shift_rows(seen: Projection) -> list[JsonDict]:
    """Each shift on that needs call-takers: rostered, logged in, short-handed (the alarm)."""
    return [
        {
            "shift": s.shift,
            "rostered": s.rostered,
            "logged_in": s.logged_in,
            "short_handed": s.short,
        }
        for s in seen.shift_staffing
    ]


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _recent(record: CallRecord) -> JsonDict:
    answer_time = (
        None
        if record.answered_at is None
        else round((record.answered_at - record.started_at).total_seconds(), 1)
    )
    return {
        "call_id": record.call_id,
        "caller": record.caller,
        "priority": record.priority,
        "category": record.category,
        "started_at": _iso(record.started_at),
        "ended_at": _iso(record.ended_at),
        "state": record.state,
        "outcome": record.outcome,
        "answer_time_s": answer_time,
        "answered_by": record.answered_by,
        "destination": record.destination,
        "recording": None if record.recording is None else record.recording.status.value,
    }


def _roster_line(seen: Projection) -> str:
    """What ``callgate status`` prints about the roster (the daemon has one)."""
    if not seen.staffed:
        return "OUT OF HOURS (callers go to the out-of-hours destinations)"
    shifts = [
        f"{s.shift} {s.logged_in}/{s.rostered} logged in" + (" SHORT-HANDED" if s.short else "")
        for s in seen.shift_staffing
    ]
    return "; ".join(shifts) or "on"
