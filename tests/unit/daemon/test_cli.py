"""The admin commands against a real admin HTTP port (port 0) over a real engine and journal."""

from __future__ import annotations

import asyncio
import grp
import json
import os
import socket
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callgate.core.acd import Acd
from callgate.core.config import AcdConfig
from callgate.core.events import CallArrived
from callgate.daemon.calltakers import CallTakerControl
from callgate.daemon.engine import Engine
from callgate.daemon.health import Health
from callgate.daemon.metrics import Metrics
from callgate.daemon.view import LiveDaemonView
from callgate.http.local import AdminSocket
from callgate.http.server import OpsHttp
from callgate.storage.journal import Journal
from callgate.tools import admin_client
from callgate.tools.admin import main
from tests.unit.auth_users import authenticator, token
from tests.unit.daemon.conftest import ME, Clock, NoPhones, projected

ENDPOINTS = ["PJSIP/1001", "PJSIP/1002", "PJSIP/1003"]


class Daemon:
    def __init__(self, view: LiveDaemonView, http: OpsHttp, levels: list[str]) -> None:
        self.view = view
        self.http = http
        self.levels = levels
        self.health = view.health

    async def cli(self, *argv: str) -> int:
        # The CLI blocks on its HTTP request; the server needs this loop meanwhile. The
        # admin's token comes from CALLGATE_TOKEN (set by the fixture).
        return await asyncio.to_thread(main, [*argv, "--url", self.http.url])


@pytest.fixture
async def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Daemon]:
    monkeypatch.setenv("CALLGATE_TOKEN", token("root"))
    clock = Clock(1_000.0)
    journal = await Journal.open(f"sqlite+aiosqlite:///{tmp_path / 'journal.db'}")
    engine = Engine(Acd(AcdConfig()), NoPhones(), clock=clock)
    health = Health(clock=clock)
    levels: list[str] = []
    control = CallTakerControl(engine.feed, ENDPOINTS)
    engine.observers.append(control.notification)
    view = LiveDaemonView(
        engine,
        control,
        health,
        journal,
        set_log_level=levels.append,
        clock=clock,
    )
    metrics = Metrics(projected(engine), health, calltakers=["1001", "1002", "1003"], clock=clock)
    http = OpsHttp(view, health, metrics.registry, authenticator=authenticator(), port=0)
    await http.start()
    yield Daemon(view, http, levels)
    await http.stop()
    engine.close()
    await journal.close()


def _all_up(health: Health) -> None:
    for name in ("ari", "ami", "database"):
        health.set(name, True)


