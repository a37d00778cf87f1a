"""systemd/callgate-verify.{service,timer}: the daily ``callgate recordings verify`` (#23)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SERVICE = REPO / "systemd" / "callgate-verify.service"
TIMER = REPO / "systemd" / "callgate-verify.timer"


def _lines(unit: Path) -> list[str]:
    return [line for line in unit.read_text().splitlines() if line and not line.startswith("#")]


def test_the_service_runs_verify_once_over_the_admin_socket_as_callgate() -> None:
    lines = _lines(SERVICE)
    assert "Type=oneshot" in lines
    assert "User=callgate" in lines
    assert "SupplementaryGroups=callgate-cli" in lines  # the admin socket's group
    [start] = [line for line in lines if line.startswith("ExecStart=")]
    assert "callgate recordings verify" in start


def test_the_timer_runs_it_daily_and_only_once_enabled() -> None:
    lines = _lines(TIMER)
    assert any(line.startswith("OnCalendar=") for line in lines)
    assert "Persistent=true" in lines
    assert "WantedBy=timers.target" in lines  # enabled by hand: nothing installs the link


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify_passes_on_the_service() -> None:
    check = REPO / "scripts" / "check-systemd-unit"
    result = subprocess.run([check, SERVICE], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
