"""The fault suite (#13): callgate on the real lab while a component fails under it.

For each fault, 112 calls are placed before, during and after it (SIPp as the carrier, two
baresip call-takers who end each call 1.5 s after answering), and afterwards the suite asserts:

- every caller talked to a call-taker **through callgate** (its log has ``call connected`` for the
  caller's call), not the dialplan's fallback queue (Asterisk's queue_log has a ``CALLGATEINFO``
  line for each caller that went there). Only while callgate itself is down (``fallback_allowed``)
  is the fallback queue allowed; no caller may be lost either way;
- the journal is complete: every call has its start and end rows;
- the CAD event stream, read from the lab's real Mosquitto by an MQTT client as CAD would, is
  complete: every call's events, ``received`` to ``ended``, with a gap-free ``seq`` from 1;
- the daemon never restarted (the same PID throughout), except where the test kills it.

The faults are real: a PostgreSQL server stopped by its PID and started again on the same port
and data folder; the journal's file system (a small tmpfs) filled up; the lab's Mosquitto
stopped and started again; AMI unreachable (callgate's session cut and every connection refused
for 30 s, through a loopback relay to the real AMI, see :class:`TcpRelay`); callgate SIGKILLed
mid-burst and started again; and bad FastAGI, HTTP and MQTT clients during calls.
Everything on 127.0.0.1; every process started here is stopped by its PID.

Each test writes its figures (calls placed, served by callgate / by the fallback queue / lost,
records lost, time to recover) to ``faults.json`` in its tmp folder, or to the file that
``CALLGATE_FAULT_TABLE`` names (merged, one entry per fault): ``benchmarks/faults.py`` runs the
suite and prints the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiomqtt
import labpeers
import pytest

from callgate.storage.journal import Journal
from callgate.storage.records import CallRecord

from .conftest import Daemon, wait_for

REPO = Path(__file__).resolve().parents[2]
LAB_BROKER_PORT = int(os.environ.get("CALLGATE_MQTT_PORT", "11883"))
LAB_RUN = labpeers.LAB_DIR / "run"
ADMIN = ("127.0.0.1", 8089)
AGI = ("127.0.0.1", 4573)
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_PASSWORD = "pg-Fault-Pa55"
#: Seconds each outage lasts (the issue: PostgreSQL and the broker down 60 s).
OUTAGE = float(os.environ.get("CALLGATE_FAULT_OUTAGE", "60"))
SHORT_OUTAGE = min(OUTAGE, 30.0)
#: This run's callers: numbers no earlier run used (the lab's queue_log keeps old runs).
RUN = f"{int(time.time()) % 10**6:06d}"


def _number(fault: int, n: int) -> str:
    return f"0819{fault}{RUN}{n:02d}"


def _e164(number: str) -> str:
    return "+62" + number[1:]


# ------------------------------------------------------------------------------ figures


@dataclass
class Figures:
    fault: str
    asterisk: str = ""
    outage_s: float = 0.0
    placed: int = 0
    by_callgate: int = 0
    by_fallback: int = 0
    lost: int = 0
    records_lost: int = 0
    events_lost: int = 0
    recover_s: float | None = None
    test_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def _write_figures(figures: Figures, tmp_path: Path) -> None:
    """Merge this fault's figures into the table file (one entry per fault)."""
    path = Path(os.environ.get("CALLGATE_FAULT_TABLE") or tmp_path / "faults.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        text = handle.read()
        table = json.loads(text) if text.strip() else {}
        table[figures.fault] = asdict(figures)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(table, indent=2) + "\n")


def _asterisk_version() -> str:
    info = labpeers.ari_get("/asterisk/info")
    assert isinstance(info, dict)
    return str(info["system"]["version"])


# ------------------------------------------------------------------------------ CAD on MQTT


