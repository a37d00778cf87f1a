"""ARI as the lab Asterisk 22 answered it: the one ARI fake of the unit tests.

:class:`RecordedAri` is the real :class:`~callgate.asterisk.ari.client.AriClient` (every helper,
``originate``, ``hangup``, ``get_variable``…, builds its real path and parameters) whose one HTTP
round trip is answered from the recordings in ``tests/fixtures/ari/`` (see its README): a request
gets the answer Asterisk gave the first recorded request of the same method and path shape
(``POST /channels/{id}/play/{id}``…), with the recorded ids written as the request's own. Event
frames come from the recordings too (:meth:`RecordedAri.frame`): a recorded frame of that type,
with the fields a test is about set by the test. Every request made is kept (:attr:`log`,
:attr:`bodies`), so a test asserts what the adapter asked, in order.

A test steers only what the recordings cannot know: a channel variable's value
(:attr:`variables`), the channels and bridges a restarted daemon finds (:attr:`channels`,
:attr:`bridges`, :attr:`known`), a request that fails (:meth:`fail`), stalls or is slow
(:attr:`stalled`, :attr:`slow`). A request whose shape no recording has is answered 500 and
kept in :attr:`unexpected`: record it (README) rather than invent it here.

:meth:`serve` puts the same answers and frames behind a local aiohttp server (REST and the event
WebSocket), for the tests that run the whole daemon or the client's own HTTP.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, ClassVar

from aiohttp import web

from callgate.asterisk.ari.client import (
    AriClient,
    AriError,
    AriUnavailable,
    JsonObject,
    _error_message,
)
from tests.unit.asterisk.ari_replay import FIXTURES, Request, load_events, load_requests

#: The scenarios recorded from the lab (tests/fixtures/ari/README.md), then the answers derived
#: from them for shapes no scenario had (the README says how each was derived).
RECORDED = (
    "answer",
    "abandon",
    "noanswer",
    "silence",
    "handoff",
    "reconcile",
    "blocked",
    "callback",
    "fallback",
    "channelcheck",
)
DERIVED = "derived"

#: Collections whose second path segment is an id (``/channels/{id}/...``).
_COLLECTIONS = ("channels", "bridges", "playbacks", "endpoints", "applications", "recordings")
#: Sub-resources whose next segment is an id too (``/channels/{id}/play/{playback id}``).
_NAMED = ("play", "record")
#: Parameters whose value is an id the answer may repeat.
_ID_PARAMS = ("channelId", "name", "media")

Made = tuple[str, str, dict[str, Any]]


def _segments(path: str) -> list[str]:
    return path.removeprefix("/ari").strip("/").split("/")


def _id_positions(parts: list[str]) -> list[int]:
    if not parts or parts[0] not in _COLLECTIONS:
        return []
    ids = [1]
    if parts[0] == "endpoints":
        ids.append(2)
    if len(parts) > 3 and parts[2] in _NAMED:
        ids.append(3)
    return [i for i in ids if i < len(parts)]


def shape(path: str) -> str:
    """A path with its ids as ``{id}``: ``/channels/{id}/play/{id}``."""
    parts = _segments(path)
    for i in _id_positions(parts):
        parts[i] = "{id}"
    return "/" + "/".join(parts)


def _ids(path: str, params: Mapping[str, object]) -> list[str]:
    parts = _segments(path)
    found = [parts[i] for i in _id_positions(parts)]
    found += [str(params[k]) for k in _ID_PARAMS if k in params]
    return found


def _load_answers() -> dict[tuple[str, str], list[Request]]:
    answers: dict[tuple[str, str], list[Request]] = {}
    for name in (*RECORDED, DERIVED):
        for recorded in load_requests(name):
            answers.setdefault((recorded.method, shape(recorded.path)), []).append(recorded)
    return answers


def _load_frames() -> dict[str, list[JsonObject]]:
    frames: dict[str, list[JsonObject]] = {}
    for name in RECORDED:
        for frame in load_events(name):
            frames.setdefault(str(frame["type"]), []).append(frame)
    return frames


ANSWERS = _load_answers()
FRAMES = _load_frames()
#: The objects inside a frame a test may set part of (the rest stays as recorded).
_OBJECTS = ("channel", "peer", "bridge", "playback", "device_state")


def _recorded_channel() -> JsonObject:
    """A caller's channel as a StasisStart frame carries it (the Channel model of ARI)."""
    [first, *_] = [f for f in FRAMES["StasisStart"] if not f.get("args")]
    channel: JsonObject = copy.deepcopy(first["channel"])
    return channel


