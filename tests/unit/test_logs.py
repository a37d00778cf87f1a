"""Logs are JSON lines and never carry a secret."""

from __future__ import annotations

import json
import logging

import pytest

from callgate.logs import LogThrottle, clip, setup_logging


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


def test_given_client_text_when_clipped_then_short_text_is_kept_and_long_text_marked() -> None:
    assert clip("break") == "break"
    assert clip(None) is None
    assert clip("x" * 200) == "x" * 200
    assert clip("x" * 2_000_000) == "x" * 200 + "…[+1999800 chars]"
    assert clip("abcdef", 3) == "abc…[+3 chars]"


def test_given_a_repeated_warning_then_the_throttle_lets_one_through_per_interval() -> None:
    throttle = LogThrottle(interval=60.0)
    assert throttle.allow("retained", 0.0) == 0
    assert throttle.allow("retained", 1.0) is None
    assert throttle.allow("retained", 59.0) is None
    assert throttle.allow("other", 59.0) == 0
    assert throttle.allow("retained", 60.0) == 2
    assert throttle.allow("retained", 61.0) is None
