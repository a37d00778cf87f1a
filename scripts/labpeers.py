#!/usr/bin/env python3
"""SIP peers for the lab: baresip call-takers and the SIPp carrier. Standard library only.

Used by the integration tests, by the demo and by hand:

    scripts/labpeers.py phones 1001 1002      start call-takers' softphones (auto-answer), wait
                                              until registered, keep running until Ctrl-C
    scripts/labpeers.py call --caller 081234567890 --talk 10
                                              place one 112 call over the trunk as the carrier

Every process started here is stopped by its PID (``stop()``), never by name.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "sip-fixtures"
ASTERISK_SIP = ("127.0.0.1", 5060)
CARRIER_IP = "127.0.0.2"  # the trunk is identified by this source address (pjsip.conf [jasnita])
ARI = "http://127.0.0.1:8088/ari"
LAB_DIR = Path(os.environ.get("CALLGATE_LAB_DIR", "/var/cache/callgate/lab"))
#: The root of the Asterisk that is up (scripts/lab up points it at asterisk-22 or asterisk-16).
LAB_ROOT = LAB_DIR / "current"
#: Where the lab Asterisk's MixMonitor writes call recordings, seen from the host.
RECORDINGS = LAB_ROOT / "var" / "spool" / "asterisk" / "monitor"
#: app_queue's log of the fallback queue, seen from the host.
QUEUE_LOG = LAB_ROOT / "var" / "log" / "asterisk" / "queue_log"
#: callgate installed from this checkout as a service (scripts/setup), as the package's
#: /opt/venvs/callgate is.
SERVICE_CALLGATE = LAB_DIR / "venv" / "bin" / "callgate"
#: Daemons' state folders (their WorkingDirectory=/var/lib/callgate), owned by the callgate user.
STATE_DIR = Path(os.environ.get("CALLGATE_LAB_STATE", "/var/lib/callgate-lab"))
ARI_AUTH = "Basic " + base64.b64encode(b"callgate:lab-ari-secret").decode()
#: The lab's FastAGI shared secret (scripts/lab writes it for Asterisk; the daemon's [agi] secret
#: defaults to it): the first element of every agi:// path the lab dialplan sends.
LAB_AGI_SECRET = "lab-agi-shared-secret"  # noqa: S105 - lab-only, published on purpose
# Lab passwords of the call-takers' endpoints in asterisk-conf/pjsip.conf.
PASSWORD_PREFIX = "lab-"  # noqa: S105 - lab-only, documented in pjsip.conf
#: The lab's admin user of [auth] (callgate.config refuses this hash outside the lab): the
#: integration tests and the demo run the CLI with CALLGATE_TOKEN=LAB_ADMIN_TOKEN.
LAB_ADMIN_TOKEN = "lab-admin.lab-admin-token"  # noqa: S105 - lab-only, published on purpose
LAB_ADMIN_TOKEN_HASH = (  # published on purpose
    "$argon2id$v=19$m=65536,t=3,p=4$2o9F3osaf0+O9ZP68rblu"  # noqa: S105
    "g$cgSN1l/oQJJU4wypMNtT1yohQxRuA3vcq8AvVgbvBXc"
)
#: The lab's users: the admin above, and a CAD client per MQTT user of tests/integration/test_mqtt
#: (its broker password authenticates it; the ACL ties its name to its command topic).
#: The wallboard's browser tests log in with passwords (the pages use POST /api/session): a
#: supervisor, and a call-taker who is extension 1001. The supervisor's own phone (where listening
#: rings) is extension 1009, which no call-taker uses.
LAB_SUPERVISOR = ("lab-supervisor", "lab-supervisor-password")
LAB_SUPERVISOR_PHONE = "1009"
LAB_CALLTAKER = ("lab-ct1001", "lab-ct1001-password")
LAB_USERS = [
    {"name": "lab-admin", "role": "admin", "token_hash": LAB_ADMIN_TOKEN_HASH},
    {
        "name": LAB_SUPERVISOR[0],
        "role": "supervisor",
        "phone": f"PJSIP/{LAB_SUPERVISOR_PHONE}",
        "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$YXM+R0njHrjz1uGBehsVVQ"
        "$/KVYaJ670MMfwdy9FqEbmmYAz8f23MatqujwqE9cd8Y",
    },
    {
        "name": LAB_CALLTAKER[0],
        "role": "call-taker",
        "agent_id": "1001",
        "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$+zWaAO9aEqM7sb82tQ6oIw"
        "$WyKvIBihXPYXy5zxVAPY8S/sk2o38dJ4rfCfEeMu/Z8",
    },
    {
        "name": "cad",
        "role": "cad",
        "commands": ["set-disposition", "request-callback", "attach-incident", "block", "unblock"],
    },
]
# Softphone ports for extension 1000 + n: SIP 5100 + 10 n (baresip also binds TLS on the next
# port, so neighbours need a gap), control 4440 + n.
SIP_PORT_BASE = 5100
CTRL_PORT_BASE = 4440


def ari_get(path: str) -> object:
    req = urllib.request.Request(ARI + path, headers={"Authorization": ARI_AUTH})  # noqa: S310
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback lab URL
        return json.loads(resp.read() or b"null")


def hang_up_every_channel() -> int:
    """Hang up every channel the lab's Asterisk still has (callers a failed test left in the
    fallback queue would otherwise take the next test's phones); how many were asked to go."""
    try:
        channels = ari_get("/channels")
    except (urllib.error.URLError, OSError):
        return 0  # Asterisk is down (a test stopped it): nothing to hang up
    gone = 0
    for channel in channels if isinstance(channels, list) else []:
        req = urllib.request.Request(  # noqa: S310 - loopback lab URL
            f"{ARI}/channels/{channel['id']}", method="DELETE", headers={"Authorization": ARI_AUTH}
        )
        try:
            urllib.request.urlopen(req, timeout=5).close()  # noqa: S310
            gone += 1
        except (urllib.error.URLError, OSError):
            pass  # already gone
    return gone