class RecordedAri(AriClient):
    """The ARI client, answered from the lab's recordings; every request kept."""

    #: Every fake made, for the unit tests' conftest: after each test, none may have been asked
    #: what no recording has.
    made: ClassVar[list[RecordedAri]] = []

    def __init__(self, url: str = "http://asterisk.invalid:8088") -> None:
        super().__init__(url, "callgate", "recorded", "callgate")
        RecordedAri.made.append(self)
        #: Every request made, in order: (method, path as the client wrote it, parameters).
        self.log: list[Made] = []
        #: The JSON body of each request in :attr:`log` (None for most).
        self.bodies: list[JsonObject | None] = []
        #: Requests whose shape no recording has (answered 500).
        self.unexpected: list[Made] = []
        #: A channel variable's value, by (channel id, variable); unset ones read "".
        self.variables: dict[tuple[str, str], str] = {}
        #: Any other variable's value (by default ""), as the dialplan would have set it.
        self.variable: Callable[[str, str], str] = lambda channel, name: ""
        #: ``GET /channels`` and ``GET /bridges`` (None: as recorded, none).
        self.channels: list[JsonObject] | None = None
        self.bridges: list[JsonObject] | None = None
        #: ``GET /channels/{id}``: the channels Asterisk has; any other id is 404.
        self.known: dict[str, JsonObject] = {}
        #: Failing requests: (method, path) -> (status, parameters the request must carry).
        self.failing: dict[tuple[str, str], tuple[int, dict[str, str]]] = {}
        #: Requests that cannot reach Asterisk at all (``AriUnavailable``: refused, timed out).
        self.unreachable: set[tuple[str, str]] = set()
        #: (method, path) -> how many requests of it (counted from the first) get no answer.
        self.stalled: dict[tuple[str, str], int] = {}
        #: (method, path) -> seconds its answer takes.
        self.slow: dict[tuple[str, str], float] = {}
        #: Where :meth:`serve` listens (``http://127.0.0.1:<port>``) while it does.
        self.url = ""
        #: The event WebSockets of :meth:`serve`, as clients connected.
        self.sockets: list[web.WebSocketResponse] = []

    # ---------------------------------------------------------------- steering

    def fail(self, method: str, path: str, status: int = 500, **params: str) -> None:
        """``method path`` (with these parameters, if any) fails with ``status`` from now on."""
        self.failing[(method, path)] = (status, params)

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.log if (m, p) == (method, path))

    def on(self, channel: str) -> list[Made]:
        """The requests about one channel (its own path), in order."""
        return [
            r
            for r in self.log
            if r[1].startswith(f"/channels/{channel}/") or r[1] == f"/channels/{channel}"
        ]

    def did(self, method: str, path: str | None = None) -> list[Made]:
        """The requests of ``method`` (on ``path``, if given), in order."""
        return [r for r in self.log if r[0] == method and path in (None, r[1])]

    # ---------------------------------------------------------------- recorded objects

    @staticmethod
    def channel(**fields: Any) -> JsonObject:
        """A channel as ARI describes it (recorded), with ``fields`` set."""
        channel = _recorded_channel()
        channel.pop("creationtime")  # the test's time, or none (see frame)
        channel["channelvars"] = dict.fromkeys(channel.get("channelvars", {}), "")
        channel.update(fields)
        return channel

    @staticmethod
    def bridge(**fields: Any) -> JsonObject:
        """A bridge as ARI describes it (recorded), with ``fields`` set."""
        [first, *_] = [r for r in ANSWERS[("POST", "/bridges/{id}")] if r.status < 400]
        bridge: JsonObject = json.loads(first.response or "{}")
        bridge.update(fields)
        return bridge

    @staticmethod
    def frame(kind: str, **fields: Any) -> JsonObject:
        """A recorded event frame of type ``kind`` with ``fields`` set: the objects a frame
        carries (``channel``, ``playback``…) keep their recorded fields the test does not set,
        a channel's variables are those the test gives (the recorded names read "", as
        Asterisk sends them for a channel that has none). Times are the test's alone: a frame
        carries a ``timestamp`` (a channel a ``creationtime``) only if the test gives one, and
        the adapter then reads its own clock, as it does for a frame without."""
        recorded = FRAMES.get(kind)
        assert recorded, f"no recorded {kind} frame: record one (tests/fixtures/ari/README.md)"
        args = fields.get("args")
        alike = [f for f in recorded if args is None or f.get("args", [])[:1] == list(args)[:1]]
        frame: JsonObject = copy.deepcopy((alike or recorded)[0])
        frame.pop("timestamp", None)
        for key, value in fields.items():
            if key in _OBJECTS and isinstance(value, dict) and isinstance(frame.get(key), dict):
                merged = {**frame[key], **value}
                if key in ("channel", "peer"):
                    names = dict.fromkeys(frame[key].get("channelvars", {}), "")
                    merged["channelvars"] = {**names, **value.get("channelvars", {})}
                    if "creationtime" not in value:
                        merged.pop("creationtime", None)
                frame[key] = merged
            else:
                frame[key] = value
        return frame

    # ---------------------------------------------------------------- answering

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        body: JsonObject | None = None,
    ) -> Any:
        if (method, path) in self.unreachable:
            self.log.append((method, path, dict(params or {})))
            self.bodies.append(body)
            await asyncio.sleep(0)
            raise AriUnavailable(f"ARI {method} {path}: timed out")
        status, text = await self.reply(method, path, dict(params or {}), body)
        if status >= 400:
            raise AriError(method, path, status, _error_message(text))
        return json.loads(text) if text else None

    async def reply(
        self, method: str, path: str, params: dict[str, Any], body: JsonObject | None = None
    ) -> tuple[int, str]:
        """Asterisk's status and body for one request (kept in :attr:`log`)."""
        self.log.append((method, path, params))
        self.bodies.append(body)
        await asyncio.sleep(0)  # a round trip: other work may run meanwhile
        key = (method, path)
        if self.count(method, path) <= self.stalled.get(key, 0):
            await asyncio.Event().wait()  # never answered (a hung Asterisk HTTP thread)
        if key in self.slow:
            await asyncio.sleep(self.slow[key])
        failing = self.failing.get(key)
        if failing is not None and all(str(params.get(k)) == v for k, v in failing[1].items()):
            return failing[0], self._error(failing[0], method, path)
        steered = self._steered(method, path, params)
        if steered is not None:
            return steered
        return self._recorded(method, path, params)

    def _steered(self, method: str, path: str, params: Mapping[str, Any]) -> tuple[int, str] | None:
        parts = _segments(path)
        if method != "GET" or parts[0] != "channels":
            return None
        if len(parts) == 1 and self.channels is not None:
            return 200, json.dumps(self.channels)
        if len(parts) == 2:
            known = self.known.get(parts[1])
            if known is None:
                return 404, self._error(404, method, path)
            return 200, json.dumps(known)
        if len(parts) == 3 and parts[2] == "variable":
            variable = str(params.get("variable"))
            [recorded, *_] = ANSWERS[("GET", "/channels/{id}/variable")]
            answer = json.loads(recorded.response or "{}")
            value = self.variables.get((parts[1], variable))
            answer["value"] = self.variable(parts[1], variable) if value is None else value
            return 200, json.dumps(answer)
        return None

    def _recorded(self, method: str, path: str, params: Mapping[str, Any]) -> tuple[int, str]:
        if (method, path) == ("GET", "/bridges") and self.bridges is not None:
            return 200, json.dumps(self.bridges)
        found = [r for r in ANSWERS.get((method, shape(path)), []) if r.status < 400]
        if not found:
            self.unexpected.append((method, path, dict(params)))
            return 500, json.dumps({"message": "not in the recordings"})
        exact = [r for r in found if r.path == f"/ari{path}"]
        recorded = (exact or found)[0]
        text = recorded.response or ""
        theirs = _ids(recorded.path, dict(recorded.params))
        ours = _ids(f"/ari{path}", params)
        for old, new in sorted(zip(theirs, ours, strict=False), key=lambda p: -len(p[0])):
            if old and old != new:
                text = text.replace(old, new)
        return recorded.status, text

    def _error(self, status: int, method: str, path: str) -> str:
        """The body Asterisk gave for ``status`` on this shape of request, else on the same
        kind of object (a channel's "Channel not found"), else on any."""
        errors = [r for answers in ANSWERS.values() for r in answers if r.status == status]
        alike = [r for r in errors if (r.method, shape(r.path)) == (method, shape(path))]
        kin = [r for r in errors if _segments(r.path)[0] == _segments(path)[0]]
        chosen = (alike or kin or errors)[:1]
        assert chosen, f"no recorded {status} answer: record or derive one (README)"
        return chosen[0].response or ""

    # ---------------------------------------------------------------- over HTTP

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        """The same answers behind a local server (REST and ``/ari/events``); yields its URL."""

        async def rest(request: web.Request) -> web.Response:
            # As the client wrote it: an id quoted into one path element stays one.
            path = request.raw_path.split("?")[0].removeprefix("/ari")
            body = await request.json() if request.can_read_body else None
            status, text = await self.reply(request.method, path, dict(request.query), body)
            return web.Response(status=status, text=text, content_type="application/json")

        async def events(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            self.sockets.append(ws)
            async for _ in ws:
                pass
            return ws

        app = web.Application()
        app.router.add_get("/ari/events", events)
        app.router.add_route("*", "/ari/{tail:.*}", rest)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            yield self.url
        finally:
            for ws in self.sockets:
                await ws.close()
            await runner.cleanup()

    async def send(self, frame: JsonObject, socket: int = -1) -> None:
        """Send ``frame`` on an event WebSocket of :meth:`serve` (the last one connected)."""
        await self.sockets[socket].send_str(json.dumps(frame))


__all__ = ["FIXTURES", "RecordedAri", "shape"]
