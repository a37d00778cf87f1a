"""The composition root: builds the adapters, wires them to the ACD core, owns the lifecycle.

:func:`_wire` builds every part and hands each its dependencies in its constructor (the engine's
``feed``, the one way into the core, to every part that makes core events); :func:`_in_order`
lists them once in start order; :func:`serve` starts them in that order and stops them in
reverse (:mod:`callgate.daemon.parts`). Ready (systemd's READY) once ARI is set up and AMI and
the database are up. A port another process holds (admin HTTP, FastAGI) is retried in the
background with an ALARM line: ARI call handling needs neither. If the ARI event pump ever ends,
the daemon stops with exit code 1, for systemd's ``Restart=on-failure`` to start it again.
Stop (SIGTERM/SIGINT): /readyz turns 503, stop taking events, hand waiting callers back to the
dialplan's fallback queue, flush the event outbox and the journal, close connections.
Conversations stay up in Asterisk.
"""

from __future__ import annotations

import asyncio
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
from callgate.asterisk.ami.nodes import AmiNodes, ami_of
from callgate.asterisk.ari.adapter import AriAdapter
from callgate.asterisk.ari.channel_check import AriChannelCheck
from callgate.asterisk.ari.client import AriClient, AriError, AriUnavailable
from callgate.asterisk.ari.nodes import AriNodes
from callgate.asterisk.link import AriLink, carrying_on
from callgate.asterisk.recordings import folder_problem
from callgate.auth import Authenticator
from callgate.backlog import DatabaseStatus
from callgate.cluster.election import Leadership
from callgate.config import ConfigError, Settings, acd_config, screening_policy
from callgate.core.acd import Acd
from callgate.core.events import Event, ReadinessChanged
from callgate.daemon.board import BoardConfig, fallback_to_figures, load_figures, roll_figures
from callgate.daemon.browsers import browser_sessions
from callgate.daemon.call_actions import CallActionService
from callgate.daemon.callback_records import CallbackRecords, run_prefix
from callgate.daemon.caller_history import HistoryLoader
from callgate.daemon.calltaker_records import CallTakerRecords
from callgate.daemon.calltakers import CallTakerControl, PhoneRegistrations
from callgate.daemon.dispositions import Blocks, Dispositions
from callgate.daemon.engine import Engine
from callgate.daemon.health import COMPONENTS, Health
from callgate.daemon.inquiry_service import inquiry_routes
from callgate.daemon.journaling import CallJournal
from callgate.daemon.leadership import ari_client, lead, spool_at_fence
from callgate.daemon.live import HISTORY_DAYS, LiveFeed
from callgate.daemon.metrics import Metrics, RecordingCounts
from callgate.daemon.parts import Background, Lifecycle, Part, Step, sync
from callgate.daemon.projection import Projection
from callgate.daemon.queue_log_out import QueueLogFile, queue_log_file
from callgate.daemon.readiness import Readiness
from callgate.daemon.reload import LiveParts, OnReload, Reloader, read_config
from callgate.daemon.report_service import report_routes
from callgate.daemon.supervisor_tools import supervisor_routes
from callgate.daemon.systemd import Notifier
from callgate.daemon.upkeep import keep_binding, upkeep_tasks
from callgate.daemon.view import LiveDaemonView
from callgate.http.actions import Actions
from callgate.http.bounds import HttpLimits
from callgate.http.local import AdminSocket
from callgate.http.pages import Pages
from callgate.http.screen_info import ScreenInfo
from callgate.http.server import OpsHttp
from callgate.http.streams import LiveStreams
from callgate.mqtt.inbox import CommandHandler
from callgate.mqtt.publisher import EventPublisher
from callgate.mqtt.topics import QueueView
from callgate.ports import JournalError, Observer, Record, agent_id_of
from callgate.spool import prepare_folder
from callgate.storage.annotations import JournalAnnotations
from callgate.storage.journal import Journal
from callgate.storage.outbox import Outbox

log = logging.getLogger(__name__)


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
    ami: AmiClient | AmiNodes
    link: AriLink
    reloader: Reloader
    live: LiveFeed


