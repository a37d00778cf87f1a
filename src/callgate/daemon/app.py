"""The composition root: builds the adapters, wires them to the ACD core, owns the lifecycle.

:func:`_wire` builds every part and hands each its dependencies in its constructor (the engine's
``feed``, the one way into the core, to every part that makes core events); :func:`serve` starts
and stops them. Start: validate config (before anything connects) -> open the journal -> CAD
event stream -> admin HTTP port (/healthz, /readyz, /metrics, the CLI's API) -> FastAGI server
(call-takers' feature codes) -> connect ARI and AMI -> log call-takers in and reconcile with
what Asterisk holds (retried until it completes, after every reconnection) -> tell systemd READY
once ARI is set up and AMI and the database are up -> serve events, pinging the systemd watchdog
from the event loop. A port another process holds (admin HTTP, FastAGI) is retried in the
background with an ALARM line: ARI call handling needs neither. If the ARI event pump ever ends,
the daemon stops with exit code 1, for systemd's ``Restart=on-failure`` to start it again. Beside
that, calls the fallback queue took while callgate was away are journaled from Asterisk's
queue_log (:mod:`callgate.daemon.fallback`).
Stop (SIGTERM/SIGINT): /readyz turns 503, stop taking events, hand waiting callers back to the
dialplan's fallback queue, flush the event outbox and the journal, close connections.
Conversations stay up in Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from callgate import logs
from callgate.asterisk.agent_codes import agent_code_handlers
from callgate.asterisk.agi.fastagi import AgiServer
from callgate.asterisk.agi.protocol import Handler
from callgate.asterisk.ami.client import AmiClient
from callgate.asterisk.ari.adapter import AriAdapter
from callgate.asterisk.ari.channel_check import AriChannelCheck
from callgate.asterisk.ari.client import AriClient, AriError, AriUnavailable, JsonObject
from callgate.asterisk.link import AriLink
from callgate.asterisk.recordings import folder_problem
from callgate.auth import Authenticator
from callgate.backlog import DatabaseStatus
from callgate.config import ConfigError, Settings, acd_config, screening_policy
from callgate.core.acd import Acd
from callgate.core.events import Event, ReadinessChanged
from callgate.daemon.call_actions import CallActionService
from callgate.daemon.callback_records import CallbackRecords, run_prefix
from callgate.daemon.caller_history import HistoryLoader
from callgate.daemon.calltaker_records import CallTakerRecords
from callgate.daemon.calltakers import CallTakerControl, PhoneRegistrations
from callgate.daemon.dispositions import Blocks, Dispositions
from callgate.daemon.engine import Engine
from callgate.daemon.fallback import FallbackRecords
from callgate.daemon.health import COMPONENTS, Health
from callgate.daemon.journaling import CallJournal
from callgate.daemon.live import LiveFeed
from callgate.daemon.metrics import Metrics
from callgate.daemon.queue_log_out import QueueLogFile, queue_log_file
from callgate.daemon.reload import LiveParts, Reloader, read_config
from callgate.daemon.systemd import Notifier
from callgate.daemon.upkeep import keep_binding, retention, watch_fallback
from callgate.daemon.view import LiveDaemonView
from callgate.http.actions import Actions
from callgate.http.bounds import HttpLimits
from callgate.http.local import AdminSocket
from callgate.http.pages import Pages
from callgate.http.server import OpsHttp
from callgate.http.sessions import BrowserSessions
from callgate.http.streams import LiveStreams
from callgate.mqtt.inbox import CommandHandler
from callgate.mqtt.publisher import EventPublisher
from callgate.mqtt.topics import QueueView
from callgate.ports import (
    CallRecorded,
    JournalError,
    Observed,
    Observer,
    Record,
    RecordingFailed,
    agent_id_of,
)
from callgate.spool import prepare_folder
from callgate.storage.annotations import JournalAnnotations
from callgate.storage.journal import Journal
from callgate.storage.outbox import Outbox

log = logging.getLogger(__name__)


class _RecordingFailures:
    """Counts failed and unsealed recordings for the metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def notification(self, note: Observed) -> None:
        if isinstance(note, CallRecorded) and note.info.unsealed is not None:
            self.metrics.recording_unsealed()
        elif isinstance(note, RecordingFailed):
            self.metrics.recording_failed()


