"""A burst of 112 calls through callgate and through Asterisk's own app_queue, side by side.

Run (as root, with the lab up: ``scripts/lab up``)::

    .venv/bin/python benchmarks/lab_burst.py [--calls 200 --seconds 20 --agents 20 --talk 3
                                              --wrap-up 5] [--memory-calls 2000] [--skip-memory]
                                              [--only slow-broker ...]

Prints a table; it is not a test. Four passes on the same lab Asterisk:

1. callgate: ``callgate run`` connected to ARI, SIPp places the burst over the trunk, call-takers
   1009.. (baresip, auto-answer) hang up from their own softphone ``--talk`` s after answering.
1b. slow-broker: the same, with callgate reaching the lab's Mosquitto through a relay on
   127.0.0.1 that holds every chunk ``--broker-delay-ms`` each way and paces it to
   ``--broker-kbps`` (:class:`SlowRelay`, started and stopped here): the ACD must not notice.
2. app_queue: the same burst with callgate stopped; the dialplan's Stasis() then fails and every
   call goes to Queue(fallback-112), whose members include the same softphones.
3. memory: callgate with no call-taker registered and calls held waiting; its resident memory is
   read from /proc.

Both burst passes are measured from one vantage point: AMI events from the lab Asterisk, each
stamped with Asterisk's own clock (the ``Timestamp`` header of ``timestampevents = yes``; the time
this script read it when absent), see benchmarks/README.md for every figure's definition.
"""

from __future__ import annotations

import argparse
import bisect
import configparser
import contextlib
import datetime as dt
import heapq
import json
import os
import platform
import re
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import labpeers  # noqa: E402 - lives in scripts/, not a package

AMI = ("127.0.0.1", 5038)
# The lab's benchmark account (asterisk-conf/manager.conf): callgate's own may not originate.
AMI_USER, AMI_SECRET = "lab-bench", "lab-bench-secret"
FIRST_EXTENSION = 1009  # 1001-1008 belong to the integration tests, which share the lab
TARGET_FREE_TO_RING_P99_MS = 50.0
TARGET_RSS_MB = 150.0
# Caller numbers the benchmark sends, one prefix per pass, so its calls are told apart from any
# test's calls on the shared lab: 0819 + pass digit + 8-digit sequence number.
PREFIX = {"callgate": "08191", "app_queue": "08192", "memory": "08193", "slow-broker": "08194"}
#: The lab's Mosquitto (scripts/lab), which the slow-broker pass reaches through a slow relay.
#: The burst passes, in the order they run (callgate with the lab's broker as it is, the same
#: through a slow relay, then Asterisk's own app_queue).
BURST_PASSES = ("callgate", "slow-broker", "app_queue")
BROKER = ("127.0.0.1", int(os.environ.get("CALLGATE_MQTT_PORT", "11883")))

Event = dict[str, str]


# -- AMI: one reader for every pass -----------------------------------------------------------


@dataclass
class AmiLog:
    """Every AMI event of the call and agent classes, stamped by Asterisk's clock.

    Asterisk's ``Timestamp`` header (``timestampevents = yes`` in manager.conf) when present, so
    this script's own read latency under load pollutes neither system's figures; the wall clock
    when read otherwise. The read time is kept in each event as ``ReadAt``.
    """

    sock: socket.socket
    events: list[tuple[float, Event]] = field(default_factory=list)
    listeners: list[Callable[[float, Event], None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None
    closed: bool = False

    @classmethod
    def connect(cls) -> AmiLog:
        sock = socket.create_connection(AMI, timeout=5)
        sock.settimeout(None)
        ami = cls(sock)
        # call: channels, states, dials, hangups; agent: the queue's caller joins.
        ami.send(
            {"Action": "Login", "Username": AMI_USER, "Secret": AMI_SECRET, "Events": "call,agent"}
        )
        ami.thread = threading.Thread(target=ami._read, name="ami", daemon=True)
        ami.thread.start()
        return ami

    def send(self, fields: dict[str, str]) -> None:
        data = "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        with self.lock:
            self.sock.sendall(data.encode())

    def _read(self) -> None:
        buf = b""
        while not self.closed:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            # One read time per read: the fallback stamp when Asterisk sent none.
            now = time.time()
            buf += chunk
            while b"\r\n\r\n" in buf:
                raw, buf = buf.split(b"\r\n\r\n", 1)
                event: Event = {}
                for line in raw.decode(errors="replace").split("\r\n"):
                    key, sep, value = line.partition(": ")
                    if sep:
                        event.setdefault(key, value)
                if "Event" not in event:
                    continue
                event["ReadAt"] = f"{now:.6f}"
                stamp = _asterisk_stamp(event, now)
                self.events.append((stamp, event))
                for listener in list(self.listeners):
                    listener(stamp, event)

    def mark(self) -> int:
        return len(self.events)

    def since(self, mark: int) -> list[tuple[float, Event]]:
        return list(self.events[mark:])

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def _asterisk_stamp(event: Event, fallback: float) -> float:
    """The event's ``Timestamp`` (Asterisk's clock, epoch seconds), else ``fallback``."""
    try:
        stamp = float(event.get("Timestamp", ""))
    except ValueError:
        return fallback
    return stamp if stamp > 0 else fallback


# -- processes we start, all stopped by PID ----------------------------------------------------


class Daemon(labpeers.Daemon):
    """``callgate run`` for a pass, with its journal in the run's folder and its memory read."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        # The journal is in the daemon's own state folder (it runs as the callgate user).
        super().__init__(
            workdir / "callgate.log",
            {
                # Port 0: never clash with a test's daemon on the dialplan's 4573.
                "CALLGATE_AGI__PORT": "0",
                "CALLGATE_OPS__HTTP_PORT": "0",
                "CALLGATE_OPS__WATCHDOG": "false",
                **env,
            },
        )

    def memory_kb(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) in kB from /proc."""
        assert self.process is not None
        values = {"VmRSS": 0, "VmHWM": 0}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0])
        return values["VmRSS"], values["VmHWM"]


