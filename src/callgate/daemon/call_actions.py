"""What the wallboard's and the screens' call actions do (:mod:`callgate.http.actions`).

A supervisor's callback request goes the same way as CAD's MQTT ``request-callback``
(:mod:`callgate.mqtt.inbox`): the call's record notes who asked and when, CAD hears
``callback-requested``, and the callback worklist
(:meth:`~callgate.daemon.callback_records.CallbackRecords.requested`) gets the request. A
call-taker's hand-off from their screen goes the way of their ``*<digit>``/``#<digit>`` keys
(:class:`callgate.ports.HandOffs`, the ARI adapter), for a call they answered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from callgate.logs import clip
from callgate.ports import HAND_OFF_MODES, HandOffs
from callgate.storage.annotations import JournalAnnotations

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]


class CallbackEvents(Protocol):
    """Where ``callback-requested`` goes (the CAD event publisher)."""

    def callback_requested(self, call_id: str, by: str, at: datetime) -> None: ...


class CallActionService:
    """Implements :class:`callgate.http.actions.CallActions` for the daemon."""

    def __init__(
        self,
        annotations: JournalAnnotations | None,
        events: CallbackEvents | None,
        *,
        callbacks: Callable[[str], Awaitable[bool]] | None,
        handoffs: HandOffs | None = None,
        answered: Callable[[str, str], Awaitable[bool]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``callbacks``: the worklist's ``requested`` (None when ``[callbacks]`` is off);
        ``answered``: whether a call-taker is on or answered a call (the view's)."""
        self.annotations = annotations
        self.events = events
        self.callbacks = callbacks
        self.handoffs = handoffs
        self.answered = answered
        self.clock = clock

    def agencies(self) -> list[str]:
        return [] if self.handoffs is None else self.handoffs.agencies()

    async def hand_off(
        self, call_id: str, agency: str, mode: str, by: str, *, connected_to: str | None
    ) -> JsonDict:
        if self.handoffs is None or self.answered is None:
            return {"result": "unavailable", "error": "no hand-offs in this daemon"}
        if mode not in HAND_OFF_MODES:
            return {"result": "invalid", "error": f"mode is one of {', '.join(HAND_OFF_MODES)}"}
        if connected_to is not None and not await self.answered(call_id, connected_to):
            return {"result": "not-yours", "error": f"call-taker {connected_to} is not on it"}
        result = await self.handoffs.hand_off(call_id, agency, mode)
        extra = {"call_id": clip(call_id), "agency": clip(agency), "mode": mode, "by": by}
        log.log(logging.INFO if result == "ok" else logging.WARNING,
                "agency called from the screen" if result == "ok" else "agency not called",
                extra={**extra, "result": result})  # fmt: skip
        return {"result": result, "call_id": call_id, "agency": agency, "mode": mode}

    async def request_callback(self, call_id: str, by: str) -> JsonDict:
        if self.annotations is None:
            return {"result": "unavailable", "error": "callback requests need the journal"}
        at = datetime.fromtimestamp(self.clock(), UTC)
        if not await self.annotations.request_callback(call_id, by, at):
            return {"result": "unknown-call", "error": f"call {call_id} is not in the journal"}
        if self.events is not None:
            self.events.callback_requested(call_id, by, at)
        # No task when the worklist is off or the call has no number to dial: the request is
        # on the call's record (and with CAD) all the same.
        task = self.callbacks is not None and await self.callbacks(call_id)
        log.info(
            "callback requested",
            extra={"call_id": clip(call_id), "by": by, "source": "admin", "task": task},
        )
        return {"result": "ok", "call_id": call_id, "task": task}
