"""``callgate users display add|list|revoke``: what each asks the daemon and what it prints (the
daemon's side is tests/unit/daemon/test_http_displays.py)."""

from __future__ import annotations

from typing import Any

import pytest

from callgate.tools import admin_client, users


def _daemon(monkeypatch: pytest.MonkeyPatch, status: int, body: dict[str, Any]) -> list[Any]:
    asked: list[Any] = []
    for name in ("CALLGATE_OPS__HTTP_HOST", "CALLGATE_OPS__HTTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(admin_client, "DEFAULT_CONFIG", admin_client.Path("/nonexistent.toml"))

    def call(args: Any, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        asked.append((method, path, payload))
        return status, body

    monkeypatch.setattr(admin_client, "call", call)
    return asked


def test_add_prints_the_screens_address_once_on_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = {"name": "hall", "token": "T0K3N", "path": "wallboard#display=T0K3N"}
    asked = _daemon(monkeypatch, 200, answer)
    assert users.main(["display", "add", "hall"]) == 0
    assert asked == [("POST", "/api/displays", {"name": "hall"})]
    out, err = capsys.readouterr()
    assert out == "http://127.0.0.1:8089/wallboard#display=T0K3N\n"
    assert "T0K3N" not in err


def test_list_and_revoke(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shown = {"name": "hall", "created": "2026-12-07T08:00:00+00:00", "created_by": "root",
             "sessions": 1, "last_seen": None}  # fmt: skip
    _daemon(monkeypatch, 200, {"displays": [shown]})
    assert users.main(["display", "list"]) == 0
    assert "hall  2026-12-07T08:00:00  root  1         -" in capsys.readouterr().out
    asked = _daemon(monkeypatch, 200, {"result": "revoked", "name": "a/b", "sessions": 2})
    assert users.main(["display", "revoke", "a/b"]) == 0
    assert asked == [("DELETE", "/api/displays/a%2Fb", None)]
    assert "2 sessions ended" in capsys.readouterr().out


def test_a_refusal_is_said_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _daemon(monkeypatch, 409, {"error": "display hall exists; revoke it first"})
    assert users.main(["display", "add", "hall"]) == 1
    assert "exists" in capsys.readouterr().err