def endpoint_state(extension: str) -> str:
    try:
        data = ari_get(f"/endpoints/PJSIP/{extension}")
    except (urllib.error.URLError, OSError):
        return "unreachable"
    return str(data.get("state", "unknown")) if isinstance(data, dict) else "unknown"


def write_tone(path: Path, seconds: int, frequency: float = 440.0) -> None:
    """An 8 kHz mono WAV (baresip's aufile source needs 8 kHz; its ausine only does 48 kHz)."""
    frames = bytearray()
    for i in range(8000 * seconds):
        # A tone broken every half second, so a recording of it is plainly not silence.
        on = (i // 4000) % 2 == 0
        sample = int(6000 * math.sin(2 * math.pi * frequency * i / 8000)) if on else 0
        frames += struct.pack("<h", sample)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(frames))


def stop_process_group(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a peer we started (its own session) by its PID: TERM, then KILL after 5 s."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@dataclass
class Softphone:
    """One call-taker's baresip: registers to the lab Asterisk and answers every call at once."""

    extension: str
    workdir: Path
    answer: bool = True
    process: subprocess.Popen[bytes] | None = None
    #: The Asterisk nodes it registers with, one account each (the multi-node lab gives two, as a
    #: production phone has one account per node).
    servers: Sequence[tuple[str, int]] = (ASTERISK_SIP,)

    @property
    def index(self) -> int:
        return int(self.extension) - 1000

    @property
    def sip_port(self) -> int:
        return SIP_PORT_BASE + 10 * self.index

    @property
    def ctrl_port(self) -> int:
        return CTRL_PORT_BASE + self.index

    @property
    def log_path(self) -> Path:
        return self.workdir / "baresip.log"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        tone = self.workdir / "voice.wav"
        if not tone.exists():
            # baresip hangs up when its audio source ends, so the call-taker "talks" for 10 minutes.
            write_tone(tone, seconds=600, frequency=440.0 + 20 * self.index)
        answermode = "auto" if self.answer else "manual"
        (self.workdir / "accounts").write_text(
            "".join(
                f"<sip:{self.extension}@{host}:{port}>"
                f";auth_pass={PASSWORD_PREFIX}{self.extension};answermode={answermode}"
                f";regint=60;audio_codecs=PCMA,PCMU\n"
                for host, port in self.servers
            )
        )
        (self.workdir / "config").write_text(
            "\n".join(
                [
                    "poll_method epoll",
                    f"sip_listen 127.0.0.1:{self.sip_port}",
                    "net_interface 127.0.0.1",
                    "call_max_calls 4",
                    "audio_player aubridge,sink",
                    "audio_alert aubridge,sink",
                    f"audio_source aufile,{tone}",
                    "module_path /usr/lib/baresip/modules",
                    "module g711.so",
                    "module aufile.so",
                    "module aubridge.so",
                    "module_tmp account.so",
                    "module_app menu.so",
                    "module_app ctrl_tcp.so",
                    f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
                    "rtp_stats yes",
                    "",
                ]
            )
        )
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            ["baresip", "-f", str(self.workdir)],  # noqa: S607
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def wait_registered(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if endpoint_state(self.extension) == "online":
                return
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(
            f"softphone {self.extension} did not register within {timeout:.0f} s; "
            f"see {self.log_path}"
        )

    def command(self, command: str, params: str = "") -> dict[str, object]:
        """Send a ctrl_tcp command (netstring-framed JSON) and return baresip's response."""
        import socket

        body = json.dumps({"command": command, "params": params, "token": "t"}).encode()
        with socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=5) as conn:
            conn.sendall(f"{len(body)}:".encode() + body + b",")
            buf = b""
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                buf += conn.recv(4096)
                while b":" in buf:
                    size_text, _, rest = buf.partition(b":")
                    size = int(size_text)
                    if len(rest) < size + 1:
                        break
                    message = json.loads(rest[:size])
                    buf = rest[size + 1 :]
                    if message.get("response"):
                        return dict(message)
        raise TimeoutError(f"baresip {self.extension} did not answer {command!r}")

    def rtp_received_packets(self) -> list[int]:
        """Receive packet counts baresip printed for each ended call."""
        counts: list[int] = []
        lines = self.log_path.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            if line.startswith("audio") and "Receive:" in line and i + 1 < len(lines):
                parts = lines[i + 1].split()
                if parts and parts[0] == "packets:":
                    counts.append(int(parts[2]))
        return counts

    def stop(self) -> None:
        stop_process_group(self.process)
        self.process = None


def _start_sipp(argv: list[str], workdir: Path) -> subprocess.Popen[bytes]:
    """SIPp in its own process group (stopped by PID), output appended to ``sipp.out``."""
    with (workdir / "sipp.out").open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            argv,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


_SPEECH = '<exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/>'


def _caller_audio(audio: str) -> str:
    """The scenario's media action for ``CarrierCalls.audio``."""
    if audio == "speech":
        return _SPEECH
    if audio == "silent":
        return ""
    kind, _, seconds = audio.partition(":")
    if kind != "key":
        raise ValueError(f"unknown caller audio {audio!r}")
    return (
        f'</action></nop><pause milliseconds="{int(float(seconds) * 1000)}"/>'
        '<nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_5.pcap"/>'
    )


@dataclass
class CarrierCalls:
    """SIPp as the carrier: places 112 calls over the trunk and reports how they went."""

    callers: Sequence[str]
    talk_seconds: float = 10.0
    service: str = "112"
    rate_per_second: float = 10.0
    local_port: int = 0  # 0: a free port, so several carriers can call at once
    limit: int | None = None  # SIPp's cap on simultaneous calls (its default is 15)
    #: What the caller sends: ``speech`` (8 s of voice), ``silent`` (no audio at all), or
    #: ``key:<seconds>`` (silent, then the RFC 4733 digit 5 after that many seconds).
    audio: str = "speech"
    #: An IMEI URN for the INVITE's Contact (``+sip.instance``), as a SIM-less phone sends it.
    imei: str = ""
    #: The scenario in sip-fixtures/ (``carrier-112-display-name.xml``: callers are
    #: ``"number;display name"``).
    scenario: str = "carrier-112.xml"
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="callgate-sipp-")))
    process: subprocess.Popen[bytes] | None = None
    #: Where the INVITEs go: the lab's Asterisk, or the multi-node lab's dispatcher (127.0.0.10).
    target: tuple[str, int] = ASTERISK_SIP

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.local_port == 0:
            self.local_port = _free_udp_port(CARRIER_IP)
        scenario = (FIXTURES / self.scenario).read_text()
        scenario = scenario.replace('timeout="20000"', f'timeout="{int(self.talk_seconds * 1000)}"')
        scenario = scenario.replace(_SPEECH, _caller_audio(self.audio))
        if self.imei:
            contact = "Contact: <sip:carrier@[local_ip]:[local_port]>"
            instance = f'{contact};+sip.instance="<urn:gsma:imei:{self.imei}>"'
            scenario = scenario.replace(contact, instance, 1)  # the INVITE's
        (self.workdir / "carrier-112.xml").write_text(scenario)
        (self.workdir / "callers.csv").write_text(
            "SEQUENTIAL\n" + "".join(f"{number}\n" for number in self.callers)
        )
        argv = [
            "sipp",
            f"{self.target[0]}:{self.target[1]}",
            "-i", CARRIER_IP,
            "-p", str(self.local_port),
            "-s", self.service,
            "-sf", "carrier-112.xml",
            "-inf", "callers.csv",
            "-m", str(len(self.callers)),
            "-r", str(self.rate_per_second),
            "-nostdin",
            "-trace_err",
            "-trace_stat",
            "-fd", "1",
            "-timeout", f"{int(self.talk_seconds + 120)}s",
            "-timeout_error",
            *(["-l", str(self.limit)] if self.limit is not None else []),
        ]  # fmt: skip
        self.process = _start_sipp(argv, self.workdir)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise

    def stats(self) -> dict[str, int]:
        """Successful and failed call counts from SIPp's statistics file."""
        files = sorted(self.workdir.glob("carrier-112_*_.csv"))
        if not files:
            return {}
        rows = [line.split(";") for line in files[-1].read_text().splitlines() if line]
        header, last = rows[0], rows[-1]
        wanted = {"SuccessfulCall(C)": "successful", "FailedCall(C)": "failed"}
        return {wanted[h]: int(v) for h, v in zip(header, last, strict=False) if h in wanted}

    def errors(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.workdir.glob("*errors.log"))

    def stop(self) -> None:
        stop_process_group(self.process)
        self.process = None