class CadStream:
    """CAD's view: an MQTT client on the lab's Mosquitto subscribed to every call's events of
    one site. It reconnects at once when the broker comes back (every 50 ms), so it is
    subscribed again before callgate's backoff lets it publish what it kept meanwhile."""

    def __init__(self, site: str) -> None:
        self.site = site
        self.events: list[dict[str, object]] = []
        self.connects = 0
        self._subscribed = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    LAB_BROKER_PORT,
                    identifier=f"cad-{self.site}",
                    keepalive=5,
                    timeout=2,
                ) as client:
                    await client.subscribe(f"callgate/v1/{self.site}/calls/+/events", qos=1)
                    self.connects += 1
                    self._subscribed.set()
                    async for message in client.messages:
                        payload = message.payload
                        assert isinstance(payload, bytes | bytearray)
                        self.events.append(json.loads(payload))
                        if self._stop.is_set():
                            return
            except aiomqtt.MqttError:
                await asyncio.sleep(0.05)

    def __enter__(self) -> CadStream:
        self._thread.start()
        assert self._subscribed.wait(10), "CAD's MQTT client did not subscribe"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        # Wake the client up: one message on its own topic ends its loop.
        with contextlib.suppress(Exception):
            subprocess.run(
                ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(LAB_BROKER_PORT), "-t",
                 f"callgate/v1/{self.site}/calls/stop/events", "-m", "{}"],
                timeout=5, capture_output=True, check=False,
            )  # fmt: skip
        self._thread.join(timeout=5)

    def problems(self, call_ids: set[str]) -> dict[str, str]:
        """Per call with a broken stream, what is wrong (missing, a gap, out of order, no end)."""
        seen: set[str] = set()
        order: dict[str, list[int]] = {}
        types: dict[str, set[str]] = {}
        for event in list(self.events):
            if event.get("event_id") in seen:
                continue  # at-least-once: a duplicate, dropped by event id as CAD does
            seen.add(str(event.get("event_id")))
            call_id = str(event.get("call_id"))
            order.setdefault(call_id, []).append(int(str(event["seq"])))
            types.setdefault(call_id, set()).add(str(event["type"]))
        problems: dict[str, str] = {}
        for call_id in call_ids:
            seqs = order.get(call_id, [])
            if not seqs:
                problems[call_id] = "no events"
            elif sorted(seqs) != list(range(1, max(seqs) + 1)):
                problems[call_id] = f"seq gap: {sorted(seqs)}"
            elif seqs != sorted(seqs):
                problems[call_id] = f"out of order: {seqs}"
            elif not {"received", "ended"} <= types[call_id]:
                problems[call_id] = f"incomplete: {sorted(types[call_id])}"
        return problems


# ------------------------------------------------------------------------------ calls


class Traffic:
    """112 calls placed in batches (before, during, after a fault) and where each one went."""

    def __init__(self, fault: int, daemon: Daemon, workdir: Path) -> None:
        self.fault = fault
        self.daemon = daemon
        self.workdir = workdir
        self.numbers: list[str] = []
        self.batches: list[labpeers.CarrierCalls] = []

    def place(self, count: int, talk_seconds: float = 40.0, rate: float = 2.0) -> None:
        numbers = [_number(self.fault, len(self.numbers) + i) for i in range(count)]
        self.numbers += numbers
        calls = labpeers.CarrierCalls(
            callers=numbers,
            talk_seconds=talk_seconds,
            rate_per_second=rate,
            workdir=self.workdir / f"sipp-{len(self.batches)}",
        )
        calls.start()
        self.batches.append(calls)

    def entered(self) -> dict[str, str]:
        """call id -> caller (E.164) of every call callgate took."""
        return {
            str(r["call_id"]): str(r.get("caller")) for r in self.daemon.records("112 call entered")
        }

    def ours(self) -> dict[str, str]:
        wanted = {_e164(n) for n in self.numbers}
        return {c: caller for c, caller in self.entered().items() if caller in wanted}

    def connected_callers(self) -> set[str]:
        entered = self.entered()
        return {
            entered[str(r["call_id"])]
            for r in self.daemon.records("call connected")
            if str(r["call_id"]) in entered
        }

    def ended_ids(self) -> set[str]:
        return {str(r["call_id"]) for r in self.daemon.records("call ended")}

    def wait_done(self, timeout: float = 120.0) -> list[str]:
        """Wait for every SIPp batch to end; returns the failures SIPp reports."""
        failures = []
        for calls in self.batches:
            rc = calls.wait(timeout=timeout)
            stats = calls.stats()
            if rc != 0 or stats.get("failed", 0):
                failures.append(f"{calls.workdir.name}: rc={rc} {stats} {calls.errors()[-500:]}")
        return failures

    def stop(self) -> None:
        for calls in self.batches:
            calls.stop()

    def where(self) -> dict[str, str]:
        """Per number: ``callgate``, ``fallback`` (talked to a call-taker in the fallback queue)
        or ``lost``."""
        by_callgate = self.connected_callers()
        fallback = _fallback_connected()
        out = {}
        for number in self.numbers:
            if _e164(number) in by_callgate:
                out[number] = "callgate"
            elif number in fallback:
                out[number] = "fallback"
            else:
                out[number] = "lost"
        return out