class HangupDriver:
    """Each call-taker hangs up from their own softphone ``talk`` s after their leg is answered."""

    def __init__(self, phones: dict[str, labpeers.Softphone], talk: float) -> None:
        self.phones = phones
        self.talk = talk
        self.pending: list[tuple[float, str]] = []
        self.bridged: set[str] = set()
        self.cond = threading.Condition()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="hangups", daemon=True)
        self.thread.start()

    def on_event(self, now: float, event: Event) -> None:
        # Talk time runs from the moment the call-taker is bridged with the caller, not from
        # answering: callgate bridges after its own ARI round trips, app_queue at once, and a
        # call-taker who hung up before hearing the caller would not have talked.
        if event["Event"] != "BridgeEnter":
            return
        ext = _agent_ext(event.get("Channel", ""))
        uid = event.get("Uniqueid", "")
        if ext in self.phones and uid not in self.bridged:
            self.bridged.add(uid)
            with self.cond:
                heapq.heappush(self.pending, (now + self.talk, ext))
                self.cond.notify()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.stopped and (not self.pending or self.pending[0][0] > time.time()):
                    wait = self.pending[0][0] - time.time() if self.pending else None
                    self.cond.wait(timeout=wait)
                if self.stopped:
                    return
                _, ext = heapq.heappop(self.pending)
            with contextlib.suppress(OSError, TimeoutError, ValueError):
                self.phones[ext].command("hangup")

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify()
        self.thread.join(timeout=5)


# -- a slow broker: a loopback relay in front of the lab's Mosquitto ---------------------------


class SlowRelay:
    """A TCP relay on 127.0.0.1 that makes the broker slow for callgate: every chunk, both ways,
    is held ``delay`` s and the bytes are paced to ``rate`` bytes/s a direction (0: no cap).

    What a flooded or overloaded broker looks like from the client: PUBACKs late, its socket
    buffer filling. Nothing outside 127.0.0.1 is touched and the lab's Mosquitto is left as it
    is. Threads, as the rest of this script; all end at :meth:`stop`.
    """

    def __init__(self, target: tuple[str, int], delay: float, rate: float) -> None:
        self.target, self.delay, self.rate = target, delay, rate
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port: int = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        self.sockets: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.bytes = 0
        self._spawn(self._accept)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="slow-relay")
        self.threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
                self.sockets.append(sock)
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        """Read as it comes (the sender sees no back-pressure from the delay itself); a
        second thread writes each chunk once its delay is over, paced to the rate."""
        chunks: list[tuple[float, bytes]] = []
        cond = threading.Condition()

        def write() -> None:
            with contextlib.suppress(OSError):
                while True:
                    with cond:
                        while not chunks:
                            cond.wait()
                        due, data = chunks.pop(0)
                    if not data:
                        break
                    time.sleep(max(0.0, due - time.monotonic()))
                    for k in range(0, len(data), 1024):
                        piece = data[k : k + 1024]
                        sink.sendall(piece)
                        self.bytes += len(piece)
                        if self.rate:
                            time.sleep(len(piece) / self.rate)
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

        self._spawn(write)
        data = b"x"
        while data:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            with cond:
                chunks.append((time.monotonic() + self.delay, data))
                cond.notify()

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self.threads:
            thread.join(timeout=5)


def _agent_ext(channel: str) -> str:
    """'PJSIP/1009-0000002a' -> '1009' (empty for other channels)."""
    name = channel.removeprefix("PJSIP/").split("-")[0]
    return name if name.isdigit() and len(name) == 4 else ""


def _digits(number: str) -> str:
    """The last 9 digits: the same for 0819..., 62819... and +62819... (the sequence is unique)."""
    return re.sub(r"\D", "", number)[-9:]


# -- analysis ----------------------------------------------------------------------------------


@dataclass
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    caller: str
    created: float
    up: float | None = None
    ended: float | None = None


@dataclass
class PassResult:
    placed: int = 0
    sipp_failed: int = 0
    entered: int = 0
    connected: int = 0
    lost: int = 0
    fell_back: int = 0
    free_to_ring_ms: list[float] = field(default_factory=list)
    free_without_ring: int = 0
    enter_to_ring_free_ms: list[float] = field(default_factory=list)
    enter_to_ring_all_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    # callgate only: its own wrap-up timer (from its log) split the free-to-ring gap in two.
    timer_late_ms: list[float] = field(default_factory=list)
    timer_to_ring_ms: list[float] = field(default_factory=list)
    # How late this script read the pass's AMI events (read time - Asterisk's Timestamp).
    read_lag_ms: list[float] = field(default_factory=list)
    # callgate only, from its log: its "ACD timer late" lines, the MQTT client library's
    # "pending publish calls" warnings, and its MQTT backlog ALARMs; bytes through the relay.
    timer_late_lines: int | None = None
    client_warnings: int | None = None
    backlog_alarms: int | None = None
    relay_bytes: int | None = None


def _channels(events: list[tuple[float, Event]]) -> dict[str, Channel]:
    chans: dict[str, Channel] = {}
    for t, e in events:
        kind = e["Event"]
        uid = e.get("Uniqueid", "")
        if kind == "Newchannel":
            chans[uid] = Channel(
                e.get("Channel", ""), uid, e.get("Linkedid", uid), e.get("CallerIDNum", ""), t
            )
        elif uid in chans:
            ch = chans[uid]
            if kind == "NewCallerid" and _agent_ext(ch.name):
                # An ARI-originated leg gets its caller ID just after it is created.
                ch.caller = e.get("CallerIDNum", "")
            if kind == "BridgeEnter" and ch.up is None:
                # Connected means bridged with the caller, not merely answered: a leg callgate
                # gave up on (its ring timer fired first) was answered but never connected.
                ch.up = t
            elif kind == "Hangup":
                ch.ended = t
    return chans


