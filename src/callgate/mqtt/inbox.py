"""CAD's commands: set a call's disposition, request a callback, attach an incident id, block
and unblock a caller.

A command arrives on ``{prefix}/{site}/commands/{client}/{request_id}``; the answer goes to
``{prefix}/{site}/replies/{client}/{request_id}``. ``{client}`` is who sent it: the broker's ACL
(``examples/mosquitto/acl``: ``pattern write .../commands/%u/#``) lets only the MQTT user of
that name publish there. It must be a ``cad`` user of ``[auth]`` granted the command (else
``forbidden``), and it is what the audit trail records as ``by``; the payload names no one.
Every command is validated against
:mod:`callgate.mqtt.schema` before anything changes; a bad one (not JSON, unknown field, wrong
type, unknown call) gets an error reply and changes nothing. Nothing a command carries can stop
the daemon: an unexpected failure is logged and answered with ``internal-error``.

With a disposition service (:class:`~callgate.ports.DispositionSink`: the daemon's
``Dispositions``), ``set-disposition`` goes through it, exactly like a call-taker's key press,
so CAD's pranks also feed automatic blocking; with a block service
(:class:`~callgate.ports.BlockControl`), ``block`` and ``unblock`` are answered (else they get
``internal-error`` "not available"). An accepted ``request-callback`` is told to
``on_callback_requested`` (the daemon's callback worklist).

Between the broker and the handler sits :class:`CommandInbox`. MQTT delivers at least once and
keeps retained messages: without it, a command published with the retain flag, or redelivered
after a reconnect, would be applied again (a lifted block would come back). So the inbox ignores
retained commands, answers a request id it has seen within ``[mqtt] command_dedup_seconds`` with
the first answer instead of applying it again, and holds at most ``[mqtt] command_queue``
commands; past that a command is refused at once with ``busy``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol

import aiomqtt
from pydantic import ValidationError

from callgate.auth import Identity
from callgate.logs import LogThrottle, clip
from callgate.mqtt.schema import (
    COMMAND_ADAPTER,
    AttachIncident,
    BlockCaller,
    ErrorCode,
    Reply,
    RequestCallback,
    SetDisposition,
    UnblockCaller,
)
from callgate.ports import BlockControl, DispositionSink

log = logging.getLogger(__name__)

#: Commands are a few hundred bytes; anything far larger is refused before parsing (the default
#: of ``[mqtt] max_command_bytes``).
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
        dispositions: DispositionSink | None = None,
        blocks: BlockControl | None = None,
        on_callback_requested: Callable[[str], Awaitable[object]] | None = None,
        max_bytes: int = MAX_COMMAND_BYTES,
        clients: Callable[[str], Identity | None] = lambda name: None,
    ) -> None:
        self.annotations = annotations
        #: The CAD client of a name (``Authenticator.identity``); None: not a user, refused.
        self.clients = clients
        self.max_bytes = max_bytes
        self.events = events
        self.clock = clock
        self.dispositions = dispositions
        self.blocks = blocks
        #: Told of each accepted request-callback (the daemon's callback worklist), if given.
        self.on_callback_requested = on_callback_requested

    def _reply(self, request_id: str, error: ErrorCode | None = None, detail: str = "") -> Reply:
        return Reply(
            request_id=request_id,
            ok=error is None,
            error=error,
            detail=detail or None,
            at=datetime.fromtimestamp(self.clock(), UTC),
        )

    async def handle(self, request_key: str, payload: bytes) -> Reply:
        """Apply the command in ``payload`` from ``<client>/<request id>``; never raises."""
        client, _, request_id = request_key.partition("/")
        try:
            return await self._handle(client, request_id, payload)
        except Exception as exc:  # a command must never stop the daemon
            log.exception("command failed", extra={"request_id": clip(request_id)})
            return self._reply(request_id, "internal-error", type(exc).__name__)

    async def _handle(self, client: str, request_id: str, payload: bytes) -> Reply:
        sender = self.clients(client)
        if sender is None or not sender.commands:
            log.warning("CAD command from an unknown client refused", extra={"by": clip(client)})
            return self._reply(request_id, "forbidden", f"{clip(client)} is not a CAD client")
        if len(payload) > self.max_bytes:
            return self._reply(request_id, "invalid-command", "command too large")
        try:
            command = COMMAND_ADAPTER.validate_json(payload)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                return self._reply(request_id, "bad-json", "payload is not valid JSON")
            return self._reply(request_id, "invalid-command", _describe(exc))
        if not sender.may_send(command.command):
            log.warning(
                "CAD command not granted", extra={"by": sender.name, "command": command.command}
            )
            return self._reply(
                request_id, "forbidden", f"{sender.name} may not send {command.command}"
            )
        by = sender.name
        if isinstance(command, BlockCaller | UnblockCaller):
            return await self._block(request_id, command, by)
        at = datetime.fromtimestamp(self.clock(), UTC)
        call_id = command.call_id
        if isinstance(command, SetDisposition):
            if self.dispositions is not None:
                result = await self.dispositions.set(
                    call_id, command.disposition, by=by, source="mqtt"
                )
                ok = result.ok
            else:
                ok = await self.annotations.set_disposition(call_id, command.disposition, by, at)
                if ok:
                    self.events.disposition_set(call_id, command.disposition, by, at)
        elif isinstance(command, RequestCallback):
            ok = await self.annotations.request_callback(call_id, by, at)
            if ok:
                self.events.callback_requested(call_id, by, at)
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
            extra={
                "request_id": clip(request_id),
                "command": command.command,
                "call_id": clip(call_id),
                "by": by,
            },
        )
        return self._reply(request_id)

    async def _block(self, request_id: str, command: BlockCaller | UnblockCaller, by: str) -> Reply:
        if self.blocks is None:
            return self._reply(request_id, "internal-error", "blocking not available")
        if isinstance(command, BlockCaller):
            result = await self.blocks.block(
                command.number,
                hours=command.hours,
                reason=command.reason,
                by=by,
                source="mqtt",
            )
        else:
            result = await self.blocks.unblock(
                command.number, reason=command.reason, by=by, source="mqtt"
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
            extra={
                "request_id": clip(request_id),
                "command": command.command,
                "key": clip(result.key),
                "by": by,
            },
        )
        return self._reply(request_id, detail=detail)


class CommandInbox:
    """The commands received from the broker, before :class:`CommandHandler` applies them.

    :meth:`offer` is called for every message as it arrives and never waits; a worker calls
    :meth:`process_next` in a loop and publishes each answer. ``handle`` is the handler's
    :meth:`~CommandHandler.handle` (looked up at each call, so the daemon may replace it) and
    ``request_id_of`` turns a topic into its request id (None: not a command topic).
    """

    def __init__(
        self,
        handle: Callable[[str, bytes], Awaitable[Reply]],
        request_id_of: Callable[[str], str | None],
        *,
        queue: int = 100,
        dedup_seconds: float = 600.0,
        dedup_max: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.handle = handle
        self.request_id_of = request_id_of
        self.dedup_seconds = dedup_seconds
        self.dedup_max = dedup_max
        self.clock = clock
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(queue)
        #: request id -> (when first received, the answer once there is one), oldest first.
        self._seen: OrderedDict[str, tuple[float, Reply | None]] = OrderedDict()
        self._throttle = LogThrottle(60.0, clock)

    def queued(self) -> int:
        return self._queue.qsize()

    def offer(self, message: aiomqtt.Message) -> tuple[str, Reply] | None:
        """Take ``message`` in. Returns an answer to publish at once (a refusal, or the earlier
        answer to a duplicate), or None (queued, or ignored)."""
        request_id = self.request_id_of(str(message.topic))
        if request_id is None:
            return None
        now = self.clock()
        if message.retain:
            # Stale by nature: the broker replays it to every new session. Nobody is waiting for
            # an answer to it, so none is sent (and callgate may not clear it: CAD owns the topic).
            self._warn("retained", "retained command ignored", now, request_id)
            return None
        self._forget_older_than(now - self.dedup_seconds)
        if request_id in self._seen:
            self._warn("duplicate", "command seen before; not applied again", now, request_id)
            answer = self._seen[request_id][1]
            return None if answer is None else (request_id, answer)
        payload = message.payload
        raw = payload if isinstance(payload, bytes | bytearray) else str(payload).encode()
        try:
            self._queue.put_nowait((request_id, bytes(raw)))
        except asyncio.QueueFull:
            # Not remembered as seen: CAD may send the same request id again once we catch up.
            self._warn("busy", "command queue full; command refused", now, request_id)
            return request_id, self._busy(request_id, now)
        self._seen[request_id] = (now, None)
        while len(self._seen) > self.dedup_max:
            self._seen.popitem(last=False)
        return None

    async def take(self) -> tuple[str, bytes]:
        """The next queued command (request id, payload), waiting for one."""
        taken = await self._queue.get()
        self._queue.task_done()
        return taken

    async def apply(self, request_id: str, payload: bytes) -> Reply:
        """Apply a command from :meth:`take`; the answer is also kept for duplicates."""
        reply = await self.handle(request_id, payload)
        if request_id in self._seen:
            self._seen[request_id] = (self._seen[request_id][0], reply)
        return reply

    async def process_next(self) -> tuple[str, Reply]:
        """:meth:`take` then :meth:`apply`: the request id and the answer to publish."""
        request_id, payload = await self.take()
        return request_id, await self.apply(request_id, payload)

    def _forget_older_than(self, cutoff: float) -> None:
        while self._seen:
            first = next(iter(self._seen.values()))
            if first[0] >= cutoff:
                return
            self._seen.popitem(last=False)

    def _busy(self, request_id: str, now: float) -> Reply:
        return Reply(
            request_id=request_id,
            ok=False,
            error="busy",
            detail="too many commands waiting; send it again later",
            at=datetime.fromtimestamp(now, UTC),
        )

    def _warn(self, kind: str, message: str, now: float, request_id: str) -> None:
        left_out = self._throttle.admit(kind)
        if left_out is not None:
            log.warning(
                message,
                extra={"request_id": clip(request_id), "similar_not_logged": left_out},
            )
