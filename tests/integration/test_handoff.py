"""Hand-off to an agency in the lab: the call-taker keys *1 (three-way) or #1 (hand-off)."""

from __future__ import annotations

import json
import time
import wave
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import labpeers
import pytest

from .conftest import Daemon, wait_for

AGENCIES = json.dumps({"damkar": {"dial": "PJSIP/1006", "digit": "1"}})


def _bridge_members(call_id: str) -> list[str]:
    bridge = labpeers.ari_get(f"/bridges/call-{call_id}")
    assert isinstance(bridge, dict)
    return [str(c) for c in bridge["channels"]]


def _key(phone: labpeers.Softphone, *digits: str) -> None:
    for digit in digits:
        phone.command("sndcode", digit)
        time.sleep(0.3)


@pytest.mark.daemon_env(CALLGATE_AGENCIES=AGENCIES)
@pytest.mark.parametrize("mode", ["three-way", "hand-off"])
def test_given_a_connected_call_when_calltaker_keys_an_agency_then_it_joins_and_caller_stays(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
    mode: str,
) -> None:
    calltaker, agency = phones("1001", "1006")
    calls = carrier(["081500000001"], talk_seconds=60)
    wait_for(lambda: bool(daemon.records("call connected")), 15, "the call to connect")
    call_id = str(daemon.records("call connected")[0]["call_id"])

    _key(calltaker, "*" if mode == "three-way" else "#", "1")
    wait_for(lambda: bool(daemon.records("agency joined")), 15, "the agency to join")

    if mode == "three-way":
        # Caller, call-taker and agency in one bridge; then the call-taker drops out.
        wait_for(lambda: len(_bridge_members(call_id)) == 3, 5, "three parties in the bridge")
        calltaker.command("hangup")
    # Either way the caller is left talking with the agency, not hung up.
    wait_for(lambda: len(_bridge_members(call_id)) == 2, 10, "caller and agency in the bridge")
    members = _bridge_members(call_id)
    assert call_id in members
    assert any(m.startswith("agency-") for m in members)
    wait_for(lambda: bool(daemon.records("call ended")), 5, "the core to end the call")
    (ended,) = daemon.records("call ended")
    assert ended["outcome"] == "COMPLETED"
    time.sleep(2)

    agency.command("hangup")  # the agency finishes: the caller's call ends
    assert calls.wait(timeout=30) == 0, calls.errors()
    assert calls.stats() == {"successful": 1, "failed": 0}

    # One recording for the whole call, across the hand-off.
    wait_for(lambda: bool(daemon.records("recording ready")), 10, "the recording")
    (recording,) = daemon.records("recording ready")
    with wave.open(str(Path(str(recording["path"]))), "rb") as wav:
        seconds = wav.getnframes() / wav.getframerate()
    (entered,) = daemon.records("112 call entered")
    call_length = _seconds_between(str(entered["timestamp"]), str(recording["timestamp"]))
    assert seconds >= call_length - 1.0, (seconds, call_length)


def _seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
