"""What the ARI adapter tells the rest of the daemon beside the core's events (neutral types).

The journal, CAD's event stream and the metrics observe calls through :class:`CallObserver`;
a call-taker's in-call disposition goes to a :class:`DispositionSink`. Kept together, unchanged,
so that they can move to one neutral module shared by every adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from callgate.asterisk.recordings import RecordingInfo


@dataclass(frozen=True, slots=True)
class CallStart:
    """A call as the daemon first knows it, for the journal and CAD's event stream."""

    call_id: str
    caller: str  # E.164 from the dialplan, or "anonymous"
    caller_sent: str  # the number as the carrier sent it
    dialed: str  # what the caller dialled (112, 0112...), or "callback"
    priority: int  # class after screening
    at: float
    category: str = ""  # screening category ("", anonymous, repeat-nuisance, blocked...)
    identity: str | None = None  # a SIM-less caller's IMEI-derived identity


class CallObserver(Protocol):
    """Told what the core does not see: call details, connections, recordings (the journal)."""

    async def call_started(self, start: CallStart) -> None: ...
    async def agent_connected(self, call_id: str, agent_id: str, at: float) -> None: ...
    async def agency_joined(self, call_id: str, agency: str, hand_off: bool, at: float) -> None: ...
    async def recording(self, info: RecordingInfo, at: float) -> None: ...
    async def recording_failed(self, call_id: str, reason: str, at: float) -> None: ...
    async def call_ended_outside_core(self, call_id: str, outcome: str, at: float) -> None: ...


class DispositionSink(Protocol):
    """Where a call-taker's in-call disposition goes (the daemon's disposition service)."""

    def for_digit(self, digit: str) -> str | None: ...
    async def set(
        self, call_id: str, disposition: str, *, by: str, source: str
    ) -> DispositionResultLike: ...


class DispositionResultLike(Protocol):
    """What the disposition service answers (``callgate.dispositions.DispositionResult``)."""

    @property
    def ok(self) -> bool: ...
    @property
    def outcome(self) -> str: ...
    @property
    def call_id(self) -> str | None: ...


class NullObserver:
    """Observes nothing; subclass it to observe only some things."""

    async def call_started(self, start: CallStart) -> None:
        return None

    async def agent_connected(self, call_id: str, agent_id: str, at: float) -> None:
        return None

    async def agency_joined(self, call_id: str, agency: str, hand_off: bool, at: float) -> None:
        return None

    async def recording(self, info: RecordingInfo, at: float) -> None:
        return None

    async def recording_failed(self, call_id: str, reason: str, at: float) -> None:
        return None

    async def call_ended_outside_core(self, call_id: str, outcome: str, at: float) -> None:
        return None


class FanOut:
    """Tells several observers (the journal, the CAD event stream) the same things, in order."""

    def __init__(self, *observers: CallObserver) -> None:
        self.observers = observers

    async def call_started(self, start: CallStart) -> None:
        for o in self.observers:
            await o.call_started(start)

    async def agent_connected(self, call_id: str, agent_id: str, at: float) -> None:
        for o in self.observers:
            await o.agent_connected(call_id, agent_id, at)

    async def agency_joined(self, call_id: str, agency: str, hand_off: bool, at: float) -> None:
        for o in self.observers:
            await o.agency_joined(call_id, agency, hand_off, at)

    async def recording(self, info: RecordingInfo, at: float) -> None:
        for o in self.observers:
            await o.recording(info, at)

    async def recording_failed(self, call_id: str, reason: str, at: float) -> None:
        for o in self.observers:
            await o.recording_failed(call_id, reason, at)

    async def call_ended_outside_core(self, call_id: str, outcome: str, at: float) -> None:
        for o in self.observers:
            await o.call_ended_outside_core(call_id, outcome, at)
