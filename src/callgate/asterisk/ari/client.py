"""A thin ARI client on aiohttp: REST calls and the event WebSocket, nothing more.

It only translates between HTTP/WebSocket and Python values; what to do with a call is decided
elsewhere. The event stream reconnects with capped exponential backoff and jitter, and announces
every (re)connection with a :class:`Connected` marker, because Asterisk keeps no events for a
disconnected client: after a reconnect the application must list the channels it owns itself
(CyCoreSystems/ari#144, ari4java#85).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import aiohttp

from callgate.asterisk.ari.node_ids import ONE_NODE, Listed

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]

_REQUEST_TIMEOUT: Final = aiohttp.ClientTimeout(total=10)


class AriError(Exception):
    """Asterisk refused or failed an ARI request (the peer's answer, not our bug)."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"ARI {method} {path} -> {status}: {message}")
        self.status = status


class AriUnavailable(Exception):
    """ARI could not be reached at all (connection refused, timed out)."""


@dataclass(frozen=True, slots=True)
class Connected:
    """The event WebSocket is (re)connected: reconcile with what Asterisk has now."""

    attempt: int


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The event WebSocket that was up has gone; the stream is reconnecting."""

    reason: str


def basic_auth_header(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


class AriClient:
    """REST and events for one Stasis application on one Asterisk."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        app: str,
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        heartbeat: float = 20.0,
        timeout: aiohttp.ClientTimeout = _REQUEST_TIMEOUT,
    ) -> None:
        """``heartbeat``: seconds between the event socket's pings (a socket whose pong is
        late by half of it is closed: a node powered off or cut off is noticed in about 1.5
        times it); ``timeout``: each REST request's limits."""
        self._base = base_url.rstrip("/")
        self._auth = basic_auth_header(username, password)
        self.app = app
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._heartbeat = heartbeat
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AriClient:
        self._session = aiohttp.ClientSession(
            headers={"Authorization": self._auth}, timeout=self._timeout
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("AriClient used outside 'async with'")
        return self._session

    # ---------------------------------------------------------------- REST

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        body: JsonObject | None = None,
    ) -> Any:
        url = f"{self._base}/ari{path}"
        try:
            async with self.session.request(method, url, params=params, json=body) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    raise AriError(method, path, resp.status, _error_message(text))
                if not text:
                    return None
                return json.loads(text)
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise AriUnavailable(f"ARI {method} {path}: {exc or type(exc).__name__}") from exc

    async def info(self) -> JsonObject:
        result: JsonObject = await self.request("GET", "/asterisk/info")
        return result

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_q(channel_id)}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{_q(channel_id)}", params={"reason": reason})

    async def continue_in_dialplan(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_q(channel_id)}/continue")

    async def start_moh(self, channel_id: str, moh_class: str = "default") -> None:
        await self.request(
            "POST", f"/channels/{_q(channel_id)}/moh", params={"mohClass": moh_class}
        )

    async def stop_moh(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{_q(channel_id)}/moh")

    async def originate(
        self,
        endpoint: str,
        *,
        app_args: str,
        caller_id: str,
        ring_timeout: int,
        channel_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        dialplan: tuple[str, str, int] | None = None,
        near: str | None = None,  # one Asterisk: every channel is near
    ) -> JsonObject:
        """Originate ``endpoint``; once answered it enters the Stasis app with ``app_args``, or,
        with ``dialplan`` (context, extension, priority), runs the dialplan there instead (the
        app then hears of the channel only if it subscribes to it). ``near``: the channel or
        bridge the new one is for, whose Asterisk node it must be made on (several nodes,
        :class:`~callgate.asterisk.ari.nodes.AriNodes`)."""
        params: dict[str, str | int] = {
            "endpoint": endpoint,
            "callerId": caller_id,
            "timeout": ring_timeout,
        }
        if dialplan is None:
            params.update({"app": self.app, "appArgs": app_args})
        else:
            context, extension, priority = dialplan
            params.update({"context": context, "extension": extension, "priority": priority})
        if channel_id is not None:
            params["channelId"] = channel_id
        body = {"variables": dict(variables)} if variables else None
        result: JsonObject = await self.request("POST", "/channels", params=params, body=body)
        return result

    async def snoop(
        self, channel_id: str, *, spy: str, whisper: str, app_args: str, snoop_id: str
    ) -> JsonObject:
        """A snoop channel on ``channel_id`` into our app: it hears the channel's audio
        (``spy``: in, out, both, none) and speaks into it (``whisper``)."""
        params = {"spy": spy, "whisper": whisper, "app": self.app, "appArgs": app_args,
                  "snoopId": snoop_id}  # fmt: skip
        result: JsonObject = await self.request(
            "POST", f"/channels/{_q(channel_id)}/snoop", params=params
        )
        return result

    async def get_variable(self, channel_id: str, variable: str) -> str:
        result = await self.request(
            "GET", f"/channels/{_q(channel_id)}/variable", params={"variable": variable}
        )
        return str(result.get("value", "")) if isinstance(result, dict) else ""

    async def create_bridge(
        self,
        bridge_id: str,
        bridge_type: str = "mixing",
        *,
        near: str | None = None,  # one Asterisk: every bridge is near
    ) -> None:
        """Create the bridge ``bridge_id`` (its name is its id, so the CLI shows it) on the
        node of ``near`` (a channel it is for; see :meth:`originate`)."""
        await self.request(
            "POST", f"/bridges/{_q(bridge_id)}", params={"type": bridge_type, "name": bridge_id}
        )

    async def add_to_bridge(self, bridge_id: str, *channel_ids: str) -> None:
        await self.request(
            "POST",
            f"/bridges/{_q(bridge_id)}/addChannel",
            params={"channel": ",".join(channel_ids)},
        )

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{_q(bridge_id)}")

    async def get_channel(self, channel_id: str) -> JsonObject:
        """The channel (``id``, ``name``, ``state``, ...); AriError 404 when Asterisk has none."""
        result: JsonObject = await self.request("GET", f"/channels/{_q(channel_id)}")
        return result

    async def list_channels(self) -> list[JsonObject]:
        result: list[JsonObject] = await self.request("GET", "/channels")
        return result

    def absence_judge(self) -> Listed:
        """What the last channel listing may judge gone: one Asterisk's list is the whole truth
        (several nodes: :meth:`~callgate.asterisk.ari.nodes.AriNodes.absence_judge`)."""
        return ONE_NODE

    async def get_endpoint(self, technology: str, resource: str) -> JsonObject:
        result: JsonObject = await self.request(
            "GET", f"/endpoints/{_q(technology)}/{_q(resource)}"
        )
        return result

    # ---------------------------------------------------------------- events

    def may_connect(self) -> bool:
        """Whether the event stream may (re)connect now (a fenced leader's may not)."""
        return True

    def _check_may_connect(self) -> None:
        if not self.may_connect():
            # Connecting registers the app, taking it from whoever holds it now.
            raise _NotNow("not connecting: may not command Asterisk now")

    async def events(self) -> AsyncIterator[JsonObject | Connected | Disconnected]:
        """Yield ARI events for ever, reconnecting with backoff and jitter.

        Messages that are not JSON objects are logged and skipped: one bad frame must not end
        the stream that every other call depends on.
        """
        url = self._base.replace("http", "ws", 1) + "/ari/events"
        params = {"app": self.app, "subscribeAll": "false"}
        attempt = 0
        delay = self._backoff_initial
        while True:
            attempt += 1
            was_up = False
            reason = "closed by Asterisk"
            try:
                self._check_may_connect()
                async with self.session.ws_connect(
                    url,
                    params=params,
                    heartbeat=self._heartbeat,
                    timeout=aiohttp.ClientWSTimeout(ws_close=5),
                ) as ws:
                    log.info("ARI events connected", extra={"app": self.app, "attempt": attempt})
                    delay = self._backoff_initial
                    was_up = True
                    yield Connected(attempt)
                    async for msg in ws:
                        if msg.type is not aiohttp.WSMsgType.TEXT:
                            continue
                        event = _parse_event(msg.data)
                        if event is not None:
                            yield event
                    log.warning("ARI events closed by Asterisk", extra={"app": self.app})
            except aiohttp.WSServerHandshakeError as exc:
                reason = f"refused: {exc.status}"
                log.error(
                    "ARI refused the event connection",
                    extra={"app": self.app, "status": exc.status, "reason": exc.message},
                )
            except _NotNow as exc:
                reason = str(exc)
                log.warning("ARI events not connected", extra={"app": self.app, "reason": reason})
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                reason = str(exc) or type(exc).__name__
                log.warning(
                    "ARI events unreachable",
                    extra={"app": self.app, "error": str(exc) or type(exc).__name__},
                )
            if was_up:
                yield Disconnected(reason)
            # Jitter spreads reconnects when Asterisk restarts under several clients.
            sleep_for = delay * (0.5 + random.random())  # noqa: S311 - jitter, not crypto
            log.info("ARI events reconnecting", extra={"in_seconds": round(sleep_for, 2)})
            await asyncio.sleep(sleep_for)
            delay = min(delay * 2, self._backoff_max)


class _NotNow(Exception):
    """The event stream may not connect now (:meth:`AriClient.may_connect`)."""


def _q(part: str) -> str:
    return quote(part, safe="")


def _error_message(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(data, dict) and "message" in data:
        return str(data["message"])
    return text[:200]


def _parse_event(data: str) -> JsonObject | None:
    try:
        event = json.loads(data)
    except (ValueError, RecursionError):
        # RecursionError: JSON nested deeper than the interpreter's stack (thousands of "[").
        # One such frame must not end the event pump, which every call depends on.
        log.error("ARI sent a frame that is not JSON; skipped", extra={"frame": data[:200]})
        return None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        log.error("ARI sent an event without a type; skipped", extra={"frame": data[:200]})
        return None
    return event