def analyse(
    events: list[tuple[float, Event]], prefix: str, wrap_up: float, agents: set[str]
) -> tuple[PassResult, dict[str, list[Channel]]]:
    res = PassResult()
    for _, e in events:
        with contextlib.suppress(KeyError, ValueError):
            res.read_lag_ms.append((float(e["ReadAt"]) - float(e["Timestamp"])) * 1000)
    chans = _channels(events)
    trunk = {
        c.uniqueid: c
        for c in chans.values()
        if c.name.startswith("PJSIP/jasnita-") and re.sub(r"\D", "", c.caller).startswith(prefix)
    }
    by_digits = {_digits(c.caller): c.uniqueid for c in trunk.values()}
    legs: dict[str, list[Channel]] = {}
    call_of_leg: dict[str, str] = {}
    for c in chans.values():
        ext = _agent_ext(c.name)
        if ext not in agents:
            continue
        legs.setdefault(ext, []).append(c)
        # app_queue's member leg inherits the caller's linkedid; callgate's ARI-originated leg
        # carries the caller's number as its caller ID.
        if c.linkedid in trunk:
            call_of_leg[c.uniqueid] = c.linkedid
        elif _digits(c.caller) in by_digits:
            call_of_leg[c.uniqueid] = by_digits[_digits(c.caller)]
    for _, e in events:
        # DialBegin names both sides for app_queue: a second way to link a leg to its caller.
        if e["Event"] == "DialBegin" and e.get("Uniqueid") in trunk:
            call_of_leg.setdefault(e.get("DestUniqueid", ""), e["Uniqueid"])
        if e["Event"] == "QueueCallerJoin" and e.get("Uniqueid") in trunk:
            res.fell_back += 1
    all_legs = sorted((c for cs in legs.values() for c in cs), key=lambda c: c.created)
    for cs in legs.values():
        cs.sort(key=lambda c: c.created)

    def alive(group: list[Channel], t: float) -> int:
        return sum(1 for c in group if c.created <= t and (c.ended is None or c.ended > t))

    trunk_list = list(trunk.values())

    def waiting(t: float) -> int:
        # Callers in Asterisk minus call-taker legs (ringing or talking): those still waiting.
        return alive(trunk_list, t) - alive(all_legs, t)

    def agent_free(ext: str, t: float) -> bool:
        for c in legs.get(ext, []):
            if c.created <= t and (c.ended is None or c.ended > t):
                return False
            if c.up is not None and c.ended is not None and c.ended <= t < c.ended + wrap_up:
                return False
        return True

    res.entered = len(trunk)
    first_ring: dict[str, float] = {}
    connected: set[str] = set()
    for c in all_legs:
        call = call_of_leg.get(c.uniqueid)
        if call is None:
            continue
        first_ring.setdefault(call, c.created)
        if c.up is not None:
            connected.add(call)
    res.connected = len(connected)
    res.lost = res.entered - res.connected
    for uid, c in trunk.items():
        if uid in first_ring:
            res.enter_to_ring_all_s.append(first_ring[uid] - c.created)
            # The path's own latency: more call-takers free than callers ahead of this one.
            ahead = waiting(c.created) - 1
            if ahead < sum(1 for ext in agents if agent_free(ext, c.created)):
                res.enter_to_ring_free_ms.append((first_ring[uid] - c.created) * 1000)
    for cs in legs.values():
        created = [c.created for c in cs]
        for c in cs:
            if c.up is None or c.ended is None:
                continue
            free = c.ended + wrap_up
            if waiting(free) <= 0:
                continue  # nobody was waiting: nothing to ring them with
            i = bisect.bisect_right(created, c.ended)
            if i < len(cs):
                res.free_to_ring_ms.append((cs[i].created - free) * 1000)
            else:
                res.free_without_ring += 1
    if trunk:
        res.wall_s = max((c.ended or c.created) for c in trunk_list) - min(
            c.created for c in trunk_list
        )
    return res, legs


_AGENT_LINE = re.compile(r"agent (\d{4}): WRAP_UP -\[WrapUpEnded\]-> AVAILABLE")


def callgate_timer_split(
    daemon: Daemon, legs: dict[str, list[Channel]], wrap_up: float, res: PassResult
) -> None:
    """Split free->ring at callgate's own "WrapUpEnded" log line (its timer firing)."""
    for record in daemon.records():
        m = _AGENT_LINE.search(str(record.get("event", "")))
        if not m or "timestamp" not in record:
            continue
        t = dt.datetime.fromisoformat(str(record["timestamp"]).replace("Z", "+00:00")).timestamp()
        cs = legs.get(m.group(1), [])
        ended = [c.ended + wrap_up for c in cs if c.up is not None and c.ended is not None]
        prior = [f for f in ended if f - 1.0 <= t]
        later = [c.created for c in cs if c.created >= t - 0.001]
        if prior and later and later[0] - t < 2.0:
            res.timer_late_ms.append((t - max(prior)) * 1000)
            res.timer_to_ring_ms.append((later[0] - t) * 1000)


def callgate_log_counts(daemon: Daemon, res: PassResult) -> None:
    """What callgate's log says about its timer and its MQTT link during the pass."""
    events = [str(record.get("event", "")) for record in daemon.records()]
    res.timer_late_lines = sum(1 for e in events if e == "ACD timer late")
    res.client_warnings = sum(1 for e in events if e.endswith("pending publish calls."))
    res.backlog_alarms = sum(1 for e in events if e.startswith("ALARM: MQTT"))


