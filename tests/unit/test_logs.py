"""Logs are JSON lines and never carry a secret."""

from __future__ import annotations

import json
import logging

import pytest

from callgate.logs import setup_logging


def test_given_a_secret_field_when_logged_then_it_is_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("INFO")
    try:
        logging.getLogger("callgate.test").info(
            "connecting", extra={"ari_password": "hunter2", "call_id": "c1"}
        )
        line = capsys.readouterr().out.strip().splitlines()[-1]
    finally:
        logging.getLogger().handlers.clear()
    record = json.loads(line)
    assert record["event"] == "connecting"
    assert record["call_id"] == "c1"
    assert record["ari_password"] == "[redacted]"
    assert "hunter2" not in line