@dataclass
class CarrierAnswers:
    """SIPp as the far end of calls *out* through the trunk (callbacks): it listens where the
    trunk sends them (pjsip.conf [jasnita] aor: sip:127.0.0.2:5070), answers each INVITE, and
    answers the BYE when the centre hangs up. Stopped by its PID."""

    calls: int = 1
    port: int = 5070
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="callgate-uas-")))
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [
            "sipp",
            "-sn", "uas",
            "-i", CARRIER_IP,
            "-p", str(self.port),
            "-m", str(self.calls),
            "-nostdin",
            "-trace_err",
            "-trace_stat",
            "-fd", "1",
        ]  # fmt: skip
        self.process = _start_sipp(argv, self.workdir)

    def answered(self) -> int:
        """Calls answered so far (SIPp's statistics file, written every second)."""
        files = sorted(self.workdir.glob("*_.csv"))
        if not files:
            return 0
        rows = [line.split(";") for line in files[-1].read_text().splitlines() if line]
        if len(rows) < 2:
            return 0
        counts = dict(zip(rows[0], rows[-1], strict=False))
        return int(counts.get("TotalCallCreated", "0") or 0)

    def stop(self) -> None:
        stop_process_group(self.process)
        self.process = None


class Daemon:
    """``callgate run`` as a child process, for the tests, the demo's peers and the benchmarks.

    It runs as production runs it (scripts/as-service): user ``callgate`` in Asterisk's group,
    umask 0027, the file system read-only but for its state folder (``state_dir``, its working
    directory, where the journal is unless ``env`` says otherwise) and the recordings folder.
    Stopped by its PID (SIGTERM, then SIGKILL after ``stop_seconds``); ``records()`` reads its
    JSON log lines, which the parent writes to ``log_path``.

    ``config``: the text of a config file, written to ``callgate.toml`` in the state folder and
    passed as ``run --config`` (what a reload reads again: :meth:`write_config`, then
    :meth:`reload` or ``callgate reload``). The environment still overrides it.
    """

    def __init__(self, log_path: Path, env: dict[str, str], config: str | None = None) -> None:
        self.log_path = log_path
        self.state_dir = new_state_dir(log_path.parent.name)
        self.config_path: Path | None = None
        if config is not None:
            self.config_path = self.state_dir / "callgate.toml"
            self.write_config(config)
        self.env = {
            "CALLGATE_STORAGE__URL": f"sqlite+aiosqlite:///{self.state_dir / 'journal.db'}",
            # The lab's published ARI, AMI and FastAGI secrets are refused without it.
            "CALLGATE_LAB": "1",
            "CALLGATE_AUTH__USERS": json.dumps(LAB_USERS),
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        if not SERVICE_CALLGATE.exists():
            raise RuntimeError(f"{SERVICE_CALLGATE} is missing: run scripts/setup")
        log = self.log_path.open("ab")
        writable = [self.state_dir, RECORDINGS.resolve()]
        self.process = subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
            [
                str(REPO / "scripts" / "as-service"),
                *(arg for path in writable for arg in ("--rw", str(path))),
                "--",
                str(SERVICE_CALLGATE),
                "run",
                *(["--config", str(self.config_path)] if self.config_path else []),
            ],
            cwd=self.state_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "CALLGATE_LOG__LEVEL": "INFO", **self.env},
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "ARI events connected" in self.log_text():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"callgate did not connect to ARI:\n{self.log_text()[-4000:]}")

    def write_config(self, text: str) -> None:
        """Replace the config file at once (a reload never reads half of it); mode 0644, so
        the callgate user reads it."""
        assert self.config_path is not None, "started without a config file"
        partial = self.config_path.with_suffix(".partial")
        partial.write_text(text)
        os.chmod(partial, 0o644)
        partial.replace(self.config_path)

    def reload(self) -> None:
        """SIGHUP, as ``systemctl reload callgate`` sends it (ExecReload=)."""
        assert self.process is not None, "not started"
        self.process.send_signal(signal.SIGHUP)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def records(self, event: str | None = None) -> list[dict[str, object]]:
        """The daemon's JSON log lines so far, only those of ``event`` if given."""
        out: list[dict[str, object]] = []
        for line in self.log_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and (event is None or record.get("event") == event):
                out.append(record)
        return out

    def stop(self, stop_seconds: float = 20.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=stop_seconds)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None


