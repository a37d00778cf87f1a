"""Replaying recorded ARI traffic (tests/fixtures/ari/) through the real adapter and core.

No mocks: the adapter (:class:`~callgate.asterisk.ari.adapter.AriAdapter`) runs with a real core
(:class:`~callgate.core.acd.Acd` through :class:`~callgate.daemon.engine.Engine`) behind the
daemon's event pump (:class:`~callgate.asterisk.link.AriLink`). Asterisk is played by
:class:`RecordedAsterisk`: the real :class:`~callgate.asterisk.ari.client.AriClient`, whose one
HTTP round trip is answered from the recording (the status and body Asterisk gave), and whose
event stream sends the recorded frames at their recorded stamps.

Two things of Asterisk's own are played too, because the recordings depend on them:

- a channel runs its Stasis commands one at a time, and a playback holds it until it ends: a
  variable set (or a bridge join) on a channel that plays a greeting is answered only when the
  greeting ends or is stopped (the capture wrote each request when its answer came);
- Asterisk uses the id callgate gives a channel it originates: the recorded leg ids are written
  as the replay's own in every frame and answer.

Time is virtual (:class:`VirtualClock`): the loop's clock jumps to the next timer whenever
nothing else is ready, so the core's ring timeouts and wrap-ups, the silence watch and the
adapter's graces run at the lab's pace in milliseconds, and a hang-up's stamp means what it
meant in the lab.
"""

from __future__ import annotations

