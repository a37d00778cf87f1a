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


#: A log-in name as a hostile client may send it: an ANSI colour and a cursor move (ESC, C1
#: CSI), a forged second line (CR, LF, U+2028, U+2029), DEL, NUL, a right-to-left override.
HOSTILE = "eve\x1b[31m\x9b2J\r\n2026-01-01 [info] forged\u2028x\u2029y\x7f\x00\u202egnp.exe"
RAW = ("\x1b", "\x9b", "\r", "\x7f", "\x00", "\u2028", "\u2029", "\u202e")


def test_console_lines_escape_control_characters_of_client_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("INFO", "console")
    logging.getLogger("callgate.test").warning(
        "admin API: log-in failed", extra={"user": HOSTILE, "reasons": [HOSTILE]}
    )
    logging.getLogger("callgate.test").warning("message %s", HOSTILE)
    out = capsys.readouterr().out
    lines = out.splitlines()  # splitlines breaks at U+2028, U+2029, \x1c-\x1e, \x85 too
    assert len(lines) == 2, out
    for raw in (*RAW, "\x85", "\x1c"):
        assert raw not in out
    shown = (
        "eve\\x1b[31m\\x9b2J\\r\\n2026-01-01 [info] forged\\u2028x\\u2029y\\x7f\\x00\\u202egnp.exe"
    )
    assert f"user='{shown}'" in lines[0]
    assert f"reasons=['{shown}']" in lines[0]
    assert f"message {shown}" in lines[1]
    # Plain text stays as it was.
    setup_logging("INFO", "console")
    logging.getLogger("callgate.test").warning("plain", extra={"user": "sri", "note": "a b"})
    assert "note='a b' user=sri" in capsys.readouterr().out


def test_json_lines_escape_every_control_character_and_keep_the_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("INFO", "json")
    logging.getLogger("callgate.test").warning("log-in failed", extra={"user": HOSTILE})
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    for raw in (*RAW, "\x85"):
        assert raw not in out
    assert json.loads(out)["user"] == HOSTILE