async def test_status_when_ready_prints_waiting_calls_and_exits_0(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    _all_up(daemon.health)
    await daemon.view.agent_command("1001", "login", None, by="sup")
    await daemon.view.agent_command("1001", "pause", "briefing", by="sup")
    await daemon.view.engine.feed(CallArrived("c1", caller="+62812"))
    await daemon.view.engine.feed(CallArrived("c2", caller="+62813"))
    daemon.view.clock.now = 1_047.0  # type: ignore[attr-defined]
    assert await daemon.cli("status") == 0
    out = capsys.readouterr().out
    assert "READY, taking 112 calls" in out
    assert "2 waiting, longest 0:47" in out
    assert "1 paused, 2 logged out" in out
    assert "mqtt      down  never connected  (not required)" in out


async def test_status_when_ami_is_down_names_it_and_exits_1(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    _all_up(daemon.health)
    daemon.health.set("ami", False, "connection refused")
    assert await daemon.cli("status") == 1
    out = capsys.readouterr().out
    assert "NOT READY (ami down): calls still taken" in out
    assert "ami       DOWN" in out
    assert "connection refused" in out


async def test_status_json_is_the_api_body_with_the_same_exit_code(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await daemon.cli("status", "--json") == 1
    body = json.loads(capsys.readouterr().out)
    assert body["ready"] is False
    assert body["waiting"] == 0


async def test_status_when_the_daemon_is_not_listening_exits_1_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on that port any more.
    code = await asyncio.to_thread(main, ["status", "--url", f"http://127.0.0.1:{port}"])
    assert code == 1
    err = capsys.readouterr().err
    assert f"daemon not reachable at http://127.0.0.1:{port}" in err
    assert "systemctl status callgate" in err


async def test_agents_pause_then_list_shows_the_reason(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await daemon.cli("agents", "login", "1001") == 0
    assert await daemon.cli("agents", "pause", "1001", "--reason", "briefing") == 0
    assert "call-taker 1001: paused" in capsys.readouterr().out
    assert await daemon.cli("agents") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "STATE", "PHONE", "CALL", "ANSWERED", "NOTE"]
    assert lines[1].split()[:2] == ["1001", "PAUSED"]
    assert "reason: briefing" in lines[1]
    assert lines[2].split()[:2] == ["1002", "LOGGED_OUT"]


async def test_agents_login_twice_is_nothing_to_do_and_exits_0(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await daemon.cli("agents", "login", "1002") == 0
    assert await daemon.cli("agents", "login", "1002", "--json") == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{") :])["result"] == "ALREADY"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("agents", "pause", "1002"), "refused: call-taker 1002"),
        (("agents", "login", "1999"), "no call-taker 1999 in the config"),
    ],
)
async def test_agents_command_the_daemon_refuses_exits_3(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    assert await daemon.cli(*argv) == 3
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ("agents", "pause"),
        ("agents", "logout", "1001", "--reason", "x"),
        ("calls", "--recent", "-1"),
    ],
)
async def test_usage_errors_exit_2_before_asking_the_daemon(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    assert await daemon.cli(*argv) == 2
    assert capsys.readouterr().err.startswith("callgate: ")


async def test_calls_lists_live_calls_and_recent_ones_from_the_journal(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    # A paused call-taker keeps the call in the queue (nobody logged in would overflow it).
    await daemon.view.agent_command("1001", "login", None, by="sup")
    await daemon.view.agent_command("1001", "pause", None, by="sup")
    await daemon.view.engine.feed(CallArrived("live-1", caller=""))
    journal = daemon.view.journal
    assert journal is not None
    await journal.call_started(
        "done-1",
        caller="+62812",
        caller_sent="0812",
        dialed="112",
        priority=1,
        category="genuine",
        at=datetime(2026, 11, 3, 2, 1, tzinfo=UTC),
    )
    await journal.call_ended(
        "done-1",
        at=datetime(2026, 11, 3, 2, 3, tzinfo=UTC),
        outcome="COMPLETED",
        answered_at=datetime(2026, 11, 3, 2, 1, 6, tzinfo=UTC),
        answered_by="1001",
    )
    assert await daemon.cli("calls", "--recent", "5") == 0
    out = capsys.readouterr().out
    assert "live calls in the ACD: 1" in out
    assert "live-1" in out
    assert "(withheld)" in out
    assert "recent calls (journal, newest first): 1" in out
    done = next(line for line in out.splitlines() if "done-1" in line)
    assert done.split()[3:6] == ["COMPLETED", "6.0s", "1001"]  # after the date and time


async def test_log_level_reaches_the_daemon(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await daemon.cli("log-level", "debug") == 0
    assert daemon.levels == ["DEBUG"]
    assert "log level is now DEBUG" in capsys.readouterr().out


async def test_the_admin_url_is_read_from_the_config_files_ops_section(
    daemon: Daemon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "callgate.toml"
    config.write_text(f"[ops]\nhttp_port = {daemon.http.port}\n")
    assert await asyncio.to_thread(main, ["status", "--json", "-c", str(config)]) == 1
    assert json.loads(capsys.readouterr().out)["ready"] is False


def test_check_config_with_a_valid_file_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "callgate.toml"
    config.write_text(
        '[calltakers]\nendpoints = ["PJSIP/2001"]\n'
        '[ari]\npassword = "long-and-random-1"\n[ami]\npassword = "long-and-random-2"\n'
        '[agi]\nsecret = "long-and-random-agi-secret-3"\n'
        '[mqtt]\nusername = "callgate"\npassword = "long-and-random-4"\n'
    )
    assert main(["check-config", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"config OK: {config}" in out
    assert "calltakers  1" in out


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("", ["ari.password", "ami.password", "agi.secret"]),
        ('[ami]\npassword = "mine"\n', ["ari.password", "agi.secret"]),
        ('[ari]\npassword = "mine"\n', ["ami.password", "agi.secret"]),
        ('[agi]\nsecret = "a-centre-agi-secret-0123"\n', ["ari.password", "ami.password"]),
    ],
)
def test_check_config_refuses_the_published_lab_secrets_naming_the_key(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    named: list[str],
) -> None:
    config = tmp_path / "callgate.toml"
    config.write_text(text)
    assert main(["check-config", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert "not for a 112 host" in err
    for key in named:
        assert f"{key}: the lab's published value" in err
    assert "lab-a" not in err  # the secret itself is not repeated
    # The lab says so explicitly, and may.
    monkeypatch.setenv("CALLGATE_LAB", "1")
    assert main(["check-config", "-c", str(config)]) == 0
    config.write_text(text + "lab = true\n" if not text else "lab = true\n" + text)
    monkeypatch.delenv("CALLGATE_LAB")
    assert main(["check-config", "-c", str(config)]) == 0


def test_run_refuses_the_published_lab_secrets_before_connecting(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from callgate.daemon.app import run_daemon

    monkeypatch.delenv("CALLGATE_LAB", raising=False)
    monkeypatch.setenv("CALLGATE_AMI__PASSWORD", "not-the-lab-one")
    assert run_daemon(None) == 2
    err = capsys.readouterr().err
    assert "ari.password: the lab's published value" in err
    assert "ami.password" not in err
    # The default anonymous broker too: anyone could command as CAD on it.
    assert "mqtt.username: none" in err


def test_check_config_with_a_bad_key_names_it_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "callgate.toml"
    config.write_text('[calltakers]\nring_timeout = 2\nendpoints = ["1001"]\n')
    assert main(["check-config", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert "calltakers.ring_timeout" in err
    assert "calltakers.endpoints" in err


def test_check_config_json_reports_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.toml"
    assert main(["check-config", "--json", "-c", str(missing)]) == 2
    body = json.loads(capsys.readouterr().out)
    assert body["valid"] is False
    assert "does not exist" in body["error"]


def test_given_the_database_down_then_status_says_degraded_and_taking_calls() -> None:
    from callgate.tools.admin import render_status

    component = {"connected": True, "required": True, "since": 1_790_000_000.0}
    text = render_status(
        {
            "ready": True,
            "degraded": ["database"],
            "components": {
                "ari": component,
                "ami": component,
                "database": {
                    "connected": False,
                    "required": False,
                    "degrading": True,
                    "since": 1_790_000_060.0,
                    "detail": "journal x unavailable: ConnectionRefusedError",
                },
            },
        }
    )
    assert "DEGRADED (database down), taking 112 calls" in text
    assert "database  DOWN" in text


def test_given_a_clustered_standby_then_status_says_standby_and_who_leads() -> None:
    from callgate.daemon.standby import StandbyState
    from callgate.tools.admin import render_status

    state = StandbyState(lambda: "cg-a", clock=lambda: 1_790_000_000.0)
    state.saw({"ari": None, "ami": "connection refused"})
    text = render_status(state.to_json())
    assert "callgate " in text
    assert "[standby]: STANDBY: cg-a leads; this one takes over if it stops" in text
    assert "ami       down" in text
    leading = render_status({"ready": True, "role": "leader", "components": {}})
    assert "[leader]: READY, taking 112 calls" in leading
    assert "[" not in render_status({"ready": True, "role": "single", "components": {}})


# -- the admin socket: the local CLI without a token -------------------------------------------


@pytest.fixture
async def local_daemon(
    daemon: Daemon, socket_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Daemon, Path]]:
    """The daemon with its admin socket too, and a config file naming both, as installed; no
    token in the environment."""
    for name in ("CALLGATE_TOKEN", "CALLGATE_TOKEN_FILE", "CALLGATE_OPS__SOCKET_PATH"):
        monkeypatch.delenv(name, raising=False)
    sock = socket_dir / "admin.sock"
    daemon.http.local = AdminSocket(sock)
    assert daemon.http._runner is not None
    assert await daemon.http.local.start(daemon.http._runner)
    config = tmp_path / "callgate.toml"
    config.write_text(f"[ops]\nhttp_port = {daemon.http.port}\nsocket_path = '{sock}'\n")
    yield daemon, config
    daemon.http.local.stop()


def _cli(*argv: str) -> Awaitable[int]:
    return asyncio.to_thread(main, list(argv))


def _map_me(daemon: Daemon, name: str | None) -> None:
    daemon.http.authenticator.local_users = {} if name is None else {ME: name}


async def test_given_no_token_then_the_cli_uses_the_socket_as_the_mapped_user(
    local_daemon: tuple[Daemon, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    daemon, config = local_daemon
    _map_me(daemon, "root")
    # The TCP port is told wrong: only the socket can have carried it.
    config.write_text(config.read_text().replace(f"= {daemon.http.port}", "= 1"))
    assert await _cli("log-level", "debug", "-c", str(config)) == 0
    assert daemon.levels == ["DEBUG"]
    assert "log level is now DEBUG" in capsys.readouterr().out


async def test_given_an_unmapped_unix_user_then_the_cli_says_so_and_exits_2(
    local_daemon: tuple[Daemon, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    daemon, config = local_daemon
    _map_me(daemon, None)
    assert await _cli("agents", "-c", str(config)) == 2
    err = capsys.readouterr().err
    assert f"your Unix user {ME} is not in [auth] local_users" in err
    _map_me(daemon, "ct1001")
    assert await _cli("log-level", "debug", "-c", str(config)) == 2  # a call-taker may not: 403
    assert "ct1001 (call-taker) may not log-level" in capsys.readouterr().err
    assert daemon.levels == []


async def test_given_a_token_or_a_url_then_the_cli_uses_tcp_not_the_socket(
    local_daemon: tuple[Daemon, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    daemon, config = local_daemon
    _map_me(daemon, "root")  # the socket would make it an admin
    monkeypatch.setenv("CALLGATE_TOKEN", token("ct1001"))
    assert await _cli("log-level", "debug", "-c", str(config)) == 2
    assert "ct1001 (call-taker) may not" in capsys.readouterr().err
    monkeypatch.delenv("CALLGATE_TOKEN")
    assert await _cli("log-level", "debug", "-c", str(config), "--url", daemon.http.url) == 2
    assert "authentication required" in capsys.readouterr().err
    assert daemon.levels == []


async def test_given_a_socket_that_does_not_answer_then_the_cli_falls_back_to_tcp_saying_why(
    local_daemon: tuple[Daemon, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    daemon, config = local_daemon
    assert daemon.http.local is not None
    daemon.http.local.stop()  # removed ...
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(daemon.http.local.path))  # ... and a dead one in its place
        assert await _cli("status", "--json", "-c", str(config)) == 1  # TCP: up, not ready
        assert json.loads(capsys.readouterr().out)["ready"] is False
        assert await _cli("agents", "-c", str(config)) == 2
        err = capsys.readouterr().err
        assert "does not answer" in err
        assert "or use a token" in err


async def test_given_a_socket_the_user_may_not_use_then_the_cli_says_which_group_to_join(
    local_daemon: tuple[Daemon, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    daemon, config = local_daemon
    _map_me(daemon, "root")

    def refused(self: admin_client._SocketConnection) -> None:
        raise PermissionError(13, "Permission denied")  # as a user outside its group gets

    # Root may connect whatever the mode, so the refusal a member of no group gets is staged.
    monkeypatch.setattr(admin_client._SocketConnection, "connect", refused)
    assert await _cli("agents", "-c", str(config)) == 2
    err = capsys.readouterr().err
    group = grp.getgrgid(os.getgid()).gr_name
    assert f"you may not use the admin socket {daemon.http.local.path}" in err  # type: ignore[union-attr]
    assert f"sudo usermod -aG {group} {ME}" in err