# -- passes ------------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


def callgate_free() -> bool:
    """No other callgate daemon runs: ours would take its ARI app (and its calls) or, in the
    app_queue pass, it would take ours. ARI's /applications is no help: an app stays listed
    while bridges it made remain."""
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == me:
            continue
        with contextlib.suppress(OSError):
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            # `callgate run`, `python -m callgate run`, or the service venv's script run by its
            # interpreter (scripts/as-service): `.../python3 .../bin/callgate run`.
            named = any(arg == b"callgate" or arg.endswith(b"/callgate") for arg in argv)
            if named and b"run" in argv:
                return False
    return True


def test_phones_quiet() -> bool:
    """The fallback queue also lists 1001-1008: a test's registered phone would get our calls."""
    return all(labpeers.endpoint_state(str(e)) != "online" for e in range(1001, 1009))


def hang_up_leftovers(
    ami: AmiLog, mark: int, prefixes: tuple[str, ...], settle: float = 5.0, timeout: float = 120.0
) -> None:
    """Hang up, by exact name, every channel of ours still up (never anybody else's).

    Repeated until none has been seen for ``settle`` s: originates Asterisk had queued still
    create channels after the first sweep, and callgate, when stopped, hands every waiting caller
    to the fallback queue, where they would stay in the shared lab.
    """
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        ours: dict[str, str] = {}
        for _, e in ami.since(mark):
            uid = e.get("Uniqueid", "")
            if e["Event"] == "Newchannel":
                digits = re.sub(r"\D", "", e.get("CallerIDNum", ""))
                mine = uid.startswith("bench-") or any(
                    digits.startswith((p, "62" + p[1:])) for p in prefixes
                )
                if mine:
                    ours[uid] = e.get("Channel", "")
            elif e["Event"] == "Hangup":
                ours.pop(uid, None)
        for name in ours.values():
            ami.send({"Action": "Hangup", "Channel": name})
        if ours:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settle:
            return
        time.sleep(1)


def burst_pass(
    system: str,
    ami: AmiLog,
    args: argparse.Namespace,
    workdir: Path,
) -> PassResult:
    prefix = PREFIX[system]
    extensions = [str(FIRST_EXTENSION + k) for k in range(args.agents)]
    daemon: Daemon | None = None
    wait_until(callgate_free, 900, "other callgate daemons (tests) to stop")
    relay: SlowRelay | None = None
    if system == "slow-broker":
        relay = SlowRelay(BROKER, args.broker_delay_ms / 1000, args.broker_kbps * 1000)
    if system in ("callgate", "slow-broker"):
        daemon = Daemon(
            workdir,
            {
                **({} if relay is None else {"CALLGATE_MQTT__PORT": str(relay.port)}),
                "CALLGATE_CALLTAKERS__ENDPOINTS": json.dumps([f"PJSIP/{e}" for e in extensions]),
                "CALLGATE_CALLTAKERS__WRAP_UP_TIME": str(args.wrap_up),
                # Callers must wait as long as the burst takes, never overflow.
                "CALLGATE_ACD__MAX_WAIT": "3600",
                # Where the dialplan's MixMonitor writes, as callgate sees it (it seals each file).
                "CALLGATE_RECORDING__ASTERISK_DIR": str(labpeers.RECORDINGS),
            },
        )
    else:
        wait_until(test_phones_quiet, 900, "the tests' phones 1001-1008 to unregister")
    mark = ami.mark()
    callers = [f"{prefix}{i:08d}" for i in range(args.calls)]
    rounds = args.calls / args.agents + 1
    # The caller hangs up on its own only if nobody ever answered: long enough never to happen.
    patience = rounds * (args.talk + args.wrap_up + 3) + 60
    carrier = carrier_calls(
        callers=callers,
        talk_seconds=patience,
        rate_per_second=args.calls / args.seconds,
        workdir=workdir / f"sipp-{system}",
    )
    driver: HangupDriver | None = None
    try:
        if daemon is not None:
            daemon.start()
        # Phones register after callgate has started: callgate learns a phone is reachable only
        # from a device-state change (see benchmarks/README.md).
        with softphones(extensions, workdir / "phones") as phones:
            driver = HangupDriver(phones, args.talk)
            ami.listeners.append(driver.on_event)
            time.sleep(1)
            carrier.start()
            carrier.wait(timeout=patience + 180)
            time.sleep(args.wrap_up + 2)  # the last wrap-ups end
    finally:
        hang_up_leftovers(ami, mark, (prefix,))
        carrier.stop()
        if driver is not None:
            driver.stop()
            ami.listeners.remove(driver.on_event)
        if daemon is not None:
            daemon.stop()
        if relay is not None:
            relay.stop()
    with (workdir / "ami-events.jsonl").open("w") as dump:
        for stamp, event in ami.since(mark):
            dump.write(json.dumps({"t": stamp, **event}) + "\n")
    stats = carrier.stats()
    res, legs = analyse(ami.since(mark), prefix, args.wrap_up, set(extensions))
    res.placed = args.calls
    res.sipp_failed = stats.get("failed", -1)
    res.lost = max(res.lost, res.placed - res.connected)
    if daemon is not None:
        callgate_timer_split(daemon, legs, args.wrap_up, res)
        callgate_log_counts(daemon, res)
    if relay is not None:
        res.relay_bytes = relay.bytes
    return res


