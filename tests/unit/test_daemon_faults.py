"""The whole daemon (app.serve / app.run) against faults outside it: a slow ARI set-up, a port
another process holds, an ARI event stream that ends.

Asterisk is stood in for by the recorded ARI fake served on 127.0.0.1 (ARI's REST and event
socket, answered as the lab answered) and by the AMI replay server of test_ami (recorded lab
traffic); systemd by a real notify
socket. A unit test of the daemon's lifecycle, not of Asterisk: the lab tests that.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from callgate.config import AuthSettings, Settings
from callgate.daemon.app import run, serve
from callgate.daemon.reload import read_config
from callgate.mqtt.inbox import CommandHandler
from callgate.mqtt.publisher import EventPublisher
from callgate.mqtt.settings import MqttSettings
from callgate.storage.journal import Journal
from tests.unit.asterisk.recorded_ari import RecordedAri
from tests.unit.daemon.conftest import ME
from tests.unit.daemon.test_systemd import NotifySocket
from tests.unit.test_ami import recorded_lab_asterisk

#: How the daemon follows the call-takers' phones (its set-up's last request, and a reload's).
SUBSCRIBE = ("POST", "/applications/callgate/subscription")


@pytest.fixture
async def ari() -> AsyncIterator[RecordedAri]:
    fake = RecordedAri()
    async with fake.serve():
        yield fake


@pytest.fixture
async def ami() -> AsyncIterator[int]:
    replay = recorded_lab_asterisk()
    server = await asyncio.start_server(replay.handle, "127.0.0.1", 0)
    yield int(server.sockets[0].getsockname()[1])
    replay.drop_all()
    server.close()
    await server.wait_closed()


@pytest.fixture
def systemd(monkeypatch: pytest.MonkeyPatch) -> Iterator[NotifySocket]:
    folder = tempfile.mkdtemp(prefix="cg-notify-")  # AF_UNIX paths are short
    address = os.path.join(folder, "notify")
    server = NotifySocket(address)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    yield server
    server.close()
    shutil.rmtree(folder)


def settings_for(
    ari: RecordedAri, ami_port: int, tmp_path: Path, *, http_port: int = 0, agi_port: int = 0
) -> Settings:
    return Settings.model_validate(
        {
            "ari": {"url": ari.url, "setup_timeout": 0.3},
            "ami": {"host": "127.0.0.1", "port": ami_port},
            "storage": {
                "url": f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}",
                "spool_dir": str(tmp_path / "spool"),
            },
            "mqtt": {"enabled": False},
            "callbacks": {"enabled": False},
            "fallback": {"queue_log": ""},
            "recording": {"asterisk_dir": str(tmp_path)},
            "calltakers": {"endpoints": ["PJSIP/1001"]},
            "ops": {
                "http_port": http_port,
                "watchdog": False,
                "bind_retry_seconds": 0.05,
                "socket_path": "",  # /run/callgate is not the tests' (one test opens its own)
            },
            "agi": {"port": agi_port},
        }
    )


async def until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - polls what other tasks record
            await asyncio.sleep(0.02)


def bound_again(caplog: pytest.LogCaptureFixture) -> bool:
    return any(r.getMessage() == "port bound after retrying" for r in caplog.records)


def ready(systemd: NotifySocket) -> bool:
    return any(m.startswith("READY=1") for m in systemd.messages())


class Daemon:
    """app.serve running in a task, with its own journal, stopped as SIGTERM would."""

    def __init__(self, settings: Settings, config_path: str | None = None) -> None:
        self.settings = settings
        self.config_path = config_path
        self.stop = asyncio.Event()
        self.task: asyncio.Task[int] | None = None
        self.journal: Journal | None = None

    async def __aenter__(self) -> Daemon:
        self.journal = await Journal.open(self.settings.storage.url)
        self.task = asyncio.create_task(
            serve(self.settings, self.journal, self.stop, self.config_path)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        assert self.journal is not None
        try:
            await asyncio.wait_for(self.task, 15)
        finally:
            await self.journal.close()


def squat() -> socket.socket:
    """A port held by another process, as a real listening socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


async def readyz(port: int) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/readyz") as resp,
    ):
        body: dict[str, Any] = await resp.json()
        return body


# --- finding: a half-finished ARI (re)connect is never retried ---------------------------------


