"""``GET /api/live``: the live feed as Server-Sent Events; ``GET /api/my-call``.

The daemon's live feed (:mod:`callgate.daemon.live`) hands every message to
:meth:`LiveStreams.publish`; each open stream gets it filtered by its user's role: a user who
may see callers' numbers (supervisor, admin) gets everything; a call-taker gets only their own
row, the call ringing or connected on their phone (and that call's end, once it is no longer
theirs) and the recording of a call they answered. A stream starts with a snapshot, then sends
deltas as they happen, and a comment line every :data:`HEARTBEAT` seconds (proxies close an idle
connection; the browser learns the connection is alive) at which the user's session is checked
again: logged out or removed, the stream ends.

A slow client never slows the daemon: :meth:`publish` only puts the message on each stream's
queue of at most ``queue_size`` messages; a stream whose queue is full is dropped (its browser
reconnects and gets a fresh snapshot), and a client that stops reading is dropped once a write
to it has waited ``write_timeout`` seconds (its connection aborted), so it keeps no slot. At most
``max_streams`` streams are open at once; past that a new one is answered 503 with
``Retry-After``. One user has at most ``max_per_user`` of them: one more closes that user's
oldest, so a single call-taker cannot take the slots the supervisors' wallboards need.

The browser's ``EventSource`` carries the session cookie (same origin) and reconnects by itself;
a GET needs no CSRF token.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from aiohttp import web

from callgate.auth import Identity, Permission
from callgate.http.server import AUTHENTICATED, IDENTITY, Handler, Identify
from callgate.logs import LogThrottle, clip

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
#: Seconds between heartbeat comments on an idle stream.
HEARTBEAT: Final = 10.0
#: Streams open at most (a centre has tens of screens), per user, and messages queued per stream.
MAX_STREAMS: Final = 64
MAX_PER_USER: Final = 8
QUEUE_SIZE: Final = 2000
#: How long a browser waits before reconnecting after the stream ends (milliseconds; SSE
#: ``retry``); the pages add their own backoff on top.
RETRY_MS: Final = 2000
#: Seconds one write may wait for a client that does not read before it is dropped.
WRITE_TIMEOUT: Final = 10.0


class LiveSource(Protocol):
    """What the streams read from the daemon (:class:`callgate.daemon.live.LiveFeed`)."""

    def snapshot(self) -> JsonDict:
        """Everything now: ``{"type": "snapshot", "calls", "agents", "today", "at"}``."""
        ...

    async def my_call(self, agent_id: str) -> JsonDict:
        """The call on call-taker ``agent_id``'s phone and its caller's history."""
        ...


@dataclass(eq=False)
class _Stream:
    identity: Identity
    queue: asyncio.Queue[bytes | None]
    #: A call-taker's calls sent so far: their end is sent too, once they are no longer theirs.
    seen: set[str] = field(default_factory=set)
    dropped: bool = False


def sees_everything(identity: Identity) -> bool:
    return identity.may(Permission.VIEW_CALLS)


def _theirs(call: Mapping[str, Any], agent_id: str | None) -> bool:
    return agent_id is not None and (
        call.get("agent_id") == agent_id or agent_id in call.get("ringing", ())
    )


def filtered(message: JsonDict, identity: Identity, seen: set[str]) -> JsonDict | None:
    """``message`` as ``identity`` may see it, or None; ``seen`` (a call-taker's calls sent so
    far) is updated."""
    if sees_everything(identity):
        return message
    me = identity.agent_id
    kind = message.get("type")
    if kind == "snapshot":
        calls = [c for c in message["calls"] if _theirs(c, me)]
        seen.clear()
        seen.update(c["call_id"] for c in calls)
        agents = [a for a in message["agents"] if me is not None and a["agent_id"] == me]
        return {**message, "calls": calls, "agents": agents, "shifts": [], "alarms": None}
    if kind == "call":
        call_id = message["call"]["call_id"]
        if _theirs(message["call"], me):
            seen.add(call_id)
            return message
        if call_id in seen:  # rung elsewhere or taken by another: gone from this screen
            seen.discard(call_id)
            return {"type": "call-ended", "call_id": call_id, "outcome": "ELSEWHERE"}
        return None
    if kind == "call-ended":
        if message["call_id"] in seen:
            seen.discard(message["call_id"])
            return message
        return None
    if kind == "agent":
        return message if me is not None and message["agent"]["agent_id"] == me else None
    if kind == "recording":  # after the call ended: to the call-taker who answered it
        return message if me is not None and message.get("agent_id") == me else None
    if kind == "today":
        return message
    return None


class LiveStreams:
    """The open ``/api/live`` streams; an :class:`~callgate.http.server.Extension`."""

    def __init__(
        self,
        source: LiveSource,
        *,
        max_streams: int = MAX_STREAMS,
        max_per_user: int = MAX_PER_USER,
        queue_size: int = QUEUE_SIZE,
        heartbeat: float = HEARTBEAT,
        write_timeout: float = WRITE_TIMEOUT,
    ) -> None:
        self.source = source
        self.max_streams = max_streams
        self.max_per_user = max_per_user
        self.write_timeout = write_timeout
        self.queue_size = queue_size
        self.heartbeat = heartbeat
        self._streams: dict[_Stream, None] = {}
        """Oldest first."""
        self._ids = itertools.count(1)
        self._throttle = LogThrottle(60.0)

    def __len__(self) -> int:
        return len(self._streams)

    def routes(self, identify: Identify) -> Mapping[tuple[str, str], tuple[Any, Handler]]:
        async def stream(request: web.Request) -> web.StreamResponse:
            return await self._stream(request, identify)

        return {
            ("GET", "/api/live"): (AUTHENTICATED, stream),
            ("GET", "/api/my-call"): (AUTHENTICATED, self._my_call),
        }

    def publish(self, message: JsonDict) -> None:
        """Queue ``message`` on every stream that may see it; never waits."""
        shared: bytes | None = None
        for stream in list(self._streams):
            if stream.dropped:
                continue
            if sees_everything(stream.identity):
                shared = shared if shared is not None else self._event(message)
                data = shared
            else:
                mine = filtered(message, stream.identity, stream.seen)
                if mine is None:
                    continue
                data = self._event(mine)
            try:
                stream.queue.put_nowait(data)
            except asyncio.QueueFull:
                self._drop(stream, "too slow: its queue is full")

    async def close(self) -> None:
        for stream in list(self._streams):
            self._drop(stream, None)

    def end_streams(self, name: str) -> int:
        """End the open streams of user ``name`` (a revoked wall screen's, which must not wait
        for a quiet moment's check); how many."""
        mine = [s for s in self._streams if s.identity.name == name and not s.dropped]
        for stream in mine:
            self._drop(stream, None)
        return len(mine)

    def _drop(self, stream: _Stream, why: str | None) -> None:
        stream.dropped = True
        while not stream.queue.empty():
            stream.queue.get_nowait()
        stream.queue.put_nowait(None)
        if why is not None and (held_back := self._throttle.admit("dropped")) is not None:
            log.warning(
                "live stream dropped",
                extra={"by": stream.identity.name, "reason": why, "similar_not_logged": held_back},
            )

    def _event(self, message: JsonDict) -> bytes:
        data = json.dumps(message, default=str, separators=(",", ":"))
        return f"id: {next(self._ids)}\ndata: {data}\n\n".encode()

    async def _stream(self, request: web.Request, identify: Identify) -> web.StreamResponse:
        who = request[IDENTITY]
        theirs = [s for s in self._streams if not s.dropped and s.identity.name == who.name]
        if len(theirs) >= self.max_per_user:
            self._drop(theirs[0], f"replaced: at most {self.max_per_user} streams per user")
        if sum(1 for s in self._streams if not s.dropped) >= self.max_streams:
            log.warning("live stream refused: too many open", extra={"by": who.name})
            return web.json_response(
                {"error": f"at most {self.max_streams} live streams are open at once"},
                status=503,
                headers={"Retry-After": "10"},
            )
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",  # nginx: pass each event on at once
            }
        )
        await response.prepare(request)
        stream = _Stream(who, asyncio.Queue(self.queue_size + 1))
        # Subscribed and the snapshot taken with no await between: no delta falls in the gap.
        self._streams[stream] = None
        snapshot = filtered(self.source.snapshot(), who, stream.seen)
        try:
            await self._write(
                response, f"retry: {RETRY_MS}\n\n".encode() + self._event(snapshot or {})
            )
            while True:
                try:
                    data = await asyncio.wait_for(stream.queue.get(), self.heartbeat)
                except TimeoutError:
                    if await identify(request) != who:
                        break  # logged out, removed or changed: the page logs in again
                    await self._write(response, b": heartbeat\n\n")
                    continue
                if data is None:
                    break
                await self._write(response, data)
            await self._write(response, b"", eof=True)
        except ConnectionError:
            pass  # the browser went away
        except TimeoutError:
            # Not reading: the kernel's and aiohttp's buffers are full. Aborted, so that neither
            # this task nor the socket waits on it any longer.
            self._drop(stream, f"not reading for {self.write_timeout:g} s")
            if request.transport is not None:
                request.transport.abort()
        finally:
            self._streams.pop(stream, None)
        return response

    async def _write(self, response: web.StreamResponse, data: bytes, *, eof: bool = False) -> None:
        async with asyncio.timeout(self.write_timeout):
            if eof:
                await response.write_eof()
            else:
                await response.write(data)

    async def _my_call(self, request: web.Request) -> web.Response:
        who = request[IDENTITY]
        agent_id = who.agent_id
        wanted = request.query.get("agent")
        if wanted is not None and wanted != agent_id:
            if not sees_everything(who):
                return web.json_response(
                    {"error": f"{who.name} may see only their own call"}, status=403
                )
            agent_id = clip(wanted, 32)
        if agent_id is None:
            return web.json_response(
                {"error": "not a call-taker: name one with ?agent=ID"}, status=400
            )
        answer = await self.source.my_call(agent_id)
        return web.json_response({"agent_id": agent_id, **answer}, dumps=_dumps)


def _dumps(body: object) -> str:
    return json.dumps(body, default=str)
