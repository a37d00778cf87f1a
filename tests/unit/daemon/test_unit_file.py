"""systemd/callgate.service: what the issue asks of it, and systemd's own verdict on it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from callgate.http.settings import OpsSettings

REPO = Path(__file__).resolve().parents[3]
UNIT = REPO / "systemd" / "callgate.service"
CHECK = REPO / "scripts" / "check-systemd-unit"

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


def _directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_unit_is_a_notify_service_with_a_watchdog_and_restarts_on_failure() -> None:
    d = _directives()
    assert d["Type"] == ["notify"]
    assert d["NotifyAccess"] == ["main"]
    assert d["WatchdogSec"] == ["30"]
    assert d["Restart"] == ["on-failure"]
    assert d["RestartPreventExitStatus"] == ["2"]  # a bad config does not restart-loop
    assert "asterisk.service" in d["After"][0]
    assert "network-online.target" in d["After"][0]
    # systemctl reload: SIGHUP reloads the configuration with calls going on (#15).
    assert d["ExecReload"] == ["/bin/kill -HUP $MAINPID"]


def test_unit_runs_sandboxed_as_its_own_user() -> None:
    d = _directives()
    assert d["User"] == ["callgate"]
    assert d["ProtectSystem"] == ["strict"]
    assert d["NoNewPrivileges"] == ["yes"]
    assert d["StateDirectory"] == ["callgate"]  # /var/lib/callgate, writable
    assert d["ReadWritePaths"] == ["-/var/spool/asterisk/monitor"]


def test_unit_gives_the_admin_socket_its_folder_and_sysusers_its_group() -> None:
    d = _directives()
    # /run/callgate, owned by callgate: [ops] socket_path's default lives there.
    assert d["RuntimeDirectory"] == ["callgate"]
    assert d["RuntimeDirectoryMode"] == ["0755"]  # the socket's own 0660 decides who connects
    assert "AF_UNIX" in d["RestrictAddressFamilies"][0].split()
    sysusers = (REPO / "systemd" / "callgate.sysusers").read_text().splitlines()
    # A group of its own, not callgate's (which reads the secrets); callgate in it to chown.
    assert "g callgate-cli -" in sysusers
    assert "m callgate callgate-cli" in sysusers
    assert OpsSettings().socket_group == "callgate-cli"
    assert OpsSettings().socket_path.startswith("/run/callgate/")


@needs_systemd_analyze
def test_systemd_analyze_verify_passes_on_the_unit() -> None:
    result = subprocess.run([CHECK], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "verified" in result.stdout


@needs_systemd_analyze
def test_systemd_analyze_verify_catches_a_misspelt_key(tmp_path: Path) -> None:
    broken = tmp_path / "callgate.service"
    broken.write_text(UNIT.read_text().replace("WatchdogSec=30", "WatchdogSecs=30"))
    result = subprocess.run([CHECK, broken], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "Unknown key 'WatchdogSecs'" in result.stderr