class _Readiness:
    """Keeps the health registry and tells systemd READY once ARI, AMI and the database are up;
    ``on_ready`` hears each change of readiness (the core starts callback attempts only while
    ready)."""

    def __init__(
        self,
        health: Health,
        notifier: Notifier,
        on_ready: Callable[[bool], None] = lambda ready: None,
    ) -> None:
        self.health = health
        self.notifier = notifier
        self.on_ready = on_ready
        self.announced = False

    def changed(
        self, component: str, up: bool, detail: str | None = None, *, logged: bool = False
    ) -> None:
        """``logged``: the reporter logs the change itself (the database's ALARM)."""
        was_ready = self.health.ready
        self.health.set(component, up, detail)
        if self.health.ready != was_ready:
            self.on_ready(self.health.ready)
        if not logged and up:
            log.info("connected", extra={"component": component})
        elif not logged:
            log.warning("disconnected", extra={"component": component, "detail": detail})
        if self.health.ready and not self.announced:
            self.announced = True
            self.notifier.ready()
            log.info("ready: taking calls")
        elif self.announced:
            down = self.health.missing() + self.health.degraded()
            self.notifier.status(
                "taking calls" if not down else f"degraded: {', '.join(down)} down"
            )


@dataclass(frozen=True)
class _Wired:
    """The daemon's parts, each built with what it needs (see :func:`_wire`)."""

    engine: Engine
    calls: AriAdapter
    events: EventPublisher
    commands: CommandHandler
    callbacks: CallbackRecords | None
    records: CallTakerRecords
    queue_log: QueueLogFile | None
    http: OpsHttp
    agi: AgiServer
    ami: AmiClient
    link: AriLink
    reloader: Reloader
    live: LiveFeed


