"""Publishes call and call-taker events to MQTT for CAD: ordered, durable, never in the way.

The engine tells :class:`EventPublisher` what happened exactly as it tells the journal (its one
``notification``: the core's notifications and the daemon's records, in order). Each report
becomes an event and goes onto an in-memory queue at once: nothing on the call path waits for
the database or the broker. Three background tasks take it from there:

- the *writer* numbers queued events (the next ``seq`` of their stream) and appends them to the
  outbox table in the journal's database, in order (a batch the database cannot take now is
  kept and retried with backoff until it is stored: :mod:`callgate.backlog`). It remembers the
  last ``seq`` of the most recently used streams only (:data:`SEQ_MEMORY`); a stream it does
  not remember (new, forgotten, or after a restart) continues from the highest ``seq`` in the
  outbox, so ``seq`` keeps growing for as long as the outbox holds the stream's events.
  Events still queued at a stop are spooled unnumbered and stored first at the next start
  (:mod:`callgate.mqtt.pending`);
- the *link* connects to the broker (reconnecting with capped, jittered backoff: aiomqtt has no
  reconnect of its own), marks callgate ``online`` on the retained status topic (the last will
  says ``offline``), answers CAD's commands, and publishes unsent outbox rows in order with QoS 1,
  marking them sent only after the broker's PUBACK;
- the *pruner* deletes published events older than ``outbox_retention_hours``, in small
  batches, every :data:`PRUNE_INTERVAL` seconds;
- the *watch* checks every second whether the broker is keeping up: a backed-up publisher is
  one ALARM line and metrics, not a warning per publish (:mod:`callgate.mqtt.backpressure`).

A broker outage therefore delays events and loses none; a crash between PUBACK and marking sent
publishes an event twice, which subscribers drop by ``event_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
from pydantic import ValidationError

from callgate import ports
from callgate.auth import Identity
from callgate.backlog import DatabaseStatus, write_until_stored
from callgate.core.calls import CallState
from callgate.core.commands import AgentStateChanged, CallBlocked, CallEnded, CallStateChanged
from callgate.core.commands import CallScreened as Screened
from callgate.mqtt import pending, pruning
from callgate.mqtt.backpressure import PublishMonitor
from callgate.mqtt.inbox import CallAnnotations, CommandHandler, CommandInbox
from callgate.mqtt.pending import Pending
from callgate.mqtt.schema import (
    E164,
    AgentStateEvent,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallEndedEvent,
    CallOffered,
    CallOverflowed,
    CallQueued,
    CallReceived,
    CallScreened,
    CallTransferred,
    DispositionSet,
    EventBase,
    IncidentAttached,
    QueueState,
    RecordingFailed,
    RecordingReady,
    Reply,
    Status,
)
from callgate.mqtt.settings import MqttSettings
from callgate.mqtt.topics import QueueView, Topics, broker_client, broker_name, shift_staffing
from callgate.ports import JournalError, JournalUnavailable, Observed, OutboxStore, RecordingInfo
from callgate.spool import Spool

log = logging.getLogger(__name__)

#: How often, at most, the retained queue state is republished while it changes.
QUEUE_STATE_INTERVAL = 1.0
WRITER = "outbox"
#: Streams whose last ``seq`` the writer keeps in memory (least recently used forgotten first).
#: A big centre has a few hundred calls in progress; a forgotten stream costs one indexed query.
SEQ_MEMORY = 10_000


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class EventPublisher:
    """The CAD event stream: an observer of the daemon, an outbox, and a link to the broker.

    ``outbox`` is where events wait for the broker (the journal's outbox table). Call
    :meth:`start` before the first report (it reads the streams' last ``seq``) and
    :meth:`close` at shutdown.
    """

    def __init__(
        self,
        settings: MqttSettings,
        outbox: OutboxStore,
        *,
        annotations: CallAnnotations | None = None,
        queue: QueueView | None = None,
        clock: Callable[[], float] = time.time,
        status: DatabaseStatus | None = None,
        batch: int = 200,
        seq_memory: int = SEQ_MEMORY,
        clients: Callable[[str], Identity | None] = lambda name: None,
        spool: Path | None = None,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings)
        self.outbox = outbox
        #: CAD's retained queue state, kept from the notifications (None: not published).
        self.queue = queue
        self.clock = clock
        self.batch = batch
        self.commands = (
            None
            if annotations is None
            else CommandHandler(
                annotations,
                self,
                clock=clock,
                max_bytes=settings.max_command_bytes,
                clients=clients,
            )
        )
        self.inbox = CommandInbox(
            self._handle_command,
            self.topics.request_id,
            queue=settings.command_queue,
            dedup_seconds=settings.command_dedup_seconds,
            dedup_max=settings.command_dedup_max,
            clock=clock,
        )
        #: Last ``seq`` of recently used streams, least recently used first (writer's only).
        self._seqs: OrderedDict[str, int] = OrderedDict()
        self._seq_memory = seq_memory
        self._answered_by: dict[str, str] = {}
        #: Shared with the other writers: the database's health, retry pace and queue bound.
        self.status = status or DatabaseStatus()
        self._pending: asyncio.Queue[Pending] = asyncio.Queue(self.status.max_backlog)
        self._batch: list[Pending] = []  # taken from _pending, not yet stored
        self.status.register(WRITER, lambda: self._pending.qsize() + len(self._batch))
        #: Events still queued at a stop wait in ``<spool>/outbox.jsonl``, not yet numbered.
        self.spool = Spool(spool, WRITER, pending.to_json, pending.from_json)
        self._stored = asyncio.Event()
        self._closing = asyncio.Event()
        self._queue_state: QueueState | None = None
        self._queue_dirty = False
        self._queue_sent_at = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = False
        #: Events stored in the outbox by this process and not yet acknowledged by the broker.
        self._unsent = 0
        #: Publishes in flight, the late ones, and the one ALARM when they back up.
        self.monitor = PublishMonitor()
        "True while a broker session is up."

    # -- lifecycle ---------------------------------------------------------------------

    def depth(self) -> int:
        """Events this process produced that the broker has not acknowledged yet."""
        return self._pending.qsize() + self._unsent

    async def start(self, *, commands: CommandHandler | None = None) -> None:
        """Start writing, publishing and pruning (the outbox is read as needed, not here).

        ``commands``: answer CAD's commands with this handler (the daemon's, wired to its
        disposition, block and callback services, which publish through this publisher) rather
        than the plain one ``annotations`` made.
        """
        if commands is not None:
            self.commands = commands
        if not self.settings.enabled:
            return
        # What the last stop spooled goes first, numbered when stored as it would have been.
        for queued in self.spool.load():
            try:
                self._pending.put_nowait(queued)
            except asyncio.QueueFull:
                self.status.overflowed(WRITER, stream=queued.stream)
                self.spool.done()
        self.monitor.warnings.install()
        self._tasks = [
            asyncio.create_task(self._writer(), name="mqtt-outbox-writer"),
            asyncio.create_task(self._link(), name="mqtt-link"),
            asyncio.create_task(
                pruning.keep_pruned(self.outbox, self.settings.outbox_retention_hours),
                name="mqtt-outbox-pruner",
            ),
            asyncio.create_task(self._watch(), name="mqtt-backlog-watch"),
        ]

    async def flush(self, seconds: float = 10.0) -> None:
        """Wait until every reported event is in the outbox (not necessarily published)."""
        await asyncio.wait_for(self._pending.join(), seconds)

    async def close(self, drain_seconds: float = 10.0) -> None:
        """Store what is queued, publish what the broker will take within ``drain_seconds``,
        mark callgate offline, disconnect. Unpublished events stay in the outbox for next time."""
        deadline = time.monotonic() + drain_seconds
        with contextlib.suppress(TimeoutError):
            await self.flush(drain_seconds)
        self._closing.set()
        self._stored.set()
        if len(self._tasks) >= 2 and self.connected:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(
                    asyncio.shield(self._tasks[1]), max(0.1, deadline - time.monotonic())
                )
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:
            # The database still away: the batch being retried, then the queue, for next time.
            left, self._batch = self._batch, []
            while not self._pending.empty():
                left.append(self._pending.get_nowait())
                self._pending.task_done()
            self.spool.save(left)
            self.monitor.warnings.remove()
        self._tasks = []

    # -- what the engine tells its observers (notifications and records) -------------

    def _record(self, note: ports.Record) -> None:
        if isinstance(note, ports.CallStarted):
            self._started(note)
        elif isinstance(note, ports.AgentConnected):
            self._answered_by[note.call_id] = note.agent_id
        elif isinstance(note, ports.AgencyConnected):
            self._agency_joined(note.call_id, note.agency, note.hand_off, note.at)
        elif isinstance(note, ports.CallRecorded):
            self._recording(note.info, note.at)
        elif isinstance(note, ports.RecordingFailed):
            self._call_event(RecordingFailed, note.call_id, note.at, reason=note.reason)
        elif isinstance(note, ports.SupervisorMonitoring):
            return  # the journal's (the call's timeline); CAD's event schema has no such event
        else:
            self._ended_outside_core(note.call_id, note.outcome, note.at)

    def _started(self, start: ports.CallStarted) -> None:
        # A call found again after a restart: the process before reported it, but if it was
        # killed before its writer stored the call's first events, CAD never had them. The
        # writer decides, against the outbox, whether they are still needed.
        call, at, if_new = start.call_id, start.at, start.restored
        number = start.caller if re.fullmatch(E164, start.caller) else "anonymous"
        sent, dialed = start.caller_sent, start.dialed
        self._call_event(
            CallReceived, call, at, caller=number, caller_sent=sent, dialed=dialed, if_new=if_new
        )
        # Screening happens before the core: its result (the class) is known on arrival.
        priority, category = start.priority, start.category
        self._call_event(
            CallScreened, call, at, priority=priority, category=category, if_new=if_new
        )

    def _agency_joined(self, call_id: str, agency: str, hand_off: bool, at: float) -> None:
        self._call_event(
            CallTransferred,
            call_id,
            at,
            destination=agency,
            mode="hand-off" if hand_off else "three-way",
        )

    def _recording(self, info: RecordingInfo, at: float) -> None:
        self._call_event(
            RecordingReady,
            info.call_id,
            at,
            path=str(info.path),
            # The admin API's route (callgate.http.inquiry), for CAD's token (#23).
            url=f"/api/calls/{info.call_id}/recording",
            sha256=info.sha256,
            size_bytes=info.size,
            duration_s=info.duration_s,
        )

    def _ended_outside_core(self, call_id: str, outcome: str, at: float) -> None:
        self._answered_by.pop(call_id, None)
        self._call_event(CallEndedEvent, call_id, at, outcome=outcome)

    async def notification(self, note: Observed) -> None:
        """The one way in: the core's notifications and the daemon's records, in order."""
        if isinstance(note, ports.RECORDS):
            self._record(note)
            return
        self._queue_dirty = True
        if self.queue is not None:
            self.queue.notification(note)
        if isinstance(note, Screened):
            self._started(ports.start_of(note))
        elif isinstance(note, CallStateChanged):
            self._state_changed(note)
        elif isinstance(note, CallBlocked):
            self._ended_outside_core(note.call_id, note.outcome, note.at)
        elif isinstance(note, AgentStateChanged):
            self._emit(
                AgentStateEvent,
                f"agent:{note.agent_id}",
                self.topics.agent_state(note.agent_id),
                note.at,
                retain=True,
                agent_id=note.agent_id,
                state=note.new.value,
                previous=note.old.value,
                reason=note.reason,
                cause=note.cause,
            )
        elif (staffing := shift_staffing(note, self.topics)) is not None:
            model, stream, topic, at, fields = staffing
            self._emit(model, stream, topic, at, retain=True, **fields)
        elif isinstance(note, CallEnded):
            self._answered_by.pop(note.call_id, None)
            self._call_event(
                CallEndedEvent,
                note.call_id,
                note.ended_at,
                outcome=note.outcome.value,
                agent_id=note.agent_id,
                destination=note.destination,
                answered_at=None if note.answered_at is None else _at(note.answered_at),
                wait_s=note.answer_time,
            )

    def _state_changed(self, note: CallStateChanged) -> None:
        call_id, new, at, cause = note.call_id, note.new, note.at, note.cause
        if new is CallState.QUEUED:
            requeued = note.old is not CallState.ARRIVED
            self._call_event(CallQueued, call_id, at, requeued=requeued, cause=cause)
        elif new is CallState.OFFERED:
            self._call_event(CallOffered, call_id, at, cause=cause)
        elif new is CallState.CONNECTED:
            agent_id = self._answered_by.get(call_id, note.call_taker)
            self._call_event(CallAnswered, call_id, at, agent_id=agent_id)
        elif new is CallState.ABANDONED:
            self._call_event(CallAbandoned, call_id, at, cause=cause)
        elif new in (CallState.OVERFLOWED, CallState.FALLBACK):
            fallback = new is CallState.FALLBACK
            self._call_event(CallOverflowed, call_id, at, fallback=fallback, cause=cause)

    def queue_state(self, snapshot: QueueState) -> None:
        """Publish this queue snapshot (retained) when next connected; replaces any older one."""
        self._queue_state = snapshot
        self._queue_dirty = True

    # -- what CAD's commands add (see commands.py) --------------------------------------

    def disposition_set(self, call_id: str, disposition: str, by: str, at: datetime) -> None:
        self._call_event(DispositionSet, call_id, at.timestamp(), disposition=disposition, by=by)

    def callback_requested(self, call_id: str, by: str, at: datetime) -> None:
        self._call_event(CallbackRequested, call_id, at.timestamp(), by=by)

    def incident_attached(self, call_id: str, incident_id: str, at: datetime) -> None:
        self._call_event(IncidentAttached, call_id, at.timestamp(), incident_id=incident_id)

    # -- events into the outbox ----------------------------------------------------------

    def _call_event(self, model: type[EventBase], call_id: str, at: float, **fields: Any) -> None:
        self._emit(model, call_id, self.topics.call_events(call_id), at, call_id=call_id, **fields)

    def _emit(
        self,
        model: type[EventBase],
        stream: str,
        topic: str,
        at: float,
        *,
        retain: bool = False,
        if_new: bool = False,
        **fields: Any,
    ) -> None:
        if not self.settings.enabled:
            return
        try:
            # seq=1 stands in until the writer numbers it (see pending.number).
            event = model(
                event_id=str(uuid.uuid4()), seq=1, at=_at(at), site=self.settings.site, **fields
            )
        except ValidationError as exc:
            # A report the schema refuses is a bug in callgate; it must not touch the call.
            log.error("event not valid; not published", extra={"stream": stream, "error": str(exc)})
            return
        try:
            self._pending.put_nowait(Pending(event, stream, topic, retain, if_new))
        except asyncio.QueueFull:
            self.status.overflowed(WRITER, stream=stream)

    async def _writer(self) -> None:
        while True:
            batch = [await self._pending.get()]
            while len(batch) < 500 and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            self._batch = batch
            # Kept and retried while the database is away: order matters more than latency.
            stored = await write_until_stored(
                self.status,
                functools.partial(self._store, batch),
                records=len(batch),
                writer=WRITER,
            )
            self._batch = []
            if stored:
                self._unsent += len(batch)
            for _ in batch:
                self._pending.task_done()
            self.spool.done(len(batch))
            self._stored.set()

    async def _store(self, batch: Sequence[Pending]) -> None:
        """Number ``batch`` and append it to the outbox; remember the streams' new last ``seq``
        only once stored, so a retry after a failure numbers the same events the same way."""
        entries, seqs = await pending.number(batch, self._seqs, self.outbox)
        await self.outbox.append(entries)
        for stream, seq in seqs.items():
            self._seqs[stream] = seq
            self._seqs.move_to_end(stream)
        while len(self._seqs) > self._seq_memory:
            self._seqs.popitem(last=False)

    async def prune_outbox(self, now: datetime) -> int:
        """Delete events published more than ``outbox_retention_hours`` before ``now``."""
        return await pruning.prune(self.outbox, self.settings.outbox_retention_hours, now)

    # -- the broker link -----------------------------------------------------------------

    async def _link(self) -> None:
        failures = 0
        while not self._closing.is_set():
            try:
                async with broker_client(self.settings, self.topics) as client:
                    failures = 0
                    log.info("MQTT connected", extra={"broker": broker_name(self.settings)})
                    await self._session(client)
                    return
            except (aiomqtt.MqttError, OSError, JournalError) as exc:
                self.connected = False
                failures += 1
                delay = min(self.settings.reconnect_max, 0.25 * 2 ** min(failures, 12))
                delay *= random.uniform(0.5, 1.0)  # noqa: S311 -- jitter, not security
                log.warning(
                    "MQTT unavailable; reconnecting",
                    extra={
                        "broker": broker_name(self.settings),
                        "error": str(exc),
                        "retry_in_s": delay,
                    },
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
            finally:
                self.connected = False

    async def _session(self, client: aiomqtt.Client) -> None:
        online = Status(status="online", site=self.settings.site, at=datetime.now(UTC))
        await client.publish(self.topics.status, online.model_dump_json(), qos=1, retain=True)
        if self.commands is not None:
            await client.subscribe(self.topics.commands, qos=1)
        self.connected = True
        self._queue_dirty = True  # a new session republishes the latest snapshot
        # A window of our own batch waiting for PUBACKs is normal, not a warning; beyond it
        # the library's warning is counted, not logged (backpressure.ClientWarnings).
        client.pending_calls_threshold = max(client.pending_calls_threshold, self.batch)
        receiver = asyncio.create_task(self._receive(client), name="mqtt-commands")
        worker = asyncio.create_task(self._apply_commands(client), name="mqtt-command-worker")
        try:
            while True:
                self._stored.clear()
                await self._drain(client)
                await self._publish_queue_state(client)
                for task in (receiver, worker):
                    if task.done():
                        task.result()  # raises what ended it (the connection)
                        raise aiomqtt.MqttError("command stream ended")
                if self._closing.is_set() and self._pending.empty():
                    offline = Status(
                        status="offline", site=self.settings.site, at=datetime.now(UTC)
                    )
                    await client.publish(
                        self.topics.status, offline.model_dump_json(), qos=1, retain=True
                    )
                    return
                stored = asyncio.create_task(self._stored.wait())
                await asyncio.wait(
                    {stored, receiver, worker},
                    timeout=QUEUE_STATE_INTERVAL,
                    return_when="FIRST_COMPLETED",
                )
                stored.cancel()
        finally:
            for task in (receiver, worker):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await task

    async def _drain(self, client: aiomqtt.Client) -> None:
        try:
            await self._drain_outbox(client)
            self.status.succeeded()
        except JournalUnavailable as exc:
            # The broker is fine: keep its session (reconnecting would churn it every second and
            # log each time) and read the outbox again at the next tick. Events published but
            # not marked sent go out once more later; subscribers drop them by event_id.
            self.status.failed(exc)

    async def _drain_outbox(self, client: aiomqtt.Client) -> None:
        while entries := await self.outbox.unsent(self.batch):
            # Handed to paho in order; it sends them in order on one connection and the broker
            # keeps that order per topic. A batch in flight at once keeps throughput up.
            window = self.monitor.sending(len(entries))
            try:
                await asyncio.gather(
                    *(
                        client.publish(e.topic, e.payload, qos=1, retain=e.retain, timeout=30.0)
                        for e in entries
                    )
                )
            finally:
                self.monitor.done(window)
            await self.outbox.mark_sent(
                [e.id for e in entries if e.id is not None], datetime.now(UTC)
            )
            # Entries left over from an earlier run also drain here, hence the floor at 0.
            self._unsent = max(0, self._unsent - len(entries))

    async def _publish_queue_state(self, client: aiomqtt.Client) -> None:
        now = self.clock()
        if not self._queue_dirty or now - self._queue_sent_at < QUEUE_STATE_INTERVAL:
            return
        self._queue_sent_at = now
        if self.monitor.hold_state_update():
            return  # still dirty: the latest snapshot goes once the backlog has cleared
        snapshot = self._queue_state
        if self.queue is not None:
            snapshot = self.queue.state(self.settings.site, now)
        self._queue_dirty = False
        if snapshot is None:
            return
        await client.publish(
            self.topics.queue_state, snapshot.model_dump_json(), qos=1, retain=True
        )

    async def _watch(self) -> None:
        """Every second: is the broker keeping up? (One ALARM when not, one INFO when it is
        again; the publishing tasks may be stuck waiting for it, so this is a task of its own.)"""
        while True:
            self.monitor.check(self.depth())
            await asyncio.sleep(1.0)

    async def _handle_command(self, request_id: str, payload: bytes) -> Reply:
        assert self.commands is not None  # nothing is subscribed to without a handler
        return await self.commands.handle(request_id, payload)

    async def _receive(self, client: aiomqtt.Client) -> None:
        """Take every message into the inbox as it comes, so the queue stays bounded and a
        refusal is immediate; :meth:`_apply_commands` applies them one at a time."""
        async for message in client.messages:
            if self.commands is None:
                continue  # not subscribed to commands; nothing else is expected here
            answer = self.inbox.offer(message)
            if answer is not None:
                await self._reply(client, *answer)

    async def _apply_commands(self, client: aiomqtt.Client) -> None:
        while True:
            request_id, payload = await self.inbox.take()
            # Shielded: a disconnect must not stop a command half applied; its answer is kept
            # by the inbox and sent again if the broker redelivers the command.
            reply = await asyncio.shield(self.inbox.apply(request_id, payload))
            await self._reply(client, request_id, reply)

    async def _reply(self, client: aiomqtt.Client, request_id: str, reply: Reply) -> None:
        await client.publish(
            self.topics.reply(request_id), reply.model_dump_json(exclude_none=True), qos=1
        )