def _fallback_answered() -> dict[str, str]:
    """Calls a call-taker answered in the fallback queue (queue_log): Asterisk's unique id ->
    the caller's number as sent."""
    if not labpeers.QUEUE_LOG.exists():
        return {}
    sent: dict[str, str] = {}
    connected: set[str] = set()
    for line in labpeers.QUEUE_LOG.read_text(errors="replace").splitlines():
        parts = line.split("|")
        if len(parts) < 5:
            continue
        if parts[4] == "CALLGATEINFO" and len(parts) > 5:
            sent[parts[1]] = parts[5]
        elif parts[4] == "CONNECT":
            connected.add(parts[1])
    return {unique_id: number for unique_id, number in sent.items() if unique_id in connected}


def _fallback_connected() -> set[str]:
    """Numbers (as sent) that a call-taker answered in the fallback queue."""
    return set(_fallback_answered().values())


def _fallback_call_ids(numbers: list[str]) -> set[str]:
    """queue_log's call ids of ``numbers``' calls answered in the fallback queue."""
    wanted = set(numbers)
    return {unique_id for unique_id, number in _fallback_answered().items() if number in wanted}


def _journal(url: str) -> dict[str, CallRecord]:
    async def read() -> dict[str, CallRecord]:
        journal = await Journal.open(url)
        try:
            return {r.call_id: r for r in await journal.recent_calls(limit=1000)}
        finally:
            await journal.close()

    return asyncio.run(read())


def _journal_problems(url: str, call_ids: set[str]) -> dict[str, str]:
    try:
        records = _journal(url)
    except Exception as exc:
        return dict.fromkeys(call_ids, f"journal unreadable: {exc}")
    problems = {}
    for call_id in call_ids:
        record = records.get(call_id)
        if record is None:
            problems[call_id] = "no start row"
        elif record.ended_at is None or record.outcome is None:
            problems[call_id] = "no end row"
    return problems


def _count(daemon: Daemon, text: str) -> int:
    return daemon.log_text().count(text)


def _time_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    wait_for(predicate, timeout, what)
    return round(time.monotonic() - started, 1)