def new_state_dir(name: str) -> Path:
    """A fresh folder for one daemon, owned by the callgate user (mode 0750, as StateDirectory=)."""
    import pwd

    STATE_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(STATE_DIR, 0o755)  # noqa: S103 - the callgate user must traverse it
    path = Path(tempfile.mkdtemp(prefix=f"{name[:40]}-", dir=STATE_DIR))
    user = pwd.getpwnam("callgate")
    os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(path, 0o750)  # noqa: S103 - owner and group only, as StateDirectoryMode=
    return path


class CallTakersHangUp:
    """Call-takers end each call from their own softphone ``seconds`` after answering.

    A context manager: a background thread watches Asterisk's channels (ARI) and sends baresip's
    ``hangup`` command, the way a call-taker finishing a call would.
    """

    def __init__(self, seconds: float, phones: Sequence[Softphone]) -> None:
        import threading

        self.seconds = seconds
        self.by_ext = {p.extension: p for p in phones}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CallTakersHangUp:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        seen: dict[str, float] = {}
        while not self._stop.is_set():
            try:
                channels = ari_get("/channels")
            except (urllib.error.URLError, OSError):
                channels = []
            for channel in channels if isinstance(channels, list) else []:
                ext = str(channel["name"]).removeprefix("PJSIP/").split("-")[0]
                if ext not in self.by_ext or channel["state"] != "Up":
                    continue
                first = seen.setdefault(str(channel["id"]), time.monotonic())
                if time.monotonic() - first >= self.seconds:
                    # OSError/TimeoutError: the call ended by itself meanwhile.
                    with contextlib.suppress(OSError, TimeoutError):
                        self.by_ext[ext].command("hangup")
            time.sleep(0.2)


