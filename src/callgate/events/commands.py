"""CAD's commands: set a call's disposition, request a callback, attach an incident id, block
and unblock a caller.

A command arrives on ``{prefix}/{site}/commands/{request_id}``; the answer goes to
``{prefix}/{site}/replies/{request_id}``. Every command is validated against
:mod:`callgate.events.schema` before anything changes; a bad one (not JSON, unknown field, wrong
type, unknown call) gets an error reply and changes nothing. Nothing a command carries can stop
the daemon: an unexpected failure is logged and answered with ``internal-error``.

With a :class:`~callgate.dispositions.Dispositions` service, ``set-disposition`` goes through
it, exactly like a call-taker's key press, so CAD's pranks also feed automatic blocking; with a
:class:`~callgate.dispositions.Blocks` service, ``block`` and ``unblock`` are answered (else
they get ``internal-error`` "not available").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from pydantic import ValidationError

from callgate.events.schema import (
    COMMAND_ADAPTER,
    AttachIncident,
    BlockCaller,
    ErrorCode,
    Reply,
    RequestCallback,
    SetDisposition,
    UnblockCaller,
)

if TYPE_CHECKING:  # the services import the storage; commands only need their interface
    from callgate.dispositions import Blocks, Dispositions

log = logging.getLogger(__name__)

#: Commands are a few hundred bytes; anything far larger is refused before parsing.
MAX_COMMAND_BYTES = 16_384


class CallAnnotations(Protocol):
    """Where annotations are stored (the journal). Each returns False for an unknown call."""

    async def set_disposition(
        self, call_id: str, disposition: str, by: str, at: datetime
    ) -> bool: ...
    async def request_callback(self, call_id: str, by: str, at: datetime) -> bool: ...
    async def attach_incident(self, call_id: str, incident_id: str, at: datetime) -> bool: ...


class AnnotationEvents(Protocol):
    """Where the resulting events go (the publisher's outbox)."""

    def disposition_set(self, call_id: str, disposition: str, by: str, at: datetime) -> None: ...
    def callback_requested(self, call_id: str, by: str, at: datetime) -> None: ...
    def incident_attached(self, call_id: str, incident_id: str, at: datetime) -> None: ...


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "(command)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


class CommandHandler:
    """Validates one command, applies it, and says how it went."""

    def __init__(
        self,
        annotations: CallAnnotations,
        events: AnnotationEvents,
        *,
        clock: Callable[[], float] = time.time,
        dispositions: Dispositions | None = None,
        blocks: Blocks | None = None,
    ) -> None:
        self.annotations = annotations
        self.events = events
        self.clock = clock
        self.dispositions = dispositions
        self.blocks = blocks
        #: Told of each accepted request-callback (the daemon's callback worklist), if set.
        self.on_callback_requested: Callable[[str], Awaitable[object]] | None = None

    def _reply(self, request_id: str, error: ErrorCode | None = None, detail: str = "") -> Reply:
        return Reply(
            request_id=request_id,
            ok=error is None,
            error=error,
            detail=detail or None,
            at=datetime.fromtimestamp(self.clock(), UTC),
        )

    async def handle(self, request_id: str, payload: bytes) -> Reply:
        """Apply the command in ``payload``; never raises."""
        try:
            return await self._handle(request_id, payload)
        except Exception as exc:  # a command must never stop the daemon
            log.exception("command failed", extra={"request_id": request_id})
            return self._reply(request_id, "internal-error", type(exc).__name__)

    async def _handle(self, request_id: str, payload: bytes) -> Reply:
        if len(payload) > MAX_COMMAND_BYTES:
            return self._reply(request_id, "invalid-command", "command too large")
        try:
            command = COMMAND_ADAPTER.validate_json(payload)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                return self._reply(request_id, "bad-json", "payload is not valid JSON")
            return self._reply(request_id, "invalid-command", _describe(exc))
        if isinstance(command, BlockCaller | UnblockCaller):
            return await self._block(request_id, command)
        at = datetime.fromtimestamp(self.clock(), UTC)
        call_id = command.call_id
        if isinstance(command, SetDisposition):
            if self.dispositions is not None:
                result = await self.dispositions.set(
                    call_id, command.disposition, by=command.by, source="mqtt"
                )
                ok = result.ok
            else:
                ok = await self.annotations.set_disposition(
                    call_id, command.disposition, command.by, at
                )
                if ok:
                    self.events.disposition_set(call_id, command.disposition, command.by, at)
        elif isinstance(command, RequestCallback):
            ok = await self.annotations.request_callback(call_id, command.by, at)
            if ok:
                self.events.callback_requested(call_id, command.by, at)
                if self.on_callback_requested is not None:
                    await self.on_callback_requested(call_id)
        else:
            assert isinstance(command, AttachIncident)
            ok = await self.annotations.attach_incident(call_id, command.incident_id, at)
            if ok:
                self.events.incident_attached(call_id, command.incident_id, at)
        if not ok:
            return self._reply(request_id, "unknown-call", f"call {call_id} is not known")
        log.info(
            "CAD command applied",
            extra={"request_id": request_id, "command": command.command, "call_id": call_id},
        )
        return self._reply(request_id)

    async def _block(self, request_id: str, command: BlockCaller | UnblockCaller) -> Reply:
        if self.blocks is None:
            return self._reply(request_id, "internal-error", "blocking not available")
        if isinstance(command, BlockCaller):
            result = await self.blocks.block(
                command.number,
                hours=command.hours,
                reason=command.reason,
                by=command.by,
                source="mqtt",
            )
        else:
            result = await self.blocks.unblock(
                command.number, reason=command.reason, by=command.by, source="mqtt"
            )
        if not result.ok:
            error: ErrorCode
            if result.outcome == "not-blocked":
                error = "not-blocked"
            elif result.outcome == "blocking-disabled":
                error = "blocking-disabled"
            elif result.key is None:
                error = "invalid-number"
            else:
                error = "invalid-command"  # the number was fine: the hours or reason were not
            return self._reply(request_id, error, result.detail)
        if isinstance(command, BlockCaller):
            detail = f"{result.key} blocked until {result.blocks[0].until.isoformat()}"
        else:
            detail = f"{result.key}: {len(result.blocks)} block(s) lifted"
        log.info(
            "CAD command applied",
            extra={"request_id": request_id, "command": command.command, "key": result.key},
        )
        return self._reply(request_id, detail=detail)
