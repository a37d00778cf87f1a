"""Optional blocking in the lab (the centre enabled it): a blocked caller hears the announcement
and is hung up, journaled BLOCKED; calling again and again opens the safety valve, and the call
reaches a call-taker, tagged."""

from __future__ import annotations

from collections.abc import Callable

import labpeers
import pytest

from .conftest import Daemon, run_cli, wait_for

BLOCKED = "081199200001"


@pytest.mark.daemon_env(
    CALLGATE_SCREENING__BLOCKING__ENABLED="true",
    CALLGATE_SCREENING__BLOCKING__VALVE_CALLS="3",
    CALLGATE_CALLTAKERS__ENDPOINTS='["PJSIP/1001"]',
)
def test_given_a_blocked_number_then_rejected_twice_and_put_through_by_the_valve(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    (calltaker,) = phones("1001")
    wait_for(lambda: bool(daemon.records("ready: taking calls")), 15, "the daemon")
    blocked = run_cli("block", BLOCKED, "--hours", "1", "--reason", "prank x5")
    assert blocked.returncode == 0, blocked.stderr
    # The audit trail names the user the token belongs to (scripts/labpeers.py LAB_USERS).
    assert "(by lab-admin)" in blocked.stdout, blocked.stdout

    for n in (1, 2):
        calls = carrier([BLOCKED], talk_seconds=30)
        # The carrier sees the call answered, then hung up by the centre after the announcement.
        assert calls.wait(timeout=40) == 0, calls.errors()
        wait_for(lambda n=n: len(daemon.records("blocked caller rejected")) == n, 10, "rejection")
    assert not daemon.records("112 call entered")

    with labpeers.CallTakersHangUp(2.0, [calltaker]):
        third = carrier([BLOCKED], talk_seconds=30)
        wait_for(lambda: bool(daemon.records("call connected")), 20, "the valve to let it through")
        assert third.wait(timeout=40) == 0, third.errors()
    (entered,) = daemon.records("112 call entered")
    assert entered["caller"] == "+6281199200001"
    wait_for(lambda: bool(daemon.records("call ended")), 10, "the call to end")
    assert [(c.category, c.outcome) for c in daemon.calls()] == [
        ("blocked", "BLOCKED"),
        ("blocked", "BLOCKED"),
        ("blocked-valve", "COMPLETED"),
    ]