def carrier_calls(**kwargs: Any) -> labpeers.CarrierCalls:
    """labpeers' SIPp carrier with no cap on simultaneous calls.

    SIPp's default cap (3 x rate x call length, with our scenario's unknown length 15 calls at 5
    calls/s) would throttle the burst: SIPp would hold calls back instead of sending them.
    """
    return labpeers.CarrierCalls(**{"limit": 5000, **kwargs})


class MediaQuieter:
    """Stops music on hold and MixMonitor on the memory pass's waiting callers once callgate has
    set them up (Asterisk's ``MusicOnHoldStart``), so the lab can hold 2,000 of them.

    A waiting caller costs Asterisk two or three threads waking 50 times a second (music on
    hold, the recorder, a Local channel's other half); on the lab's 2 cores ~600 such callers
    already saturate it (load average ~400, ARI requests timing out). callgate's memory per
    waiting caller does not depend on audio flowing in Asterisk: it keeps the same state.
    """

    def __init__(self, ami: AmiLog, prefix: str) -> None:
        self.ami = ami
        self.prefix = prefix
        self.quieted = 0
        self.failed = 0
        self.pending: list[tuple[str, str]] = []
        self.seen: set[str] = set()
        self.cond = threading.Condition()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, name="quieter", daemon=True)
        self.thread.start()
        self.halt = threading.Event()
        self.sweeper = threading.Thread(target=self._sweep, name="quieter-sweep", daemon=True)
        self.sweeper.start()

    def _sweep(self) -> None:
        """Every 15 s, music on hold off on every caller of ours still in Stasis: a safety net
        for a ``MusicOnHoldStart`` missed or a request lost while the lab was saturated
        (measured: without it, part of 880 callers kept their music on hold)."""
        while not self.halt.wait(timeout=15):
            with contextlib.suppress(Exception):
                channels = labpeers.ari_get("/channels")
                assert isinstance(channels, list)
                for ch in channels:
                    uid = str(ch.get("id", ""))
                    digits = re.sub(r"\D", "", str(ch.get("caller", {}).get("number", "")))
                    ours = uid.startswith("bench-mem-") or digits.startswith(
                        (self.prefix, "62" + self.prefix[1:])
                    )
                    if ours and ch.get("dialplan", {}).get("app_name") == "Stasis":
                        with self.cond:
                            self.pending.append((uid, str(ch.get("name", ""))))
                            self.cond.notify()

    def on_event(self, now: float, event: Event) -> None:
        if event["Event"] != "MusicOnHoldStart":
            return
        uid = event.get("Uniqueid", "")
        digits = re.sub(r"\D", "", event.get("CallerIDNum", ""))
        ours = uid.startswith("bench-mem-") or digits.startswith(
            (self.prefix, "62" + self.prefix[1:])
        )
        # Every time: callgate starts music on hold again after a prompt (the silent-caller
        # prompt after [screening] silence_seconds).
        if ours:
            with self.cond:
                self.pending.append((uid, event.get("Channel", "")))
                self.cond.notify()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.stopped and not self.pending:
                    self.cond.wait()
                if self.stopped:
                    return
                uid, channel = self.pending.pop(0)
            first = uid not in self.seen
            if first:
                self.seen.add(uid)
                self.ami.send({"Action": "StopMixMonitor", "Channel": channel})
            req = urllib.request.Request(
                f"{labpeers.ARI}/channels/{uid}/moh",
                method="DELETE",
                headers={"Authorization": labpeers.ARI_AUTH},
            )
            try:
                with urllib.request.urlopen(req, timeout=10):
                    self.quieted += first
            except Exception:  # an overloaded lab sends odd replies: never stop quieting
                self.failed += 1

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify()
        self.halt.set()
        self.thread.join(timeout=5)
        self.sweeper.join(timeout=5)


@dataclass
class MemoryResult:
    baseline_kb: int = 0
    sip_held: int = 0
    sip_rss_kb: int = 0
    sip_failed: int = 0
    total_held: int = 0
    total_rss_kb: int = 0
    hwm_kb: int = 0
    slope_kb: float = 0.0
    stopped_early: bool = False
    samples: list[tuple[int, int]] = field(default_factory=list)
    quieted: int = 0  # callers whose music on hold and recorder the script stopped


