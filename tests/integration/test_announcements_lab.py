"""Queue announcements in the lab: a caller who waits hears their position and expected wait in
Bahasa Indonesia (the prompts scripts/make-prompts installs under sounds/custom/callgate), again
every period; when a call-taker comes, the ring goes out at once, with an announcement playing,
which stops, and the call is answered without waiting for it to end."""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from datetime import datetime

import labpeers
import pytest

from .conftest import Daemon, wait_for

CALLER = "081155500001"
#: How long the ring may come after the core offered the call (the call-taker became free).
RING_AFTER_OFFER = 0.5
#: How long the answer (the bridge) may come after the ring: baresip answers at once.
CONNECTED_AFTER_RING = 2.0


def _at(record: dict[str, object]) -> float:
    return datetime.fromisoformat(str(record["timestamp"])).timestamp()


def _of_call(daemon: Daemon, event: str, call_id: str) -> list[dict[str, object]]:
    return [r for r in daemon.records(event) if r.get("call_id") == call_id]


@pytest.mark.daemon_env(
    CALLGATE_CALLTAKERS__ENDPOINTS='["PJSIP/1001"]',
    CALLGATE_CALLTAKERS__WRAP_UP_TIME="1",
    CALLGATE_ACD__MAX_WAIT="300",
    CALLGATE_ANNOUNCEMENTS__ENABLED="1",
    CALLGATE_ANNOUNCEMENTS__FIRST_AFTER="3",
    CALLGATE_ANNOUNCEMENTS__PERIOD="4",
)
def test_given_a_waiting_caller_then_announcements_repeat_and_a_ring_never_waits_for_one(
    daemon: Daemon,
    phones: Callable[..., list[labpeers.Softphone]],
    carrier: Callable[..., labpeers.CarrierCalls],
) -> None:
    # 1001 is logged in (at start) but its phone is not registered: the caller waits.
    calls = carrier([CALLER], talk_seconds=120)
    wait_for(lambda: bool(daemon.records("112 call entered")), 15, "the caller")
    (entered,) = daemon.records("112 call entered")
    call_id = str(entered["call_id"])

    # At least two announcements, each played to its end by Asterisk (its PlaybackFinished).
    # A turn that comes while the greeting or the previous announcement plays is skipped.
    wait_for(
        lambda: len(_of_call(daemon, "queue announcement finished", call_id)) >= 2,
        60,
        "two queue announcements played to the caller",
    )
    playing = _of_call(daemon, "queue announcement playing", call_id)
    # First in line; one call-taker on duty and 120 s a call assumed (no conversation yet).
    assert {(r["position"], r["expected_wait"]) for r in playing} == {(1, 120.0)}
    finished = {r["playback"] for r in _of_call(daemon, "queue announcement finished", call_id)}
    assert finished <= {r["playback"] for r in playing}
    assert len(finished) >= 2

    # The next announcement starts: Asterisk is playing it when the call-taker registers.
    before = len(playing)
    wait_for(
        lambda: len(_of_call(daemon, "queue announcement playing", call_id)) > before,
        25,  # the one playing ends (~9 s), then the next turn comes within a period
        "the next queue announcement",
    )
    current = _of_call(daemon, "queue announcement playing", call_id)[-1]
    playback_id = str(current["playback"])
    try:
        playback = labpeers.ari_get(f"/playbacks/{playback_id}")
    except urllib.error.HTTPError as exc:  # 404: it ended already (see the assertions below)
        playback = {"state": f"HTTP {exc.code}"}
    assert isinstance(playback, dict)
    # One playback for the whole list; "continuing" between two of its files.
    assert playback.get("state") in ("queued", "playing", "continuing"), playback

    with labpeers.CallTakersHangUp(1.0, phones("1001")):
        wait_for(lambda: bool(daemon.records("call ended")), 30, "the call to be answered, end")

    (ring,) = _of_call(daemon, "ringing call-taker", call_id)
    offered = [
        r
        for r in daemon.records()
        if str(r.get("event", "")).startswith(f"call {call_id}: QUEUED -[")
        and str(r["event"]).endswith("-> OFFERED")
    ]
    assert len(offered) == 1, offered
    # The call-taker became free (their phone registered: the core offered the call): the ring
    # went out at once, not after the announcement.
    assert _at(ring) - _at(offered[0]) <= RING_AFTER_OFFER, (ring, offered)
    registered = [
        r
        for r in daemon.records("call-taker phone registered")
        if r.get("endpoint") == "PJSIP/1001"
    ]
    assert registered
    assert _at(ring) - _at(registered[-1]) <= 2.0, (ring, registered)
    # The announcement was playing at the ring, and was stopped for it (not played to its end).
    assert _at(current) <= _at(ring)
    ended_before_ring = [
        r
        for r in _of_call(daemon, "queue announcement finished", call_id)
        if r["playback"] == playback_id and _at(r) < _at(ring)
    ]
    assert not ended_before_ring, "the announcement ended before the call-taker registered"
    (stopped,) = [
        r
        for r in _of_call(daemon, "queue announcement stopped: the call is offered", call_id)
        if r["playback"] == playback_id
    ]
    assert _at(stopped) >= _at(ring)
    # Answered within moments of the ring, while the announcement would still have played.
    (connected,) = _of_call(daemon, "call connected", call_id)
    assert _at(connected) - _at(ring) <= CONNECTED_AFTER_RING, (ring, connected)
    # No announcement once offered.
    assert all(_at(r) <= _at(ring) for r in _of_call(daemon, "queue announcement playing", call_id))

    assert calls.wait(timeout=150) == 0, calls.errors()
    (record,) = daemon.calls()
    assert record.outcome == "COMPLETED"
    assert "prompt could not be played" not in daemon.log_text()