def _free_udp_port(host: str) -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def start_phones(extensions: Iterable[str], base: Path) -> list[Softphone]:
    phones = [Softphone(ext, base / f"phone-{ext}") for ext in extensions]
    try:
        for phone in phones:
            phone.start()
        for phone in phones:
            phone.wait_registered()
    except BaseException:
        for phone in phones:
            phone.stop()
        raise
    return phones


def _main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="labpeers", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    phones = sub.add_parser("phones", help="run call-takers' softphones until Ctrl-C")
    phones.add_argument("extensions", nargs="+")
    call = sub.add_parser("call", help="place 112 calls as the carrier")
    call.add_argument(
        "--caller", action="append", default=[], help="number as the carrier sends it"
    )
    call.add_argument("--talk", type=float, default=10.0, help="seconds the caller stays on")
    args = parser.parse_args(argv)
    if shutil.which("baresip" if args.cmd == "phones" else "sipp") is None:
        print(
            "labpeers: baresip or sipp missing: apt-get install baresip sip-tester", file=sys.stderr
        )
        return 2
    if args.cmd == "phones":
        base = Path(tempfile.mkdtemp(prefix="callgate-phones-"))
        running = start_phones(args.extensions, base)
        print(f"registered: {', '.join(args.extensions)} (logs in {base}); Ctrl-C stops them")
        try:
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        finally:
            for phone in running:
                phone.stop()
        return 0
    calls = CarrierCalls(callers=args.caller or ["081234567890"], talk_seconds=args.talk)
    calls.start()
    rc = calls.wait(timeout=args.talk + 180)
    print(json.dumps({"sipp_exit": rc, **calls.stats()}))
    return rc


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