def _fit_slope(samples: list[tuple[int, int]]) -> float:
    xs = [float(x) for x, _ in samples]
    ys = [float(y) for _, y in samples]
    if len(xs) < 2 or max(xs) == min(xs):
        return 0.0
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def memory_pass(ami: AmiLog, args: argparse.Namespace, workdir: Path) -> MemoryResult:
    """Hold calls waiting in callgate (no call-taker registered) and read its RSS."""
    wait_until(callgate_free, 900, "other callgate daemons (tests) to stop")
    out = MemoryResult()
    prefix = PREFIX["memory"]
    endpoints = [f"PJSIP/{FIRST_EXTENSION + k}" for k in range(args.agents)]
    daemon = Daemon(
        workdir,
        {
            "CALLGATE_CALLTAKERS__ENDPOINTS": json.dumps(endpoints),
            "CALLGATE_ACD__MAX_WAIT": "3600",
        },
    )
    mark = ami.mark()
    target = args.memory_calls
    # SIP calls only as many as the lab's RTP ports hold (rtp.conf); more would only fail.
    carrier = carrier_calls(
        callers=[f"{prefix}{i:08d}" for i in range(min(target, args.memory_sip))],
        talk_seconds=3600,
        rate_per_second=args.memory_rate,
        workdir=workdir / "sipp-memory",
    )

    def waiting_in_callgate() -> int:
        text = daemon.log_text()
        return text.count('"112 call entered"') - text.count('"call ended"')

    def sample() -> tuple[int, int]:
        n = waiting_in_callgate()
        rss, hwm = daemon.memory_kb()
        out.hwm_kb = max(out.hwm_kb, hwm)
        out.samples.append((n, rss))
        return n, rss

    quieter = MediaQuieter(ami, prefix) if args.memory_quiet else None
    if quieter is not None:
        ami.listeners.append(quieter.on_event)
    try:
        daemon.start()
        time.sleep(2)
        out.baseline_kb = daemon.memory_kb()[0]
        out.samples.append((0, out.baseline_kb))
        # Phase 1: real SIP calls over the trunk, as many as Asterisk will hold.
        carrier.start()
        best, still = 0, time.monotonic()
        while time.monotonic() - still < 15 and carrier.process is not None:
            time.sleep(1)
            n, _ = sample()
            if n > best:
                best, still = n, time.monotonic()
            if n >= min(target, args.memory_sip) or carrier.process.poll() is not None:
                break
        time.sleep(3)
        out.sip_held, out.sip_rss_kb = sample()
        stats = _sipp_stats_now(carrier)
        out.sip_failed = stats.get("failed", 0)
        # Phase 2: top up with Local channels into the same [emergency] dialplan (no RTP ports
        # needed), so callgate sees the full number of waiting callers. Paced by the lab itself:
        # at most --memory-backlog originated and not yet queued in callgate at any time, so a
        # shared 2-core lab is never toppled; given up (and said so) only when nothing moves.
        need = max(0, target - out.sip_held)
        added, n, moved = 0, out.sip_held, time.monotonic()
        topping = moved
        while added < need:
            backlog = out.sip_held + added - n
            room = max(0, min(args.memory_batch, need - added, args.memory_backlog - backlog))
            if os.getloadavg()[0] > args.memory_max_load * (os.cpu_count() or 1):
                room = 0  # the shared lab is saturated: let it catch up first
                if time.monotonic() - topping < args.memory_seconds:
                    moved = time.monotonic()  # waiting for the lab is not callgate stalling
            for i in range(added, added + room):
                ami.send(
                    {
                        "Action": "Originate",
                        "Channel": "Local/s@emergency",
                        # Not Wait(): with transmit_silence = yes (asterisk.conf) it sends
                        # 50 silence frames a second into each caller (and callgate's
                        # TALK_DETECT): 500 such callers took most of the 2 cores. Echo sends
                        # back only what the caller's side plays.
                        "Application": "Echo",
                        "CallerID": f"<{prefix}9{i:07d}>",
                        "ChannelId": f"bench-mem-{i}",
                        "OtherChannelId": f"bench-mem-{i}-2",
                        "Async": "true",
                    }
                )
            added += room
            time.sleep(1)
            before = n
            n, _ = sample()
            if n > before:
                moved = time.monotonic()
            elif time.monotonic() - moved > args.memory_stall:
                out.stopped_early = True
                break
        still = time.monotonic()
        best = 0
        while time.monotonic() - still < 20:
            time.sleep(1)
            n, _ = sample()
            if n > best:
                best, still = n, time.monotonic()
            if n >= target:
                break
        time.sleep(3)
        out.total_held, out.total_rss_kb = sample()
        out.slope_kb = _fit_slope(out.samples)
    finally:
        if quieter is not None:
            ami.listeners.remove(quieter.on_event)
            quieter.stop()
            out.quieted = quieter.quieted
        hang_up_leftovers(ami, mark, (prefix,))
        with contextlib.suppress(RuntimeError):
            wait_until(lambda: waiting_in_callgate() <= 0, 120, "the held calls to end")
        carrier.stop()
        daemon.stop()
    return out


def _sipp_stats_now(carrier: labpeers.CarrierCalls) -> dict[str, int]:
    stats: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError, IndexError):
        stats = carrier.stats()
    return stats


# -- report ------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))]


def fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def lab_asterisk_version() -> str:
    """The version of the Asterisk this run measured (both systems ran on it)."""
    try:
        info = labpeers.ari_get("/asterisk/info")
    except OSError:
        return "(unknown)"
    assert isinstance(info, dict)
    return str(info["system"]["version"])


