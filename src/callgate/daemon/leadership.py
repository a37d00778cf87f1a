"""A clustered callgate (``[cluster] etcd``): a warm standby until it wins its centre's
election, then the leader, fenced the moment it may no longer lead (issue #21).

Standby: the config is loaded and the journal open (both before this module runs); ARI's REST
side and AMI are checked every few seconds (a line at each change), the Stasis application is
NOT registered (no ARI websocket, no FastAGI port, and on the admin port only read-only
health and metrics, :mod:`callgate.http.standby_port`, closed before the daemon binds it).
On winning: its fence compared with etcd's history (a fence above etcd's revision: etcd was
rebuilt, an ALARM says what to run and the winner is fenced before serving,
:func:`_check_history`), then the journal is claimed for the new epoch (every later write checks
it in its own transaction,
:meth:`~callgate.storage.journal.Journal.claim_epoch`) without waiting for the claim (an old
leader paused mid-transaction holds a SQLite journal's lock: the first write that gets through
claims it then), and the daemon starts as it does after a
restart, which registers the application and reconciles every waiting caller, conversation and
ringing phone (:meth:`~callgate.asterisk.ari.adapter.AriAdapter.on_connected`).

Fencing: every ARI request first asks :meth:`~callgate.cluster.election.Leadership.valid`
(a clock check, no I/O), so a leader resumed after a pause longer than its lease commands
nothing; ARI's ``ApplicationReplaced`` (another leader registered the application), a lease
etcd no longer has, or a key another holds fence it too. A fenced leader logs an ALARM and
exits at once with :data:`EXIT_FENCED`, without the orderly stop (which would hand the new
leader's waiting callers to the fallback queue) but with the journal's queued records spooled
to local disk first (:func:`spool_at_fence`), written when it next leads; systemd
(``Restart=on-failure``) starts it again, as a standby. A planned stop (SIGTERM) is the orderly
stop (waiting callers to the fallback queue), then the lease is revoked, so a standby leads
about a second later. Single callgate (no ``[cluster]``): none of this runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol

from callgate.asterisk.ari.client import (
    AriClient,
    AriError,
    AriUnavailable,
    Connected,
    Disconnected,
    JsonObject,
)
from callgate.asterisk.ari.nodes import NODE_HEARTBEAT, NODE_REQUEST_TIMEOUT, AriNodes
from callgate.cluster.election import Leadership
from callgate.cluster.etcd import EtcdClient, EtcdUnavailable
from callgate.config import Settings
from callgate.daemon.standby import StandbyState
from callgate.daemon.systemd import Notifier
from callgate.http.bounds import HttpLimits
from callgate.http.standby_port import StandbyHttp
from callgate.ports import JournalError
from callgate.storage.fence_reset import fence_epoch
from callgate.storage.journal import Journal, JournalFenced

log = logging.getLogger(__name__)

#: The exit code of a fenced leader (systemd restarts it as a standby).
EXIT_FENCED = 3
#: Seconds between a standby's checks of ARI and AMI.
WARM_CHECK = 5.0


#: What :func:`fenced` runs just before the process ends: the journal writer's
#: :meth:`~callgate.daemon.journaling.CallJournal.spool_held` (set by the daemon once it leads).
_before_exit: Callable[[], object] | None = None


def spool_at_fence(hook: Callable[[], object] | None) -> None:
    """Have :func:`fenced` run ``hook`` (synchronous, local disk only) before it exits."""
    global _before_exit
    _before_exit = hook


def fenced(why: str) -> None:
    """Stop commanding at once: an ALARM line, the journal's queued records spooled to local
    disk (no I/O to Asterisk or the database), then the process ends (no orderly stop)."""
    log.critical(
        "ALARM: fenced, no longer this centre's leader: exiting at once, commanding nothing more",
        extra={"reason": why, "exit_code": EXIT_FENCED},
    )
    _end(EXIT_FENCED)


def _end(code: int) -> None:
    """The journal's queued records spooled, the logs flushed, the process ended with ``code``
    without the orderly stop."""
    if _before_exit is not None:
        try:
            _before_exit()
        except Exception as exc:  # nothing may keep a fenced leader from ending
            log.error("ALARM: journal records not spooled at the fence", extra={"error": str(exc)})
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


class FencedAriClient(AriClient):
    """The ARI client of a clustered leader: nothing goes out once it may no longer lead."""

    def __init__(self, *args: Any, leadership: Leadership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.leadership = leadership

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        body: JsonObject | None = None,
    ) -> Any:
        if not self.leadership.valid():
            raise AriUnavailable(f"ARI {method} {path}: fenced, not the leader")
        return await super().request(method, path, params, body)

    def may_connect(self) -> bool:
        # A leader resumed after its lease lapsed must not re-register the Stasis app: that
        # would take it from the new leader (ApplicationReplaced there).
        return self.leadership.valid()

    async def events(self) -> AsyncIterator[JsonObject | Connected | Disconnected]:
        async for event in super().events():
            if isinstance(event, dict) and event.get("type") == "ApplicationReplaced":
                self.leadership.lose("ARI ApplicationReplaced: another leader took the app")
            yield event


def ari_client(settings: Settings, leadership: Leadership | None) -> AriClient:
    """The daemon's ARI client: fenced by ``leadership`` when clustered; with ``[nodes]``, one
    client over every node (each node's client fenced alike)."""
    if not settings.nodes:
        return _one_ari(settings, settings.ari.url, leadership)
    # A node's client notices a dead node in seconds and gives up on its REST sooner: the
    # other nodes serve the centre meanwhile (a single Asterisk keeps the patient defaults).
    quick = {"heartbeat": NODE_HEARTBEAT, "timeout": NODE_REQUEST_TIMEOUT}
    clients = {
        name: _one_ari(settings, node.ari_url, leadership, **quick)
        for name, node in settings.nodes.items()
    }
    return AriNodes(clients)


def _one_ari(
    settings: Settings, url: str, leadership: Leadership | None, **options: Any
) -> AriClient:
    ari = settings.ari
    args = (url, ari.username, ari.password.get_secret_value(), ari.app)
    if leadership is None:
        return AriClient(*args, **options)
    return FencedAriClient(*args, leadership=leadership, **options)


def node_name(settings: Settings) -> str:
    return settings.cluster.node_name or f"{socket.gethostname()}-{os.getpid()}"


async def _reachable(settings: Settings) -> dict[str, str | None]:
    """ARI's REST side and AMI's port of every node: None for each that answers, else why
    not (keys ``ari``/``ami``, or ``ari:<node>``/``ami:<node>`` with ``[nodes]``)."""
    found: dict[str, str | None] = {}
    places = [("", settings.ari.url, settings.ami.host, settings.ami.port)]
    if settings.nodes:
        places = [
            (f":{name}", node.ari_url, node.ami_host, node.ami_port)
            for name, node in settings.nodes.items()
        ]
    for suffix, url, ami_host, ami_port in places:
        async with AriClient(
            url, settings.ari.username, settings.ari.password.get_secret_value(), ""
        ) as ari:
            try:
                await ari.info()
                found[f"ari{suffix}"] = None
            except (AriError, AriUnavailable) as exc:
                found[f"ari{suffix}"] = str(exc)
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancel that
            # lands as the connection opens, and the standby's tasks are cancelled on winning.
            async with asyncio.timeout(2):
                _, writer = await asyncio.open_connection(ami_host, ami_port)
            writer.close()
            found[f"ami{suffix}"] = None
        except (OSError, TimeoutError) as exc:
            found[f"ami{suffix}"] = str(exc) or type(exc).__name__
    return found


async def _keep_warm(settings: Settings, notifier: Notifier, state: StandbyState) -> None:
    seen: dict[str, str | None] = {}
    while True:
        found = await _reachable(settings)
        state.saw(found)
        for part, problem in found.items():
            if part not in seen or seen[part] != problem:
                if problem is None:
                    log.info("standby: reachable", extra={"component": part})
                else:
                    log.warning("standby: unreachable", extra={"component": part, "error": problem})
        seen = found
        down = [part for part, problem in found.items() if problem is not None]
        notifier.status("standby" if not down else f"standby, {', '.join(down)} unreachable")
        await asyncio.sleep(WARM_CHECK)


async def _bind(port: StandbyHttp, retry_every: float) -> None:
    """Bind the standby's admin port, retrying while it is taken (a warning the first time:
    the leader's own ALARMs are for the ports calls need)."""
    warned = False
    while not port.closed:
        try:
            await port.start()
        except OSError as exc:
            if not warned:
                log.warning(
                    "standby: admin port not bound, retrying",
                    extra={"port": port.port, "error": exc.strerror or str(exc)},
                )
                warned = True
            await asyncio.sleep(retry_every)
        else:
            return


#: Seconds the standby's tasks get to end once cancelled, on winning or stopping.
CANCEL_BOUND = 2.0


async def _cancel_all(tasks: list[asyncio.Task[Any]], bound: float = CANCEL_BOUND) -> None:
    """Cancel ``tasks`` and wait for them, at most ``bound`` seconds: a task that swallowed
    its cancel (Python 3.11's ``wait_for`` can, in a race) must not keep the winner from
    leading; it is named in a line and left to end by itself."""
    for task in tasks:
        task.cancel()
    _, pending = await asyncio.wait(tasks, timeout=bound)
    if pending:
        log.error(
            "standby work did not end when cancelled; leading without waiting for it",
            extra={"tasks": sorted(task.get_name() for task in pending)},
        )
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a finished task's error is not "never retrieved"


async def _claim(journal: Journal, epoch: int) -> None:
    """Claim the journal for ``epoch``: fenced if a newer leader holds it; if the journal is
    busy or away, the first write that gets through claims it (a line says so)."""
    try:
        await journal.claim_epoch(epoch)
    except JournalFenced as exc:
        fenced(str(exc))
    except JournalError as exc:
        log.warning(
            "journal not claimed yet: the first write that gets through claims it",
            extra={"epoch": epoch, "error": str(exc)},
        )


class _History(Protocol):
    async def current_revision(self) -> int: ...


async def _check_history(journal: Journal, etcd: _History, epoch: int, bound: float) -> None:
    """Before serving: a journal fence newer than etcd's whole history means etcd was rebuilt
    (its revisions start again at 1) or is another cluster, and every leader it elects would
    be fenced at its first write, exit, win again: a crash loop with every caller in the
    fallback queue. Nothing lowers the fence by itself (a stale leader must never write): the
    ALARM says what an admin does, once per start at CRITICAL with the figures, and the
    process is fenced now. A fence newer than this epoch but within etcd's history is a newer
    leader of this etcd: the claim fences it as ever. Any doubt (the journal or etcd not
    answering within ``bound`` seconds) leaves it to the claim too."""
    try:
        async with asyncio.timeout(bound):
            held = await fence_epoch(journal)
            if held <= epoch:
                return
            revision = await etcd.current_revision()
    except (JournalError, EtcdUnavailable, TimeoutError) as exc:
        log.warning(
            "journal fence not compared with etcd's history before leading",
            extra={"epoch": epoch, "error": str(exc) or type(exc).__name__},
        )
        return
    if revision >= held:
        return
    log.critical(
        "ALARM: the journal's epoch %d is newer than etcd's whole history (revision %d): was"
        " etcd rebuilt? If so, and no other callgate of this centre runs,"
        " `callgate cluster reset-fence` (see README)",
        held,
        revision,
        extra={"journal_epoch": held, "etcd_revision": revision, "epoch": epoch},
    )
    fenced(f"journal epoch {held} is newer than etcd's revision {revision}: etcd rebuilt?")


#: The daemon's ``serve`` (:func:`callgate.daemon.app.serve`), given the leadership last.
Serve = Callable[[Settings, Journal, asyncio.Event, str | None, Leadership | None], Awaitable[int]]


async def lead(
    serve: Serve,
    settings: Settings,
    journal: Journal,
    stop: asyncio.Event,
    config_path: str | None,
) -> int:
    """Run ``serve`` (the daemon) as this centre's leader: at once for a single callgate,
    after winning the election for a clustered one (0 if ``stop`` is set before). Its exit
    code."""
    if not settings.cluster.enabled:
        return await serve(settings, journal, stop, config_path, None)
    cluster = settings.cluster
    etcd = EtcdClient(cluster.etcd, timeout=cluster.request_timeout)
    leadership = Leadership(
        etcd,
        centre=cluster.centre,
        name=node_name(settings),
        ttl=cluster.lease_ttl,
        on_lost=fenced,
    )
    notifier = Notifier()
    log.info("standby: waiting to lead", extra={"key": leadership.key, "node": leadership.name})
    # Under systemd a standby is a started service; its watchdog is kept while it waits.
    notifier.ready("standby")
    # The ops port shows "standby" (read-only health and metrics), not a connection refused.
    state = StandbyState(lambda: leadership.seen_leader)
    ops = settings.ops
    port = StandbyHttp(
        state.to_json,
        state.registry(),
        host=ops.http_host,
        port=ops.http_port,
        limits=HttpLimits.from_settings(ops),
    )
    waiting: list[asyncio.Task[Any]] = [
        asyncio.create_task(_keep_warm(settings, notifier, state), name="keep-warm"),
        asyncio.create_task(_bind(port, ops.bind_retry_seconds), name="standby-admin-http"),
    ]
    waiting.append(asyncio.create_task(notifier.watchdog(), name="standby-watchdog"))
    campaign = asyncio.create_task(leadership.campaign(), name="campaign")
    stopping = asyncio.create_task(stop.wait(), name="stop")
    waiting += [campaign, stopping]
    try:
        await asyncio.wait({campaign, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not campaign.done():
            log.info("standby stopped before it led")
            await leadership.resign()
            await etcd.close()
            return 0
        epoch = campaign.result()
    finally:
        await _cancel_all(waiting)
        await port.stop()  # released before the daemon binds it
        notifier.close()
    await _check_history(journal, etcd, epoch, cluster.request_timeout)
    leadership.start_holding()
    # The claim is not awaited before serving: an old leader paused mid-transaction holds a
    # SQLite journal's write lock until it resumes, and callers must not wait for it. Every
    # write checks the fence in its own transaction and claims the epoch itself if this claim
    # has not landed yet (Journal.claim_epoch), so no write of this leader goes unfenced.
    journal.epoch = epoch
    journal.fenced = fenced
    claiming = asyncio.create_task(_claim(journal, epoch), name="journal-claim")
    try:
        return await serve(settings, journal, stop, config_path, leadership)
    finally:
        spool_at_fence(None)  # the daemon's writer is closed: nothing of it to spool any more
        claiming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await claiming
        await leadership.resign()
        await etcd.close()
