"""The first slice, end to end on the real lab: trunk -> Stasis -> call-taker, and the fallback."""

from __future__ import annotations

import os
import pwd
import subprocess
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import labpeers
import pytest

from .conftest import Daemon, wait_for

#: Runs on Asterisk 16 too, in the smaller second pass of scripts/test.
pytestmark = pytest.mark.smoke


def _channels() -> list[dict[str, object]]:
    result = labpeers.ari_get("/channels")
    assert isinstance(result, list)
    return result


def _rtcp_counts(channel_id: str) -> dict[str, int]:
    """rxcount/txcount of a channel's RTP session, as Asterisk itself counts them."""
    variable = urllib.parse.quote("CHANNEL(rtcp,all)")
    result = labpeers.ari_get(f"/channels/{channel_id}/variable?variable={variable}")
    assert isinstance(result, dict)
    fields = dict(part.split("=", 1) for part in str(result["value"]).split(";") if "=" in part)
    return {"rx": int(fields["rxcount"]), "tx": int(fields["txcount"])}


def test_the_lab_runs_the_asterisk_version_asked_for_as_its_own_user() -> None:
    # scripts/test runs this suite once per supported version (CALLGATE_ASTERISK=22, then 16).
    wanted = os.environ.get("CALLGATE_ASTERISK", "22")
    info = labpeers.ari_get("/asterisk/info")
    assert isinstance(info, dict)
    assert info["system"]["version"].startswith(f"{wanted}.")
    # As a centre runs it: as its own user, not root (the process scripts/lab up started).
    pid = (labpeers.LAB_DIR / "run" / "asterisk.pid").read_text().strip()
    status = Path(f"/proc/{pid}/status").read_text()
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    assert pwd.getpwuid(int(uid)).pw_name == "asterisk"


def _two_legs_up() -> bool:
    chans = _channels()
    return len(chans) == 2 and all(c["state"] == "Up" for c in chans)


def test_given_a_registered_calltaker_when_112_arrives_then_bridged_with_media_and_hangup_ends_both(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    (phone,) = phones("1001")
    calls = carrier(["081234567890"], talk_seconds=8)

    wait_for(_two_legs_up, 15, "caller and call-taker legs to be up")
    trunk = next(c for c in _channels() if str(c["name"]).startswith("PJSIP/jasnita-"))
    agent = next(c for c in _channels() if str(c["name"]).startswith("PJSIP/1001-"))
    assert trunk["dialplan"]["app_name"] == "Stasis"  # type: ignore[index]
    # The call-taker's phone shows the caller's number, normalised to E.164.
    assert agent["caller"]["number"] == "+6281234567890"  # type: ignore[index]

    time.sleep(2)  # let a couple of seconds of audio flow
    for leg in (trunk, agent):
        counts = _rtcp_counts(str(leg["id"]))
        assert counts["rx"] > 20, f"no RTP received on {leg['name']}: {counts}"
        assert counts["tx"] > 20, f"no RTP sent on {leg['name']}: {counts}"

    # The caller hangs up after the talk time: both legs end, nothing is left in Asterisk.
    assert calls.wait(timeout=60) == 0, calls.errors()
    assert calls.stats() == {"successful": 1, "failed": 0}
    wait_for(lambda: _channels() == [], 10, "both legs to end")
    wait_for(lambda: phone.rtp_received_packets() != [], 10, "the softphone to report the call")
    assert phone.rtp_received_packets()[-1] > 20
    assert "call connected" in daemon.log_text()


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("081234567890", "+6281234567890"),
        ("6281234567891", "+6281234567891"),
        ("+6281234567892", "+6281234567892"),
        ("006281234567893", "+6281234567893"),
        ("anonymous", "anonymous"),
    ],
)
def test_given_carrier_number_formats_when_112_arrives_then_caller_is_e164(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
    sent: str,
    expected: str,
) -> None:
    phones("1001")
    calls = carrier([sent], talk_seconds=2)
    wait_for(_two_legs_up, 15, "the call to reach the call-taker")
    agent = next(c for c in _channels() if str(c["name"]).startswith("PJSIP/1001-"))
    assert agent["caller"]["number"] == expected  # type: ignore[index]
    assert calls.wait(timeout=60) == 0, calls.errors()
    wait_for(lambda: _channels() == [], 10, "the call to end")


