"""Silent ("ghost") calls in the lab: TALK_DETECT hears who speaks, a silent caller is asked to
press a key; a key raises the call, silence lowers it, and every caller is still answered."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import labpeers
import pytest

from .conftest import Daemon, wait_for

SILENT = "081199100001"
PRESSES_KEY = "081199100002"
SPEAKS = "081199100003"
IMEI = "35209900-176148-1"


@pytest.mark.daemon_env(
    CALLGATE_CALLTAKERS__ENDPOINTS='["PJSIP/1001"]',
    CALLGATE_CALLTAKERS__WRAP_UP_TIME="1",
    CALLGATE_SCREENING__SILENCE_SECONDS="3",
    CALLGATE_SCREENING__KEY_SECONDS="6",
)
def test_given_silent_callers_then_a_key_press_raises_and_silence_lowers_and_all_are_answered(
    daemon: Daemon, phones: Callable[..., list[labpeers.Softphone]], tmp_path: Path
) -> None:
    # Logged in (at start) but not registered yet: the three callers wait while they are heard.
    placed: list[labpeers.CarrierCalls] = []

    def call(number: str, audio: str, imei: str = "") -> None:
        calls = labpeers.CarrierCalls(
            callers=[number],
            talk_seconds=90,
            audio=audio,
            imei=imei,
            workdir=tmp_path / f"sipp-{len(placed)}",
        )
        calls.start()
        placed.append(calls)

    try:
        call(SILENT, "silent")
        wait_for(lambda: len(daemon.records("112 call entered")) == 1, 10, "the silent caller")
        call(PRESSES_KEY, "key:4.5")
        wait_for(lambda: len(daemon.records("112 call entered")) == 2, 10, "the key caller")
        call(SPEAKS, "speech")
        wait_for(lambda: len(daemon.records("112 call entered")) == 3, 10, "the speaker")
        call("anonymous", "speech", imei=IMEI)
        wait_for(lambda: len(daemon.records("112 call entered")) == 4, 10, "the speakers")
        wait_for(
            lambda: (
                daemon.records("silent caller: ghost")
                and daemon.records("silent caller pressed a key; raised")
            ),
            30,
            "silence detection to class both silent callers",
        )
        assert len(daemon.records("caller silent; asking for a key press")) == 2
        identified = daemon.records("SIM-less caller identified by the carrier")
        assert [r["identity"] for r in identified] == ["imei:35209900176148"]

        with labpeers.CallTakersHangUp(1.0, phones("1001")):
            wait_for(lambda: len(daemon.records("call connected")) == 4, 60, "all four answered")
            wait_for(lambda: len(daemon.records("call ended")) == 4, 30, "the calls to end")
        entered = {str(r["call_id"]): str(r["caller"]) for r in daemon.records("112 call entered")}
        order = [entered[str(r["call_id"])] for r in daemon.records("call connected")]
        # The key press outranks everyone; the speakers keep arrival order; silence comes last.
        assert order == ["+6281199100002", "+6281199100003", "anonymous", "+6281199100001"]
        categories = {c.caller: c.category for c in daemon.calls()}
        assert categories["+6281199100001"] == "ghost"
        assert categories["+6281199100002"] == "silent-key-pressed"
        assert categories["+6281199100003"] == ""
        # The SIM-less caller's history is keyed by the handset's identity in the journal.
        with sqlite3.connect(daemon.journal_path) as db:
            rows = db.execute("SELECT identity FROM calls WHERE caller = 'anonymous'").fetchall()
        assert rows == [("35209900176148",)]
    finally:
        for calls in placed:
            calls.stop()
