"""Logs are JSON lines, never carry a secret, and a burst from outside is throttled."""

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


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_given_a_burst_of_one_kind_then_one_line_per_interval_and_the_next_counts_it() -> None:
    clock = Clock()
    throttle = LogThrottle(10.0, clock)

    assert throttle.admit("header timeout") == 0
    held = [throttle.admit("header timeout") for _ in range(57)]
    clock.now += 9.9
    held.append(throttle.admit("header timeout"))
    assert held == [None] * 58
    clock.now += 0.1
    assert throttle.admit("header timeout") == 58
    assert throttle.admit("header timeout") is None
    clock.now += 10
    assert throttle.admit("header timeout") == 1


def test_given_two_kinds_then_each_has_its_own_interval_and_count() -> None:
    clock = Clock()
    throttle = LogThrottle(5.0, clock)
    assert throttle.admit("a") == 0
    assert throttle.admit("b") == 0
    assert throttle.admit("a") is None
    clock.now += 5
    assert throttle.admit("b") == 0
    assert throttle.admit("a") == 1


def test_given_interval_zero_then_every_line_is_logged() -> None:
    throttle = LogThrottle(0.0, Clock())
    assert [throttle.admit("a") for _ in range(3)] == [0, 0, 0]
