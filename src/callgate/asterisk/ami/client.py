"""The AMI connection: panoramisk for framing and ActionID correlation, this module for
everything that must not fail.

panoramisk's own reconnect (a fixed delay, no login check) and its ping (never checks the reply)
are switched off: this module connects, checks the login, pings with a deadline and reconnects
with capped exponential backoff and jitter. Every action is awaited with a deadline, so a lost
AMI response (IssabelFoundation callcenter PR 66) can never block the daemon. What the messages
mean is :mod:`callgate.asterisk.ami.messages`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any, Final

from panoramisk import Manager  # type: ignore[import-untyped]
from panoramisk.ami_protocol import AMIProtocol  # type: ignore[import-untyped]

from callgate.asterisk.ami.messages import (
    AsteriskDeviceState,
    DeviceStatus,
    EndpointSnapshot,
    QueueSummary,
    channel_endpoint,
    contact_status,
    device_state_change,
    endpoints_snapshot,
    headers_of,
    messages_of,
    queue_summary_from,
)
from callgate.asterisk.settings import AmiSettings

log = logging.getLogger(__name__)

# Only these event classes: device and contact events are "system" and "call"; the far noisier
# "dialplan" (VarSet, Newexten) and "reporting" classes are never sent to us.
_EVENT_CLASSES: Final = "system,call"
# A burst of channel events (one call makes five or six) costs one re-read of the endpoints.
_REFRESH_DEBOUNCE: Final = 0.2


class AmiError(Exception):
    """Asterisk answered an action with an error (the peer's answer, not our bug)."""


class AmiUnavailable(Exception):
    """AMI is not connected, or a reply did not come back in time."""


class _Manager(Manager):  # type: ignore[misc]  # panoramisk has no type hints
    """panoramisk's Manager with its fixed-delay reconnect and unchecked ping switched off."""

    def __init__(self, on_lost: Callable[[], None], **config: Any) -> None:
        super().__init__(**config)
        self._on_lost = on_lost

    def connection_lost(self, exc: object) -> None:
        # Called by the protocol when the socket closes or Asterisk says Shutdown. AmiClient.run
        # decides when to reconnect; panoramisk would retry every 2 s without checking the login.
        self._on_lost()

    def ping(self) -> None:
        # AmiClient pings itself and checks the Pong; panoramisk's ping ignores the reply.
        return


class _LoginRefused(Exception):
    pass


class AmiClient:
    """Follows every PJSIP endpoint's device state and registration on one Asterisk.

    ``on_device_state("PJSIP/1001", status)`` is called with every endpoint's status after each
    (re)connect, since Asterisk keeps nothing for a disconnected client, and then whenever one
    changes. ``on_connection(True/False)`` reports the AMI session coming and going. Callbacks run
    on the event loop and must not block.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        on_device_state: Callable[[str, DeviceStatus], None],
        on_connection: Callable[[bool], None] | None = None,
        action_timeout: float = 5.0,
        ping_interval: float = 10.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self._on_device_state = on_device_state
        self._on_connection = on_connection
        self._action_timeout = action_timeout
        self._ping_interval = ping_interval
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._manager: Any = None
        self._ready = False
        self._closing = False
        self._stop = asyncio.Event()
        self._lost = asyncio.Event()
        self._dirty = asyncio.Event()
        self._device_events = False
        self._endpoints: dict[str, EndpointSnapshot] = {}
        self._delivered: dict[str, DeviceStatus] = {}
        # While a snapshot is read: its pending reply, and the events that arrived after Asterisk
        # finished the listing (newer than it) but before it was applied.
        self._snapshot_reply: asyncio.Future[Any] | None = None
        self._held: list[dict[str, str]] = []
        #: How many AMI sessions were established (login accepted and state synced).
        self.sessions = 0

    @classmethod
    def from_settings(
        cls,
        settings: AmiSettings,
        *,
        on_device_state: Callable[[str, DeviceStatus], None],
        on_connection: Callable[[bool], None] | None = None,
    ) -> AmiClient:
        return cls(
            settings.host,
            settings.port,
            settings.username,
            settings.password.get_secret_value(),
            on_device_state=on_device_state,
            on_connection=on_connection,
            action_timeout=settings.action_timeout,
            ping_interval=settings.ping_interval,
            backoff_max=settings.reconnect_max,
        )

    def _stopping(self) -> bool:
        # A method, not the attribute: close() flips it while run() awaits.
        return self._closing

    @property
    def connected(self) -> bool:
        """Logged in and the state re-read from Asterisk (what on_connection(True) announced)."""
        return self._ready

    def statuses(self) -> dict[str, DeviceStatus]:
        """The last status delivered for each endpoint."""
        return dict(self._delivered)

    async def run(self) -> None:
        """Connect, sync and follow events until :meth:`close`; reconnect with backoff and jitter
        whenever the session fails (refused login, lost connection, missed Pong)."""
        delay = self._backoff_initial
        attempt = 0
        refused = 0
        while not self._stopping():
            attempt += 1
            synced = False
            try:
                synced = await self._session(attempt)
                refused = 0
            except _LoginRefused as exc:
                refused += 1
                if refused == 1:
                    log.error(
                        "AMI login refused: check the user and its secret in manager.conf",
                        extra={"ami_user": self.username, "reply": str(exc), "attempt": attempt},
                    )
                else:
                    log.debug("AMI login still refused", extra={"attempt": attempt})
            except (OSError, AmiUnavailable, AmiError) as exc:
                log.warning(
                    "AMI session failed",
                    extra={"host": self.host, "port": self.port, "error": str(exc) or repr(exc)},
                )
            if self._stopping():
                break
            if synced:
                delay = self._backoff_initial
            sleep_for = delay * (0.5 + random.random())  # noqa: S311 - jitter, not crypto
            log.info("AMI reconnecting", extra={"in_seconds": round(sleep_for, 2)})
            # Waits on the stop signal so that close() never waits out a 30 s backoff.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), sleep_for)
            delay = min(delay * 2, self._backoff_max)

    async def close(self) -> None:
        """Stop :meth:`run` (it returns) and close the session."""
        self._closing = True
        self._stop.set()
        self._lost.set()
        if self._manager is not None:
            self._manager.close()

    async def queue_summary(self, queue: str) -> QueueSummary:
        """Callers waiting and members available in one app_queue queue.

        Raises :class:`AmiUnavailable` when not connected or Asterisk does not answer in time,
        :class:`AmiError` when the queue does not exist.
        """
        reply = await self._action({"Action": "QueueSummary", "Queue": queue})
        summary = queue_summary_from(queue, reply)
        if summary is None:
            raise AmiError(f"no queue {queue!r} in Asterisk (queues.conf)")
        return summary

    # --- one session ---

    async def _session(self, attempt: int) -> bool:
        """Run one AMI session until it is lost; True if it got as far as a synced state."""
        loop = asyncio.get_running_loop()
        self._lost.clear()
        self._dirty.clear()  # the listing below supersedes anything the last session saw
        transport, protocol = await asyncio.wait_for(
            loop.create_connection(AMIProtocol, self.host, self.port), self._action_timeout
        )
        manager = _Manager(
            self._lost.set,
            loop=loop,
            host=self.host,
            port=self.port,
            username=self.username,
            secret=self._password,
            events=_EVENT_CLASSES,
            ping_delay=3600,
        )
        for pattern in ("ContactStatus", "DeviceStateChange", "Newchannel", "Newstate", "Hangup"):
            manager.register_event(pattern, self._on_event)
        booted = asyncio.Event()
        manager.register_event("FullyBooted", lambda _m, _e: booted.set())
        connected: asyncio.Future[tuple[Any, Any]] = loop.create_future()
        connected.set_result((transport, protocol))
        manager.connection_made(connected)  # sends Login; panoramisk's own entry point for this
        tasks: list[asyncio.Task[None]] = []
        announced = False
        try:
            login = await self._await(manager.authenticated_future, "Login", shield=True)
            if not login.success:
                raise _LoginRefused(headers_of(login).get("Message", "refused"))
            self._manager = manager
            await self._fully_booted(booted, attempt)
            commands = messages_of(
                await self._await(manager.send_action({"Action": "ListCommands"}), "ListCommands")
            )
            # ListCommands lists only the actions this user may run: an account that writes
            # only "system" (as callgate's should) never sees DeviceStateList, though Asterisk
            # may well send DeviceStateChange. So re-read the endpoints until the first such
            # event says they come (see _apply).
            self._device_events = self._device_events or any(
                "DeviceStateList" in m for m in commands
            )
            if not self._device_events and attempt == 1:
                log.info(
                    "following device state by re-reading PJSIPShowEndpoints until Asterisk"
                    " sends a DeviceStateChange (res_manager_devicestate.so)"
                )
            await self._sync(full=True)
            self.sessions += 1
            log.info("AMI connected", extra={"host": self.host, "attempt": attempt})
            self._ready = announced = True
            self._notify_connection(True)
            tasks = [
                asyncio.create_task(self._keepalive()),
                asyncio.create_task(self._refresher()),
            ]
            await self._lost.wait()
            if not self._closing:
                log.warning("AMI connection lost", extra={"host": self.host})
            return True
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._manager = None
            self._ready = False
            self._snapshot_reply = None
            self._held.clear()
            manager.close()
            if announced:
                self._notify_connection(False)

    async def _fully_booted(self, booted: asyncio.Event, attempt: int) -> None:
        # Asterisk sends FullyBooted right after the login once it has finished starting (or
        # when it does): a listing taken earlier could miss endpoints not loaded yet.
        try:
            await self._await(asyncio.ensure_future(booted.wait()), "FullyBooted")
        except AmiUnavailable:
            if self._lost.is_set():
                raise
            if attempt == 1:
                log.warning(
                    "Asterisk sent no FullyBooted after the login (does the AMI user read"
                    " 'system'?); reading its state anyway"
                )

    async def _await(self, future: Any, what: str, *, shield: bool = False) -> Any:
        """The reply to an action, or AmiUnavailable once the deadline passes or the connection
        drops (a closed socket must not cost a full deadline)."""
        # shield: panoramisk's login callback reads the future's result; cancelling it would
        # make that callback raise inside the event loop.
        waited = asyncio.ensure_future(asyncio.shield(future) if shield else future)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            done, _ = await asyncio.wait(
                {waited, lost}, timeout=self._action_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            lost.cancel()
        if waited in done:
            return waited.result()
        waited.cancel()
        if lost in done:
            raise AmiUnavailable(f"connection lost while waiting for the reply to {what}")
        raise AmiUnavailable(f"no reply to {what} within {self._action_timeout} s")

    async def _action(self, action: dict[str, str]) -> list[dict[str, str]]:
        manager = self._manager
        if manager is None:
            raise AmiUnavailable("AMI is not connected")
        reply = messages_of(await self._await(manager.send_action(action), action["Action"]))
        if reply and reply[0].get("Response") == "Error":
            raise AmiError(f"{action['Action']}: {reply[0].get('Message', 'error')}")
        return reply

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self._ping_interval)
            try:
                reply = await self._action({"Action": "Ping"})
            except (AmiUnavailable, AmiError) as exc:
                log.warning("AMI keepalive failed; reconnecting", extra={"error": str(exc)})
                self._lost.set()
                return
            if reply[0].get("Response") != "Success":
                log.warning(
                    "AMI keepalive got an odd reply; reconnecting", extra={"reply": reply[0]}
                )
                self._lost.set()
                return

    async def _refresher(self) -> None:
        # Without DeviceStateChange, any PJSIP channel or contact change re-reads the endpoints;
        # an event during the read sets _dirty again, so the last read is never older than the
        # last change.
        while True:
            await self._dirty.wait()
            await asyncio.sleep(_REFRESH_DEBOUNCE)
            self._dirty.clear()
            try:
                await self._sync(full=False)
            except (AmiUnavailable, AmiError) as exc:
                log.warning("AMI endpoint re-read failed; reconnecting", extra={"error": str(exc)})
                self._lost.set()
                return

    async def _sync(self, *, full: bool) -> None:
        manager = self._manager
        if manager is None:
            raise AmiUnavailable("AMI is not connected")
        self._held = []
        reply_future = manager.send_action({"Action": "PJSIPShowEndpoints"})
        self._snapshot_reply = reply_future
        try:
            reply = messages_of(await self._await(reply_future, "PJSIPShowEndpoints"))
            if reply and reply[0].get("Response") == "Error":
                message = reply[0].get("Message", "")
                if not message.startswith("No endpoints found"):
                    # res_pjsip missing or still loading: fail the session and retry later
                    # rather than believe nobody has a phone.
                    raise AmiError(f"PJSIPShowEndpoints: {message}")
                log.warning("Asterisk has no PJSIP endpoints")
            self._endpoints = endpoints_snapshot(reply)
            for endpoint in self._endpoints:
                self._deliver(endpoint, force=full)
        finally:
            self._snapshot_reply = None
        held, self._held = self._held, []
        for event in held:
            self._apply(event)

    # --- events ---

    def _on_event(self, _manager: Any, message: Any) -> None:
        # Runs inside panoramisk's data_received: an exception here would close the connection.
        try:
            event = headers_of(message)
            reply = self._snapshot_reply
            if reply is not None and reply.done():
                # Asterisk wrote this after the listing: it is newer, apply it after the listing.
                self._held.append(event)
                return
            self._apply(event)
        except Exception:
            log.exception("AMI event handling failed; event skipped")

    def _apply(self, event: dict[str, str]) -> None:
        name = event.get("Event")
        if name == "DeviceStateChange":
            change = device_state_change(event)
            if change is None:
                return
            if not self._device_events:
                # Asterisk has res_manager_devicestate: its events are enough from now on.
                self._device_events = True
                log.info("Asterisk sends DeviceStateChange: following device state by it")
            endpoint, state = change
            known = self._endpoints.get(endpoint)
            contacts = known.contacts if known is not None else frozenset()
            self._endpoints[endpoint] = EndpointSnapshot(state, contacts)
            self._deliver(endpoint)
        elif name == "ContactStatus":
            contact = contact_status(event)
            if contact is None:
                return
            known = self._endpoints.get(contact.endpoint)
            state = known.state if known is not None else AsteriskDeviceState.UNKNOWN
            before = known.contacts if known is not None else frozenset()
            after = before | {contact.contact} if contact.present else before - {contact.contact}
            self._endpoints[contact.endpoint] = EndpointSnapshot(state, after)
            self._deliver(contact.endpoint)
            if not self._device_events:
                self._dirty.set()
        elif not self._device_events and channel_endpoint(event) is not None:
            self._dirty.set()

    def status(self, endpoint: str) -> DeviceStatus | None:
        """The latest status of ``endpoint`` handed to ``on_device_state``, or None if none was
        (a call-taker added by a reload learns whether their phone is registered now)."""
        return self._delivered.get(endpoint)

    def _deliver(self, endpoint: str, *, force: bool = False) -> None:
        known = self._endpoints[endpoint]
        status = DeviceStatus(known.state, registered=bool(known.contacts))
        if not force and self._delivered.get(endpoint) == status:
            return
        self._delivered[endpoint] = status
        try:
            self._on_device_state(endpoint, status)
        except Exception:
            log.exception("on_device_state callback failed", extra={"endpoint": endpoint})

    def _notify_connection(self, up: bool) -> None:
        if self._on_connection is None:
            return
        try:
            self._on_connection(up)
        except Exception:
            log.exception("on_connection callback failed")