def _ready(daemon: Daemon) -> bool:
    try:
        with socket.create_connection(ADMIN, timeout=2) as conn:
            conn.sendall(b"GET /readyz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return conn.recv(64).split(b" ")[1] == b"200"
    except (OSError, IndexError):
        return False


# ------------------------------------------------------------------------------ the harness


@dataclass
class Run:
    """One fault test: the daemon, the CAD stream, the calls and the figures."""

    name: str
    daemon: Daemon
    cad: CadStream
    traffic: Traffic
    journal_url: str
    figures: Figures
    tmp_path: Path
    pid: int = 0
    started: float = field(default_factory=time.monotonic)

    def settle_and_check(self, *, fallback_allowed: bool = False, same_pid: bool = True) -> None:
        """After the fault: every call ended, then the figures, then the assertions."""
        failures = self.traffic.wait_done()
        with contextlib.suppress(AssertionError):  # asserted below, after the figures
            wait_for(
                lambda: self.traffic.ours().keys() <= self.traffic.ended_ids(),
                30,
                "callgate to end every call it took",
            )
        not_ended = set(self.traffic.ours()) - self.traffic.ended_ids()
        where = self.traffic.where()
        ours = set(self.traffic.ours())
        journal: dict[str, str] = {}
        events: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            journal = _journal_problems(self.journal_url, ours)
            events = self.cad.problems(ours)
            if not journal and not events:
                break
            time.sleep(0.5)
        f = self.figures
        f.placed = len(where)
        f.by_callgate = sum(1 for w in where.values() if w == "callgate")
        f.by_fallback = sum(1 for w in where.values() if w == "fallback")
        f.lost = sum(1 for w in where.values() if w == "lost")
        f.records_lost = len(journal)
        f.events_lost = len(events)
        f.test_s = round(time.monotonic() - self.started, 1)
        _write_figures(f, self.tmp_path)

        assert not failures, failures
        assert not not_ended, f"no 'call ended' for {not_ended}"
        assert f.lost == 0, {n: w for n, w in where.items() if w == "lost"}
        if not fallback_allowed:
            assert f.by_fallback == 0, {n: w for n, w in where.items() if w != "callgate"}
        assert not journal, journal
        assert not events, events
        assert self.daemon.process is not None
        assert self.daemon.process.poll() is None, "callgate exited"
        if same_pid:
            assert self.daemon.process.pid == self.pid, "callgate restarted"
            assert _count(self.daemon, "ready: taking calls") == 1, "callgate restarted"


@contextlib.contextmanager
def fault_run(
    name: str,
    fault: int,
    tmp_path: Path,
    phones: Callable[..., list[labpeers.Softphone]],
    *,
    journal_url: str | None = None,
    state_dir_setup: Callable[[Path], None] | None = None,
    **env: str,
) -> Iterator[Run]:
    site = f"f{uuid.uuid4().hex[:8]}"
    settings = {
        "CALLGATE_MQTT__SITE": site,
        "CALLGATE_CALLTAKERS__WRAP_UP_TIME": "1",
        # Come back within seconds of the component, not after up to 30 s of backoff.
        "CALLGATE_STORAGE__RETRY_MAX_SECONDS": "2",
        "CALLGATE_MQTT__RECONNECT_MAX": "2",
        **env,
    }
    if journal_url is not None:
        settings["CALLGATE_STORAGE__URL"] = journal_url
    daemon = Daemon(tmp_path / "callgate.log", **settings)
    url = journal_url or f"sqlite+aiosqlite:///{daemon.journal_path}"
    try:
        if state_dir_setup is not None:
            state_dir_setup(daemon.state_dir)
        takers = phones("1001", "1002")
        with CadStream(site) as cad, labpeers.CallTakersHangUp(1.5, takers):
            daemon.start()
            assert daemon.process is not None
            wait_for(lambda: _ready(daemon), 20, "callgate to be ready")
            traffic = Traffic(fault, daemon, tmp_path)
            run = Run(
                name=name,
                daemon=daemon,
                cad=cad,
                traffic=traffic,
                journal_url=url,
                figures=Figures(fault=name, asterisk=_asterisk_version()),
                tmp_path=tmp_path,
                pid=daemon.process.pid,
            )
            try:
                yield run
            finally:
                traffic.stop()
    finally:
        daemon.stop()


def _place_during(run: Run, seconds: float, batches: int = 2, per_batch: int = 3) -> None:
    """Calls while the fault lasts: ``batches`` batches spread over ``seconds``."""
    started = time.monotonic()
    for n in range(batches):
        at = started + n * seconds / batches + 2
        time.sleep(max(0.0, at - time.monotonic()))
        run.traffic.place(per_batch)
    time.sleep(max(0.0, started + seconds - time.monotonic()))


def _before(run: Run, count: int = 3) -> None:
    run.traffic.place(count)
    wait_for(lambda: len(run.traffic.connected_callers()) >= count, 30, "the calls before")


# ------------------------------------------------------------------------------ PostgreSQL


class Postgres:
    """A throwaway PostgreSQL 15 cluster on a loopback port, run as ``postgres``, stopped and
    started by its PID on the same port and data folder."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").is_file():
            pytest.fail(f"PostgreSQL 15 not found in {PG_BIN}: apt-get install postgresql-15")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        owner = pwd.getpwnam("postgres")
        self.base = Path(tempfile.mkdtemp(prefix="callgate-faults-pg-"))
        os.chown(self.base, owner.pw_uid, owner.pw_gid)
        (self.base / "pwfile").write_text(PG_PASSWORD + "\n")
        os.chown(self.base / "pwfile", owner.pw_uid, owner.pw_gid)
        self.process: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [PG_BIN / "initdb", "-D", str(self.base / "data"), "-U", "callgate",
             f"--pwfile={self.base / 'pwfile'}", "--auth=scram-sha-256", "--no-sync",
             "--no-instructions", "--encoding=UTF8", "--locale=C"],
            check=True, capture_output=True, timeout=60, user="postgres", cwd=self.base,
        )  # fmt: skip

    def url(self) -> str:
        return f"postgresql+asyncpg://callgate:{PG_PASSWORD}@127.0.0.1:{self.port}/callgate"

    def start(self) -> None:
        with (self.base / "postgres.log").open("ab") as log:
            self.process = subprocess.Popen(
                [PG_BIN / "postgres", "-D", str(self.base / "data"), "-h", "127.0.0.1",
                 "-p", str(self.port), "-k", str(self.base), "-c", "fsync=off"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                user="postgres", cwd=self.base, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 20
        while subprocess.run(
            [PG_BIN / "pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"],
            capture_output=True,
            check=False,
        ).returncode:
            assert self.process.poll() is None, (self.base / "postgres.log").read_text()
            assert time.monotonic() < deadline, "PostgreSQL did not start"
            time.sleep(0.1)

    def createdb(self) -> None:
        subprocess.run(
            [PG_BIN / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "callgate",
             "callgate"],
            check=True, capture_output=True, timeout=20,
            env={**os.environ, "PGPASSWORD": PG_PASSWORD},
        )  # fmt: skip

    def stop(self) -> None:
        """SIGINT: PostgreSQL's fast shutdown, which ends the clients' sessions."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def test_postgres_down_60s(tmp_path: Path, phones: Callable[..., list[labpeers.Softphone]]) -> None:
    pg = Postgres()
    try:
        pg.start()
        pg.createdb()
        with fault_run("postgres down", 1, tmp_path, phones, journal_url=pg.url()) as run:
            run.figures.outage_s = OUTAGE
            _before(run)
            pg.stop()
            _place_during(run, OUTAGE)
            assert _count(run.daemon, "ALARM: journal database unavailable") >= 1
            pg.start()
            run.figures.recover_s = _time_until(
                lambda: _count(run.daemon, "journal database is back") >= 1, 60,
                "the journal to be back",
            )  # fmt: skip
            run.traffic.place(3)
            run.settle_and_check()
    finally:
        pg.remove()


# ------------------------------------------------------------------------------ full disk


def _usage(folder: Path) -> str:
    """What takes space in ``folder``: each file's allocated size (KiB), and the total used."""
    files = sorted(
        (str(p.relative_to(folder)), p.stat().st_blocks // 2)
        for p in folder.rglob("*")
        if p.is_file()
    )
    used = os.statvfs(folder)
    total = (used.f_blocks - used.f_bfree) * used.f_frsize // 1024
    return f"{total} KiB of the file system (" + ", ".join(f"{n} {k} KiB" for n, k in files) + ")"


def _fill(path: Path) -> int:
    """Fill the file system of ``path`` to its last byte; returns the bytes written.

    Raw writes (``os.write``), never a buffered file: when a 64 KiB write met the end of the
    file system, a buffered file kept the part that did not fit in its buffer and wrote it again
    when it was closed, outside any ``suppress``: ENOSPC from the ``with`` line (whenever the
    space left was 60 KiB more than a multiple of 64 KiB, as after some of callgate's writes).
    Smaller and smaller writes take the last pages too.
    """
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1):
            block = b"\0" * size
            while True:
                try:
                    written += os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return written


def test_sqlite_on_a_full_file_system(
    tmp_path: Path, phones: Callable[..., list[labpeers.Softphone]]
) -> None:
    mounted: list[Path] = []

    def small_tmpfs(state_dir: Path) -> None:
        user = pwd.getpwnam("callgate")
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o",
             f"size=16m,mode=0750,uid={user.pw_uid},gid={user.pw_gid}", "tmpfs", str(state_dir)],
            check=True,
        )  # fmt: skip
        mounted.append(state_dir)

    try:
        with fault_run("sqlite disk full", 2, tmp_path, phones, state_dir_setup=small_tmpfs) as run:
            run.figures.outage_s = SHORT_OUTAGE
            _before(run)
            filler = mounted[0] / "filler"
            before = _usage(mounted[0])
            filled = _fill(filler)
            left = os.statvfs(mounted[0])
            run.figures.notes.append(
                f"before the fault callgate's files took {before}; filled with "
                f"{filled / 2**20:.1f} MiB, {left.f_bavail * left.f_frsize} bytes left"
            )
            assert left.f_bavail == 0, "the file system is not full"
            _place_during(run, SHORT_OUTAGE)
            assert _count(run.daemon, "ALARM: journal database unavailable") >= 1
            filler.unlink()
            run.figures.recover_s = _time_until(
                lambda: _count(run.daemon, "journal database is back") >= 1, 60,
                "the journal to be back",
            )  # fmt: skip
            run.traffic.place(3)
            run.settle_and_check()
    finally:
        for path in mounted:
            if subprocess.run(["umount", str(path)], check=False).returncode:
                subprocess.run(["umount", "-l", str(path)], check=False)