def _wire(
    settings: Settings,
    journal: Journal,
    ari: AriClient,
    *,
    health: Health,
    readiness: Readiness,
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
    # The calls, call-takers and shifts as the notifications tell them: the engine tells it each
    # before its observers, so its readers (metrics, the admin view, the live screens) see what
    # each note leaves, never the core.
    projection = Projection(settings.acd.aging_seconds)
    metrics = Metrics(
        projection,
        health,
        calltakers=[agent_id_of(e) for e in settings.calltakers.endpoints],
        outbox_depth=events.depth if settings.mqtt.enabled else lambda: None,
        database=database,
        mqtt=events.monitor if settings.mqtt.enabled else None,
        asterisk_nodes=ari.node_states if isinstance(ari, AriNodes) else None,
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
        RecordingCounts(metrics).notification,
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
    engine = Engine(acd, calls, observers=observers, projection=projection)
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
        rostered=settings.roster.roster() is not None,
    )
    # The wallboard's and the call-takers' screens' live feed, one more observer of the core.
    streams: LiveStreams
    board = BoardConfig(settings)  # the centre's zone, today's figures, names, marks, sound
    live = LiveFeed(view, lambda message: streams.publish(message), **board.feed_options())
    streams = LiveStreams(
        live,
        max_streams=settings.ops.live_max_streams,
        max_per_user=settings.ops.live_max_streams_per_user,
        write_timeout=settings.ops.live_write_timeout,
    )
    sessions, displays = browser_sessions(settings, authenticator, journal, streams)
    # The live feed reads the engine's projection through the view, which needs the engine: the
    # one observer that joins after the engine is built.
    engine.observers.append(live.notification)
    # A supervisor's callback request from the wallboard goes CAD's way (its name on record).
    requested = None if callbacks is None else callbacks.requested
    # ... and a call-taker's hand-off from their screen goes their keys' way (the ARI adapter).
    actions = CallActionService(
        JournalAnnotations(journal),
        events,
        callbacks=requested,
        handoffs=calls,
        answered=view.answered,
    )
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
        extensions=(
            streams,
            Pages(),
            Actions(actions),
            ScreenInfo(lambda: reloader.running, history_days=HISTORY_DAYS),
            displays,
            inquiry_routes(settings, journal, metrics.registry),
            supervisor_routes(feed, engine.observers),
            report_routes(settings),
        ),
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
    registrations = PhoneRegistrations(settings.calltakers.endpoints, live.phone_registered)
    live.registered = lambda endpoint: registrations.registered.get(endpoint)
    ami = ami_of(  # several Asterisk nodes ([nodes]): every node's AMI, seen as one
        settings.ami,
        settings.nodes,
        on_device_state=registrations,
        on_connection=lambda up: readiness.changed("ami", up),
    )
    link = AriLink(
        ari.events(),
        set_up=calls.on_connected,
        handle=carrying_on(calls.on_event),
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
            live=(
                OnReload(lambda live: agi.route(agi_routes(live))),
                dispositions,
                blocks,
                *(() if history is None else (history,)),
                view,
                projection,
                board,
            ),
            metrics=metrics,
            notifier=readiness.notifier,
            ready=lambda: readiness.announced,
        ),
    )
    return _Wired(
        engine=engine,
        calls=calls,
        events=events,
        commands=commands,
        callbacks=callbacks,
        records=records,
        queue_log=queue_log,
        http=http,
        agi=agi,
        ami=ami,
        link=link,
        reloader=reloader,
        live=live,
    )


