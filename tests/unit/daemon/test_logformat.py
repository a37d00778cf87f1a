from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from callgate.logs import current_level, set_level, setup_logging


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_level_call_id_and_agent_id_and_hide_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("INFO", "json")
    logging.getLogger("callgate.test").info(
        "call answered", extra={"call_id": "c1", "agent_id": "1001", "ari_password": "hunter2"}
    )
    line = json.loads(capsys.readouterr().out.strip())
    assert line["event"] == "call answered"
    assert line["level"] == "info"
    assert line["call_id"] == "c1"
    assert line["agent_id"] == "1001"
    assert line["ari_password"] == "[redacted]"


def test_console_lines_are_readable_and_hide_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", "console")
    logging.getLogger("callgate.test").warning(
        "AMI disconnected", extra={"call_id": "c9", "secret": "hunter2"}
    )
    out = capsys.readouterr().out
    assert "AMI disconnected" in out
    assert "warn" in out
    assert "call_id=c9" in out
    assert "hunter2" not in out
    assert not out.lstrip().startswith("{")


def test_set_level_takes_effect_at_once_and_refuses_unknown_levels(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("INFO", "json")
    log = logging.getLogger("callgate.test")
    log.debug("hidden")
    set_level("debug")
    assert current_level() == "DEBUG"
    log.debug("shown")
    lines = [json.loads(x)["event"] for x in capsys.readouterr().out.splitlines()]
    assert lines == ["shown"]
    with pytest.raises(ValueError, match="one of"):
        set_level("LOUD")
    assert current_level() == "DEBUG"