# ------------------------------------------------------------------------------ broker


_RESTARTED: list[subprocess.Popen[bytes]] = []


def _lab_mosquitto_pid() -> int:
    return int((LAB_RUN / "mosquitto.pid").read_text())


def _stop_lab_mosquitto() -> None:
    pid = _lab_mosquitto_pid()
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _start_lab_mosquitto() -> None:
    """Start the lab's broker again as ``scripts/lab up`` does (same config), and record its
    PID where ``scripts/lab down`` will find it."""
    with (LAB_RUN / "mosquitto.out").open("ab") as out:
        process = subprocess.Popen(
            ["mosquitto", "-c", str(LAB_RUN / "mosquitto.conf")],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    (LAB_RUN / "mosquitto.pid").write_text(f"{process.pid}\n")
    _RESTARTED.append(process)  # the lab's broker now: `scripts/lab down` stops it by this PID
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", LAB_BROKER_PORT), 0.2),
        ):
            return
        time.sleep(0.02)
    raise AssertionError("the lab's mosquitto did not come back")


def _lab_mosquitto_running() -> bool:
    try:
        os.kill(_lab_mosquitto_pid(), 0)
    except (OSError, ValueError):
        return False
    return True


def test_mqtt_broker_down_60s(
    tmp_path: Path, phones: Callable[..., list[labpeers.Softphone]]
) -> None:
    try:
        with fault_run("mqtt broker down", 3, tmp_path, phones) as run:
            run.figures.outage_s = OUTAGE
            _before(run)
            wait_for(lambda: _count(run.daemon, "MQTT connected") >= 1, 10, "MQTT up")
            _stop_lab_mosquitto()
            _place_during(run, OUTAGE)
            assert _count(run.daemon, "MQTT unavailable") >= 1
            connected = _count(run.daemon, "MQTT connected")
            _start_lab_mosquitto()
            run.figures.recover_s = _time_until(
                lambda: _count(run.daemon, "MQTT connected") > connected, 60, "MQTT back"
            )
            run.traffic.place(3)
            run.settle_and_check()
    finally:
        if not _lab_mosquitto_running():
            _start_lab_mosquitto()