async def test_given_a_set_up_request_that_never_answers_then_it_is_retried_and_systemd_hears_ready(
    ari: RecordedAri,
    ami: int,
    systemd: NotifySocket,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ari.stalled[SUBSCRIBE] = 1  # the first gets no answer at all (a hung Asterisk HTTP thread)
    caplog.set_level(logging.WARNING)
    async with Daemon(settings_for(ari, ami, tmp_path)):
        await until(lambda: ready(systemd), seconds=8)
        assert ari.count(*SUBSCRIBE) >= 2
    failed = [r for r in caplog.records if r.getMessage().startswith("ARI set-up after connecting")]
    assert len(failed) == 1
    assert failed[0].__dict__["attempt"] == 1
    assert failed[0].__dict__["error"] == "TimeoutError"


async def test_given_asterisk_reconnects_and_the_set_up_stalls_then_ari_is_ready_again(
    ari: RecordedAri, ami: int, systemd: NotifySocket, tmp_path: Path
) -> None:
    settings = settings_for(ari, ami, tmp_path)
    async with Daemon(settings):
        await until(lambda: ready(systemd) and len(ari.sockets) == 1)
        ari.stalled[SUBSCRIBE] = ari.count(*SUBSCRIBE) + 2  # the next two attempts hang
        await ari.sockets[0].close()  # Asterisk restarted
        await until(lambda: any("degraded: ari down" in m for m in systemd.messages()))
        await until(lambda: systemd.messages()[-1] == "STATUS=taking calls", seconds=10)
        assert ari.count(*SUBSCRIBE) == ari.stalled[SUBSCRIBE] + 1


# --- finding: a squatted port stops call handling ----------------------------------------------


async def test_given_the_fastagi_port_is_taken_then_calls_are_served_and_it_binds_once_freed(
    ari: RecordedAri,
    ami: int,
    systemd: NotifySocket,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    squatter = squat()
    port = int(squatter.getsockname()[1])
    http = squat()  # only to learn a free port for the admin HTTP server
    http_port = int(http.getsockname()[1])
    http.close()
    caplog.set_level(logging.INFO)
    async with Daemon(settings_for(ari, ami, tmp_path, http_port=http_port, agi_port=port)):
        await until(lambda: ready(systemd))
        body = await readyz(http_port)
        assert body["ready"] is True
        agi = body["components"]["agi"]
        assert agi["connected"] is False
        assert str(port) in agi["detail"]
        alarms = [r for r in caplog.records if r.getMessage().startswith("ALARM: cannot bind")]
        assert alarms
        assert alarms[0].__dict__["port"] == port
        assert alarms[0].__dict__["listener"] == "fastagi"
        assert "in use" in alarms[0].__dict__["error"]

        squatter.close()
        await until(
            lambda: any(r.getMessage() == "port bound after retrying" for r in caplog.records)
        )
        body = await readyz(http_port)
        assert body["components"]["agi"]["connected"] is True
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # Asterisk's AGI() can reach it now


async def test_given_the_admin_port_is_taken_then_calls_are_served_and_it_binds_once_freed(
    ari: RecordedAri,
    ami: int,
    systemd: NotifySocket,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    squatter = squat()
    port = int(squatter.getsockname()[1])
    caplog.set_level(logging.INFO)
    async with Daemon(settings_for(ari, ami, tmp_path, http_port=port)) as daemon:
        await until(lambda: ready(systemd))
        assert daemon.task is not None
        assert not daemon.task.done()
        assert any(f"ALARM: admin port {port} not bound" in m for m in systemd.messages())
        alarms = [r for r in caplog.records if r.getMessage().startswith("ALARM: cannot bind")]
        assert [(r.__dict__["listener"], r.__dict__["port"]) for r in alarms][:1] == [
            ("admin-http", port)
        ]

        squatter.close()
        await until(
            lambda: any(r.getMessage() == "port bound after retrying" for r in caplog.records)
        )
        assert (await readyz(port))["ready"] is True


# --- finding: a dead event pump exits 0 --------------------------------------------------------


async def test_given_the_ari_event_pump_dies_then_the_daemon_exits_1_saying_why(
    ari: RecordedAri,
    ami: int,
    systemd: NotifySocket,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The client's stream survives every bad frame (a frame nested past the recursion limit,
    # once the way to end it, is skipped now): break its frame parser to make it raise.
    from callgate.asterisk.ari import client as ari_client

    def broken(data: str) -> None:
        raise RuntimeError("pump broke")

    monkeypatch.setattr(ari_client, "_parse_event", broken)
    task = asyncio.create_task(run(settings_for(ari, ami, tmp_path)))
    await until(lambda: ready(systemd) and len(ari.sockets) == 1)
    await ari.send(RecordedAri.frame("StasisStart", args=[]))
    assert await asyncio.wait_for(task, 15) == 1
    [line] = [r for r in caplog.records if r.getMessage().startswith("ARI event pump ended")]
    assert line.levelno == logging.ERROR
    assert "pump broke" in line.__dict__["reason"]


async def test_given_sigterm_then_the_daemon_exits_0(
    ari: RecordedAri, ami: int, systemd: NotifySocket, tmp_path: Path
) -> None:
    task = asyncio.create_task(run(settings_for(ari, ami, tmp_path)))
    await until(lambda: ready(systemd))
    os.kill(os.getpid(), signal.SIGTERM)
    assert await asyncio.wait_for(task, 15) == 0
    assert any(m.startswith("STOPPING=1") for m in systemd.messages())


# --- finding: the daemon's CAD command handler ignored [mqtt] max_command_bytes ----------------


async def test_given_max_command_bytes_then_the_daemons_command_handler_uses_it_and_the_services(
    ari: RecordedAri,
    ami: int,
    systemd: NotifySocket,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handlers: list[CommandHandler | None] = []
    real_start = EventPublisher.start

    async def start(self: EventPublisher, *, commands: CommandHandler | None = None) -> None:
        handlers.append(commands)
        await real_start(self, commands=commands)

    monkeypatch.setattr(EventPublisher, "start", start)
    settings = settings_for(ari, ami, tmp_path).model_copy(
        update={"mqtt": MqttSettings(enabled=False, max_command_bytes=2048)}
    )
    async with Daemon(settings):
        await until(lambda: ready(systemd))
    [handler] = handlers
    assert handler is not None
    assert handler.max_bytes == 2048
    # The same services as the phones and the admin API, not the plain journal writes.
    assert handler.dispositions is not None
    assert handler.blocks is not None


# --- the admin socket, wired: the local CLI's way in ------------------------------------------


async def test_given_a_socket_path_then_the_daemon_serves_the_api_there_as_the_mapped_user(
    ari: RecordedAri, ami: int, systemd: NotifySocket, tmp_path: Path
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="cg-sock-"))  # AF_UNIX paths are short
    path = folder / "admin.sock"
    settings = settings_for(ari, ami, tmp_path)
    settings = settings.model_copy(
        update={
            "ops": settings.ops.model_copy(update={"socket_path": str(path)}),
            "auth": AuthSettings.model_validate(
                {
                    "users": [{"name": "ops-admin", "role": "admin"}],
                    "local_users": {ME: "ops-admin"},
                }
            ),
        }
    )
    try:
        async with Daemon(settings):
            await until(lambda: ready(systemd) and path.exists())
            async with (
                aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(path))) as local,
                local.get("http://localhost/api/whoami") as reply,
            ):
                assert (reply.status, await reply.json()) == (
                    200,
                    {"name": "ops-admin", "role": "admin", "agent_id": None},
                )
        assert not path.exists()
    finally:
        shutil.rmtree(folder)


# --- reloading the configuration: SIGHUP, wired ----------------------------------------------


def config_file(ari: RecordedAri, ami_port: int, tmp_path: Path, endpoints: list[str]) -> Path:
    """settings_for's settings as a config file (what SIGHUP reads again)."""
    path = tmp_path / "callgate.toml"
    path.write_text(
        f"""lab = true
[ari]
url = "{ari.url}"
setup_timeout = 0.3
[ami]
host = "127.0.0.1"
port = {ami_port}
[storage]
url = "sqlite+aiosqlite:///{tmp_path / "journal.db"}"
spool_dir = "{tmp_path / "spool"}"
[mqtt]
enabled = false
[callbacks]
enabled = false
[fallback]
queue_log = ""
[recording]
asterisk_dir = "{tmp_path}"
[calltakers]
endpoints = {json.dumps(endpoints)}
[ops]
http_port = 0
watchdog = false
bind_retry_seconds = 0.05
socket_path = ""
[agi]
port = 0
"""
    )
    return path


async def test_given_sighup_then_the_file_is_read_again_and_a_new_call_taker_followed(
    ari: RecordedAri,
    ami: int,
    systemd: NotifySocket,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = config_file(ari, ami, tmp_path, ["PJSIP/1001"])
    async with Daemon(read_config(path), str(path)):
        await until(lambda: ready(systemd))
        subscriptions = ari.count(*SUBSCRIBE)
        path = config_file(ari, ami, tmp_path, ["PJSIP/1001", "PJSIP/1002"])
        with caplog.at_level(logging.INFO):
            os.kill(os.getpid(), signal.SIGHUP)
            await until(lambda: "RELOADING=1" in "".join(systemd.messages()))
            await until(
                lambda: any(r.getMessage().endswith("[calltakers] changed") for r in caplog.records)
            )
        # 1002's phone is followed on the connection that runs: one more subscription.
        await until(lambda: ari.count(*SUBSCRIBE) == subscriptions + 1)
        told = systemd.messages()
        reloading = next(i for i, m in enumerate(told) if m.startswith("RELOADING=1"))
        assert any(m.startswith("READY=1") for m in told[reloading:])
        # A bad file now: refused, the daemon runs on.
        path.write_text(path.read_text() + "[acd]\nstrategy = 'nope'\n")
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: any(r.levelno == logging.ERROR for r in caplog.records))
        [refused] = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert "acd.strategy" in refused.__dict__["error"]