def test_given_callgate_absent_when_112_arrives_then_fallback_queue_reaches_the_calltaker(
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    (phone,) = phones("1001")
    calls = carrier(["+6281234567890"], talk_seconds=8)
    _fallback_queue_connects(phone, calls, "callgate-not-connected")


def _fallback_queue_connects(
    phone: labpeers.Softphone, calls: labpeers.CarrierCalls, reason: str
) -> None:
    """The caller reaches the call-taker through Queue(fallback-112), talks, and hangs up."""
    wait_for(_two_legs_up, 20, "the fallback queue to connect the call-taker")
    trunk = next(c for c in _channels() if str(c["name"]).startswith("PJSIP/jasnita-"))
    assert trunk["dialplan"]["context"] == "fallback-112"  # type: ignore[index]
    assert trunk["dialplan"]["app_name"] == "Queue"  # type: ignore[index]
    why = labpeers.ari_get(f"/channels/{trunk['id']}/variable?variable=CALLGATE_FALLBACK_REASON")
    assert why == {"value": reason}

    assert calls.wait(timeout=60) == 0, calls.errors()
    assert calls.stats() == {"successful": 1, "failed": 0}
    wait_for(lambda: _channels() == [], 10, "both legs to end")
    wait_for(lambda: phone.rtp_received_packets() != [], 10, "the softphone to report the call")
    assert phone.rtp_received_packets()[-1] > 20


@pytest.mark.daemon_env(CALLGATE_ACD__MAX_WAIT="5")
def test_given_no_calltaker_registered_when_112_arrives_then_handed_to_the_fallback_queue(
    daemon: Daemon,
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    calls = carrier(["081234567890"], talk_seconds=12)

    def waiting_in_fallback() -> bool:
        return any(
            c["dialplan"]["context"] == "fallback-112"  # type: ignore[index]
            for c in _channels()
        )

    # The caller is not dropped: they wait in the fallback queue until they hang up.
    # Nobody can answer: after the configured maximum wait (5 s) the caller overflows to the
    # dialplan's fallback queue, where they wait until they hang up - never dropped.
    wait_for(waiting_in_fallback, 12, "the caller to be handed to the fallback queue")
    assert calls.wait(timeout=60) == 0, calls.errors()
    assert calls.stats() == {"successful": 1, "failed": 0}
    assert "handing the call to the fallback queue" in daemon.log_text()
    assert "QUEUED -[MaxWaitReached]-> FALLBACK" in daemon.log_text()


@pytest.fixture
def stasis_unloaded() -> Iterator[None]:
    """app_stasis gone from the running Asterisk (as when it fails to load), put back after."""
    lab = str(labpeers.REPO / "scripts" / "lab")
    out = subprocess.run(
        [lab, "cli", "module unload app_stasis.so"], capture_output=True, text=True, check=True
    ).stdout
    assert "Unloaded" in out, out
    try:
        yield
    finally:
        out = subprocess.run(
            [lab, "cli", "module load app_stasis.so"], capture_output=True, text=True, check=True
        ).stdout
        assert "Loaded" in out, out


@pytest.mark.usefixtures("stasis_unloaded")
def test_given_stasis_missing_when_112_arrives_then_the_fallback_queue_answers_not_a_hangup(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    # On Asterisk 22.5+ app_stasis does not load without res_websocket_client: the dialplan used to
    # run Stasis() anyway, and Asterisk hung the answered caller up ("No application 'Stasis'").
    # callgate itself is up and connected to ARI: the call must still not depend on Stasis().
    (phone,) = phones("1001")
    calls = carrier(["081234567890"], talk_seconds=8)
    _fallback_queue_connects(phone, calls, "no-stasis-module")
