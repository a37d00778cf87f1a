"""Asterisk restarting under callgate: it reconnects (ARI and AMI) and serves the next calls."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import labpeers
import pytest

from .conftest import REPO, Daemon, wait_for

#: Runs on Asterisk 16 too, in the smaller second pass of scripts/test.
pytestmark = pytest.mark.smoke


def _count(daemon: Daemon, event: str) -> int:
    return len(daemon.records(event))


def _asterisk_answers() -> bool:
    return labpeers.endpoint_state("1001") != "unreachable"


@pytest.mark.daemon_env(CALLGATE_CALLTAKERS__WRAP_UP_TIME="1")
def test_given_asterisk_restarts_mid_call_then_callgate_reconnects_and_the_next_call_is_answered(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    (phone,) = phones("1001")
    before = carrier(["081600000001"], talk_seconds=60)
    wait_for(lambda: _count(daemon, "call connected") == 1, 15, "the first call to connect")

    # Asterisk restarts in place (same process, as after a crash and systemd restart): every
    # call it had is gone.
    subprocess.run(
        [str(REPO / "scripts" / "lab"), "cli", "core restart now"], check=False, timeout=30
    )
    before.stop()
    wait_for(lambda: _count(daemon, "ARI events connected") >= 2, 60, "ARI to reconnect")
    wait_for(_asterisk_answers, 30, "Asterisk to answer ARI again")
    # The call that died with Asterisk is closed in the core, not left waiting for ever.
    wait_for(lambda: _count(daemon, "call ended") == 1, 15, "the lost call to be closed")
    phone.wait_registered(timeout=70)  # its contact comes back from astdb or re-registration

    after = carrier(["081600000002"], talk_seconds=4)
    assert after.wait(timeout=60) == 0, after.errors()
    assert after.stats() == {"successful": 1, "failed": 0}
    wait_for(lambda: _count(daemon, "call connected") == 2, 10, "the next call to connect")