def _wire(
    settings: Settings,
    journal: Journal,
    ari: AriClient,
    *,
    health: Health,
    readiness: _Readiness,
    database: DatabaseStatus,
    writer: CallJournal,
    config_path: str | None = None,
) -> _Wired:
    """Build every part and hand each its dependencies in its constructor: the one place that
    knows them all. Nothing connects, listens or runs yet."""
    prefix = run_prefix(time.time())
    acd = Acd(acd_config(settings, callback_prefix=prefix))
    # Who may use the admin API and send CAD commands ([auth]): one view for both.
    authenticator = Authenticator(settings.auth.users, local_users=settings.auth.local_users)
    # CAD's event stream, an observer of everything below.
    spool = Path(settings.storage.spool_dir)
    events = EventPublisher(
        settings.mqtt, Outbox(journal), queue=QueueView(), status=database, spool=spool
    )
    # Every disposition (phone, CAD, admin) goes through one service, which also places
    # automatic blocks when [screening.blocking] is enabled.
    policy = screening_policy(settings)
    dispositions = Dispositions(
        journal, events, policy, codes=settings.dispositions.codes, clock=time.time
    )
    blocks = Blocks(journal, policy, clock=time.time)
    health.probe("mqtt", lambda: events.connected)
    metrics = Metrics(
        acd,
        health,
        calltakers=[agent_id_of(e) for e in settings.calltakers.endpoints],
        outbox_depth=events.depth if settings.mqtt.enabled else lambda: None,
        database=database,
        mqtt=events.monitor if settings.mqtt.enabled else None,
    )

    # The engine's feed is the one way into the core; every part that turns the outside world
    # into core events is given it. The ARI adapter and the engine need each other (events in,
    # commands out), so the adapter gets it through this forward call.
    engine: Engine

    async def feed(*batch: Event | Record) -> None:
        await engine.feed(*batch)

    # The caller's history goes to the core with the call; the core screens it.
    history = HistoryLoader(journal, policy) if settings.screening.enabled else None
    calls = AriAdapter(
        ari,
        settings,
        clock=time.time,
        history=history,
        feed=feed,
        dispositions=dispositions,  # **<digit> keyed by a call-taker during a call
        open_calls=writer.open_calls,  # ended at (re)connection if Asterisk has them not
    )
    # Abandoned callers are called back ([callbacks]): the core runs the worklist (attempts
    # only while callgate is ready); the daemon stores its tasks and passes CAD's requests on.
    callbacks = (
        CallbackRecords(journal, feed, status=database, spool=spool)
        if settings.callbacks.enabled
        else None
    )
    # One ordered stream out: the core's notifications and the adapters' records, in order.
    observers: list[Observer] = [
        writer.notification,
        events.notification,
        _RecordingFailures(metrics).notification,
        metrics.notification,
    ]
    if callbacks is not None:
        observers.append(callbacks.notification)
    # The call-takers' record (logins, pauses, missed rings, calls) for the report, and the same
    # in Asterisk's queue_log format for queue reporting tools ([queue_log] path).
    records = CallTakerRecords(journal, status=database, clock=time.time)
    observers.append(records.notification)
    # Call-takers' own commands (feature codes, the admin API); its endpoints are the running
    # call-takers, which a reload changes in place; the core's answers come back as notifications.
    control = CallTakerControl(feed, settings.calltakers.endpoints)
    observers.append(control.notification)
    queue_log = queue_log_file(settings, clock=time.time, endpoints=control.endpoints)
    if queue_log is not None:
        observers.append(queue_log.notification)
    engine = Engine(acd, calls, observers=observers)
    # CAD's commands reach the same services as the phones and the admin API.
    commands = CommandHandler(
        JournalAnnotations(journal),
        events,
        clock=time.time,
        dispositions=dispositions,
        blocks=blocks,
        on_callback_requested=None if callbacks is None else callbacks.requested,
        max_bytes=settings.mqtt.max_command_bytes,
        clients=authenticator.identity,  # the command topic's <client>, named by the broker
    )
    # A reload (SIGHUP, the admin API) changes the parts below; it needs the view too, so the
    # view reaches it through this forward call.
    reloader: Reloader

    async def reload(by: str) -> dict[str, object]:
        return (await reloader.reload(by)).to_json()

    view = LiveDaemonView(
        engine,
        control,
        health,
        journal,
        set_log_level=logs.set_level,
        default_pause_reason=settings.agi.default_pause_reason,
        dispositions=dispositions,
        blocks=blocks,
        reload=reload,
    )
    sessions = BrowserSessions.from_settings(settings.ops, authenticator)
    # The wallboard's and the call-takers' screens' live feed, one more observer of the core.
    streams: LiveStreams
    live = LiveFeed(view, lambda message: streams.publish(message))
    streams = LiveStreams(
        live,
        max_streams=settings.ops.live_max_streams,
        max_per_user=settings.ops.live_max_streams_per_user,
        write_timeout=settings.ops.live_write_timeout,
    )
    engine.observers.append(live.notification)
    # A supervisor's callback request from the wallboard goes CAD's way (its name on record).
    requested = None if callbacks is None else callbacks.requested
    # ... and a call-taker's hand-off from their screen goes their keys' way (the ARI adapter).
    actions = CallActionService(
        JournalAnnotations(journal), events, callbacks=requested, handoffs=calls,
        answered=view.answered,
    )  # fmt: skip
    http = OpsHttp(
        view,
        health,
        metrics.registry,
        authenticator=authenticator,
        host=settings.ops.http_host,
        port=settings.ops.http_port,
        max_body_bytes=settings.ops.http_max_body_bytes,
        sessions=sessions,
        local=(
            AdminSocket(settings.ops.socket_path, settings.ops.socket_group)
            if settings.ops.socket_path
            else None
        ),
        extensions=(streams, Pages(), Actions(actions)),
        limits=HttpLimits.from_settings(settings.ops),
    )
    # A feature code changes a call-taker only for a channel Asterisk confirms over ARI.
    channels = AriChannelCheck(ari)

    def agi_routes(live: Settings) -> dict[str, Handler]:
        return agent_code_handlers(
            control,
            channels=channels,
            pause_reasons=live.agi.pause_reasons,
            default_pause_reason=live.agi.default_pause_reason,
            prompts=live.calltakers.prompts,
            dispositions=dispositions,
        )

    agi = AgiServer.from_settings(settings.agi, agi_routes(settings))
    registrations = PhoneRegistrations(settings.calltakers.endpoints)
    ami = AmiClient.from_settings(
        settings.ami,
        on_device_state=registrations,
        on_connection=lambda up: readiness.changed("ami", up),
    )
    link = AriLink(
        ari.events(),
        set_up=calls.on_connected,
        handle=_ari_events_to(calls),
        on_state=lambda up, why: readiness.changed("ari", up, why),
    )
    reloader = Reloader(
        config_path,
        settings,
        LiveParts(
            engine,
            calls,
            authenticator,
            sessions.store,
            control,
            callback_prefix=prefix,
            registrations=registrations,
            device_status=ami.status,
            route_agi=lambda live: agi.route(agi_routes(live)),
            dispositions=dispositions,
            blocks=blocks,
            history=history,
            metrics=metrics,
            view=view,
            notifier=readiness.notifier,
            ready=lambda: readiness.announced,
        ),
    )
    return _Wired(
        engine, calls, events, commands, callbacks, records, queue_log, http, agi, ami, link,
        reloader, live,
    )  # fmt: skip