async def serve(
    settings: Settings,
    journal: Journal,
    stop: asyncio.Event,
    config_path: str | None = None,
    leader: Leadership | None = None,
) -> int:
    """Run the daemon until ``stop`` is set (returns 0) or the ARI event pump ends, which it
    never should (returns 1, after the same orderly stop). SIGHUP reloads ``config_path`` (and
    the environment): :mod:`callgate.daemon.reload`."""
    # "agi": whether the FastAGI port is bound (not required: calls need only ARI); shown on
    # /readyz and as callgate_connection_up{component="agi"}.
    health = Health(components=(*COMPONENTS, "agi"), role="single" if leader is None else "leader")
    notifier = Notifier()
    wired: _Wired | None = None
    readiness_told: set[asyncio.Task[None]] = set()

    def ready_changed(ready: bool) -> None:
        # Callback attempts start only while callgate is ready: the core hears each change.
        if wired is not None:
            told = asyncio.create_task(wired.engine.feed(ReadinessChanged(ready)))
            readiness_told.add(told)
            told.add_done_callback(readiness_told.discard)

    readiness = Readiness(health, notifier, ready_changed)
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
    if leader is not None:  # a fenced leader's exit keeps the queued records in the spool
        spool_at_fence(writer.spool_held)
    ari = ari_client(settings, leader)  # fenced when clustered
    wired = _wire(
        settings,
        journal,
        ari,
        health=health,
        readiness=readiness,
        database=database,
        writer=writer,
        config_path=config_path,
    )
    background = upkeep_tasks(
        settings,
        journal,
        ari_events=wired.link.run,
        ami=wired.ami,
        on_fallback=wired.live.fallback_waiting,
        on_fallback_call=fallback_to_figures(wired.live),
        more={
            "board-figures": lambda: load_figures(journal, wired.live),
            "board-roll": lambda: roll_figures(wired.live),
        },
        notifier=notifier,
    )
    parts = Lifecycle(_in_order(settings, wired, health, notifier, writer, ari, background))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, wired.reloader.on_signal)
    health.set("agi", False, "not bound yet")
    await parts.start()
    stop_task = asyncio.create_task(stop.wait(), name="stop")
    # Only a stop request or the end of the ARI stream (which never ends by itself) stops
    # the daemon; the other tasks may finish early without consequence.
    pump_task = background.task("ari-events")
    await asyncio.wait({pump_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    stop_task.cancel()
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
    loop.add_signal_handler(signal.SIGHUP, lambda: log.warning("SIGHUP while stopping: ignored"))
    health.begin_stopping()
    notifier.stopping()
    log.info("stopping: handing waiting callers to the fallback queue")
    await parts.stop()
    return exit_code


def _in_order(
    settings: Settings,
    wired: _Wired,
    health: Health,
    notifier: Notifier,
    writer: CallJournal,
    ari: AriClient,
    background: Background,
) -> list[Part]:
    """The daemon's parts in start order; the stop runs them in reverse, so each line's stop
    comes after the stops of the lines below it. A new part goes where its stop belongs."""

    async def hand_back() -> None:
        try:
            await asyncio.wait_for(wired.calls.hand_back_waiting(), timeout=10)
        except (TimeoutError, AriError, AriUnavailable) as exc:
            log.error("could not hand every waiting caller back", extra={"error": str(exc)})

    async def start_events() -> None:
        # CAD's commands answer on the event stream, which dispatches them: the one pair that
        # needs each other, so the handler is handed over at start.
        await wired.events.start(commands=wired.commands)

    def binding(
        port: str,
        number: int,
        start: Callable[[], Awaitable[None]],
        on_state: Callable[[bool, str | None], None],
    ) -> Background:
        async def bind() -> None:
            retry = settings.ops.bind_retry_seconds
            await keep_binding(port, number, start, retry_every=retry, on_state=on_state)

        return Background(f"{port}-binding", {f"bind-{port}": bind})

    def http_state(up: bool, why: str | None) -> None:
        if not up:
            notifier.status(f"ALARM: admin {why}")

    def agi_state(up: bool, why: str | None) -> None:
        health.set("agi", up, why)

    parts: list[Part] = [
        Step("systemd", on_stop=sync(notifier.close)),
        # Last to stop: every record the parts below make (the stop's log-outs too) is written,
        # or spooled during a database outage. Starts with what the last stop spooled.
        Step("journal", sync(writer.start), writer.close),
        Step("ari-client", ari.__aenter__, ari.__aexit__),
        # /healthz and /readyz answer until the end of the stop (503 while stopping).
        Step("admin-http", on_stop=wired.http.stop),
        # Not ready yet (ARI is not up): the core hears so before anything else.
        Step("readiness", lambda: wired.engine.feed(ReadinessChanged(health.ready))),
        # CAD's event stream first: it reads its outbox's seq before the first report.
        Step("events", start_events, wired.events.close),
        # /healthz and /readyz answer during start-up too (unless the port is taken: then the
        # ALARM line and systemd's status line say so).
        binding("admin-http", settings.ops.http_port, wired.http.start, http_state),
    ]
    if wired.queue_log is not None:
        parts.append(Step("queue-log", sync(wired.queue_log.start), wired.queue_log.close))
    # Who is still logged in is logged out at the stop.
    parts.append(Step("calltaker-records", sync(wired.records.start), wired.records.close))
    if wired.callbacks is not None:
        # Open tasks stay in the journal for the next start.
        parts.append(Step("callbacks", wired.callbacks.start, wired.callbacks.close))
    parts += [
        # Recordings of calls that just ended are hashed and journaled.
        Step("recordings", on_stop=wired.calls.drain),
        # Even after the ARI pump ended: the waiting callers go back to the fallback queue.
        Step("hand-back", on_stop=hand_back),
        # No more events into the core from here: the records above hear nothing new.
        Step("engine", on_stop=sync(wired.engine.close)),
        Step("ami", on_stop=wired.ami.close),
        Step("fastagi", on_stop=wired.agi.stop),
        binding("fastagi", settings.agi.port, wired.agi.start, agi_state),
        background,
    ]
    return parts


async def run(settings: Settings, config_path: str | None = None) -> int:
    """The daemon's exit code: 0 after SIGTERM/SIGINT, 1 when it could not serve or the ARI
    event pump ended (systemd's ``Restart=on-failure`` restarts it then)."""
    try:
        journal = await Journal.open(
            settings.storage.url, session_limit=settings.cluster.journal_session_limit
        )
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
        # Clustered ([cluster]): a standby until it leads (callgate.daemon.leadership).
        return await lead(serve, settings, journal, stop, config_path)
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