import asyncio
import json
import selectors
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from callgate.asterisk.ari.adapter import AriAdapter
from callgate.asterisk.ari.client import (
    AriClient,
    AriError,
    AriUnavailable,
    Connected,
    JsonObject,
)
from callgate.asterisk.ari.translate import translate
from callgate.asterisk.link import AriLink
from callgate.asterisk.timestamps import ari_timestamp
from callgate.config import Settings
from callgate.core import Acd, AcdConfig, CallEnded, CallScreened, Event
from callgate.daemon.engine import Engine
from callgate.ports import (
    RECORDS,
    AgencyConnected,
    AgentConnected,
    CallEndedOutsideCore,
    CallRecorded,
    CallStarted,
    HistorySource,
    Notification,
    Observed,
    Record,
    RecordingFailed,
    start_of,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ari"
#: Virtual seconds one REST round trip to Asterisk takes (the lab's were about a millisecond).
#: The order in which two requests sent at once come back depends on it (a race in the lab too):
#: 1 ms gives the lab's order in every recording.
ROUND_TRIP = 0.001

T = TypeVar("T")


# ---------------------------------------------------------------- virtual time


class _JumpingSelector(selectors.DefaultSelector):
    """Polls without waiting; when nothing is ready, the clock jumps by the loop's timeout."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            # Nothing scheduled: only a thread (sealing a recording) can wake the loop.
            return super().select(None)
        ready = super().select(0)
        if not ready and timeout > 0:
            self.clock.now += timeout
        return ready


class VirtualClock(asyncio.SelectorEventLoop):
    """An event loop on a virtual clock; :meth:`epoch` is that clock as Asterisk's stamps read.

    The loop's own time counts from 0: at epoch values a float cannot tell the loop's clock
    resolution apart, and a timer due now would never run."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now

    def epoch(self) -> float:
        return self.start + self.now


def run_virtual(start: float, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``work()`` on a :class:`VirtualClock` whose epoch starts at ``start``."""
    loop = VirtualClock(start)
    try:
        return loop.run_until_complete(work())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


def _virtual() -> VirtualClock:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualClock), "a replay runs on a VirtualClock (run_virtual)"
    return loop


# ---------------------------------------------------------------- the recording


Key = tuple[str, str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class Request:
    """One REST request as the capture wrote it (path with ``/ari``, parameters as text)."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...]
    status: int = 0
    response: str | None = None

    def key(self) -> Key:
        return (self.method, self.path, self.params)

    def param(self, name: str) -> str | None:
        return dict(self.params).get(name)


def load_events(name: str) -> list[JsonObject]:
    """Every ARI WebSocket frame of scenario ``name``, in the order Asterisk sent them."""
    with (FIXTURES / f"{name}.events.jsonl").open() as lines:
        return [json.loads(line) for line in lines if line.strip()]


def load_requests(name: str) -> list[Request]:
    """Every REST request callgate made in scenario ``name``, with Asterisk's answer."""
    with (FIXTURES / f"{name}.requests.jsonl").open() as lines:
        return [
            Request(r["method"], r["path"], _params(r["params"]), r["status"], r["response"])
            for r in map(json.loads, lines)
            if r
        ]


def _params(params: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in (params or {}).items()))


def stamp(event: JsonObject) -> float:
    at = ari_timestamp(event.get("timestamp"))
    assert at is not None, event
    return at


# ---------------------------------------------------------------- Asterisk, as recorded


class Asterisk:
    """One Asterisk as the recording shows it, shared by every run of the daemon against it."""

    def __init__(self, requests: Iterable[Request]) -> None:
        self.recorded = list(requests)
        self._answered = [False] * len(self.recorded)
        #: Requests answered in the replay, in the order their answers came.
        self.made: list[Request] = []
        #: Requests the recording does not have (answered 500).
        self.unexpected: list[Request] = []
        self.ids: dict[str, str] = {}  # recorded leg id -> the id the replay chose
        #: Originates that showed another caller-ID name than recorded: (recorded, made).
        self.renamed: list[tuple[str, str]] = []
        self._channels: dict[str, _Channel] = {}

    # -- answering

    def match(self, made: Request) -> Request | None:
        """The first recorded request not answered yet that is ``made`` (an originate: but for
        the id callgate chose, which from then on stands for the recorded one)."""
        for index, recorded in enumerate(self.recorded):
            if self._answered[index]:
                continue
            if self.mine(recorded).key() == made.key() or self._same_leg(recorded, made):
                self._answered[index] = True
                return recorded
        return None

    def _same_leg(self, recorded: Request, made: Request) -> bool:
        ours, theirs = made.param("channelId"), recorded.param("channelId")
        if made.path != "/ari/channels" or recorded.path != made.path or not ours or not theirs:
            return False
        if _leg(self.mine(recorded)) != _leg(made) or theirs in self.ids:
            return False
        self.ids[theirs] = ours
        if made.param("callerId") != recorded.param("callerId"):
            # Asterisk answers an originate alike whatever name it shows: the replay goes on,
            # and the difference is noted.
            self.renamed.append((str(recorded.param("callerId")), str(made.param("callerId"))))
        return True

    def ours(self, text: str) -> str:
        """Recorded text with the recorded leg ids written as the replay's."""
        for theirs, ours in self.ids.items():
            text = text.replace(theirs, ours)
        return text

    def mine(self, recorded: Request) -> Request:
        """A recorded request as the replay makes it (its own leg ids)."""
        return Request(
            recorded.method,
            self.ours(recorded.path),
            tuple((k, self.ours(v)) for k, v in recorded.params),
            recorded.status,
            recorded.response,
        )

    @property
    def not_made(self) -> list[Request]:
        """Recorded requests the replay did not make."""
        return [
            self.mine(r) for r, done in zip(self.recorded, self._answered, strict=True) if not done
        ]

    @property
    def recorded_made(self) -> list[Key]:
        """The recorded requests the replay made, in the recorded order, as the replay made them."""
        return [
            self.mine(r).key()
            for r, done in zip(self.recorded, self._answered, strict=True)
            if done
        ]

    # -- a channel's command queue

    def channel(self, channel_id: str) -> _Channel:
        return self._channels.setdefault(channel_id, _Channel())

    async def queue_behind_playback(self, made: Request) -> None:
        """Wait as a synchronous Stasis command on a playing channel does."""
        for channel_id in _commanded(made):
            await self.channel(channel_id).free.wait()

    def answered(self, made: Request, status: int, response: Any) -> None:
        """What an answered request changes: a playback starts, or one is stopped."""
        self.made.append(made)
        if status >= 400:
            return
        parts = made.path.split("/")
        if made.method == "POST" and parts[2:3] == ["channels"] and parts[4:5] == ["play"]:
            playback = parts[5] if len(parts) > 5 else str((response or {}).get("id", ""))
            self.channel(parts[3]).play(playback)
        elif made.method == "DELETE" and parts[2:3] == ["playbacks"]:
            self.playback_ended(parts[3])

    def playback_ended(self, playback_id: str) -> None:
        for channel in self._channels.values():
            channel.ended(playback_id)

    def frame(self, event: JsonObject) -> JsonObject:
        """A recorded frame as Asterisk sends it in the replay (and what it means for the
        channels' command queues)."""
        frame: JsonObject = json.loads(self.ours(json.dumps(event)))
        if frame["type"] == "PlaybackFinished":
            self.playback_ended(str(frame["playback"]["id"]))
        elif frame["type"] in ("StasisEnd", "ChannelDestroyed"):
            self.channel(str(frame["channel"]["id"])).left()
        return frame


@dataclass
class _Channel:
    """A channel's Stasis command queue, as far as playbacks hold it."""

    playing: list[str] = field(default_factory=list)  # the first plays, the others wait
    free: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.free.set()

    def play(self, playback_id: str) -> None:
        self.playing.append(playback_id)
        self.free.clear()

    def ended(self, playback_id: str) -> None:
        if playback_id in self.playing:
            self.playing.remove(playback_id)
        if not self.playing:
            self.free.set()

    def left(self) -> None:
        """The channel left Stasis: its queued commands are answered (or failed) at once."""
        self.playing.clear()
        self.free.set()


def _commanded(made: Request) -> list[str]:
    """The channels whose Stasis command queue runs ``made`` synchronously (its answer waits):
    setting a variable, answering, joining a bridge. Playbacks, music on hold and ``continue``
    are queued without waiting; hang-ups and reads do not queue."""
    parts = made.path.split("/")
    if made.method != "POST" or len(parts) < 5:
        return []
    if parts[2] == "channels" and parts[4] in ("variable", "answer"):
        return [parts[3]]
    if parts[2] == "bridges" and parts[4] == "addChannel":
        return (made.param("channel") or "").split(",")
    return []


def _leg(request: Request) -> Key:
    """An originate but for the id and the name shown, which callgate chooses."""
    mine = ("channelId", "callerId")
    return (request.method, request.path, tuple(p for p in request.params if p[0] not in mine))


class RecordedAsterisk(AriClient):
    """The real ARI client of one run of the daemon, answered by :class:`Asterisk`."""

    def __init__(self, asterisk: Asterisk) -> None:
        super().__init__("http://asterisk.invalid:8088", "callgate", "recorded", "callgate")
        self.asterisk = asterisk
        self.alive = True

    async def request(
        self,
        method: str,
        path: str,
        params: Any = None,
        body: JsonObject | None = None,
    ) -> Any:
        if not self.alive:
            raise AriUnavailable("killed")  # a killed daemon asks nothing more
        made = Request(method, f"/ari{path}", _params(params))
        await asyncio.sleep(ROUND_TRIP)
        asterisk = self.asterisk
        recorded = asterisk.match(made)
        if recorded is None:
            asterisk.unexpected.append(made)
            raise AriError(method, path, 500, "not in the recording")
        if recorded.status < 400:
            await asterisk.queue_behind_playback(made)
        text = asterisk.ours(recorded.response) if recorded.response else None
        answer = json.loads(text) if text else None
        asterisk.answered(made, recorded.status, answer)
        if recorded.status >= 400:
            raise AriError(method, path, recorded.status, text or "")
        return answer


# ---------------------------------------------------------------- a daemon's ARI side


class Told:
    """The records the adapter fed the engine for its observers (the journal, CAD's stream):
    what it told them, in order."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str, str]] = []  # (what, call id, detail)
        self.ended_outside: list[CallEndedOutsideCore] = []  # whole: who answered, when

    def record(self, note: Record) -> None:
        if isinstance(note, CallStarted):
            self.told.append(("call_started", note.call_id, note.category))
        elif isinstance(note, AgentConnected):
            self.told.append(("agent_connected", note.call_id, note.agent_id))
        elif isinstance(note, AgencyConnected):
            detail = f"{note.agency} hand-off={note.hand_off}"
            self.told.append(("agency_joined", note.call_id, detail))
        elif isinstance(note, CallRecorded):
            self.told.append(("recording", note.info.call_id, ""))
        elif isinstance(note, RecordingFailed):
            self.told.append(("recording_failed", note.call_id, ""))
        else:
            self.told.append(("call_ended_outside_core", note.call_id, note.outcome))
            if isinstance(note, CallEndedOutsideCore):
                self.ended_outside.append(note)

    def of(self, what: str) -> list[tuple[str, str]]:
        return [(call_id, detail) for kind, call_id, detail in self.told if kind == what]


@dataclass
class Daemon:
    """One run of callgate's ARI side against ``asterisk``: the adapter, a real core, the pump."""

    asterisk: Asterisk
    settings: Settings
    acd_config: AcdConfig
    history: HistorySource | None = None
    #: Every event the adapter fed the core, in order.
    fed: list[Event] = field(default_factory=list)
    #: What :func:`~callgate.asterisk.ari.translate.translate` made of each frame on arrival.
    translated: list[Event] = field(default_factory=list)
    #: Every notification of the core (state changes, ended calls).
    notified: list[Notification] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.clock = clock = _virtual().epoch
        self.client = RecordedAsterisk(self.asterisk)
        self.observer = Told()
        self.adapter = AriAdapter(self.client, self.settings, clock=clock, history=self.history)
        self.engine = Engine(
            Acd(self.acd_config), self.adapter, clock=clock, observers=[self._notified]
        )
        self.adapter.feed = self.feed

    async def feed(self, *events: Event | Record) -> None:
        for event in events:
            if isinstance(event, RECORDS):
                self.observer.record(event)
            else:
                self.fed.append(event)
        await self.engine.feed(*events)

    async def _notified(self, notification: Observed) -> None:
        if isinstance(notification, CallScreened):
            # A screened call's start, as the journal and CAD record it.
            self.observer.record(start_of(notification))
        if isinstance(notification, Notification):  # the records are in ``observer``
            self.notified.append(notification)

    @property
    def ended(self) -> dict[str, str]:
        """Outcome of every call the core ended: call id -> outcome name."""
        return {n.call_id: n.outcome.name for n in self.notified if isinstance(n, CallEnded)}

    async def run(self, frames: list[JsonObject]) -> None:
        """Connect, then receive ``frames`` at their stamps through the daemon's pump; returns
        once the last one is handled."""

        async def handle(event: JsonObject) -> None:
            self.translated.extend(translate(event, self.adapter.book))
            await self.adapter.on_event(event)

        stream = self._stream(frames)
        await AriLink(
            stream, set_up=self.adapter.on_connected, handle=handle, on_state=_ignore
        ).run()

    async def _stream(self, frames: list[JsonObject]) -> AsyncIterator[Any]:
        yield Connected(1)
        for frame in frames:
            await self.until(stamp(frame))
            yield self.asterisk.frame(frame)

    async def until(self, moment: float) -> None:
        """Let virtual time run to ``moment`` (timers, graces, wrap-ups fire on the way)."""
        await asyncio.sleep(max(0.0, moment - self.clock()))

    async def stop(self) -> None:
        """A clean stop, as the daemon does it: waiting callers back to the dialplan."""
        self.engine.close()
        await self.adapter.hand_back_waiting()
        # Recordings are sealed in threads: wait for them, with no (virtual) time limit.
        while self.adapter.shared.tasks._tasks:
            await asyncio.wait(set(self.adapter.shared.tasks._tasks))

    async def kill(self) -> None:
        """SIGKILL: nothing more reaches Asterisk; what was in flight is lost."""
        self.client.alive = False
        self.engine.close()
        for task in list(self.adapter.shared.tasks._tasks):
            task.cancel()
        await asyncio.sleep(0)


def _ignore(up: bool, why: str | None) -> None:
    return None


def split(frames: list[JsonObject], *moments: str) -> list[list[JsonObject]]:
    """The frames cut at ``moments`` (ARI stamps): one part for each run of the daemon."""
    cuts = [ari_timestamp(m) for m in moments]
    parts: list[list[JsonObject]] = [[] for _ in range(len(cuts) + 1)]
    for frame in frames:
        parts[sum(1 for cut in cuts if cut is not None and stamp(frame) >= cut)].append(frame)
    return parts