def _ari_events_to(calls: AriAdapter) -> Callable[[JsonObject], Awaitable[None]]:
    async def handle(event: JsonObject) -> None:
        try:
            await calls.on_event(event)
        except (AriError, AriUnavailable) as exc:
            log.warning("ARI request failed while handling an event", extra={"error": str(exc)})
        except Exception:
            # One event handled wrongly must not end the pump: the other calls go on,
            # and on shutdown the waiting callers are still handed back.
            log.exception("handling an ARI event failed; carrying on")

    return handle


async def serve(
    settings: Settings, journal: Journal, stop: asyncio.Event, config_path: str | None = None
) -> int:
    """Run the daemon until ``stop`` is set (returns 0) or the ARI event pump ends, which it
    never should (returns 1, after the same orderly stop). SIGHUP reloads ``config_path`` (and
    the environment): :mod:`callgate.daemon.reload`."""
    # "agi": whether the FastAGI port is bound (not required: calls need only ARI); shown on
    # /readyz and as callgate_connection_up{component="agi"}.
    health = Health(components=(*COMPONENTS, "agi"))
    notifier = Notifier()
    parts: _Wired | None = None
    readiness_told: set[asyncio.Task[None]] = set()

    def ready_changed(ready: bool) -> None:
        # Callback attempts start only while callgate is ready: the core hears each change.
        if parts is not None:
            told = asyncio.create_task(parts.engine.feed(ReadinessChanged(ready)))
            readiness_told.add(told)
            told.add_done_callback(readiness_told.discard)

    readiness = _Readiness(health, notifier, ready_changed)
    readiness.changed("database", True)
    # One view of the database for every writer: one ALARM per outage, one backlog figure.
    database = DatabaseStatus(
        lambda up, why: readiness.changed("database", up, why, logged=True),
        max_backlog=settings.storage.max_backlog,
        max_retry=settings.storage.retry_max_seconds,
    )
    spool = Path(settings.storage.spool_dir)
    problem = prepare_folder(spool)
    if problem is not None:
        # Calls are served all the same: only records held at a stop during a database outage
        # are at stake (lost then, with an ALARM saying how many).
        log.error("ALARM: storage.spool_dir not usable", extra={"reason": problem})
    writer = CallJournal(journal, database, spool=spool)
    writer.start()  # what the last stop spooled first
    async with AriClient(
        settings.ari.url,
        settings.ari.username,
        settings.ari.password.get_secret_value(),
        settings.ari.app,
    ) as ari:
        parts = _wire(
            settings,
            journal,
            ari,
            health=health,
            readiness=readiness,
            database=database,
            writer=writer,
            config_path=config_path,
        )
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, parts.reloader.on_signal)
        await parts.engine.feed(ReadinessChanged(health.ready))  # not ready yet: ARI is not up
        # CAD's event stream first: it reads its outbox's seq before the first report.
        await parts.events.start(commands=parts.commands)
        retry_every = settings.ops.bind_retry_seconds
        # /healthz and /readyz answer during start-up too (unless the port is taken: then
        # the ALARM line and systemd's status line say so).
        bind_http = asyncio.create_task(
            keep_binding(
                "admin-http",
                settings.ops.http_port,
                parts.http.start,
                retry_every=retry_every,
                on_state=lambda up, why: None if up else notifier.status(f"ALARM: admin {why}"),
            ),
            name="bind-admin-http",
        )
        await asyncio.sleep(0)  # the first attempt now, before anything connects
        health.set("agi", False, "not bound yet")
        bind_agi = asyncio.create_task(
            keep_binding(
                "fastagi",
                settings.agi.port,
                parts.agi.start,
                retry_every=retry_every,
                on_state=lambda up, why: health.set("agi", up, why),
            ),
            name="bind-fastagi",
        )
        if parts.callbacks is not None:
            await parts.callbacks.start()
        parts.records.start()
        if parts.queue_log is not None:
            parts.queue_log.start()
        tasks = {
            asyncio.create_task(parts.link.run(), name="ari-events"),
            bind_http,
            bind_agi,
            asyncio.create_task(retention(journal, settings), name="retention"),
            asyncio.create_task(parts.ami.run(), name="ami"),
            asyncio.create_task(
                watch_fallback(
                    parts.ami, settings.call.fallback_queue, parts.live.fallback_waiting
                ),
                name="fallback-watch",
            ),
        }
        if settings.fallback.queue_log:
            # Calls the dialplan's fallback queue took (callgate away, or handed back at the last
            # stop) are journaled from queue_log: a first read now, then every scan_seconds.
            fallback = FallbackRecords(
                journal,
                queue_log=Path(settings.fallback.queue_log),
                queue=settings.call.fallback_queue,
                endpoints=settings.calltakers.endpoints,
                recordings_dir=Path(settings.recording.asterisk_dir),
                scan_seconds=settings.fallback.scan_seconds,
            )
            tasks.add(asyncio.create_task(fallback.run(), name="fallback-records"))
        if settings.ops.watchdog:
            # Returns at once when not under systemd: a background task, not a reason to stop.
            tasks.add(asyncio.create_task(notifier.watchdog(), name="watchdog"))
        stop_task = asyncio.create_task(stop.wait(), name="stop")
        # Only a stop request or the end of the ARI stream (which never ends by itself) stops
        # the daemon; the other tasks may finish early without consequence.
        pump_task = next(t for t in tasks if t.get_name() == "ari-events")
        await asyncio.wait({pump_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        exit_code = 0
        if pump_task.done() and not stop.is_set():
            # Without ARI no call is taken: exit non-zero, so systemd (Restart=on-failure)
            # starts a fresh daemon, rather than a clean exit that would leave it stopped.
            exit_code = 1
            error = pump_task.exception()
            why = pump_task.result() if error is None else f"{type(error).__name__}: {error}"
            log.error(
                "ARI event pump ended; stopping with exit code 1 to be restarted",
                extra={"reason": why},
                exc_info=error,
            )
        loop.add_signal_handler(
            signal.SIGHUP, lambda: log.warning("SIGHUP while stopping: ignored")
        )
        health.begin_stopping()
        notifier.stopping()
        log.info("stopping: handing waiting callers to the fallback queue")
        for task in tasks:
            task.cancel()
        for task in tasks - {pump_task}:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Its end was logged above; the callers must still be handed back, so no raise here.
        await asyncio.gather(pump_task, return_exceptions=True)
        await parts.agi.stop()
        await parts.ami.close()
        parts.engine.close()
        try:
            await asyncio.wait_for(parts.calls.hand_back_waiting(), timeout=10)
        except (TimeoutError, AriError, AriUnavailable) as exc:
            log.error("could not hand every waiting caller back", extra={"error": str(exc)})
        stop_task.cancel()
        await parts.calls.drain()  # recordings of calls that just ended are hashed and journaled
        if parts.callbacks is not None:
            await parts.callbacks.close()  # open tasks stay in the journal for the next start
        await parts.records.close()  # who is still logged in is logged out at the stop
        if parts.queue_log is not None:
            await parts.queue_log.close()
        await parts.events.close()
        await parts.http.stop()
    await writer.close()
    notifier.close()
    return exit_code


async def run(settings: Settings, config_path: str | None = None) -> int:
    """The daemon's exit code: 0 after SIGTERM/SIGINT, 1 when it could not serve or the ARI
    event pump ended (systemd's ``Restart=on-failure`` restarts it then)."""
    try:
        journal = await Journal.open(settings.storage.url)
    except JournalError as exc:
        log.error("cannot open the journal", extra={"error": str(exc)})
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # A reload asked before the daemon is wired (serve() takes SIGHUP over then) is ignored,
    # not the default end of the process.
    loop.add_signal_handler(signal.SIGHUP, lambda: log.warning("SIGHUP during start-up: ignored"))
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    try:
        return await serve(settings, journal, stop, config_path)
    except OSError as exc:
        log.error("cannot serve", extra={"error": str(exc)})
        return 1
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        await journal.close()


def run_daemon(config_path: str | None) -> int:
    try:
        # The same checks as a reload's, before anything connects.
        settings = read_config(config_path)
    except ConfigError as exc:
        print(f"callgate: {exc}", file=sys.stderr)
        return 2
    logs.setup_logging(settings.log.level, settings.ops.log_format)
    log.info("callgate starting", extra={"ari_url": settings.ari.url, "app": settings.ari.app})
    problem = folder_problem(Path(settings.recording.asterisk_dir))
    if problem is not None:
        # Calls are served all the same: a recording problem must never keep 112 calls out.
        log.error("ALARM: recordings folder not usable", extra={"reason": problem})

    # What start-up built (modules, models, schemas: ~125k objects) lives as long as the
    # process: frozen, a full garbage collection no longer walks it. Walking it cost the event
    # loop ~90 ms of CPU about once a lab burst, and an ACD timer as late (#25).
    gc.collect()
    gc.freeze()
    rc = asyncio.run(run(settings, config_path))
    log.info("callgate stopped", extra={"exit_code": rc})
    return rc