def print_table(
    args: argparse.Namespace,
    results: dict[str, PassResult],
    memory: MemoryResult | None,
) -> None:
    cg, aq = results.get("callgate", PassResult()), results.get("app_queue", PassResult())
    slow = results.get("slow-broker", PassResult())
    print(
        f"\nBurst: {args.calls} calls over the trunk in {args.seconds} s, {args.agents} call-takers"
        f" (baresip), talk {args.talk:g} s, wrap-up {args.wrap_up:g} s (both systems)"
    )
    if "slow-broker" in results:
        print(
            f"Slow broker: callgate reaches Mosquitto through a relay holding every chunk"
            f" {args.broker_delay_ms:g} ms each way, {args.broker_kbps:g} kB/s each way"
        )
    print(
        f"{dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {os.cpu_count()} cores,"
        f" {platform.machine()}, Asterisk {lab_asterisk_version()} lab\n"
    )
    rows: list[tuple[str, ...]] = [("", "callgate", "callgate, slow broker", "app_queue", "target")]

    def both(label: str, get: Callable[[PassResult], str], target: str = "") -> None:
        rows.append((label, get(cg), get(slow), get(aq), target))

    def ours(label: str, get: Callable[[PassResult], str], target: str = "") -> None:
        rows.append((label, get(cg), get(slow), "", target))

    both(
        "free -> next ring, p50",
        lambda r: fmt(pct(r.free_to_ring_ms, 0.5), " ms", 1),
    )
    both(
        "free -> next ring, p99",
        lambda r: fmt(pct(r.free_to_ring_ms, 0.99), " ms", 1),
        f"callgate < {TARGET_FREE_TO_RING_P99_MS:g} ms",
    )
    both("free -> next ring, max", lambda r: fmt(max(r.free_to_ring_ms, default=None), " ms", 1))
    both("free -> next ring, min", lambda r: fmt(min(r.free_to_ring_ms, default=None), " ms", 1))
    both(
        "  (samples; freed, nobody rung)",
        lambda r: f"{len(r.free_to_ring_ms)}; {r.free_without_ring}",
    )
    both(
        "  (rung before wrap-up had ended)",
        lambda r: str(sum(1 for g in r.free_to_ring_ms if g < 0)),
        "0",
    )
    both(
        "enter -> 1st ring, p50 (no queue)",
        lambda r: fmt(pct(r.enter_to_ring_free_ms, 0.5), " ms", 1),
    )
    both(
        "enter -> 1st ring, p99 (no queue)",
        lambda r: fmt(pct(r.enter_to_ring_free_ms, 0.99), " ms", 1),
    )
    both("  (calls that found a free call-taker)", lambda r: str(len(r.enter_to_ring_free_ms)))
    both(
        "enter -> 1st ring, p50 (all calls)",
        lambda r: fmt(pct(r.enter_to_ring_all_s, 0.5), " s", 2),
    )
    both(
        "enter -> 1st ring, p99 (all calls)",
        lambda r: fmt(pct(r.enter_to_ring_all_s, 0.99), " s", 2),
    )
    both("calls placed / entered / connected", lambda r: f"{r.placed}/{r.entered}/{r.connected}")
    both("calls lost", lambda r: str(r.lost), "0")
    both("SIPp failed calls", lambda r: str(r.sipp_failed), "0")
    both("callers in Queue(fallback-112)", lambda r: str(r.fell_back))
    both("first call in -> last call out", lambda r: fmt(r.wall_s, " s", 1))
    both(
        "AMI read lag (not in the figures) p50/p99",
        lambda r: (
            f"{fmt(pct(r.read_lag_ms, 0.5), '', 1)}/{fmt(pct(r.read_lag_ms, 0.99), ' ms', 1)}"
        ),
    )
    if cg.timer_late_ms or slow.timer_late_ms:
        ours(
            "callgate: free -> its WrapUpEnded p50/p99",
            lambda r: (
                f"{fmt(pct(r.timer_late_ms, 0.5), '', 1)}/"
                f"{fmt(pct(r.timer_late_ms, 0.99), ' ms', 1)}"
            ),
        )
        ours(
            "callgate: WrapUpEnded -> ring p50/p99",
            lambda r: (
                f"{fmt(pct(r.timer_to_ring_ms, 0.5), '', 1)}/"
                f"{fmt(pct(r.timer_to_ring_ms, 0.99), ' ms', 1)}"
            ),
        )
    if cg.timer_late_lines is not None or slow.timer_late_lines is not None:

        def count(value: int | None) -> str:
            return "-" if value is None else str(value)

        ours("callgate log: 'ACD timer late'", lambda r: count(r.timer_late_lines), "0")
        ours(
            "callgate log: client 'pending publish calls'",
            lambda r: count(r.client_warnings),
            "0",
        )
        ours(
            "callgate log: MQTT backlog ALARM",
            lambda r: count(r.backlog_alarms),
            "slow broker: 1",
        )
        ours(
            "  (MQTT bytes through the relay)",
            lambda r: "" if r.relay_bytes is None else str(r.relay_bytes),
        )
    if memory is not None:
        mb = 1024.0
        rows.append(("callgate RSS, idle", fmt(memory.baseline_kb / mb, " MB", 1), "", "", ""))
        rows.append(
            (
                f"callgate RSS, {memory.sip_held} SIP calls waiting",
                fmt(memory.sip_rss_kb / mb, " MB", 1),
                "",
                "",
                f"(Asterisk held {memory.sip_held} of {args.memory_calls}; "
                f"SIPp failed {memory.sip_failed})",
            )
        )
        rows.append(
            (
                f"callgate RSS, {memory.total_held} calls waiting",
                fmt(memory.total_rss_kb / mb, " MB", 1),
                "",
                "",
                f"< {TARGET_RSS_MB:g} MB at 2,000"
                + (" (stopped early: the lab fell behind)" if memory.stopped_early else ""),
            )
        )
        rows.append(
            (
                "  (callers whose MOH + MixMonitor it stopped)",
                str(memory.quieted),
                "",
                "",
                "(--memory-keep-media: none)",
            )
        )
        rows.append(("callgate VmHWM (peak)", fmt(memory.hwm_kb / mb, " MB", 1), "", "", ""))
        rows.append(("callgate RSS per waiting call", fmt(memory.slope_kb, " kB", 1), "", "", ""))
        if memory.total_held < 2000:
            rows.append(
                (
                    "  -> 2,000 waiting (extrapolated)",
                    fmt((memory.baseline_kb + 2000 * memory.slope_kb) / mb, " MB", 1),
                    "",
                    "",
                    f"< {TARGET_RSS_MB:g} MB",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(widths[k]) for k, cell in enumerate(row)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def queue_wrapuptime() -> float:
    conf = configparser.ConfigParser(strict=False, inline_comment_prefixes=(";",))
    text = (REPO / "asterisk-conf" / "queues.conf").read_text()
    # queues.conf repeats "member =>" keys; only [fallback-112]'s plain settings matter here.
    text = "\n".join(line for line in text.splitlines() if not line.startswith("member"))
    conf.read_string(text)
    return float(conf["fallback-112"]["wrapuptime"])


@contextlib.contextmanager
def softphones(extensions: list[str], base: Path) -> Iterator[dict[str, labpeers.Softphone]]:
    phones = labpeers.start_phones(extensions, base)
    try:
        yield {p.extension: p for p in phones}
    finally:
        for p in phones:
            p.stop()
        # A stale registration would make a later pass ring a softphone that is gone.
        for p in phones:
            with contextlib.suppress(RuntimeError):
                wait_until(
                    lambda p=p: labpeers.endpoint_state(p.extension) != "online",  # type: ignore[misc]
                    10,
                    f"{p.extension} to unregister",
                )


def reanalyse(
    workdir: Path, args: argparse.Namespace
) -> tuple[dict[str, PassResult], MemoryResult | None]:
    results: dict[str, PassResult] = {}
    agents = {str(FIRST_EXTENSION + k) for k in range(args.agents)}
    for system in BURST_PASSES:
        dump = workdir / system / "ami-events.jsonl"
        if not dump.exists():
            continue
        events: list[tuple[float, Event]] = []
        for line in dump.read_text().splitlines():
            record = json.loads(line)
            stamp = float(record.pop("t"))
            events.append((stamp, {k: str(v) for k, v in record.items()}))
        res, legs = analyse(events, PREFIX[system], args.wrap_up, agents)
        res.placed = args.calls
        stats = labpeers.CarrierCalls([], workdir=workdir / system / f"sipp-{system}").stats()
        res.sipp_failed = stats.get("failed", -1)
        res.lost = max(res.lost, res.placed - res.connected)
        if system in ("callgate", "slow-broker"):
            saved = Daemon(workdir / system, {})
            callgate_timer_split(saved, legs, args.wrap_up, res)
            callgate_log_counts(saved, res)
        results[system] = res
    memory = None
    saved = workdir / "memory" / "memory.json"
    if saved.exists():
        data = json.loads(saved.read_text())
        data["samples"] = [tuple(s) for s in data["samples"]]
        memory = MemoryResult(**data)
    return results, memory


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0, help="the burst's length")
    parser.add_argument("--agents", type=int, default=20, help="call-takers, from 1009 (max 20)")
    parser.add_argument("--talk", type=float, default=3.0, help="call-takers hang up after this")
    parser.add_argument("--wrap-up", type=float, default=5.0, help="must equal app_queue's")
    parser.add_argument("--memory-calls", type=int, default=2000)
    parser.add_argument("--memory-rate", type=float, default=20.0, help="SIP calls a second")
    parser.add_argument(
        "--memory-sip",
        type=int,
        default=450,
        help="of --memory-calls, SIP calls over the trunk (rtp.conf: 500 sessions); rest Local",
    )
    parser.add_argument(
        "--memory-backlog",
        type=int,
        default=150,
        help="most Local callers originated but not yet waiting in callgate at any time",
    )
    parser.add_argument("--memory-batch", type=int, default=50, help="Local originates a second")
    parser.add_argument(
        "--memory-seconds",
        type=float,
        default=300.0,
        help="longest the Local top-up waits for a saturated lab before giving up",
    )
    parser.add_argument(
        "--memory-max-load",
        type=float,
        default=8.0,
        help="add no callers while the 1-minute load average per core is above this",
    )
    parser.add_argument(
        "--memory-keep-media",
        dest="memory_quiet",
        action="store_false",
        help="leave music on hold and MixMonitor running on waiting callers (~600 fit on 2 cores)",
    )
    parser.add_argument(
        "--memory-stall",
        type=float,
        default=60.0,
        help="stop adding callers when callgate's waiting count has not grown for this long",
    )
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument(
        "--only",
        action="append",
        choices=(*BURST_PASSES, "memory"),
        help="run this pass (repeatable; default: all four)",
    )
    parser.add_argument(
        "--broker-delay-ms",
        type=float,
        default=250.0,
        help="slow-broker pass: every chunk to and from Mosquitto held this long, each way",
    )
    parser.add_argument(
        "--broker-kbps",
        type=float,
        default=8.0,
        help="slow-broker pass: kB/s each way through the relay (0: no cap)",
    )
    parser.add_argument(
        "--from",
        dest="from_dir",
        type=Path,
        help="re-print the table from a previous run's folder (same options as that run)",
    )
    args = parser.parse_args(argv)
    if args.from_dir is not None:
        print_table(args, *reanalyse(args.from_dir, args))
        return 0
    if os.geteuid() != 0:
        print("lab_burst: run as root (the lab is root's)", file=sys.stderr)
        return 2
    if not 1 <= args.agents <= 20:
        parser.error("--agents: 1-20 (endpoints 1009-1028 exist in asterisk-conf/pjsip.conf)")
    if args.wrap_up != queue_wrapuptime():
        parser.error(
            f"--wrap-up {args.wrap_up:g} differs from app_queue's wrapuptime "
            f"{queue_wrapuptime():g} (asterisk-conf/queues.conf): the comparison needs both equal"
        )
    if labpeers.endpoint_state(str(FIRST_EXTENSION)) == "unreachable":
        print("lab_burst: the lab is not up: scripts/lab up", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="callgate-burst-"))
    print(f"lab_burst: logs in {workdir}", file=sys.stderr)
    ami = AmiLog.connect()
    results: dict[str, PassResult] = {}
    memory: MemoryResult | None = None
    # Ctrl-C and SIGTERM unwind through every finally below, which stop what was started.
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        for system in BURST_PASSES:
            if not args.only or system in args.only:
                print(f"lab_burst: {system} pass ...", file=sys.stderr)
                passdir = workdir / system
                passdir.mkdir()
                results[system] = burst_pass(system, ami, args, passdir)
        if not args.skip_memory and (not args.only or "memory" in args.only):
            print("lab_burst: memory pass ...", file=sys.stderr)
            (workdir / "memory").mkdir()
            memory = memory_pass(ami, args, workdir / "memory")
            (workdir / "memory" / "memory.json").write_text(json.dumps(memory.__dict__))
    finally:
        ami.close()
    print_table(args, results, memory)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