# ------------------------------------------------------------------------------ AMI

AMI = ("127.0.0.1", 5038)


class TcpRelay:
    """A loopback TCP relay in front of the lab's real AMI, which the test takes down and up.

    Asterisk 16 cannot turn its manager off and on again (after ``enabled = no`` and ``manager
    reload``, a second reload with ``enabled = yes`` does not listen again), and this machine
    has no packet filter to block the port. Through the relay callgate sees what an AMI outage
    is from its side on both versions: its session cut, then every connection refused, then the
    real Asterisk again. Bounded: every thread ends when the relay is down.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._up = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def up(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.2)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._up.set()
        self._spawn(self._accept, listener)

    def down(self) -> None:
        """Refuse new connections and cut the established ones."""
        self._up.clear()
        with self._lock:
            doomed, self._sockets = set(self._sockets), set()
        for sock in doomed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while self._up.is_set():
            try:
                client, _ = listener.accept()
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
            with self._lock:
                self._sockets |= {client, upstream}
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def test_ami_down(tmp_path: Path, phones: Callable[..., list[labpeers.Softphone]]) -> None:
    relay = TcpRelay(AMI)
    relay.up()
    try:
        with fault_run("ami down", 4, tmp_path, phones, CALLGATE_AMI__PORT=str(relay.port)) as run:
            run.figures.outage_s = SHORT_OUTAGE
            wait_for(lambda: _count(run.daemon, "AMI connected") >= 1, 10, "AMI up")
            _before(run)
            relay.down()
            assert _refused(relay.port)
            wait_for(
                lambda: (
                    _count(run.daemon, "AMI connection lost") >= 1
                    or _count(run.daemon, "AMI session failed") >= 1
                ),
                20,
                "callgate to lose AMI",
            )
            connected = _count(run.daemon, "AMI connected")
            _place_during(run, SHORT_OUTAGE)
            relay.up()
            run.figures.recover_s = _time_until(
                lambda: _count(run.daemon, "AMI connected") > connected, 60, "AMI back"
            )
            run.traffic.place(3)
            run.settle_and_check()
    finally:
        relay.down()


# ------------------------------------------------------------------------------ SIGKILL


#: When the kill lands (#25): the fault's number (distinct callers per moment), then what in
#: callgate's log, about one of this batch's calls, triggers it.
KILL_MOMENTS = {
    "mid-burst": (5, ""),  # five of a burst of ten taken: set up, queued, ringing, talking
    "ringing": (7, "ringing call-taker"),
    "answered": (8, "call connected"),
    "hung-up": (9, "call ended"),  # its end possibly still queued for the journal
}


def _seen_for(run: Run, event: str, numbers: list[str]) -> bool:
    wanted = {_e164(n) for n in numbers}
    calls = {c for c, caller in run.traffic.entered().items() if caller in wanted}
    return any(str(r.get("call_id")) in calls for r in run.daemon.records(event))


@pytest.mark.parametrize("moment", list(KILL_MOMENTS))
def test_callgate_sigkilled_mid_burst(
    moment: str, tmp_path: Path, phones: Callable[..., list[labpeers.Softphone]]
) -> None:
    fault, event = KILL_MOMENTS[moment]
    name = "callgate SIGKILL mid-burst" + ("" if moment == "mid-burst" else f" ({moment})")
    with fault_run(
        name, fault, tmp_path, phones,
        CALLGATE_FALLBACK__QUEUE_LOG=str(labpeers.QUEUE_LOG),
        CALLGATE_FALLBACK__SCAN_SECONDS="2",
    ) as run:  # fmt: skip
        _before(run, 2)
        if moment == "mid-burst":
            run.traffic.place(10, talk_seconds=40, rate=2)
            wait_for(lambda: len(run.traffic.ours()) >= 5, 20, "the burst to be under way")
        else:
            # A short batch: the kill lands at the first of its calls to reach ``event``. A
            # caller waits for a call-taker through the kill and the restart (callgate hangs
            # each one up when its call-taker has: the test does not last 40 s).
            first = len(run.traffic.numbers)
            run.traffic.place(4, talk_seconds=40, rate=2)
            batch = run.traffic.numbers[first:]
            wait_for(lambda: _seen_for(run, event, batch), 30, f"a call of the batch: {event}")
        connects = _count(run.daemon, "ARI events connected")
        assert run.daemon.process is not None
        killed = time.monotonic()
        run.daemon.process.send_signal(signal.SIGKILL)
        run.daemon.process.wait(timeout=10)
        time.sleep(2)  # callers arriving now go to the fallback queue
        run.daemon.start()
        wait_for(lambda: _count(run.daemon, "ARI events connected") > connects, 30, "restart")
        run.figures.recover_s = round(time.monotonic() - killed, 1)
        run.figures.notes.append("fallback allowed while callgate is down")
        # Ready again: the set-up (with its reconciliation) is done.
        wait_for(lambda: _count(run.daemon, "ready: taking calls") >= 2, 30, "ready again")
        unseen = [
            str(r["call_id"])
            for r in run.daemon.records("call ended")
            if r.get("outcome") == "ENDED_UNSEEN"
        ]
        run.figures.notes.append(f"ended while callgate was dead (ENDED_UNSEEN): {unseen}")
        run.traffic.place(3 if moment == "mid-burst" else 2)
        run.settle_and_check(fallback_allowed=True, same_pid=False)
        # The callers the fallback queue answered while callgate was down are in its journal
        # too, read from Asterisk's queue_log (a call is journaled once it is over).
        fallback = _fallback_call_ids(run.traffic.numbers)
        assert len(fallback) == run.figures.by_fallback

        def journaled() -> bool:
            records = _journal(run.journal_url)
            return all(
                c in records and records[c].outcome == "FALLBACK" and records[c].ended_at
                for c in fallback
            )

        wait_for(journaled, 90, f"the fallback queue's calls {sorted(fallback)} in the journal")


# ------------------------------------------------------------------------------ bad clients


def _agi_flood(stop: threading.Event, counts: dict[str, int]) -> None:
    """Bad FastAGI peers: idle connections, endless multi-line answers, an endless line,
    garbage. Bounded: at most 400 connections."""
    # With the lab's secret, so that the endless answer reaches a session and its limits (without
    # it the request would be refused before any command is sent).
    header = (
        b"agi_network: yes\nagi_network_script: "
        + labpeers.LAB_AGI_SECRET.encode()
        + b"/agent/login\nagi_channel: PJSIP/x\n\n"
    )
    kinds = ["idle", "endless-520", "long-line", "garbage"]
    held: list[socket.socket] = []
    for n in range(400):
        if stop.is_set():
            break
        kind = kinds[n % len(kinds)]
        try:
            conn = socket.create_connection(AGI, timeout=2)
        except OSError:
            counts["refused"] = counts.get("refused", 0) + 1
            continue
        counts[kind] = counts.get(kind, 0) + 1
        try:
            if kind == "idle":
                held.append(conn)
                if len(held) > 60:
                    held.pop(0).close()
                continue
            if kind == "endless-520":
                conn.sendall(header)
                for _ in range(2000):
                    conn.sendall(b"520-Invalid command syntax.  Proper usage follows:\n")
            elif kind == "long-line":
                conn.sendall(b"agi_network: " + b"x" * 200_000)
            else:
                conn.sendall(os.urandom(4096))
        except OSError:
            pass  # dropped by callgate: what it should do
        finally:
            if kind != "idle":
                conn.close()
        time.sleep(0.02)
    for conn in held:
        conn.close()


def _http(raw: bytes) -> int:
    try:
        with socket.create_connection(ADMIN, timeout=5) as conn:
            conn.sendall(raw)
            status = conn.recv(64).split(b" ")
            return int(status[1]) if len(status) > 1 and status[1].isdigit() else 0
    except OSError:
        return 0


def _post(path: str, body: bytes, content_type: str = "application/json") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


def _http_flood(stop: threading.Event, statuses: dict[int, int]) -> None:
    """Bad admin HTTP clients: deep nesting, huge numbers, invalid UTF-8, oversized bodies,
    garbage request lines. Bounded: 60 rounds."""
    requests = [
        _post("/api/blocks", b"[" * 50_000 + b"]" * 50_000),
        _post("/api/blocks", b'{"number": "0811", "hours": ' + b"9" * 400 + b"}"),
        _post("/api/blocks", b'{"number": "\xff\xfe", "hours": 1, "reason": "x"}'),
        _post("/api/blocks", b'{"number": "0811", "hours": NaN, "reason": "x"}'),
        _post("/api/agents/1001/pause", b'{"reason": "' + b"r" * 100_000 + b'"}'),
        _post("/api/calls/" + "c" * 3000 + "/disposition", b'{"disposition": 3}'),
        _post("/api/log-level", b'{"level": {"a": [1, 2, {"b": null}]}}'),
        b"GARBAGE / HTTP/9.9\r\n\r\n",
        b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /api/blocks HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{",
    ]
    for _ in range(60):
        if stop.is_set():
            break
        for raw in requests:
            status = _http(raw)
            statuses[status] = statuses.get(status, 0) + 1
        time.sleep(0.1)


async def _mqtt_flood_async(site: str, stop: threading.Event, counts: dict[str, int]) -> None:
    base = f"callgate/v1/{site}/commands"
    good = json.dumps({"command": "block", "number": "0811", "hours": 1, "by": "x"}).encode()
    async with aiomqtt.Client("127.0.0.1", LAB_BROKER_PORT, identifier=f"bad-{site}") as client:
        for n in range(300):
            if stop.is_set():
                break
            kind = n % 5
            if kind == 0:
                await client.publish(f"{base}/bad-{n}", b"{not json", qos=1)
            elif kind == 1:
                await client.publish(f"{base}/big-{n}", b'{"a": "' + b"x" * 40_000 + b'"}', qos=1)
            elif kind == 2:  # retained: ignored, and cleared again at once
                await client.publish(f"{base}/ret-{n}", good, qos=1, retain=True)
                await client.publish(f"{base}/ret-{n}", b"", qos=1, retain=True)
            elif kind == 3:  # the same request id again and again
                await client.publish(f"{base}/dup", b"[" * 20_000 + b"]" * 20_000, qos=1)
            else:
                await client.publish(f"{base}/{'x' * 200}", b"\xff\xfe\x00", qos=0)
            counts["published"] = counts.get("published", 0) + 1
            await asyncio.sleep(0.02)


def test_bad_fastagi_http_and_mqtt_clients_during_calls(
    tmp_path: Path, phones: Callable[..., list[labpeers.Softphone]]
) -> None:
    with fault_run("bad clients flood", 6, tmp_path, phones) as run:
        _before(run)
        log_before = len(run.daemon.log_text().splitlines())
        stop = threading.Event()
        agi: dict[str, int] = {}
        http: dict[int, int] = {}
        mqtt: dict[str, int] = {}
        threads = [
            threading.Thread(target=_agi_flood, args=(stop, agi)),
            threading.Thread(target=_http_flood, args=(stop, http)),
            threading.Thread(
                target=lambda: asyncio.run(_mqtt_flood_async(run.cad.site, stop, mqtt))
            ),
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            _place_during(run, 20)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
        flood_s = round(time.monotonic() - started, 1)
        run.figures.outage_s = flood_s
        run.figures.recover_s = _time_until(lambda: _ready(run.daemon), 30, "ready")
        flood_lines = run.daemon.log_text().splitlines()[log_before:]
        run.figures.notes.append(
            f"AGI connections {sum(agi.values())}, HTTP requests {sum(http.values())} "
            f"(statuses {dict(sorted(http.items()))}), MQTT commands {mqtt.get('published', 0)};"
            f" {len(flood_lines)} log lines during the flood, longest "
            f"{max((len(line) for line in flood_lines), default=0)} bytes"
        )
        run.traffic.place(3)
        run.settle_and_check()
        assert not [s for s in http if s >= 500], http
        # What the bad clients cause is logged, but throttled: a few lines per kind, no flood.
        about_clients = [
            line
            for line in flood_lines
            if any(
                text in line
                for text in (
                    "no softphone",
                    "bad HTTP request",
                    "Error handling request",
                    "AGI client dropped",
                    "AGI request refused",
                    "retained command",
                    "command",
                )
            )
        ]
        assert len(about_clients) <= 30, about_clients[:40]
        assert max((len(line) for line in flood_lines), default=0) < 8192
        assert mqtt.get("published", 0) > 0
        assert sum(agi.values()) > 0
